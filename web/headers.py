"""Content-Security-Policy on every answer, and HSTS when served over HTTPS.

Every page's scripts and styles are files under /static (no inline <script>, <style>, style=""
or on…= handlers), so the policy allows scripts and styles from this origin only: an injected
`<script>` or `style` in a page would not run even if escaping were ever missed.

Mail previews are the one exception: an admin's mail HTML is shown in a sandboxed `srcdoc` frame,
and a srcdoc document inherits the page's policy. Mail HTML is made of inline styles and remote
images, so a view that shows one calls `allow_mail_preview()`: its page may use inline *styles*
and remote *images*; scripts stay refused (and the frame's empty `sandbox` blocks them anyway).

HSTS is sent only on requests that arrived over HTTPS — `request.is_secure`, which believes a
proxy's X-Forwarded-Proto only when TRUSTED_PROXIES says there is one (werkzeug's ProxyFix,
app.py). Without includeSubDomains: the customer's other hosts are not ours to pin.
"""

from __future__ import annotations

from flask import Flask, g, request
from werkzeug.wrappers import Response

POLICY = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
          "font-src 'self'; connect-src 'self'; object-src 'none'; base-uri 'self'; "
          "form-action 'self'; frame-ancestors 'self'")
MAIL_PREVIEW_POLICY = POLICY.replace("style-src 'self'", "style-src 'self' 'unsafe-inline'").replace(
    "img-src 'self' data:", "img-src 'self' data: https: http:")
HSTS = "max-age=31536000"  # one year, the value HSTS preload lists ask for


def allow_mail_preview() -> None:
    """Let this request's page show rendered mail HTML (inline styles, remote images) in a srcdoc frame."""
    g.tsunagi_mail_preview = True


def _add_headers(response: Response) -> Response:
    # setdefault: a view that sets its own policy (e.g. a form embeddable elsewhere) keeps it.
    policy = MAIL_PREVIEW_POLICY if g.get("tsunagi_mail_preview") else POLICY
    response.headers.setdefault("Content-Security-Policy", policy)
    if request.is_secure:
        response.headers.setdefault("Strict-Transport-Security", HSTS)
    return response


def init_headers(app: Flask) -> None:
    """Add the policy headers to every response."""
    app.after_request(_add_headers)
