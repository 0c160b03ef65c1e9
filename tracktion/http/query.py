"""Query and path parameter parsing for the read APIs: every failure is 400, code 1017, at that name."""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable

import msgspec

from tracktion.domain.timefmt import TimeFormatError, TimeRangeError, parse_time_ms
from tracktion.errors import BadParameter, NotFound
from tracktion.http.request import Request
from tracktion.schemas.common import TIME
from tracktion.schemas.openapi_shapes import JsonSchema

MAX_INT64 = 2**63 - 1
DEFAULT_LIMIT, MAX_LIMIT = 100, 1000
# §12: an integer read from a path, a query or a header has at most 19 digits (int64's width). The length is
# checked before `int()`, which refuses strings past 4300 digits with a ValueError (a 500 if it escaped) and
# spends quadratic time below that.
MAX_DIGITS = 19


def int64(value: str) -> int | None:
    """The value of a string of 1–19 ASCII digits within int64, else None."""
    if not 0 < len(value) <= MAX_DIGITS or not value.isascii() or not value.isdigit():
        return None
    number = int(value)
    return number if number <= MAX_INT64 else None


def positive_int(value: str, name: str) -> int:
    number = int64(value)
    if number is None or number == 0:
        raise BadParameter(f"{name} must be a positive integer", field=name, rejected_value=value)
    return number


def path_id(value: str, name: str, not_found: Callable[[], NotFound]) -> int:
    """A positive integer id in a path. Digits that can name no row (past 19 digits or int64) are an id
    that does not exist: the caller's own 404 (§12), the same answer as for any unknown id. Anything else
    that is not a positive integer stays 400, 1017."""
    if value.isascii() and value.isdigit() and int64(value) is None:
        raise not_found()
    return positive_int(value, name)


def limit(request: Request, default: int = DEFAULT_LIMIT, maximum: int = MAX_LIMIT) -> int:
    raw = request.query_one("limit")
    if raw is None:
        return default
    number = int64(raw)
    if number is None or not 1 <= number <= maximum:
        raise BadParameter(
            f"limit must be an integer between 1 and {maximum}", field="limit", rejected_value=raw
        )
    return number


def time_param(request: Request, name: str) -> int | None:
    raw = request.query_one(name)
    if raw is None:
        return None
    try:
        return parse_time_ms(raw)
    except (TimeFormatError, TimeRangeError):
        raise BadParameter(f"{name} is not a valid ISO8601 time", field=name, rejected_value=raw) from None


def time_range(request: Request, from_name: str, to_name: str) -> tuple[int | None, int | None]:
    start, end = time_param(request, from_name), time_param(request, to_name)
    if start is not None and end is not None and start > end:
        raise BadParameter(
            f"{from_name} is after {to_name}", field=from_name, rejected_value=request.query_one(from_name)
        )
    return start, end


def encode_cursor(time_ms: int, seq: int) -> str:
    return base64.urlsafe_b64encode(msgspec.json.encode([time_ms, seq])).decode().rstrip("=")


def decode_cursor(request: Request) -> tuple[int, int] | None:
    raw = request.query_one("cursor")
    if raw is None:
        return None
    try:
        value = msgspec.json.decode(base64.urlsafe_b64decode(raw + "=" * (-len(raw) % 4)))
        if (
            isinstance(value, list)
            and len(value) == 2
            and all(type(v) is int and -MAX_INT64 - 1 <= v <= MAX_INT64 for v in value)
        ):
            return value[0], value[1]
    except (binascii.Error, msgspec.DecodeError, ValueError):
        pass
    raise BadParameter("cursor is not valid", field="cursor", rejected_value=raw)


# -- the OpenAPI description of these parameters ----------------------------------------------------------
def query_param(name: str, schema: JsonSchema, description: str = "", *, many: bool = False) -> JsonSchema:
    """A query parameter; `many`: repeatable (`?action=a&action=b`, read with `Request.query_all`)."""
    param: JsonSchema = {"name": name, "in": "query", "required": False, "schema": schema}
    if many:
        param.update(schema={"type": "array", "items": schema}, style="form", explode=True)
    if description:
        param["description"] = description
    return param


def time_query(name: str) -> JsonSchema:
    """A `time_param`: the time grammar of §3.5, as the bodies' time fields."""
    return query_param(name, TIME)


POSITIVE_INT: JsonSchema = {"type": "integer", "minimum": 1, "maximum": MAX_INT64}  # `positive_int`
LIMIT = query_param(
    "limit", {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT, "default": DEFAULT_LIMIT}
)
CURSOR = query_param("cursor", {"type": "string"}, "opaque, from `nextCursor`")
ACTIONS = query_param("action", {"type": "string"}, "any of these actions", many=True)
