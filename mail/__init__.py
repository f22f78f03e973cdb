"""mail: templates, the durable outbox, SMTP delivery, compliance, tracking, bounces, dev inbox.

See docs/mail.md. The contracts other packages use are `mail.outbox.enqueue_mail` and
`mail.templates.save_template`.
"""

from flask import Blueprint, Flask

import db

# Public pages: unsubscribe, open pixel, click redirect, DSN intake.
bp = Blueprint("mail", __name__, template_folder="templates")
# Admin pages under /admin/mail.
admin_bp = Blueprint("mail_admin", __name__, url_prefix="/admin/mail", template_folder="templates")


def init_app(app: Flask) -> None:
    """Register the pages, the outbox work source, the mail.log_tasks job and the `mail` CLI."""
    from mail import admin, cli, jobs, models, public  # noqa: F401  (views attach to the blueprints)
    from mail.consent import SKIP_REASONS, STATUS_LABELS
    from mail.sender import sender_for
    from web import labels, nav
    from web.i18n import lazy_gettext as _l
    from work import register_job_handler, register_urgent_source, register_work_source

    db.register_models(app, models)
    public.exempt_from_csrf()
    labels.register(app, "mail_status", STATUS_LABELS)
    labels.register(app, "skip_reason", SKIP_REASONS)
    app.register_blueprint(bp)
    app.register_blueprint(admin_bp)
    nav.register(app, "admin", _l("メール配信"), "mail_admin.outbox", order=50,
                 description=_l("送信状況、テンプレート、配信停止リスト、開発用受信箱"))
    nav.register(app, "marketer", _l("メールテンプレート"), "mail_admin.templates", order=20,
                 description=_l("テンプレートの編集、プレビュー、テスト送信"))
    app.cli.add_command(cli.mail_cli)
    register_work_source(app, "mail.outbox", lambda worker_id: sender_for(app).process(worker_id))
    register_urgent_source(app, "mail.outbox.urgent", lambda worker_id: sender_for(app).process(worker_id, lanes=(0,)))
    register_job_handler(app, "mail.log_tasks", jobs.log_tasks)
