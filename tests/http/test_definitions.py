"""Contract §10 and §13.3: event definitions."""

from __future__ import annotations

from typing import Any

import pytest

from tests.support.api import Api
from tests.support.http import Clock, assert_error, entry, event
from tracktion.domain.timefmt import format_ms

CUSTOM = "/v4/events/custom"


async def put(api: Api, **fields: Any) -> None:
    r = await api.post(CUSTOM, event(**fields))
    assert r.status_code == 202, r.text


async def definition(api: Api, action: str) -> dict[str, Any]:
    r = await api.get(f"/-/api/definitions/{action}")
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


async def test_created_on_first_insert(api: Api, clock: Clock) -> None:
    assert (await api.get("/-/api/definitions")).json() == []
    await put(api, params={"door": "front"})
    first = format_ms(clock.now_ms)
    assert await definition(api, "door.open") == {
        "action": "door.open",
        "kind": "custom",
        "firstSeen": first,
        "lastSeen": first,
        "eventCount": 1,
        "params": [{"name": "door", "types": ["string"], "firstSeen": first, "lastSeen": first}],
    }


async def test_counts_and_seen_times(api: Api, clock: Clock) -> None:
    await put(api, params={"a": 1})
    t1 = format_ms(clock.now_ms)
    clock.advance(10_000)
    await put(api, params={"b": 1})
    t2 = format_ms(clock.now_ms)
    clock.advance(10_000)
    await put(api, params={"a": 2})
    t3 = format_ms(clock.now_ms)
    d = await definition(api, "door.open")
    assert (d["firstSeen"], d["lastSeen"], d["eventCount"]) == (t1, t3, 3)
    assert d["params"] == [
        {"name": "a", "types": ["integer"], "firstSeen": t1, "lastSeen": t3},
        {"name": "b", "types": ["integer"], "firstSeen": t2, "lastSeen": t2},
    ]


async def test_types_are_a_sorted_set(api: Api) -> None:
    for value in ("x", 1, 1.5, None, [1], {"k": 1}, True, 2, "y", 1.0, -0.5, 10**18):
        await put(api, params={"v": value})
    (param,) = (await definition(api, "door.open"))["params"]
    assert param["types"] == ["array", "boolean", "integer", "null", "number", "object", "string"]


async def test_float_without_fraction_value_is_number_when_written_with_fraction(api: Api) -> None:
    await put(api, params={"v": 1.0})
    assert (await definition(api, "door.open"))["params"][0]["types"] == ["number"]


async def test_system_params_are_excluded_and_params_sorted(api: Api) -> None:
    forged = {
        "zeta": 1,
        "alpha": 1,
        "Mid": 1,
        "eventUUID": "x",
        "time": 1,
        "eventCreateTime": "x",
        "clientId": 1,
        "uuid": "x",
        "businessProfileId": 1,
        "ip": "x",
        "modifiedBy": {},
        "snr-original-time": "x",
        "apiKey": "x",
    }
    await put(api, params=forged, time="2024-03-05T10:15:30Z")
    names = [p["name"] for p in (await definition(api, "door.open"))["params"]]
    assert names == sorted(["zeta", "alpha", "Mid"])


async def test_only_top_level_param_names(api: Api) -> None:
    await put(api, params={"outer": {"inner": 1}})
    assert [p["name"] for p in (await definition(api, "door.open"))["params"]] == ["outer"]


@pytest.mark.parametrize(
    ("action", "kind"),
    [
        ("door.open", "custom"),
        ("client.hitTimer", "dedicated"),
        ("product.addToCart", "dedicated"),
        ("recommendation.view", "dedicated"),
        ("transaction.charge", "transaction"),
        ("product.buy", "transaction"),
        ("Client.hitTimer", "custom"),
    ],
)
async def test_kind_depends_only_on_the_action_name(api: Api, action: str, kind: str) -> None:
    await put(api, action=action)
    assert (await definition(api, action))["kind"] == kind
    (ev,) = await api.events()
    assert ev["kind"] == kind
    assert ev["endpoint"] == CUSTOM


async def test_dedicated_endpoint_creates_dedicated_definition(api: Api) -> None:
    r = await api.post(
        "/v4/events/hit-timer", {"client": {"customId": "c"}, "label": "t", "params": {"n": 1}}
    )
    assert r.status_code == 202
    d = await definition(api, "client.hitTimer")
    assert (d["kind"], d["eventCount"]) == ("dedicated", 1)


async def test_rejected_and_quarantined_events_create_nothing(api: Api) -> None:
    assert (await api.post(CUSTOM, event(label="", params={"p": 1}))).status_code == 400
    assert (await api.post(CUSTOM, event(client={"id": 77}, params={"p": 1}))).status_code == 202
    assert (
        await api.post(CUSTOM, event(client={"customId": "c"}, params={"email": "x@example.org"}))
    ).status_code == 202
    r = await api.post(
        CUSTOM, event(action="other.action", client={"customId": "c", "email": "c@example.org"})
    )
    assert r.status_code == 202
    r = await api.post(
        CUSTOM, event(action="never.stored", client={"customId": "c"}, params={"email": "no@example.org"})
    )
    assert r.status_code == 400
    assert (await api.get("/-/api/definitions/never.stored")).status_code == 404
    assert (await definition(api, "door.open"))["eventCount"] == 1


async def test_list_sorted_and_filtered(api: Api) -> None:
    for action in ("door.open", "client.hitTimer", "door.close", "transaction.charge", "doors", "Door.open"):
        await put(api, action=action)
    actions = [d["action"] for d in (await api.get("/-/api/definitions")).json()]
    assert (
        actions
        == sorted(actions)
        == ["Door.open", "client.hitTimer", "door.close", "door.open", "doors", "transaction.charge"]
    )
    by_kind = (await api.get("/-/api/definitions", params={"kind": "custom"})).json()
    assert [d["action"] for d in by_kind] == ["Door.open", "door.close", "door.open", "doors"]
    by_kind = (await api.get("/-/api/definitions", params={"kind": "dedicated"})).json()
    assert [d["action"] for d in by_kind] == ["client.hitTimer"]
    by_prefix = (await api.get("/-/api/definitions", params={"prefix": "door."})).json()
    assert [d["action"] for d in by_prefix] == ["door.close", "door.open"]
    both = (await api.get("/-/api/definitions", params={"prefix": "door", "kind": "custom"})).json()
    assert [d["action"] for d in both] == ["door.close", "door.open", "doors"]
    assert (await api.get("/-/api/definitions", params={"prefix": "zzz"})).json() == []
    assert (await api.get("/-/api/definitions", params={"kind": "nope"})).json() == []
    assert (await api.get("/-/api/definitions", params={"prefix": "%"})).json() == []
    assert (await api.get("/-/api/definitions", params={"prefix": "_oor"})).json() == []


async def test_unknown_definition_is_404(api: Api) -> None:
    await put(api)
    r = await api.get("/-/api/definitions/door.opened")
    assert_error(r, 404, entry(3001, "action", "Definition not found", "door.opened"))
    r = await api.get("/-/api/definitions/DOOR.OPEN")
    assert r.status_code == 404
