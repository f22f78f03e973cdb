"""The development inbox: an SMTP server (aiosmtpd) on loopback that stores every message it gets.

With no SMTP_URL the worker sends to 127.0.0.1:DEV_INBOX_PORT; `flask --app app mail inbox`
runs this server, and /admin/mail/inbox shows what arrived (rendered HTML and raw source).
"""

from __future__ import annotations

from email import policy
from email.parser import BytesHeaderParser
from typing import Any

from aiosmtpd.controller import Controller
from flask import Flask

from config import settings_of
from db import Database, get_db
from mail.models import DevInboxMessage


class DevInboxHandler:
    """aiosmtpd handler writing each message to the mail_dev_inbox table."""

    def __init__(self, database: Database) -> None:
        self.database = database

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        """Store the message and accept it."""
        raw = bytes(envelope.original_content or envelope.content)
        headers = BytesHeaderParser(policy=policy.default).parsebytes(raw)
        with self.database.transaction() as s:
            s.add(DevInboxMessage(mail_from=str(envelope.mail_from)[:254], recipients=list(envelope.rcpt_tos),
                                  subject=str(headers.get("Subject", ""))[:1000],
                                  message_id=str(headers.get("Message-ID", ""))[:200], raw=raw))
        return "250 OK stored in the tsunagi dev inbox"


def start_dev_inbox(app: Flask, host: str = "127.0.0.1", port: int | None = None) -> Controller:
    """Start the dev inbox in a background thread; stop it with `.stop()`."""
    port = port or settings_of(app).dev_inbox_port
    controller = Controller(DevInboxHandler(get_db(app)), hostname=host, port=port,
                            server_hostname="tsunagi-dev-inbox", decode_data=False)
    controller.start()
    return controller
