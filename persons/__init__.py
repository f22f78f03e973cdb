"""persons: one Lead's or Contact's page (everything that happened to them) and the sent-mail log.

A package of its own because it reads across packages (mail, activity, scoring, automations and
the sync mirror) for one person at a time: `people` is staff accounts, `reports` aggregates. See
docs/admin.md.
"""

from flask import Blueprint, Flask

bp = Blueprint("persons", __name__, template_folder="templates")


def init_app(app: Flask) -> None:
    """Register the pages, the `person_link`/`person_names` template helpers and the navigation entry."""
    from persons import routes  # noqa: F401  (routes attach to bp)
    from persons.links import person_link, person_names
    from persons.service import ENROLLMENT_LABELS, KINDS
    from web import labels, nav
    from web.i18n import lazy_gettext as _l

    app.register_blueprint(bp)
    app.add_template_global(person_link, "person_link")
    app.add_template_global(person_names, "person_names")
    labels.register(app, "enrollment", ENROLLMENT_LABELS)
    labels.register(app, "person_kind", KINDS)

    nav.register(app, "admin", _l("送信メール一覧"), "persons.mail_log",
                 description=_l("送ったメールを宛先・お客様・オートメーションで検索、開封とクリック"), order=61)
    nav.register(app, "marketer", _l("送信メール一覧"), "persons.mail_log", order=30,
                 description=_l("送ったメールとテスト送信を宛先・お客様・オートメーションで検索"))
