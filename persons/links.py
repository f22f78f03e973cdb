"""Links to a person's page, named by the person (not their Salesforce id) wherever one is shown."""

from __future__ import annotations

from typing import Any

from flask import url_for
from markupsafe import Markup


def person_link(person_id: str | None, name: str | None = None) -> Markup:
    """`<a href="/people/<id>">name</a>` (the id when the name is unknown); empty for no id."""
    if not person_id:
        return Markup("")
    label = name or person_id
    return Markup('<a class="person" href="{}" title="{}">{}</a>').format(
        url_for("persons.person", sf_id=person_id), person_id, label)


def names_of(session: Any, ids: Any) -> dict[str, str]:
    """{id: name} of the mirrored people among `ids`, in one query (for pages listing ids)."""
    from persons import queries

    wanted = [i for i in ids if i]
    if not wanted:
        return {}
    return {sf_id: name for sf_id, name in session.execute(queries.names(wanted)) if name}


