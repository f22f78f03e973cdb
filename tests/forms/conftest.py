"""Helpers for forms tests: load the shipped example definitions, seed the mirror."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from flask import Flask

import db as dbmod
from forms.schema import load_yaml
from forms.service import save_definition
from sync.mirror import apply_records

EXAMPLES = Path(__file__).resolve().parents[2] / "forms" / "examples"


def load_examples(app: Flask) -> None:
    """Store every definition in forms/examples/ in the app's database."""
    with dbmod.get_db(app).transaction() as session:
        for path in sorted(EXAMPLES.glob("*.yaml")):
            for spec in load_yaml(path.read_text(encoding="utf-8")):
                save_definition(session, spec)


@pytest.fixture
def examples(app: Flask) -> Flask:
    """The app with the example forms loaded."""
    load_examples(app)
    return app


_counter = {"n": 0}


def person(object_name: str = "Lead", **fields: Any) -> dict[str, Any]:
    """A Salesforce-shaped Lead/Contact record with a fresh Id."""
    _counter["n"] += 1
    prefix = {"Lead": "00Q", "Contact": "003"}[object_name]
    sf_id = f"{prefix}{_counter['n']:012d}AAA"[:18]
    return {"Id": sf_id, "SystemModstamp": "2026-11-20T10:00:00.000+0000", "IsDeleted": False, **fields}


@pytest.fixture
def seed_mirror(app: Flask) -> Callable[..., dict[str, Any]]:
    """`seed_mirror("Lead", LastName=…)` puts one record in the mirror and returns it."""

    def seed(object_name: str = "Lead", **fields: Any) -> dict[str, Any]:
        record = person(object_name, **fields)
        with dbmod.get_db(app).transaction() as session:
            apply_records(session, object_name, [record], source="poll")
        return record

    return seed


@pytest.fixture
def seed_mirror_on() -> Callable[..., None]:
    """`seed_mirror_on(app, "Lead", record)` puts a record (e.g. read from the dev org) in the mirror."""

    def seed(app: Flask, object_name: str, record: dict[str, Any]) -> None:
        with dbmod.get_db(app).transaction() as session:
            apply_records(session, object_name, [record], source="poll")

    return seed
