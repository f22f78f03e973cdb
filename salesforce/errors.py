"""The one exception tree of the Salesforce boundary. Callers catch these, never requests' or
simple-salesforce's own exceptions::

    SalesforceError                 anything that went wrong talking to Salesforce
    ├── TransientError              5xx, connection error, timeout: try again later
    │                               (.maybe_committed: the request may have reached Salesforce)
    ├── AuthError                   no session could be obtained, or a fresh one was refused
    ├── LimitExceeded               403 REQUEST_LIMIT_EXCEEDED: pause until .resume_at
    ├── NotFound                    404: no such record or resource
    │   └── RecordDeleted           404 ENTITY_IS_DELETED: the record is in the recycle bin
    ├── ValidationError             400 (and other 4xx): Salesforce refused the request as
    │                               given; permanent, never retried (.errors holds Salesforce's
    │                               [{message, errorCode, fields}])
    ├── BulkNotSupported            the org (or this object) offers no Bulk API 2.0 query jobs:
    │                               404, API_DISABLED_FOR_ORG, FEATURENOTENABLED, INVALIDENTITY…
    └── BulkJobFailed               a Bulk API 2.0 query job ended Failed or Aborted, or did not
                                    finish in time (.job_id, .state)

Every error carries `status` (HTTP status or None) and `errors` (Salesforce's error list, or []).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any


class SalesforceError(Exception):
    """Base of every error the gateway raises."""

    def __init__(self, message: str, *, status: int | None = None, errors: list[dict[str, Any]] | None = None):
        super().__init__(message)
        self.message = message
        self.status = status
        self.errors = errors or []

    @property
    def error_code(self) -> str | None:
        """Salesforce's errorCode of the first error, e.g. REQUIRED_FIELD_MISSING."""
        if not self.errors:
            return None
        first = self.errors[0]
        return first.get("errorCode") or first.get("statusCode")


class TransientError(SalesforceError):
    """Salesforce or the network failed in a way that may succeed later (5xx, connection, timeout).

    `maybe_committed` is True when the request may have been processed before the failure (a read
    timeout or a 5xx after the body was sent): a non-idempotent write must not be blindly re-sent.
    """

    def __init__(self, message: str, *, maybe_committed: bool = False, **kwargs: Any):
        super().__init__(message, **kwargs)
        self.maybe_committed = maybe_committed


class AuthError(SalesforceError):
    """Authentication failed, or Salesforce refused a freshly obtained session."""


class LimitExceeded(SalesforceError):
    """The org's API request limit is used up (403 REQUEST_LIMIT_EXCEEDED); work pauses until `resume_at`."""

    def __init__(self, message: str, *, resume_at: datetime, **kwargs: Any):
        super().__init__(message, **kwargs)
        self.resume_at = resume_at


class NotFound(SalesforceError):
    """404: the record, object or resource does not exist."""


class RecordDeleted(NotFound):
    """404 ENTITY_IS_DELETED: the record was deleted (it may still be in the recycle bin)."""


class ValidationError(SalesforceError):
    """Salesforce refused the request as given (400 and other 4xx); retrying will not help."""


class BulkNotSupported(SalesforceError):
    """The org, or the queried object, does not offer Bulk API 2.0 query jobs: use REST instead."""


class BulkJobFailed(SalesforceError):
    """A Bulk API 2.0 query job ended Failed or Aborted, or did not finish within its timeout."""

    def __init__(self, message: str, *, job_id: str | None = None, state: str | None = None, **kwargs: Any):
        super().__init__(message, **kwargs)
        self.job_id = job_id
        self.state = state
