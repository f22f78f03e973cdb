"""The whole schema: every package's models module, imported by name so tools see each edge.

Alembic's env, the tests and the bench read it from here (no app needed); a running app gets the
same tables from its packages' `init_app` (each registers its own with `db.register_models`), and
tests/test_migrations.py checks that the two agree. A package that adds a models module lists it
here and registers it in its `init_app`.
"""

from sqlalchemy import MetaData

import activity.models
import automations.models
import db
import forms.models
import mail.models
import people.models
import reports.models
import salesforce.models
import scoring.models
import sync.models
import webhooks.models
import work.models
import writeback.models

MODEL_MODULES = (
    people.models,
    work.models,
    sync.models,
    webhooks.models,
    salesforce.models,
    mail.models,
    forms.models,
    automations.models,
    scoring.models,
    reports.models,
    activity.models,
    writeback.models,
)


def metadata() -> MetaData:
    """`db.Base.metadata` holding every table of every package."""
    return db.Base.metadata
