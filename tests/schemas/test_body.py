"""Contract §1.3 and §12 (body part): strict UTF-8 JSON, depth and int64 limits, gzip with a 1 MiB cap."""

from __future__ import annotations

import gzip
import json
import struct
import time
import zlib
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from tracktion.errors import MalformedJson, PayloadTooLarge
from tracktion.schemas.body import BODY_LIMIT, decode_json, gunzip_limited

INT_MIN, INT_MAX = -(2**63), 2**63 - 1


def assert_malformed(body: bytes) -> None:
    with pytest.raises(MalformedJson) as info:
        decode_json(body)
    error = info.value
    assert (error.status, error.code, error.reason) == (400, 1000, "malformed json")
    assert [e.as_json() for e in error.errors] == [
        {"code": 1000, "field": "", "message": "Malformed JSON", "rejectedValue": None}
    ]


def nested(depth: int, inner: bytes = b"1") -> bytes:
    """`depth` levels alternating arrays and objects around `inner`."""
    out = inner
    for level in range(depth):
        out = b"[" + out + b"]" if level % 2 else b'{"k":' + out + b"}"
    return out


def depth_of(value: Any) -> int:
    """Containers on the deepest path of a decoded value (a bare `[]` is 1)."""
    if isinstance(value, dict):
        return 1 + max(map(depth_of, value.values()), default=0)
    if isinstance(value, list):
        return 1 + max(map(depth_of, value), default=0)
    return 0


# --- valid bodies -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "value"),
    [
        (b'{"a": 1}', {"a": 1}),
        (b' \r\n\t{"a": [1, 2.5, "x", true, false, null]} \n', {"a": [1, 2.5, "x", True, False, None]}),
        (b"[]", []),
        (b'"text"', "text"),
        (b"null", None),
        ('{"name": "Zoë 🙂"}'.encode(), {"name": "Zoë 🙂"}),
        (b'"\\ud83d\\ude00"', "😀"),  # an escaped surrogate *pair* is a normal character
        (b"1e308", 1e308),
        (b"-0", 0),
        (b"123456789012345678901234567890.5", 123456789012345678901234567890.5),  # a float, not an integer
    ],
)
def test_valid(body: bytes, value: Any) -> None:
    assert decode_json(body) == value


def test_duplicate_keys_last_wins() -> None:
    assert decode_json(b'{"a": 1, "b": 2, "a": 3}') == {"a": 3, "b": 2}


def test_escaped_lone_surrogates_are_valid_json() -> None:
    # Refused later as identifiers (1008), so they must survive decoding.
    assert decode_json(b'{"customId": "a\\ud800", "x": "\\udfff"}') == {"customId": "a\ud800", "x": "\udfff"}
    assert decode_json(b'["\\uD83D", 1, {"k": [true]}]') == ["\ud83d", 1, {"k": [True]}]


# --- malformed ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"   ",
        b"{",
        b'{"a": 1,}',
        b"[1 2]",
        b"{'a': 1}",
        b'{"a": 1} x',
        b"[1][2]",
        b'{"a" 1}',
        b'"unterminated',
        b'"tab\tinside"',  # raw control characters must be escaped
        b"01",
        b"+1",
        b".5",
        b"True",
        b"undefined",
    ],
)
def test_invalid_json(body: bytes) -> None:
    assert_malformed(body)


@pytest.mark.parametrize(
    "body",
    [b'"\xff"', b'"\xc3"', b'"\xc0\xaf"', b'"\xed\xa0\x80"', b'{"a": "\xe2\x82"}', b"\x80"],
    ids=["ff", "truncated", "overlong", "encoded-surrogate", "truncated-3-byte", "continuation"],
)
def test_invalid_utf8(body: bytes) -> None:
    assert_malformed(body)


def test_byte_order_mark() -> None:
    assert_malformed(b'\xef\xbb\xbf{"a": 1}')


@pytest.mark.parametrize(
    "body", [b"NaN", b"[Infinity]", b'{"a": -Infinity}', b"[nan]", b"1e400", b"[-1e400]"]
)
def test_non_finite_numbers(body: bytes) -> None:
    assert_malformed(body)


