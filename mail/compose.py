"""From a rendered template to the bytes on the wire: compliance footer, tracking, MIME.

Every marketing mail carries (特定電子メール法) the sender's name, postal address, an enquiries
contact and an unsubscribe URL, in both the HTML and the text part, plus the RFC 8058
List-Unsubscribe headers, and a signed link to the preference centre (topics, re-subscribe).
Transactional mail (marketing=False) carries none of that.
"""

from __future__ import annotations

import html as htmlmod
import re
from dataclasses import dataclass
from email.utils import parseaddr
from typing import Any

from markupsafe import escape

from mail import tokens
from mail.dkim_signing import DkimSigner
from mail.message import Sender, build_message
from mail.return_path import ReturnPath
from mail.templates import RenderedMail

_HREF = re.compile(r'(<a\b[^>]*?\bhref\s*=\s*")(https?://[^"]+)(")', re.IGNORECASE)
_BODY_END = re.compile(r"</body\s*>", re.IGNORECASE)


@dataclass(frozen=True)
class Composer:
    """Everything needed to turn rendered mail into a message, read once from the settings."""

    base_url: str
    secret: str
    sender: Sender
    sender_name: str
    sender_address: str
    contact: str
    tracking: bool
    return_path: ReturnPath | None = None
    dkim: DkimSigner | None = None

    @classmethod
    def from_settings(cls, settings: Any) -> Composer:
        """Read the mail settings (MAIL_FROM, MAIL_SENDER_*, MAIL_CONTACT, PUBLIC_BASE_URL…)."""
        sender = Sender.parse(settings.mail_from)
        name = settings.mail_sender_name or parseaddr(settings.mail_from)[0] or sender.domain
        return cls(base_url=settings.public_base_url.rstrip("/"), secret=settings.secret_key, sender=sender,
                   sender_name=name, sender_address=settings.mail_sender_address,
                   contact=settings.mail_contact or sender.envelope_from, tracking=settings.mail_tracking,
                   return_path=ReturnPath.from_settings(settings), dkim=DkimSigner.from_settings(settings))

    def envelope_from(self, mail_id: int) -> str:
        """The SMTP MAIL FROM of one mail: its signed bounce address, else the MAIL_FROM address."""
        return self.return_path.address_for(mail_id) if self.return_path else self.sender.envelope_from

    def unsubscribe_url(self, mail_id: int) -> str:
        """The public one-click unsubscribe URL of one mail."""
        return f"{self.base_url}/u/{tokens.make(self.secret, 'unsubscribe', mail_id)}"

    def preferences_url(self, mail_id: int) -> str:
        """The public preference-centre URL of one mail's recipient (topics, full opt-out, re-subscribe)."""
        return f"{self.base_url}/p/{tokens.make(self.secret, 'preferences', mail_id)}"

    def sender_context(self) -> dict[str, str]:
        """The `sender` merge root of templates."""
        return {"name": self.sender_name, "address": self.sender_address, "contact": self.contact}

    def _footer_text(self, unsubscribe: str, preferences: str) -> str:
        lines = ["", "――――――――――――――――", f"配信元: {self.sender_name}"]
        if self.sender_address:
            lines.append(f"所在地: {self.sender_address}")
        lines += [f"お問い合わせ: {self.contact}", f"配信停止: {unsubscribe}",
                  f"配信設定（テーマの選択）: {preferences}", ""]
        return "\n".join(lines)

    def _footer_html(self, unsubscribe: str, preferences: str) -> str:
        parts = [f"配信元: {escape(self.sender_name)}"]
        if self.sender_address:
            parts.append(f"所在地: {escape(self.sender_address)}")
        parts.append(f"お問い合わせ: {escape(self.contact)}")
        return (
            '<div style="margin-top:24px;padding-top:12px;border-top:1px solid #ccc;font-size:12px;color:#666">'
            f"<p>{'<br>'.join(parts)}</p>"
            f'<p>配信停止をご希望の方は<a href="{escape(unsubscribe)}">こちら</a>から手続きしてください。'
            f'お知らせのテーマを選ぶには<a href="{escape(preferences)}">配信設定</a>へ。</p></div>'
        )

    def _track_links(self, html: str, mail_id: int, skip: tuple[str, ...]) -> str:
        def swap(match: re.Match[str]) -> str:
            url = htmlmod.unescape(match.group(2))
            if url in skip:
                return match.group(0)
            token = tokens.make(self.secret, "click", [mail_id, url])
            return f"{match.group(1)}{self.base_url}/m/c/{token}{match.group(3)}"

        return _HREF.sub(swap, html)

    def compose(self, *, mail_id: int, to: str, message_id: str, marketing: bool,
                rendered: RenderedMail, unsubscribe: str | None = None, preferences: str | None = None,
                tracking: bool = True) -> bytes:
        """The message bytes of one mail (`unsubscribe`, `preferences`: the URLs if already made for the template).

        `tracking=False` leaves links and the open pixel out even when MAIL_TRACKING is on (test sends).
        """
        html, text = rendered.html, rendered.text
        unsubscribe = (unsubscribe or self.unsubscribe_url(mail_id)) if marketing else None
        preferences = preferences or self.preferences_url(mail_id)
        if self.tracking and tracking:
            # The compliance links are not clicks to count (and must work without the redirect).
            html = self._track_links(html, mail_id, skip=(unsubscribe or "", preferences))
            pixel = (f'<img src="{self.base_url}/m/o/{tokens.make(self.secret, "open", mail_id)}.gif" '
                     'width="1" height="1" alt="" style="display:block;border:0">')
            html = _insert_before_body_end(html, pixel)
        if unsubscribe is not None:
            html = _insert_before_body_end(html, self._footer_html(unsubscribe, preferences))
            text = text.rstrip("\n") + "\n" + self._footer_text(unsubscribe, preferences)
        data = build_message(sender=self.sender, to=to, subject=rendered.subject, html=html, text=text,
                             message_id=message_id, list_unsubscribe=unsubscribe)
        return self.dkim.sign(data) if self.dkim is not None else data


def _insert_before_body_end(html: str, fragment: str) -> str:
    matches = list(_BODY_END.finditer(html))
    if not matches:
        return html + fragment
    at = matches[-1].start()
    return html[:at] + fragment + html[at:]
