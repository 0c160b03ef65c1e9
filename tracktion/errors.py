"""The error tree and the one builder of Synerise's error body (docs/api.md §1.6, §1.7).

Every failure the API reports is a `TracktionError` carrying its HTTP status, its entries (code, field,
message, rejected value) and the quarantine reason it maps to (§11). Only `error_body` turns one into
the wire shape, so that shape lives in a single place.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any

REJECTED_VALUE_MAX = 256


def rejected(value: Any) -> str | None:
    """`rejectedValue` as §1.6 wants it: strings as sent, anything else as compact JSON, cut to 256 chars."""
    if value is None:
        return None
    if isinstance(value, str):
        text = value
    else:
        text = json.dumps(value, separators=(",", ":"), ensure_ascii=False, allow_nan=False, default=str)
    return text[:REJECTED_VALUE_MAX]


@dataclass(frozen=True, slots=True)
class ErrorEntry:
    # Pickled as a plain tuple (it crosses to and from the SQLite writer process inside write results).
    def __reduce__(self) -> tuple[Any, ...]:
        return (ErrorEntry, (self.code, self.field, self.message, self.rejected_value))

    code: int
    field: str
    message: str
    rejected_value: str | None = None

    def with_prefix(self, prefix: str) -> ErrorEntry:
        """The same entry for a batch item: `[3]` + `.client.uuid`, or `[3]` alone for the whole item."""
        if not prefix:
            return self
        field = prefix + ("." + self.field if self.field and not self.field.startswith("[") else self.field)
        return ErrorEntry(self.code, field, self.message, self.rejected_value)

    def as_json(self) -> dict[str, Any]:
        return {
            "code": self.code,
            "field": self.field,
            "message": self.message,
            "rejectedValue": self.rejected_value,
        }


class TracktionError(Exception):
    """Base of every error answered to a client. Subclasses fix `status`, `code` and `reason`."""

    status: int = 500
    code: int = 5000
    reason: str = "internal error"  # quarantine reason (§11)
    default_message: str = "Internal server error"
    default_field: str = ""

    def __init__(
        self,
        message: str | None = None,
        *,
        field: str | None = None,
        rejected_value: Any = None,
        errors: list[ErrorEntry] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        if errors is None:
            errors = [
                ErrorEntry(
                    self.code,
                    self.default_field if field is None else field,
                    message or self.default_message,
                    rejected(rejected_value),
                )
            ]
        assert errors, "an error body never has an empty errors list"
        self.errors = errors
        self.headers = dict(headers or {})
        super().__init__(self.message)

    @property
    def message(self) -> str:
        if len(self.errors) == 1:
            return self.errors[0].message
        return f"Request validation failed ({len(self.errors)} errors)"


class ValidationFailed(TracktionError):
    status, code, reason = 400, 1001, "validation failed"


class MalformedJson(TracktionError):
    status, code, reason, default_message = 400, 1000, "malformed json", "Malformed JSON"


class InvalidBatch(TracktionError):
    status, code, reason = 400, 1001, "invalid batch"


class UnsupportedApiVersion(TracktionError):
    status, code, reason = 400, 1016, "unsupported api version"
    default_field = "Api-Version"


class BadParameter(TracktionError):
    status, code, reason = 400, 1017, "validation failed"


class PayloadTooLarge(TracktionError):
    status, code, reason = 413, 1014, "payload too large"
    default_message = "Payload too large (max 1048576 bytes)"


class UnsupportedMediaType(TracktionError):
    status, code, reason = 415, 1015, "unsupported media type"
    default_message = "Content-Type must be application/json"
    default_field = "Content-Type"


class Unauthorized(TracktionError):
    status, code, reason = 401, 2001, "unauthorized"
    default_message = "Invalid or missing credentials"
    default_field = "Authorization"

    def __init__(self, message: str | None = None, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.headers.setdefault("www-authenticate", 'Bearer realm="tracktion"')


class TokenExpired(Unauthorized):
    code = 2002
    default_message = "Token expired"


class PermissionDenied(TracktionError):
    status, code, reason = 403, 2003, "permission denied"
    default_message = "Permission missing"
    default_field = "Authorization"


class ProfileMismatch(TracktionError):
    status, code, reason = 403, 2004, "profile mismatch"
    default_message = "Profile token cannot act for another profile"


class TokenKindNotAllowed(TracktionError):
    status, code, reason = 403, 2005, "token kind"
    default_message = "This token kind is not allowed here"
    default_field = "Authorization"


class NotFound(TracktionError):
    status, code, reason, default_message = 404, 3001, "not found", "Not found"


class MethodNotAllowed(TracktionError):
    status, code, reason, default_message = 405, 3002, "method not allowed", "Method not allowed"


class NotImplementedYet(TracktionError):
    status, code, reason, default_message = 501, 3003, "not implemented", "Not implemented"


class InternalError(TracktionError):
    status, code, reason = 500, 5000, "internal error"


class StorageUnavailable(TracktionError):
    status, code, reason, default_message = 503, 5001, "storage unavailable", "Storage unavailable"

    def __init__(self, message: str | None = None, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.headers.setdefault("retry-after", "1")


class Overloaded(TracktionError):
    status, code, reason, default_message = 503, 5002, "overloaded", "Server overloaded, retry later"

    def __init__(self, message: str | None = None, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.headers.setdefault("retry-after", "1")


def error_body(status: int, errors: list[ErrorEntry], path: str, timestamp: str) -> dict[str, Any]:
    """The Synerise `HTTP400`/`Error` shape (§1.6). `timestamp` is already formatted as UTC ms."""
    message = errors[0].message if len(errors) == 1 else f"Request validation failed ({len(errors)} errors)"
    return {
        "error": HTTPStatus(status).phrase,
        "message": message,
        "path": path,
        "status": status,
        "timestamp": timestamp,
        "errors": [e.as_json() for e in errors],
    }
