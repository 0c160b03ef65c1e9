"""Contract §1.3: UTF-8 JSON only, depth and integer limits, duplicates, null = absent, 1 MiB raw and inflated."""

from __future__ import annotations

import gzip
import json
import time
import tracemalloc
import zlib
from collections.abc import AsyncIterator
from typing import Any

import pytest

from tests.support.api import Api
from tests.support.http import assert_error, entry, event, single

MALFORMED = entry(1000, "", "Malformed JSON")
MIB = 1_048_576


async def post_raw(api: Api, content: bytes, **headers: str) -> Any:
    return await api.post("/v4/events/custom", content=content, headers=headers)


@pytest.mark.parametrize(
    "content",
    [
        b"",
        b"{",
        b"{}x",
        b"{'a': 1}",
        b'{"label": "\xff"}',  # invalid UTF-8
        b'{"label": "\xed\xa0\x80"}',  # an encoded surrogate is invalid UTF-8 too
        b'\xef\xbb\xbf{"label": "x"}',  # byte-order mark
        b'{"label": NaN}',
        b'{"label": Infinity}',
        b'{"label": -Infinity}',
        b'{"a": 1e999}',
        b'{"a": 1,}',
        b"[1 2]",
        b'"\x00"',
        '{"label": "caf\u00e9"}'.encode("latin-1"),
        '{"label": "x"}'.encode("utf-16"),
    ],
)
async def test_malformed_bodies(api: Api, content: bytes) -> None:
    r = await post_raw(api, content)
    assert_error(r, 400, MALFORMED)
    assert await api.events() == []
    (record,) = await api.quarantine()
    assert record["reason"] == "malformed json"
    assert record["status"] == 400
    assert record["errors"] == [MALFORMED]
    assert record["body"] == content.decode("utf-8", errors="replace")
    assert record["bodyTruncated"] is False
    assert record["itemIndex"] is None
    assert "item" not in record


async def test_escaped_lone_surrogate_is_json_but_a_forbidden_character(api: Api) -> None:
    r = await post_raw(api, b'{"action": "a", "label": "l", "client": {"customId": "x\\ud800"}}')
    assert_error(r, 400, entry(1008, "client.customId", "Custom id contains forbidden characters", "x\ud800"))


def nested(depth: int) -> Any:
    """A JSON value whose depth is `depth` (a bare array is depth 1)."""
    value: Any = []
    for _ in range(depth - 1):
        value = [value]
    return value


async def test_depth_64_accepted(api: Api) -> None:
    # body (1) → params (2) → "deep" (3..64)
    body = event(params={"deep": nested(62)})
    r = await api.post("/v4/events/custom", body)
    assert r.status_code == 202, r.text
    assert (await single(api))["params"]["deep"] == nested(62)


async def test_depth_65_rejected(api: Api) -> None:
    r = await api.post("/v4/events/custom", event(params={"deep": nested(63)}))
    assert_error(r, 400, MALFORMED)
    assert await api.events() == []


async def test_depth_counts_objects_too(api: Api) -> None:
    value: Any = {}
    for _ in range(62):
        value = {"k": value}
    r = await api.post("/v4/events/custom", event(params={"deep": value}))
    assert_error(r, 400, MALFORMED)


async def test_brackets_inside_strings_do_not_count_as_depth(api: Api) -> None:
    r = await api.post("/v4/events/custom", event(params={"text": "[{" * 100}))
    assert r.status_code == 202, r.text
    assert (await single(api))["params"]["text"] == "[{" * 100


@pytest.mark.parametrize("value", [2**63 - 1, -(2**63)])
async def test_int64_bounds_accepted(api: Api, value: int) -> None:
    r = await api.post("/v4/events/custom", event(params={"n": value, "nested": [{"m": value}]}))
    assert r.status_code == 202, r.text
    stored = (await single(api))["params"]
    assert stored["n"] == value
    assert stored["nested"] == [{"m": value}]


@pytest.mark.parametrize("value", [2**63, -(2**63) - 1, 2**64, 10**30])
async def test_integers_outside_int64_rejected_anywhere(api: Api, value: int) -> None:
    for params in ({"n": value}, {"a": [1, {"b": [value]}]}):
        r = await api.post("/v4/events/custom", event(params=params))
        assert_error(r, 400, MALFORMED)
    r = await post_raw(api, str(value).encode())
    assert_error(r, 400, MALFORMED)
    assert await api.events() == []


async def test_long_digit_runs_that_are_not_big_integers_pass(api: Api) -> None:
    params = {"s": "12345678901234567890123", "f": 0.12345678901234567890123}
    r = await api.post("/v4/events/custom", event(params=params))
    assert r.status_code == 202, r.text
    stored = (await single(api))["params"]
    assert (stored["s"], stored["f"]) == (params["s"], params["f"])