@pytest.mark.parametrize(
    "body",
    [
        b'["\\ud800", NaN]',
        b'["\\ud800", Infinity]',
        b'["\\ud800", 1e400]',
        b'["\\ud800",]',
        b'"\\ud800" 1',
        b'["\\ud800", "\xff"]',
        b'["\\ud800", 9223372036854775808]',
        b"[" * 65 + b'"\\ud800"' + b"]" * 65,
    ],
)
def test_surrogate_fallback_keeps_every_rule(body: bytes) -> None:
    # Bodies with lone surrogates take the slower stdlib path; it must refuse exactly what msgspec refuses.
    assert_malformed(body)


# --- depth (level 1 = outermost container) ------------------------------------------------------------------


@pytest.mark.parametrize("depth", [1, 63, 64])
def test_depth_accepted(depth: int) -> None:
    # The value is the one the stdlib decodes, and it really is `depth` deep (the limit is tested at the edge).
    for body in (
        nested(depth),
        b"[" * depth + b"]" * depth,
        b'{"a":' * (depth - 1) + b"{}" + b"}" * (depth - 1),
    ):
        value = decode_json(body)
        assert value == json.loads(body)
        assert depth_of(value) == depth


@pytest.mark.parametrize("depth", [65, 66, 500, 1000, 5000, 100_000])
def test_depth_rejected(depth: int) -> None:
    assert_malformed(nested(depth))
    assert_malformed(b"[" * depth + b"]" * depth)


def test_depth_counted_per_path_not_per_bracket() -> None:
    # 200 sibling containers at level 2: many brackets, small depth (the pre-check passes, the walk accepts).
    body = b"[" + b",".join([b'{"a": [1]}'] * 200) + b"]"
    assert len(decode_json(body)) == 200
    assert decode_json(b'["' + b"[" * 100 + b'"]') == ["[" * 100]  # brackets inside strings do not nest


def test_depth_65_deep_inside_a_batch() -> None:
    items = [b'{"a": 1}'] * 10 + [nested(64)]  # item at level 2 → its innermost container is level 65
    assert_malformed(b"[" + b",".join(items) + b"]")
    ok = [b'{"a": 1}'] * 10 + [nested(63)]
    assert len(decode_json(b"[" + b",".join(ok) + b"]")) == 11


# --- integers (signed 64-bit anywhere) ----------------------------------------------------------------------


@pytest.mark.parametrize("value", [INT_MIN, INT_MAX, 0, 10**18, -(10**18)])
def test_int64_bounds_accepted(value: int) -> None:
    text = str(value).encode()
    assert decode_json(text) == value
    assert decode_json(b'{"params": {"deep": [1, {"n": ' + text + b"}]}}") == {
        "params": {"deep": [1, {"n": value}]}
    }


@pytest.mark.parametrize("value", [INT_MAX + 1, INT_MIN - 1, 10**19, 10**40, -(10**100)])
def test_int64_overflow_rejected_anywhere(value: int) -> None:
    text = str(value).encode()
    assert_malformed(text)
    assert_malformed(b"[" + text + b"]")
    assert_malformed(b'{"client": {"id": ' + text + b"}}")
    assert_malformed(b'[{"params": {"a": [1, 2, ' + text + b"]}}]")


def test_long_digit_runs_that_are_not_integers() -> None:
    assert decode_json(b'{"phone": "123456789012345678901234567890"}') == {"phone": "1234567890" * 3}
    assert decode_json(b"[1.0e19, 99999999999999999999.0, 1e-30]") == [1e19, 99999999999999999999.0, 1e-30]


# --- property: agreement with the stdlib on values inside the limits ---------------------------------------

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(INT_MIN, INT_MAX)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=30,
)


@given(json_values)
def test_round_trip_of_values_within_limits(value: Any) -> None:
    assert decode_json(json.dumps(value, ensure_ascii=False).encode()) == value


@given(st.one_of(st.integers(max_value=INT_MIN - 1), st.integers(min_value=INT_MAX + 1)), st.integers(0, 5))
def test_any_out_of_range_integer_is_refused(value: int, depth: int) -> None:
    assert_malformed(b"[" * depth + str(value).encode() + b"]" * depth)


# --- gzip ---------------------------------------------------------------------------------------------------


def test_gunzip_round_trip() -> None:
    raw = b'{"client": {"id": 7}, "label": "x"}' * 100
    assert gunzip_limited(gzip.compress(raw)) == raw
    assert gunzip_limited(gzip.compress(b"")) == b""


