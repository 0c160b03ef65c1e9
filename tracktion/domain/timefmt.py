"""Time rules of docs/api.md §3.5: the accepted ISO 8601 grammar, epoch milliseconds, the UTC output format.

Pure functions; the receive time is always passed in, never read from a clock here.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from functools import lru_cache

TIME_RE = re.compile(
    r"^(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d+))?)?([Zz]|[+-]\d{2}:\d{2}|[+-]\d{4})?$",
    re.ASCII,
)
_MAX_OFFSET_MIN = 18 * 60


class TimeFormatError(ValueError):
    """Not the grammar, not a real calendar date/time, or offset beyond 18:00 (code 1005)."""


class TimeRangeError(ValueError):
    """Before 1970-01-01T00:00:00Z once the offset is applied (code 1006)."""


# Fast path. A string with seconds splits into three independent pieces: `YYYY-MM-DDTHH` (date and hour),
# `:MM:SS`, and the tail (fraction and offset). The grammar accepts the whole iff it accepts each piece, and the
# value is the sum of the pieces' values, so each piece is validated once by `_strict_parse` and its value kept
# in a dict. Events cluster in time and use few tail shapes, so a typical parse is three slices and three dict
# hits instead of a regex match and a dozen int() calls. Only valid pieces are stored; anything the dicts do not
# know (other shapes, errors, before-epoch sums) goes to `_strict_parse`, the one definition of the grammar.
_HOURS: dict[str, int] = {}  # "2024-03-05T10" → epoch ms of that hour (may be negative: offsets come later)
_MINUTE_SECONDS: dict[str, int] = {}  # ":15:30" → ms; at most 3600 valid keys
_TAILS: dict[str, int] = {}  # ".250+01:00" → fraction ms minus offset ms
# _HOURS and _TAILS are emptied when full (~170 days of hours; far more tails than clients use), so no sender
# can grow them without bound.
_CACHE_MAX = 4096
# A tail is valued after this prefix: 1970-01-03 keeps the sum ≥ 0 even with a +18:00 offset.
_TAIL_BASE, _TAIL_BASE_MS = "1970-01-03T00:00:00", 2 * 86_400_000
_ASCII_DIGITS = "0123456789"


def parse_time_ms(text: object) -> int:
    """Parse a §3.5 time string into epoch milliseconds (extra fraction digits truncated).

    Raises TimeFormatError or TimeRangeError. Future times are *not* clamped here: that depends on the
    receive time and is done by `stored_time_ms`.
    """
    if type(text) is str:
        hour = _HOURS.get(text[:13])
        if hour is None:
            hour = _learn_hour(text[:13])
        if hour is not None:
            minute_second = _MINUTE_SECONDS.get(text[13:19])
            if minute_second is None:
                minute_second = _learn_minute_second(text[13:19])
            if minute_second is not None:
                tail = _TAILS.get(text[19:])
                if tail is None:
                    tail = _learn_tail(text[19:])
                if tail is not None:
                    ms = hour + minute_second + tail
                    if ms >= 0:
                        return ms
    return _strict_parse(text)


def _learn_hour(piece: str) -> int | None:
    if len(piece) != 13:
        return None
    try:
        # "-18:00" adds 18 h, so hours from 1969-12-31T06 on stay in range; earlier ones take the strict path.
        ms = _strict_parse(piece + ":00:00-18:00") - _MAX_OFFSET_MIN * 60_000
    except ValueError:
        return None
    if len(_HOURS) >= _CACHE_MAX:
        _HOURS.clear()
    _HOURS[piece] = ms
    return ms


def _learn_minute_second(piece: str) -> int | None:
    if len(piece) != 6 or piece[3] != ":":  # e.g. ":15+01" of a time without seconds: no exception raised
        return None
    try:
        ms = _strict_parse("1970-01-01T00" + piece + "Z")
    except ValueError:
        return None
    _MINUTE_SECONDS[piece] = ms  # bounded: only the 3600 valid keys ever get here
    return ms


def _learn_tail(piece: str) -> int | None:
    if len(piece) > 4 and piece[0] == "." and piece[1:4].isdigit():
        rest = piece[4:]
        offset = rest.lstrip(_ASCII_DIGITS)
        if len(offset) < len(rest):
            # Digits past the third are truncated, so ".123456Z" is worth ".123Z": keeping only the short form
            # stops 6-digit fractions (Python's isoformat) from flooding the dict with a million keys. Valid
            # iff the short form is (isdigit is also true for non-ASCII digits, which both forms reject).
            short = piece[:4] + offset
            value = _TAILS.get(short)
            return value if value is not None else _learn_tail(short)
    try:
        ms = _strict_parse(_TAIL_BASE + piece) - _TAIL_BASE_MS
    except ValueError:
        return None
    if len(_TAILS) >= _CACHE_MAX:
        _TAILS.clear()
    _TAILS[piece] = ms  # short: ".fff" plus an offset is at most 10 characters
    return ms


def _strict_parse(text: object) -> int:
    """The §3.5 grammar and arithmetic, applied to the whole string (the reference the fast path relies on)."""
    if not isinstance(text, str):
        raise TimeFormatError("not a string")
    m = TIME_RE.fullmatch(text)  # not .match: `$` would accept a trailing newline
    if m is None:
        raise TimeFormatError("grammar")
    year_s, month_s, day_s, hour_s, minute_s, second_s, frac, off = m.groups()
    year, month, day, hour, minute = int(year_s), int(month_s), int(day_s), int(hour_s), int(minute_s)
    second = int(second_s) if second_s else 0
    millis = int((frac + "00")[:3]) if frac else 0
    if not 1 <= month <= 12 or not 1 <= day <= _days_in_month(year, month):
        raise TimeFormatError("date")
    if hour > 23 or minute > 59 or second > 59:
        raise TimeFormatError("clock")
    offset_min = 0
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


def format_ms_whole(ms: int) -> str:
    """Epoch ms → `YYYY-MM-DDTHH:MM:SSZ` (no milliseconds)."""
    return f"{_second(ms // 1000)}Z"


@lru_cache(maxsize=65_536)
def _second(seconds: int) -> str:
    # Reads format every event's time and every write its receive time; events cluster in time, so the
    # datetime work is done once per distinct second (it was ~18% of a 100-event read).
    return f"{datetime.fromtimestamp(seconds, tz=UTC):%Y-%m-%dT%H:%M:%S}"
