"""What every report page shares: it lives under /admin/reports/ and only admins may open it."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from people.auth import role_required
from reports import bp

F = TypeVar("F", bound=Callable[..., Any])


def report_page(path: str, **options: Any) -> Callable[[F], F]:
    """Route `/admin/reports/<path>` (Flask's `route` options) to the view, for admins only."""
    def decorator(view: F) -> F:
        guarded = role_required("admin")(view)
        bp.route(f"/admin/reports/{path}", **options)(guarded)
        return guarded

    return decorator