async def test_duplicate_keys_last_one_wins(api: Api) -> None:
    content = (
        b'{"action": "first.action", "label": "first", "client": {"customId": "a"},'
        b' "params": {"k": 1, "k": 2}, "label": "second", "action": "door.open", "client": {"customId": "b"}}'
    )
    r = await post_raw(api, content)
    assert r.status_code == 202, r.text
    stored = await single(api)
    assert stored["label"] == "second"
    assert stored["action"] == "door.open"
    assert stored["params"]["k"] == 2
    assert stored["client"]["customId"] == "b"


async def test_duplicate_key_last_null_means_absent(api: Api) -> None:
    r = await post_raw(api, b'{"action": "a", "label": "x", "label": null, "client": {"customId": "c"}}')
    assert_error(r, 400, entry(1002, "label", "Label is required"))


async def test_null_equals_absence(api: Api, clock: Any) -> None:
    body = event(
        time=None,
        eventSalt=None,
        params=None,
        client={"customId": "c", "email": None, "uuid": None, "id": None},
    )
    r = await api.post("/v4/events/custom", body)
    assert r.status_code == 202, r.text
    stored = await single(api)
    assert stored["params"]["time"] == clock.now_ms  # time: null → receive time
    assert "snr-original-time" not in stored["params"]
    assert stored["client"]["email"] is None


async def test_null_label_is_label_required(api: Api) -> None:
    r = await api.post("/v4/events/custom", event(label=None))
    assert_error(r, 400, entry(1002, "label", "Label is required"))


async def test_null_inside_params_is_stored(api: Api) -> None:
    r = await api.post("/v4/events/custom", event(params={"gone": None, "list": [None]}))
    assert r.status_code == 202
    params = (await single(api))["params"]
    assert params["gone"] is None
    assert params["list"] == [None]


async def test_unknown_top_level_keys_are_ignored_and_not_stored(api: Api) -> None:
    body = event(extra="x", type="weird", client={"customId": "c", "phone": "123"})
    r = await api.post("/v4/events/custom", body)
    assert r.status_code == 202, r.text
    stored = await single(api)
    assert "extra" not in json.dumps(stored)
    assert "phone" not in json.dumps(stored)


# -- size ----------------------------------------------------------------------------------------------------


def body_of_size(size: int) -> bytes:
    base = json.dumps(event(params={"pad": ""}), separators=(",", ":")).encode()
    pad = size - len(base)
    assert pad >= 0
    out = base.replace(b'"pad":""', b'"pad":"' + b"x" * pad + b'"')
    assert len(out) == size
    return out


async def test_exactly_one_mib_accepted(api: Api) -> None:
    r = await post_raw(api, body_of_size(MIB))
    assert r.status_code == 202, r.text
    assert len((await single(api))["params"]["pad"]) > MIB - 200


async def test_one_mib_plus_one_is_413(api: Api) -> None:
    content = body_of_size(MIB + 1)
    r = await post_raw(api, content)
    assert_error(r, 413, entry(1014, "", "Payload too large (max 1048576 bytes)"))
    assert await api.events() == []
    (record,) = await api.quarantine()
    assert record["reason"] == "payload too large"
    assert record["status"] == 413
    assert record["bodyTruncated"] is True
    assert record["body"] == content[: 64 * 1024].decode()  # the first 64 KiB of what was sent


async def test_too_large_without_content_length_is_413(api: Api) -> None:
    content = body_of_size(MIB + 1)

    async def chunks() -> AsyncIterator[bytes]:
        for i in range(0, len(content), 100_000):
            yield content[i : i + 100_000]

    r = await api.client.post(
        "/v4/events/custom",
        content=chunks(),
        headers={**api.auth(), "Content-Type": "application/json"},
    )
    assert "content-length" not in r.request.headers
    assert_error(r, 413, entry(1014, "", "Payload too large (max 1048576 bytes)"))
    (record,) = await api.quarantine()
    assert record["body"] == content[: 64 * 1024].decode()
    assert record["bodyTruncated"] is True


async def test_chunked_body_within_limit_accepted(api: Api) -> None:
    content = body_of_size(MIB)

    async def chunks() -> AsyncIterator[bytes]:
        for i in range(0, len(content), 65_536):
            yield content[i : i + 65_536]

    r = await api.client.post(
        "/v4/events/custom", content=chunks(), headers={**api.auth(), "Content-Type": "application/json"}
    )
    assert r.status_code == 202, r.text
    assert (await single(api))["params"]["pad"] == json.loads(content)["params"]["pad"]  # every chunk


async def test_gzip_inflating_to_exactly_one_mib_accepted(api: Api) -> None:
    content = body_of_size(MIB)
    r = await post_raw(api, gzip.compress(content), **{"Content-Encoding": "gzip"})
    assert r.status_code == 202, r.text
    assert (await single(api))["params"]["pad"] == json.loads(content)["params"]["pad"]  # all of it inflated


async def test_gzip_inflating_past_one_mib_is_413(api: Api) -> None:
    compressed = gzip.compress(body_of_size(MIB + 1))
    assert len(compressed) < 10_000
    r = await post_raw(api, compressed, **{"Content-Encoding": "gzip"})
    assert_error(r, 413, entry(1014, "", "Payload too large (max 1048576 bytes)"))
    assert await api.events() == []
    (record,) = await api.quarantine()
    assert record["reason"] == "payload too large"


