"""Contract §11 and §13.4: quarantine records, masking, filters, paging, single record, deletion."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.support.api import Api
from tests.support.http import (
    TIMESTAMP_RE,
    UUID_RE,
    Clock,
    Keys,
    MakeApi,
    assert_error,
    bearer,
    client_for,
    entry,
    event,
)
from tracktion.domain.timefmt import format_ms

CUSTOM = "/v4/events/custom"


async def refuse(api: Api, n: int = 1, **fields: Any) -> None:
    for _ in range(n):
        r = await api.post(CUSTOM, event(label="", **fields))
        assert r.status_code == 400


async def test_record_fields(api: Api, clock: Clock) -> None:
    await refuse(api)
    (record,) = await api.quarantine()
    assert UUID_RE.match(record["id"])
    assert record["receivedAt"] == format_ms(clock.now_ms)
    assert TIMESTAMP_RE.match(record["receivedAt"])
    assert record["method"] == "POST"


async def test_salt_and_api_key_param_masked_in_output_but_kept_in_store(api: Api) -> None:
    body = event(label="", eventSalt="my-salt", params={"apiKey": "tk_leaked", "other": "visible"})
    assert (await api.post(CUSTOM, body)).status_code == 400
    (record,) = await api.quarantine()
    assert record["item"]["eventSalt"] == "***"
    assert record["item"]["params"] == {"apiKey": "***", "other": "visible"}
    r = await api.get(f"/-/api/quarantine/{record['id']}")
    assert r.json()["item"]["eventSalt"] == "***"
    assert "my-salt" not in r.text and "tk_leaked" not in r.text
    stored = await api.app.ctx.store.quarantine_record(1, record["id"])
    assert stored is not None
    assert stored.item["eventSalt"] == "my-salt"
    assert stored.item["params"]["apiKey"] == "tk_leaked"


async def test_masking_leaves_absent_keys_absent(api: Api) -> None:
    assert (await api.post(CUSTOM, event(label="", params={"x": 1}))).status_code == 400
    (record,) = await api.quarantine()
    assert "eventSalt" not in record["item"]
    assert record["item"]["params"] == {"x": 1}


async def test_request_level_body_excerpt_is_capped_at_64_kib(api: Api) -> None:
    content = json.dumps(event(label="", params={"pad": "é" * 40_000})).encode()
    assert len(content) > 64 * 1024
    r = await api.post(CUSTOM, content=content, headers={"Api-Version": "9.9"})
    assert r.status_code == 400
    (record,) = await api.quarantine()
    assert record["bodyTruncated"] is True
    assert record["body"] == content[: 64 * 1024].decode("utf-8", errors="replace")
    assert "item" not in record


async def test_request_level_body_with_invalid_utf8_is_replaced(api: Api) -> None:
    r = await api.post(CUSTOM, content=b'{"label": "\xff\xfe"}')
    assert r.status_code == 400
    (record,) = await api.quarantine()
    assert record["body"] == '{"label": "\ufffd\ufffd"}'
    assert record["bodyTruncated"] is False


async def test_newest_first(api: Api, clock: Clock) -> None:
    for label_sent in ("a", "b", "c"):
        r = await api.post(CUSTOM, event(action="", label=label_sent))
        assert r.status_code == 400
        clock.advance(1000)
    items = await api.quarantine()
    assert [i["item"]["label"] for i in items] == ["c", "b", "a"]


async def test_newest_first_within_one_millisecond(api: Api, clock: Clock) -> None:
    for label_sent in ("a", "b", "c"):
        assert (await api.post(CUSTOM, event(action="", label=label_sent))).status_code == 400
    assert [i["item"]["label"] for i in await api.quarantine()] == ["c", "b", "a"]


async def test_filter_by_reason_and_endpoint(api: Api) -> None:
    await refuse(api)
    assert (await api.post(CUSTOM, event(client={"id": 42}))).status_code == 202
    assert (await api.post("/v4/events/hit-timer", {"client": {"id": 42}, "label": "t"})).status_code == 202
    assert (await api.post(CUSTOM, content=b"{")).status_code == 400
    reasons = [i["reason"] for i in await api.quarantine()]
    assert reasons == ["malformed json", "unknown clientId", "unknown clientId", "validation failed"]
    assert len(await api.quarantine(reason="unknown clientId")) == 2
    assert len(await api.quarantine(reason="malformed json")) == 1
    assert await api.quarantine(reason="nothing") == []
    items = await api.quarantine(endpoint="/v4/events/hit-timer")
    assert [(i["reason"], i["endpoint"]) for i in items] == [("unknown clientId", "/v4/events/hit-timer")]
    items = await api.quarantine(reason="unknown clientId", endpoint=CUSTOM)
    assert len(items) == 1


async def test_filter_by_received_time_inclusive(api: Api, clock: Clock) -> None:
    times = []
    for _ in range(3):
        await refuse(api)
        times.append(format_ms(clock.now_ms))
        clock.advance(60_000)
    assert len(await api.quarantine(**{"from": times[1]})) == 2
    assert len(await api.quarantine(to=times[1])) == 2
    assert len(await api.quarantine(**{"from": times[1], "to": times[1]})) == 1
    r = await api.get("/-/api/quarantine", params={"from": times[2], "to": times[0]})
    assert_error(r, 400, entry(1017, "from", "from is after to", times[2]))
    r = await api.get("/-/api/quarantine", params={"from": "nope"})
    assert_error(r, 400, entry(1017, "from", "from is not a valid ISO8601 time", "nope"))


@pytest.mark.parametrize("limit", ["1", "2", "5"])
async def test_cursor_paging_yields_each_record_once(api: Api, clock: Clock, limit: str) -> None:
    for i in range(5):
        await refuse(api)
        if i % 2:
            clock.advance(1)  # some share a millisecond, some do not
    expected = [i["id"] for i in await api.quarantine(limit="1000")]
    assert len(set(expected)) == 5
    seen: list[str] = []
    cursor = None
    while True:
        body = (
            await api.get(
                "/-/api/quarantine", params={"limit": limit, **({"cursor": cursor} if cursor else {})}
            )
        ).json()
        assert len(body["items"]) <= int(limit)
        seen += [i["id"] for i in body["items"]]
        cursor = body["nextCursor"]
        if cursor is None:
            break
    assert seen == expected


@pytest.mark.parametrize(("params", "field"), [({"limit": "0"}, "limit"), ({"cursor": "%%%"}, "cursor")])
async def test_bad_query_is_1017(api: Api, params: dict[str, str], field: str) -> None:
    r = await api.get("/-/api/quarantine", params=params)
    assert r.status_code == 400
    assert r.json()["errors"][0]["code"] == 1017
    assert r.json()["errors"][0]["field"] == field


async def test_get_by_id_and_404(api: Api) -> None:
    await refuse(api)
    (record,) = await api.quarantine()
    r = await api.get(f"/-/api/quarantine/{record['id']}")
    assert r.status_code == 200
    assert r.json() == record
    r = await api.get("/-/api/quarantine/6d3f9a4e-2f57-4c8e-9a51-0c1b7e1d2f33")
    assert_error(
        r,
        404,
        entry(3001, "id", "Quarantine record not found", "6d3f9a4e-2f57-4c8e-9a51-0c1b7e1d2f33"),
    )


async def test_delete(api: Api, keys: Keys) -> None:
    await refuse(api, 2)
    first, second = await api.quarantine()
    r = await api.client.delete(f"/-/api/quarantine/{first['id']}", headers=api.auth())
    assert r.status_code == 204
    assert r.content == b""
    assert [i["id"] for i in await api.quarantine()] == [second["id"]]
    r = await api.client.delete(f"/-/api/quarantine/{first['id']}", headers=api.auth())
    assert_error(r, 404, entry(3001, "id", "Quarantine record not found", first["id"]))
    assert (await api.get(f"/-/api/quarantine/{first['id']}")).status_code == 404
    token = await keys.token(["API_QUARANTINE_DELETE"])
    r = await api.client.delete(f"/-/api/quarantine/{second['id']}", headers=bearer(token))
    assert r.status_code == 204


async def test_never_for_401_and_never_for_accepted_events(api: Api) -> None:
    await api.client.post(CUSTOM, json=event(label=""))
    await api.client.post(CUSTOM, json=event(), headers=bearer("x.y.z"))
    assert (await api.post(CUSTOM, event())).status_code == 202
    assert await api.quarantine() == []


async def test_credential_of_a_limited_key(api: Api, keys: Keys) -> None:
    key, secret = await keys.create(["API_CUSTOM_EVENTS_CREATE"])
    token = await keys.login(secret)
    r = await api.client.post(CUSTOM, json=event(label=""), headers=bearer(token))
    assert r.status_code == 400
    (record,) = await api.quarantine()
    assert record["credential"] == {"kind": "workspace", "keyId": key.id}


async def test_quarantine_cap_evicts_the_oldest_records_per_workspace(make_api: MakeApi) -> None:
    api = await make_api(quarantine_max_rows=3)
    for i in range(5):
        r = await api.send_event({"action": "a.b", "label": "", "client": {"customId": f"c{i}"}})
        assert r.status_code == 400
    items = await api.quarantine()
    assert [item["item"]["client"]["customId"] for item in items] == ["c4", "c3", "c2"]
    metrics = (await client_for(api, ("127.0.0.1", 9100)).client.get("/-/metrics")).text  # §13.1: local
    assert "tracktion_quarantine_evicted_total 2" in metrics
