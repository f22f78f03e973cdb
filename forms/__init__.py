"""forms: see docs/architecture.md."""

from flask import Flask


def init_app(app: Flask) -> None:
    """Nothing to register yet."""
