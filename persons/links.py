"""Links to a person's page, named by the person (not their Salesforce id) wherever one is shown."""

from __future__ import annotations

from collections.abc import Iterable

from flask import url_for
from markupsafe import Markup

import db


def person_link(person_id: str | None, name: str | None = None) -> Markup:
    """`<a href="/people/<id>">name</a>` (the id when the name is unknown); empty for no id."""
    if not person_id:
        return Markup("")
    label = name or person_id
    return Markup('<a class="person" href="{}" title="{}">{}</a>').format(
        url_for("persons.person", sf_id=person_id), person_id, label)


def person_names(ids: Iterable[str | None]) -> dict[str, str]:
    """{id: name} of the mirrored people among `ids`, in one query: templates listing a page of
    person ids call it once (`{% set names = person_names(rows|map(attribute="person_id")) %}`)."""
    from persons import queries

    session = db.session()
    wanted = [i for i in ids if i]
    if not wanted:
        return {}
    return {sf_id: name for sf_id, name in session.execute(queries.names(wanted)) if name}


