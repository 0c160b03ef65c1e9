"""`parse_time_ms`'s cached fast path against the plain implementation it replaced, kept here as the reference.

Same accepted strings, same milliseconds, same error class, whatever the dicts already hold.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from tests.support.timefmt import mutated_time_strings, time_strings
from tracktion.domain import timefmt
from tracktion.domain.timefmt import TimeFormatError, TimeRangeError, parse_time_ms

_REFERENCE_RE = re.compile(
    r"^(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d+))?)?([Zz]|[+-]\d{2}:\d{2}|[+-]\d{4})?$",
    re.ASCII,
)


def reference_parse(text: object) -> int:
    """parse_time_ms as it was before the fast path (one regex, then arithmetic)."""
    if not isinstance(text, str):
        raise TimeFormatError("not a string")
    m = _REFERENCE_RE.fullmatch(text)
    if m is None:
        raise TimeFormatError("grammar")
    year, month, day, hour, minute = (int(m.group(i)) for i in range(1, 6))
    second = int(m.group(6) or 0)
    frac = m.group(7) or ""
    millis = int((frac + "00")[:3]) if frac else 0
    leap = year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)
    month_days = 29 if month == 2 and leap else 28 if month == 2 else 30 if month in (4, 6, 9, 11) else 31
    if not 1 <= month <= 12 or not 1 <= day <= month_days:
        raise TimeFormatError("date")
    if hour > 23 or minute > 59 or second > 59:
        raise TimeFormatError("clock")
    offset_min = 0
    off = m.group(8)
    if off and off not in "Zz":
        digits = off[1:].replace(":", "")
        oh, om = int(digits[:2]), int(digits[2:])
        if om > 59 or oh * 60 + om > 18 * 60:
            raise TimeFormatError("offset")
        offset_min = -(oh * 60 + om) if off[0] == "-" else oh * 60 + om
    y = year - (month <= 2)
    era = y // 400
    yoe = y - era * 400
    doy = (153 * (month + (-3 if month > 2 else 9)) + 2) // 5 + day - 1
    days = era * 146097 + yoe * 365 + yoe // 4 - yoe // 100 + doy - 719468
    ms = ((days * 24 + hour) * 60 + minute) * 60_000 + second * 1000 + millis - offset_min * 60_000
    if ms < 0:
        raise TimeRangeError("before epoch")
    return ms


def outcome(parse: object, text: object) -> int | type[Exception]:
    assert callable(parse)
    try:
        return int(parse(text))
    except (TimeFormatError, TimeRangeError) as exc:
        return type(exc)


def two(low: int, high: int) -> st.SearchStrategy[str]:
    return st.integers(low, high).map(lambda n: f"{n:02d}")


# Pieces at and around every boundary the grammar and the calendar have, plus characters that look like
# digits or separators without being them.
_DIGITS = st.sampled_from("0123456789")
_ODD = st.sampled_from(
    ["١", "٢", "²", "０", " ", "\n", "\t", "_", "+", "-", ":", ".", "Z", "z", "T", "t", ""]
)
_years = st.one_of(
    st.sampled_from(["0000", "0001", "1900", "1969", "1970", "1971", "2000", "2023", "2024", "2100", "9999"]),
    st.integers(0, 9999).map(lambda n: f"{n:04d}"),
)
_fractions = st.one_of(
    st.just(""),
    st.integers(0, 12).flatmap(lambda n: st.text(_DIGITS, min_size=n, max_size=n)).map(lambda d: "." + d),
)
_offsets = st.one_of(
    st.sampled_from(
        ["", "Z", "z", "+18:00", "-18:00", "+18:01", "-18:01", "+1800", "-1759", "+00:00", "-00:00"]
    ),
    st.tuples(st.sampled_from("+-"), two(0, 19), st.sampled_from([":", ""]), two(0, 60)).map("".join),
)


@st.composite
def near_valid(draw: st.DrawFn) -> str:
    parts = [
        draw(_years),
        "-",
        draw(two(0, 13)),
        "-",
        draw(two(0, 32)),
        draw(st.sampled_from("Tt")),
        draw(two(0, 24)),
        ":",
        draw(two(0, 60)),
    ]
    if draw(st.booleans()):
        parts += [":", draw(two(0, 60)), draw(_fractions)]
    parts.append(draw(_offsets))
    text = "".join(parts)
    if draw(st.integers(0, 3)) == 0:  # now and then, one odd character somewhere
        position = draw(st.integers(0, len(text)))
        cut = draw(st.integers(0, 1))
        text = text[:position] + draw(_ODD) + text[position + cut :]
    return text


@given(st.one_of(near_valid(), time_strings().map(lambda case: case[0]), mutated_time_strings()))
@example("2024-02-29T23:59:59.999Z")  # leap day
@example("2023-02-29T00:00:00Z")
@example("2000-02-29T12:00:00.5+18:00")
@example("1900-02-29T12:00:00Z")
@example("1970-01-01T00:00:00.000+00:01")  # before the epoch only because of the offset
@example("1969-12-31T23:59:59.999-00:01")  # after it only because of the offset
@example("1969-12-31T06:00:00-18:00")
@example("1969-12-31T05:59:59.999-18:00")
@example("2024-03-05T10:15:30.1234567890Z")
@example("2024-03-05T10:15:30.123456+05:45")
@example("2024-03-05T10:15:30.123١Z")
@example("2024-03-05T10:15:30.١٢٣Z")
@example("2024-03-05T10:15:30.12+01:00")
@example("2024-03-05T10:15:30.1234+0100\n")
@example("2024-03-05T10:15:30Z\n")
@example("2024-03-05t10:15:30z")
@example("2024-03-05T10:15")
@example("2024-03-05T10:15Z")
@example("2024-03-05T10:15+01:00")
@example("2024-03-05T10:15:3")
@example("2024-03-05T10:15:30.")
@example("2024-03-05T10:15:30.000Z")
@example("0000-01-01T00:00:00Z")
def test_fast_path_matches_reference(text: str) -> None:
    # Twice: the first call may fill the dicts, the second reads them.
    expected = outcome(reference_parse, text)
    assert outcome(parse_time_ms, text) == expected
    assert outcome(parse_time_ms, text) == expected


@contextmanager
def tiny_caches() -> Iterator[None]:
    """Dicts that overflow every few calls, restored afterwards (they are module state)."""
    caches = (timefmt._HOURS, timefmt._MINUTE_SECONDS, timefmt._TAILS)
    saved = [dict(cache) for cache in caches]
    limit = timefmt._CACHE_MAX
    timefmt._CACHE_MAX = 3
    for cache in caches:
        cache.clear()
    try:
        yield
    finally:
        timefmt._CACHE_MAX = limit
        for cache, content in zip(caches, saved, strict=True):
            cache.clear()
            cache.update(content)


@given(st.lists(near_valid(), min_size=1, max_size=20))
def test_results_survive_cache_eviction(texts: list[str]) -> None:
    with tiny_caches():
        for text in texts + texts:
            assert outcome(parse_time_ms, text) == outcome(reference_parse, text)
        assert len(timefmt._HOURS) <= 3 and len(timefmt._TAILS) <= 3


def test_caches_only_hold_valid_pieces() -> None:
    for text in [
        "2024-13-05T10:15:30Z",
        "2024-03-05T24:15:30Z",
        "2024-03-05T10:60:30.5Z",
        "2024-03-05T10:15:30+19:00",
    ]:
        with pytest.raises(TimeFormatError):
            parse_time_ms(text)
    assert "2024-13-05T10" not in timefmt._HOURS and "2024-03-05T24" not in timefmt._HOURS
    assert ":60:30" not in timefmt._MINUTE_SECONDS and "+19:00" not in timefmt._TAILS


def test_long_fractions_share_one_tail() -> None:
    before = len(timefmt._TAILS)
    values = {parse_time_ms(f"2024-03-05T10:15:30.123{n:06d}+01:00") for n in range(0, 1000, 7)}
    assert values == {1709633730123 - 3_600_000}
    assert len(timefmt._TAILS) <= before + 1
