"""Request body bytes → JSON value (docs/api.md §1.3, §12): gzip with a size cap, then strict JSON.

Both functions raise the §1.7 errors directly (`MalformedJson` 1000, `PayloadTooLarge` 1014) so the HTTP layer
only has to render them.
"""

from __future__ import annotations

import json
import math
import re
import zlib
from collections.abc import Iterable
from typing import Any

import msgspec

from tracktion.errors import MalformedJson, PayloadTooLarge

BODY_LIMIT = 1_048_576  # §1.3: 1 MiB, raw and decompressed; exactly the limit is accepted
MAX_DEPTH = 64  # §1.3: the outermost array/object is level 1; 64 accepted, 65 rejected
_INT_MIN, _INT_MAX = -(2**63), 2**63 - 1

_decode = msgspec.json.Decoder().decode
_BOM = b"\xef\xbb\xbf"
# The limits are pre-checked on the body's *shape*, made by one bytes.translate (~0.7 ns/byte): every digit
# becomes "0", `{` `}` become `[` `]` (valid JSON pairs them correctly anyway), quotes and backslashes stay, and
# everything else becomes " ". Only a shape that may break a limit pays for the Python walk (~1.5 ms for a
# 1000-event batch; counting brackets is no filter there, as any batch has far more than 64).
# 2**63 has 19 digits, so an integer outside int64 needs a run of at least 19 digits somewhere in the bytes.
# Digits inside strings or float mantissas also match: that only costs a walk, never a wrong answer (the
# equivalent regex `\d{19}` costs ~12 ns/byte).
_SHAPE = bytes(
    0x30 if 0x30 <= i <= 0x39 else 0x5B if i in b"[{" else 0x5D if i in b"]}" else i if i in b'"\\' else 0x20
    for i in range(256)
)
_INT64_DIGITS = b"0" * 19
# msgspec refuses escaped lone surrogates ("\ud800"), which §3.2 wants accepted as JSON so that identifiers
# carrying them get 1008. Only bodies with such an escape are worth a second, slower parse.
_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]")

_GZIP_WBITS = 16 + zlib.MAX_WBITS  # gzip container only (no raw deflate / zlib header guessing)
_INFLATE_CHUNK = 64 * 1024


def decode_json(body: bytes) -> Any:
    """Decode a UTF-8 JSON body under §1.3's rules; any violation → `MalformedJson` (400, 1000, field "")."""
    if body.startswith(_BOM):
        # msgspec already refuses it; checked here too so the rule never depends on a decoder version.
        raise MalformedJson()
    try:
        value = _decode(body)
    except msgspec.DecodeError:
        value = _decode_fallback(body)
    except (UnicodeDecodeError, RecursionError):
        # msgspec reports invalid UTF-8 as UnicodeDecodeError, and gives up nesting around 1000 levels (far
        # beyond MAX_DEPTH): malformed whatever the rest of the body says.
        raise MalformedJson() from None
    # The walk stays the judge; the shape only says when it is needed.
    shape = body.translate(_SHAPE)
    if _INT64_DIGITS in shape or (shape.count(b"[") > MAX_DEPTH and _nesting_exceeds(shape, MAX_DEPTH)):
        if isinstance(value, dict | list) and not _within_limits(value, 1):
            raise MalformedJson()
        if type(value) is int and not _INT_MIN <= value <= _INT_MAX:
            raise MalformedJson()
    return value


def _decode_fallback(body: bytes) -> Any:
    """Second chance for bodies msgspec refused only because of escaped lone surrogates."""
    if _SURROGATE_ESCAPE.search(body) is None:
        raise MalformedJson()
    try:
        text = body.decode("utf-8")  # strict: invalid UTF-8 (incl. encoded surrogates) fails here
        return json.loads(text, parse_constant=_reject_constant, parse_float=_finite_float)
    except (ValueError, RecursionError):  # JSONDecodeError and UnicodeDecodeError are ValueErrors
        raise MalformedJson() from None


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def _finite_float(text: str) -> float:
    # msgspec refuses numbers that overflow a double ("Number out of range"); the fallback must agree.
    value = float(text)
    if math.isinf(value):
        raise ValueError("number out of range")
    return value


def _nesting_exceeds(shape: bytes, limit: int) -> bool:
    """Whether the nesting of a valid JSON text, given as its `_SHAPE`, goes deeper than `limit`."""
    if b"\\" in shape:
        # Drop escaped backslashes, then escaped quotes: left to right, as a JSON parser pairs them, so every
        # quote left delimits a string. (0x22 and 0x5C never occur inside a multi-byte UTF-8 sequence.)
        shape = shape.replace(b"\\\\", b"").replace(b'\\"', b"")
    # The bracket skeleton: quotes and brackets only. Nearly every string is empty once its content is gone;
    # two adjacent quotes are an empty string or the end of one string and the start of the next, and dropping
    # either pair keeps every other quote's role. What is left between an odd and an even quote is string
    # content (brackets), dropped by taking every other piece.
    skeleton = shape.translate(None, b" 0").replace(b'""', b"")
    if b'"' in skeleton:
        skeleton = b"".join(skeleton.split(b'"')[::2])
    if len(skeleton) <= 2 * limit:  # n bracket pairs nest at most n deep
        return False
    # One replace removes every innermost pair at once (it only sees pairs adjacent before the call), i.e.
    # exactly one level of every branch: the skeleton is gone after `depth` rounds.
    for _ in range(limit):
        skeleton = skeleton.replace(b"[]", b"")
        if not skeleton:
            return False
    return True


def _within_limits(container: dict[str, Any] | list[Any], depth: int) -> bool:
    """True if nesting stays ≤ MAX_DEPTH and every integer fits int64 (`container` is at level `depth`)."""
    if depth > MAX_DEPTH:
        return False
    items: Iterable[Any] = container.values() if type(container) is dict else container
    for item in items:
        kind = type(item)
        if kind is dict or kind is list:
            if not _within_limits(item, depth + 1):
                return False
        elif kind is int and not _INT_MIN <= item <= _INT_MAX:
            return False
    return True


def gunzip_limited(body: bytes, limit: int = BODY_LIMIT) -> bytes:
    """Inflate a gzip body, refusing (`PayloadTooLarge`) as soon as the output passes `limit` bytes.

    Output is asked for in chunks of at most 64 KiB and never beyond `limit + 1` bytes in total, so a bomb costs
    no more than the limit in memory and time. Invalid or truncated gzip → `MalformedJson`. Concatenated gzip members (RFC 1952 §2.2) are accepted.
    """
    out: list[bytes] = []
    total = 0
    data = body
    while True:
        inflater = zlib.decompressobj(_GZIP_WBITS)
        try:
            while not inflater.eof:
                chunk = inflater.decompress(data, min(_INFLATE_CHUNK, limit - total + 1))
                pending = inflater.unconsumed_tail
                if chunk:
                    total += len(chunk)
                    if total > limit:
                        raise PayloadTooLarge()
                    out.append(chunk)
                elif not inflater.eof and (not pending or len(pending) == len(data)):
                    # No output and no input left (or no progress at all): the stream is truncated.
                    raise MalformedJson()
                data = pending
        except zlib.error:
            raise MalformedJson() from None
        # Like the gzip module: zero padding after a member is ignored, anything else must be another member.
        data = inflater.unused_data.lstrip(b"\x00")
        if not data:
            return b"".join(out)