async def test_raw_limit_applies_to_gzip_bodies_as_received(api: Api) -> None:
    # Incompressible bytes: more than 1 MiB on the wire even though gzip.
    import os

    r = await post_raw(api, gzip.compress(os.urandom(MIB + 10)), **{"Content-Encoding": "gzip"})
    assert r.status_code == 413


def gzip_bomb(members: int, member_size: int) -> bytes:
    """Concatenated gzip members (RFC 1952 §2.2) of zeros: tiny on the wire, huge once inflated."""
    one = gzip.compress(b"0" * member_size, compresslevel=9)
    return one * members


async def test_gzip_bomb_refused_without_inflating(api: Api) -> None:
    bomb = gzip_bomb(members=200, member_size=4 * MIB)  # 800 MiB inflated, under 1 MiB sent
    assert len(bomb) < MIB
    tracemalloc.start()
    started = time.perf_counter()
    try:
        r = await post_raw(api, bomb, **{"Content-Encoding": "gzip"})
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert r.status_code == 413, r.text
    assert time.perf_counter() - started < 2.0
    assert peak < 16 * MIB  # never more than about the limit held in memory


async def test_single_member_gzip_bomb(api: Api) -> None:
    compressor = zlib.compressobj(9, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
    chunk = b"\0" * MIB
    bomb = b"".join(compressor.compress(chunk) for _ in range(256)) + compressor.flush()  # 256 MiB inflated
    r = await post_raw(api, bomb, **{"Content-Encoding": "gzip"})
    assert r.status_code == 413


@pytest.mark.parametrize(
    "content",
    [
        b"not gzip at all",
        gzip.compress(b'{"a": 1}')[:-6],  # truncated
        gzip.compress(b'{"a": 1}')[:10],  # header only
        zlib.compress(b'{"a": 1}'),  # zlib container, not gzip
        gzip.compress(b'{"a": 1}') + b"trailing garbage",
        b"",
    ],
)
async def test_invalid_gzip_is_400_1000(api: Api, content: bytes) -> None:
    r = await post_raw(api, content, **{"Content-Encoding": "gzip"})
    assert_error(r, 400, MALFORMED)
    (record,) = await api.quarantine()
    assert record["reason"] == "malformed json"


async def test_gzip_of_malformed_json_is_400_1000(api: Api) -> None:
    r = await post_raw(api, gzip.compress(b"{nope"), **{"Content-Encoding": "gzip"})
    assert_error(r, 400, MALFORMED)


async def test_quarantined_item_with_escaped_lone_surrogate_reads_back(api: Api) -> None:
    r = await post_raw(api, b'{"action": "a", "label": "l", "client": {"customId": "x\\udc00"}}')
    assert r.status_code == 400
    assert b"\\udc00" in r.content  # echoed escaped, as sent
    (record,) = await api.quarantine()
    assert record["item"]["client"]["customId"] == "x\udc00"
    assert record["errors"][0]["rejectedValue"] == "x\udc00"


async def test_escaped_lone_surrogate_in_params_is_stored_as_sent(api: Api) -> None:
    r = await post_raw(
        api, b'{"action": "a", "label": "l", "client": {"customId": "c"}, "params": {"s": "\\ud83d"}}'
    )
    assert r.status_code == 202, r.text
    assert (await single(api))["params"]["s"] == "\ud83d"


async def test_escaped_lone_surrogate_in_label_and_param_name_is_stored_as_sent(api: Api) -> None:
    content = b'{"action": "a", "label": "x\\ud800", "client": {"customId": "c"}, "params": {"\\udfff": 1, "b": 2, "\\ue000": 3}}'
    r = await post_raw(api, content)
    assert r.status_code == 202, r.text
    ev = await single(api)
    assert ev["label"] == "x\ud800"
    assert ev["params"]["\udfff"] == 1
    r = await api.get("/-/api/definitions/a")
    assert r.status_code == 200
    assert [p["name"] for p in r.json()["params"]] == ["b", "\udfff", "\ue000"]  # code point order
    assert (await post_raw(api, content)).status_code == 202  # the definition param is found again
    assert (await api.get("/-/api/definitions/a")).json()["eventCount"] == 2


async def test_quarantine_excerpt_of_gzip_body_is_the_inflated_text_when_inflation_worked(api: Api) -> None:
    r = await post_raw(api, gzip.compress(b'{"label": "x",'), **{"Content-Encoding": "gzip"})
    assert_error(r, 400, MALFORMED)
    (record,) = await api.quarantine()
    assert record["body"] == '{"label": "x",'


async def test_salted_overwrite_with_escaped_lone_surrogate_label(api: Api) -> None:
    for label in ("\\ud800 first", "\\ud800 second"):
        content = b'{"action": "a", "label": "%s", "client": {"customId": "c"}, "eventSalt": "s", "time": "2024-03-05T10:00:00Z"}'
        r = await post_raw(api, content % label.encode())
        assert r.status_code == 202, r.text
    assert (await single(api))["label"] == "\ud800 second"
