"""SMTP transport: pooled connections and one delivery with a commit point before the final ".".

Exceptions (what the sender does with each):

    MailTransportError
     ├── TemporaryFailure      4xx reply, refused/broken connection, timeout → retry with back-off
     ├── PermanentFailure      5xx reply (`.stage` is "mail", "rcpt" or "data") → bounced
     ├── UnconfirmedDelivery   the connection broke after the final "." was written → assumed sent
     └── CommitPointRefused    our own claim was gone at the commit point → not sent, left to its owner

SMTP_URL is smtp://[user:pass@]host[:port] (STARTTLS when the server offers it, required when
credentials are given) or smtps://…:465 (TLS from the start). Empty: the built-in dev inbox on
127.0.0.1:DEV_INBOX_PORT.
"""

from __future__ import annotations

import queue
import re
import smtplib
import socket
import ssl
import threading
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import unquote, urlparse

# Many receiving MTAs limit messages per connection (e.g. 100 at large mailbox providers); well
# below that we open a fresh connection.
MESSAGES_PER_CONNECTION = 100
_LEADING_DOT = re.compile(rb"(?m)^\.")


class MailTransportError(Exception):
    """Base of every transport failure; `code` and `reply` are the SMTP reply when there was one."""

    def __init__(self, message: str, code: int | None = None, reply: str = "") -> None:
        super().__init__(message)
        self.code = code
        self.reply = reply


class TemporaryFailure(MailTransportError):
    """Try again later (4xx, connection trouble)."""


class PermanentFailure(MailTransportError):
    """The server refused the mail for good (5xx)."""

    def __init__(self, message: str, code: int | None = None, reply: str = "", stage: str = "data") -> None:
        super().__init__(message, code, reply)
        self.stage = stage


class UnconfirmedDelivery(MailTransportError):
    """The final "." went out but no reply came back: the server may have accepted the mail."""


class CommitPointRefused(MailTransportError):
    """The row could not be marked 'sending' (another worker owns it now); nothing was sent."""


@dataclass(frozen=True)
class SmtpTarget:
    """Where and how to connect."""

    host: str
    port: int
    tls: bool = False  # smtps: TLS from the first byte
    username: str = ""
    password: str = ""
    timeout: float = 30.0

    @classmethod
    def from_settings(cls, settings: object) -> SmtpTarget:
        """Parse SMTP_URL, or point at the dev inbox when it is empty."""
        url = getattr(settings, "smtp_url", "")
        if not url:
            return cls(host="127.0.0.1", port=getattr(settings, "dev_inbox_port", 8025))
        parsed = urlparse(url)
        tls = parsed.scheme == "smtps"
        return cls(host=parsed.hostname or "localhost", port=parsed.port or (465 if tls else 587), tls=tls,
                   username=unquote(parsed.username or ""), password=unquote(parsed.password or ""))


def _reply_text(resp: bytes | str) -> str:
    return (resp.decode("utf-8", "replace") if isinstance(resp, bytes) else resp)[:500]


def _refusal(stage: str, code: int, resp: bytes | str) -> MailTransportError:
    text = _reply_text(resp)
    if 500 <= code < 600:
        return PermanentFailure(f"{stage}: {code} {text}", code, text, stage=stage)
    return TemporaryFailure(f"{stage}: {code} {text}", code, text)


