"""Field rules shared by every body shape: the time fields (§3.5) and `eventSalt` (§3.7)."""

from __future__ import annotations

from typing import Any

from tracktion.domain.timefmt import TIME_RE, TimeFormatError, TimeRangeError, parse_time_ms, stored_time_ms
from tracktion.errors import ErrorEntry, rejected
from tracktion.schemas.openapi_shapes import JsonSchema, anchored

# The OpenAPI schema of a time field as `check_time` reads it (also the time filters of the reads).
TIME: JsonSchema = {
    "type": "string",
    "pattern": anchored(TIME_RE),
    "description": "ISO 8601 (§3.5); a real calendar date, offset ≤ 18:00, not before 1970; later = receive time",
}


def check_time(sent: Any, field: str, receive_ms: int, errors: list[ErrorEntry]) -> tuple[int, str | None]:
    """`time` / `recordedAt` / `EventTimestamp`: (stored time, the string as sent when accepted).

    Absent → the receive time; a future time → the receive time (Synerise stores the time of receipt)."""
    if sent is None:
        return receive_ms, None
    try:
        return stored_time_ms(parse_time_ms(sent), receive_ms), sent
    except TimeFormatError:
        errors.append(ErrorEntry(1005, field, "Time is not a valid ISO8601 format", rejected(sent)))
    except TimeRangeError:
        errors.append(ErrorEntry(1006, field, "Time is out of range", rejected(sent)))
    return receive_ms, None


def check_salt(salt: Any, errors: list[ErrorEntry]) -> None:
    if salt is not None and (type(salt) is not str or not salt):
        code = 1004 if type(salt) is not str else 1003
        errors.append(ErrorEntry(code, "eventSalt", "Event salt must be a non-empty string", rejected(salt)))
