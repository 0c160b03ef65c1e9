"""Time rules of contract §3.5: the accepted ISO 8601 grammar, epoch milliseconds, the UTC output format.

Pure functions; the receive time is always passed in, never read from a clock here.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from functools import lru_cache

_TIME_RE = re.compile(
    r"^(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d+))?)?([Zz]|[+-]\d{2}:\d{2}|[+-]\d{4})?$",
    re.ASCII,
)
_MAX_OFFSET_MIN = 18 * 60


class TimeFormatError(ValueError):
    """Not the grammar, not a real calendar date/time, or offset beyond 18:00 (code 1005)."""


class TimeRangeError(ValueError):
    """Before 1970-01-01T00:00:00Z once the offset is applied (code 1006)."""


def parse_time_ms(text: object) -> int:
    """Parse a §3.5 time string into epoch milliseconds (extra fraction digits truncated).

    Raises TimeFormatError or TimeRangeError. Future times are *not* clamped here: that depends on the
    receive time and is done by `stored_time_ms`.
    """
    if not isinstance(text, str):
        raise TimeFormatError("not a string")
    m = _TIME_RE.fullmatch(text)  # not .match: `$` would accept a trailing newline
    if m is None:
        raise TimeFormatError("grammar")
    year, month, day, hour, minute = (int(m.group(i)) for i in range(1, 6))
    second = int(m.group(6) or 0)
    frac = m.group(7) or ""
    millis = int((frac + "00")[:3]) if frac else 0
    if not 1 <= month <= 12 or not 1 <= day <= _days_in_month(year, month):
        raise TimeFormatError("date")
    if hour > 23 or minute > 59 or second > 59:
        raise TimeFormatError("clock")
    offset_min = 0
    off = m.group(8)
    if off and off not in "Zz":
        digits = off[1:].replace(":", "")
        oh, om = int(digits[:2]), int(digits[2:])
        if om > 59:
            raise TimeFormatError("offset")
        offset_min = oh * 60 + om
        if offset_min > _MAX_OFFSET_MIN:
            raise TimeFormatError("offset")
        if off[0] == "-":
            offset_min = -offset_min
    days = _days_from_civil(year, month, day)
    ms = ((days * 24 + hour) * 60 + minute) * 60_000 + second * 1000 + millis - offset_min * 60_000
    if ms < 0:
        raise TimeRangeError("before epoch")
    return ms


def _days_in_month(year: int, month: int) -> int:
    if month == 2:
        return 29 if year % 4 == 0 and (year % 100 != 0 or year % 400 == 0) else 28
    return 30 if month in (4, 6, 9, 11) else 31


def _days_from_civil(y: int, m: int, d: int) -> int:
    # Howard Hinnant's algorithm: exact for the proleptic Gregorian calendar, no datetime object needed.
    y -= m <= 2
    era = y // 400
    yoe = y - era * 400
    doy = (153 * (m + (-3 if m > 2 else 9)) + 2) // 5 + d - 1
    doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
    return era * 146097 + doe - 719468


def stored_time_ms(sent_ms: int | None, receive_ms: int) -> int:
    """Absent → receive time; later than the receive time → receive time (Synerise saves the receipt time)."""
    if sent_ms is None or sent_ms > receive_ms:
        return receive_ms
    return sent_ms


def format_ms(ms: int) -> str:
    """Epoch ms → `YYYY-MM-DDTHH:MM:SS.mmmZ`."""
    return f"{_second(ms // 1000)}.{ms % 1000:03d}Z"


@lru_cache(maxsize=65_536)
def _second(seconds: int) -> str:
    # Reads format every event's time and every write its receive time; events cluster in time, so the
    # datetime work is done once per distinct second (it was ~18% of a 100-event read).
    return f"{datetime.fromtimestamp(seconds, tz=UTC):%Y-%m-%dT%H:%M:%S}"
