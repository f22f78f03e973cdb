"""The navigation registry: each package adds the links its pages offer to each role.

From a package's `init_app(app)`:

    from web import nav
    nav.register(app, "admin", _l("同期の状況"), "sync.admin_status")

Entries show up in the top navigation and on that role's home page, in registration order
(`order` sorts them explicitly). An entry whose endpoint the app does not have is not shown, so
a package may register links to pages that land later. Admins see their own entries; they may
still open every other role's pages.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from flask import Flask, current_app, url_for
from flask_login import current_user
from werkzeug.routing import BuildError

from people.models import ROLES


@dataclass(frozen=True)
class NavEntry:
    """One link: who sees it, its label (a lazy translation), where it goes, and its place."""

    role: str
    label: Any
    endpoint: str
    values: Mapping[str, Any] = field(default_factory=dict)
    description: Any = ""
    order: int = 100


def register(app: Flask, role: str, label: Any, endpoint: str, *, description: Any = "", order: int = 100,
             **values: Any) -> None:
    """Offer a link to `endpoint` (with URL `values`) to people with `role`."""
    if role not in ROLES:
        raise ValueError(f"unknown role {role!r}")
    entries: list[NavEntry] = app.extensions.setdefault("tsunagi.nav", [])
    if any(e.role == role and e.endpoint == endpoint and dict(e.values) == values for e in entries):
        return  # init_app may run twice on one app (tests); one link is enough
    entries.append(NavEntry(role, label, endpoint, dict(values), description, order))


def entries_for(role: str, app: Flask | None = None) -> list[NavEntry]:
    """The links `role` sees, in order, leaving out endpoints this app does not have."""
    app = app or current_app
    views = app.view_functions
    entries = [e for e in app.extensions.get("tsunagi.nav", []) if e.role == role and e.endpoint in views]
    return sorted(entries, key=lambda e: e.order)  # stable: registration order within one `order`


def _links() -> dict[str, Any]:
    if not current_user or not current_user.is_authenticated:
        return {"nav_links": []}
    links = []
    for entry in entries_for(current_user.role):
        try:
            links.append({"label": entry.label, "url": url_for(entry.endpoint, **entry.values),
                          "description": entry.description, "endpoint": entry.endpoint})
        except BuildError:  # an entry with wrong URL values must not take every page down
            current_app.logger.warning("nav entry %s cannot be built", entry.endpoint)
    return {"nav_links": links}


def register_home_panel(app: Flask, role: str, render: Callable[[], Any]) -> None:
    """Show `render()` (HTML, e.g. a field rep's customer list) on `role`'s home page, below the links."""
    if role not in ROLES:
        raise ValueError(f"unknown role {role!r}")
    panels: list[tuple[str, Callable[[], Any]]] = app.extensions.setdefault("tsunagi.home_panels", [])
    if (role, render) not in panels:  # init_app may run twice on one app (tests)
        panels.append((role, render))


def home_panels(role: str) -> list[Any]:
    """The rendered panels of `role`'s home page, in registration order."""
    return [render() for who, render in current_app.extensions.get("tsunagi.home_panels", []) if who == role]


def init_nav(app: Flask) -> None:
    """Make `nav_links` (the signed-in person's links) available to every template."""
    app.context_processor(_links)