class SmtpConnection:
    """One SMTP session, opened lazily and reopened after errors or MESSAGES_PER_CONNECTION mails."""

    def __init__(self, target: SmtpTarget, local_hostname: str = "tsunagi.localhost") -> None:
        self.target = target
        self.local_hostname = local_hostname
        self._smtp: smtplib.SMTP | None = None
        self._sent = 0

    def _open(self) -> smtplib.SMTP:
        t = self.target
        try:
            if t.tls:
                smtp: smtplib.SMTP = smtplib.SMTP_SSL(t.host, t.port, local_hostname=self.local_hostname,
                                                      timeout=t.timeout, context=ssl.create_default_context())
            else:
                smtp = smtplib.SMTP(t.host, t.port, local_hostname=self.local_hostname, timeout=t.timeout)
            # The final "." goes out as its own small write after the body; with Nagle's algorithm
            # it would wait for the server's delayed ACK (~40 ms) on every mail.
            if smtp.sock is not None:  # connected by the constructor (a host is given)
                smtp.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            smtp.ehlo()
            if not t.tls and smtp.has_extn("starttls"):
                smtp.starttls(context=ssl.create_default_context())
                smtp.ehlo()
            elif not t.tls and t.username:
                # Never send a password in clear text.
                smtp.close()
                raise TemporaryFailure("the SMTP server does not offer STARTTLS; refusing to send credentials")
            if t.username:
                smtp.login(t.username, t.password)
        except smtplib.SMTPAuthenticationError as exc:
            raise TemporaryFailure(f"SMTP login refused: {exc.smtp_code} {_reply_text(exc.smtp_error)}",
                                   exc.smtp_code) from None
        except (OSError, smtplib.SMTPException) as exc:
            raise TemporaryFailure(f"cannot connect to {t.host}:{t.port}: {exc}") from None
        self._sent = 0
        return smtp

    def close(self) -> None:
        """Say QUIT when possible and drop the connection."""
        smtp, self._smtp = self._smtp, None
        if smtp is not None:
            try:
                smtp.quit()
            except (OSError, smtplib.SMTPException):
                smtp.close()

    def _abort(self) -> None:
        smtp, self._smtp = self._smtp, None
        if smtp is not None:
            smtp.close()

    def deliver(self, envelope_from: str, recipient: str, data: bytes, commit_point: Callable[[], bool]) -> str:
        """Send one message; `commit_point()` runs right before the final "." and must return True.

        Returns the server's 250 reply text; raises a MailTransportError subclass otherwise.
        """
        if self._smtp is None or self._sent >= MESSAGES_PER_CONNECTION:
            self.close()
            self._smtp = self._open()
        smtp = self._smtp
        final_sent = False
        try:
            code, resp = smtp.mail(envelope_from)
            if code != 250:
                smtp.rset()
                raise _refusal("mail", code, resp)
            code, resp = smtp.rcpt(recipient)
            if code not in (250, 251):
                smtp.rset()
                raise _refusal("rcpt", code, resp)
            smtp.putcmd("data")
            code, resp = smtp.getreply()
            if code != 354:
                smtp.rset()
                raise _refusal("data", code, resp)
            body = _LEADING_DOT.sub(b"..", data)
            if not body.endswith(b"\r\n"):
                body += b"\r\n"
            smtp.send(body)
            if not commit_point():
                self._abort()  # closing mid-DATA makes the server drop the message
                raise CommitPointRefused("row is no longer ours; message abandoned before the final dot")
            final_sent = True
            smtp.send(b".\r\n")
            code, resp = smtp.getreply()
        except MailTransportError:
            raise
        except (OSError, smtplib.SMTPException) as exc:
            self._abort()
            if final_sent:
                raise UnconfirmedDelivery(f"connection lost waiting for the reply to the final dot: {exc}") from None
            raise TemporaryFailure(f"connection lost: {exc}") from None
        self._sent += 1
        if code == 421:
            self._abort()
        if code != 250:
            raise _refusal("data", code, resp)
        return _reply_text(resp)


class ConnectionPool:
    """A fixed number of SMTP connections shared by the sending threads of one worker."""

    def __init__(self, target: SmtpTarget, size: int) -> None:
        self.target = target
        self.size = size
        self._idle: queue.LifoQueue[SmtpConnection] = queue.LifoQueue()
        for _ in range(size):
            self._idle.put(SmtpConnection(target))
        self._lock = threading.Lock()

    def acquire(self) -> SmtpConnection:
        """Take a connection (waits while all are busy)."""
        return self._idle.get()

    def release(self, connection: SmtpConnection) -> None:
        """Give a connection back."""
        self._idle.put(connection)

    def close(self) -> None:
        """Close every idle connection."""
        with self._lock:
            while True:
                try:
                    self._idle.get_nowait().close()
                except queue.Empty:
                    return
