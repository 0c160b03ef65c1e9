"""Contract §3.5: the time grammar, epoch milliseconds, future replacement and the UTC output format."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta, timezone

import pytest
from hypothesis import assume, example, given
from hypothesis import strategies as st

from tests.support.timefmt import mutated_time_strings, time_strings
from tracktion.domain.timefmt import TimeFormatError, TimeRangeError, format_ms, parse_time_ms, stored_time_ms

# The §3.5 grammar, written out independently of the module under test and applied with fullmatch.
GRAMMAR = re.compile(
    r"(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2})(?::(\d{2})(?:\.(\d+))?)?([Zz]|[+-]\d{2}:\d{2}|[+-]\d{4})?",
    re.ASCII,
)
EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


@pytest.mark.parametrize(
    ("sent", "stored"),
    [
        ("2024-03-05T11:15:30+01:00", "2024-03-05T10:15:30.000Z"),
        ("2023-11-30T20:00-08:00", "2023-12-01T04:00:00.000Z"),
        ("2024-03-05T06:15:30.2509-0400", "2024-03-05T10:15:30.250Z"),
        ("2024-03-05T10:15:30", "2024-03-05T10:15:30.000Z"),
    ],
)
def test_contract_table_accepted_rows(sent: str, stored: str) -> None:
    assert format_ms(parse_time_ms(sent)) == stored


@pytest.mark.parametrize("sent", ["2024-02-30T10:00:00Z", "2024-03-05", "1709633730"])
def test_contract_table_format_rows(sent: str) -> None:
    with pytest.raises(TimeFormatError):
        parse_time_ms(sent)


def test_contract_table_range_row() -> None:
    with pytest.raises(TimeRangeError):
        parse_time_ms("1970-01-01T00:30:00+01:00")


@pytest.mark.parametrize(
    ("sent", "ms"),
    [
        ("1970-01-01T00:00:00Z", 0),  # the epoch itself is in range
        ("1970-01-01T01:00:00+01:00", 0),
        ("1970-01-01T00:00", 0),  # seconds optional, no offset = UTC
        ("2024-03-05t10:15:30.25z", 1709633730250),  # lower-case T and Z
        ("2024-03-05T10:15:30.2", 1709633730200),  # one fraction digit = tenths
        ("2024-03-05T10:15:30.123456789123Z", 1709633730123),  # extra digits truncated, not rounded
        ("2024-03-05T10:15:30.999999Z", 1709633730999),
        ("2024-03-05T10:15:30+18:00", 1709633730000 - 18 * 3_600_000),  # offset limit included
        ("2024-03-05T10:15:30-1800", 1709633730000 + 18 * 3_600_000),
        ("2024-03-05T10:15:30+05:45", 1709633730000 - (5 * 60 + 45) * 60_000),
        ("2024-02-29T00:00:00Z", 1709164800000),  # leap year
        ("2000-02-29T00:00:00Z", 951782400000),  # divisible by 400: leap
        ("9999-12-31T23:59:59.999Z", 253402300799999),
    ],
)
def test_accepted_values(sent: str, ms: int) -> None:
    assert parse_time_ms(sent) == ms


@pytest.mark.parametrize(
    "sent",
    [
        "2023-02-29T00:00:00Z",  # not a leap year
        "1900-02-29T00:00:00Z",  # divisible by 100, not by 400
        "2024-04-31T00:00:00Z",
        "2024-00-10T00:00:00Z",
        "2024-13-10T00:00:00Z",
        "2024-03-00T00:00:00Z",
        "2024-03-05T24:00:00Z",
        "2024-03-05T10:60:00Z",
        "2024-03-05T10:15:60Z",  # no leap seconds
        "2024-03-05T10:15:30+18:01",  # offset beyond 18:00
        "2024-03-05T10:15:30+19:00",
        "2024-03-05T10:15:30+05:60",  # offset minutes
        "2024-03-05T10:15:30.Z",  # a dot needs digits
        "2024-03-05T10:15.5Z",  # a fraction needs seconds
        "2024-03-05 10:15:30Z",  # space separator
        "2024-03-05T10:15:30 Z",
        "2024-03-05T10:15:30+01",  # hour-only offset
        "2024-03-05T10:15:30+1:00",
        "2024-03-05T1:15:30Z",
        "24-03-05T10:15:30Z",
        "12024-03-05T10:15:30Z",  # exactly four year digits: nothing after 9999
        "٢٠٢٤-03-05T10:15:30Z",  # non-ASCII digits
        "2024-03-05T10:15:30Z ",
        " 2024-03-05T10:15:30Z",
        "2024-03-05T10:15:30UTC",
        "",
    ],
)
def test_rejected_strings(sent: str) -> None:
    with pytest.raises(TimeFormatError):
        parse_time_ms(sent)


@pytest.mark.parametrize("sent", [1709633730, 1709633730.25, None, True, ["2024-03-05T10:15:30Z"], {}])
def test_non_strings_are_format_errors(sent: object) -> None:
    with pytest.raises(TimeFormatError):
        parse_time_ms(sent)


@pytest.mark.parametrize("sent", ["2024-03-05T10:15:30Z\n", "2024-03-05T10:15\n"])
def test_trailing_newline_is_rejected(sent: str) -> None:
    # `$` alone would match before a final newline: the grammar must hold for the whole string.
    with pytest.raises(TimeFormatError):
        parse_time_ms(sent)


@pytest.mark.parametrize(
    "sent", ["1969-12-31T23:59:59.999Z", "1000-01-01T00:00:00Z", "1970-01-01T00:00:00+00:01"]
)
def test_before_epoch_is_a_range_error(sent: str) -> None:
    with pytest.raises(TimeRangeError):
        parse_time_ms(sent)


def test_range_and_format_errors_are_distinct_value_errors() -> None:
    assert issubclass(TimeFormatError, ValueError) and issubclass(TimeRangeError, ValueError)
    assert not issubclass(TimeFormatError, TimeRangeError) and not issubclass(TimeRangeError, TimeFormatError)


@pytest.mark.parametrize(
    ("sent", "receive", "stored"),
    [
        (None, 1000, 1000),  # absent → receive time
        (999, 1000, 999),  # past → as sent
        (1000, 1000, 1000),  # equal → as sent
        (1001, 1000, 1000),  # future → receive time
    ],
)
def test_stored_time(sent: int | None, receive: int, stored: int) -> None:
    assert stored_time_ms(sent, receive) == stored


@pytest.mark.parametrize(
    ("ms", "text"),
    [
        (0, "1970-01-01T00:00:00.000Z"),
        (1709633730250, "2024-03-05T10:15:30.250Z"),
        (1, "1970-01-01T00:00:00.001Z"),
    ],
)
def test_format_ms(ms: int, text: str) -> None:
    assert format_ms(ms) == text


# --- properties --------------------------------------------------------------------------------------------


@given(time_strings())
@example(
    ("2024-03-05T06:15:30.2509-0400", datetime(2024, 3, 5, 6, 15, 30, 250000, timezone(timedelta(hours=-4))))
)
def test_parse_matches_datetime_arithmetic(case: tuple[str, datetime]) -> None:
    text, moment = case
    expected = (moment - EPOCH) // timedelta(milliseconds=1)
    if expected < 0:
        with pytest.raises(TimeRangeError):
            parse_time_ms(text)
    else:
        assert parse_time_ms(text) == expected


@given(time_strings())
def test_format_round_trips(case: tuple[str, datetime]) -> None:
    text, moment = case
    utc = moment.astimezone(UTC)
    assume(moment >= EPOCH and utc.year <= 9999)
    assert format_ms(parse_time_ms(text)) == f"{utc:%Y-%m-%dT%H:%M:%S}.{utc.microsecond // 1000:03d}Z"


@given(st.one_of(mutated_time_strings(), st.text(max_size=40)))
@example("2024-03-05T10:15:30Z\n")
@example("2024-03-05T10:15:30.25\n")
def test_strings_outside_the_grammar_are_format_errors(text: str) -> None:
    assume(GRAMMAR.fullmatch(text) is None)
    with pytest.raises(TimeFormatError):
        parse_time_ms(text)
