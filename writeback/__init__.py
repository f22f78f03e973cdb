"""The write-back queue: every change tsunagi makes in Salesforce goes through here, durably and
exactly once (see writeback/models.py for the contract)."""

from flask import Flask


def init_app(app: Flask) -> None:
    """Nothing to register yet."""
