"""The dev org's one error type: an `ApiError` becomes Salesforce's JSON error body.

    ApiError(status, errorCode, message, fields)
      → HTTP status, body [{"message": ..., "errorCode": ..., "fields": [...]}]
"""

from __future__ import annotations

from typing import Any


class ApiError(Exception):
    """A Salesforce REST error: HTTP status plus one `{message, errorCode, fields}` entry."""

    def __init__(self, status: int, code: str, message: str, fields: list[str] | None = None) -> None:
        super().__init__(f"{code}: {message}")
        self.status = status
        self.code = code
        self.message = message
        self.fields = fields

    def body(self) -> list[dict[str, Any]]:
        """The JSON body Salesforce sends for this error."""
        entry: dict[str, Any] = {"message": self.message, "errorCode": self.code}
        if self.fields is not None:
            entry["fields"] = self.fields
        return [entry]

    def collection_error(self) -> dict[str, Any]:
        """This error as sObject Collections and composite results spell it (`statusCode`)."""
        return {"statusCode": self.code, "message": self.message, "fields": self.fields or []}
