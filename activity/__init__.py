"""Person activity: what people did (opened, clicked, submitted, visited), recorded by mail, forms
and tracking, consumed by scoring, automations and reports. No blueprint."""

from flask import Flask

import db


def init_app(app: Flask) -> None:
    """Register the `activity` table (the only thing this package adds to the app)."""
    from activity import models

    db.register_models(app, models)