def test_gunzip_exactly_the_limit_is_accepted() -> None:
    raw = b"a" * BODY_LIMIT
    assert BODY_LIMIT == 1_048_576
    assert gunzip_limited(gzip.compress(raw)) == raw


def test_gunzip_one_byte_over_the_limit() -> None:
    with pytest.raises(PayloadTooLarge) as info:
        gunzip_limited(gzip.compress(b"a" * (BODY_LIMIT + 1)))
    assert (info.value.status, info.value.code, info.value.reason) == (413, 1014, "payload too large")
    assert info.value.errors[0].message == "Payload too large (max 1048576 bytes)"


@pytest.mark.parametrize(
    ("size", "limit", "ok"), [(10, 10, True), (11, 10, False), (0, 0, True), (1, 0, False)]
)
def test_gunzip_custom_limit(size: int, limit: int, ok: bool) -> None:
    compressed = gzip.compress(b"z" * size)
    if ok:
        assert gunzip_limited(compressed, limit) == b"z" * size
    else:
        with pytest.raises(PayloadTooLarge):
            gunzip_limited(compressed, limit)


def test_gunzip_concatenated_members_and_zero_padding() -> None:
    assert gunzip_limited(gzip.compress(b"[1,") + gzip.compress(b"2]")) == b"[1,2]"
    assert gunzip_limited(gzip.compress(b"[1]") + b"\x00" * 8) == b"[1]"
    with pytest.raises(PayloadTooLarge):  # the limit counts every member together
        gunzip_limited(gzip.compress(b"a" * 6) + gzip.compress(b"a" * 5), 10)


GOOD = gzip.compress(b'{"a": 1}')


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b'{"a": 1}',
        b"\x1f",
        b"\x1f\x8b",
        GOOD[:10],
        GOOD[:-1],
        GOOD[:-8],
        GOOD[:-4] + b"\0\0\0\0",
        GOOD[:-8] + b"\0\0\0\0" + GOOD[-4:],
        GOOD + b"garbage",
        zlib.compress(b'{"a": 1}'),
    ],
    ids=[
        "empty",
        "plain-json",
        "magic-1",
        "magic-2",
        "header-only",
        "no-last-byte",
        "no-trailer",
        "bad-size",
        "bad-crc",
        "trailing-garbage",
        "zlib-not-gzip",
    ],
)
def test_gunzip_invalid_or_truncated(body: bytes) -> None:
    with pytest.raises(MalformedJson) as info:
        gunzip_limited(body)
    assert (info.value.status, info.value.code, info.value.errors[0].field) == (400, 1000, "")


def gzip_bomb(gib: int = 1) -> bytes:
    """A valid single-member gzip of `gib` GiB of zeros (~1 MB), built without compressing a GiB.

    After a full flush the deflate encoder starts afresh, so every further MiB of zeros compresses to the same
    bytes: the middle is one block repeated. Only the trailer (CRC-32, size mod 2**32) is computed for the total.
    """
    zeros = bytes(1 << 20)
    encoder = zlib.compressobj(9, zlib.DEFLATED, 31)
    first = encoder.compress(zeros) + encoder.flush(zlib.Z_FULL_FLUSH)
    middle = encoder.compress(zeros) + encoder.flush(zlib.Z_FULL_FLUSH)
    last = encoder.compress(zeros) + encoder.flush()
    mibs = gib * 1024
    crc = 0
    for _ in range(mibs):
        crc = zlib.crc32(zeros, crc)
    return first + middle * (mibs - 2) + last[:-8] + struct.pack("<II", crc, (mibs << 20) & 0xFFFFFFFF)


def test_gzip_bomb_is_refused_without_inflating_it() -> None:
    bomb = gzip_bomb()
    assert len(bomb) < 1_100_000
    # It is a real stream of zeros (checked on a prefix; inflating it all is exactly what must not happen).
    assert zlib.decompressobj(31).decompress(bomb, 8 << 20) == bytes(8 << 20)
    started = time.perf_counter()
    with pytest.raises(PayloadTooLarge):
        gunzip_limited(bomb)
    assert time.perf_counter() - started < 0.5  # ~5 ms measured: only ~1 MiB is ever inflated
