"""Contract §8.1 (`GET /v4/events/by-client/{clientId}`) and §13.2 (`GET /-/api/events`, `/-/api/events/{uuid}`)."""

from __future__ import annotations

import base64
from typing import Any

import pytest

from tests.support.api import Api
from tests.support.http import Clock, assert_error, entry, event

CUSTOM = "/v4/events/custom"
T = ["2024-03-05T10:00:00.000Z", "2024-03-05T11:00:00.000Z", "2024-03-05T12:00:00.000Z"]


async def put(api: Api, **fields: Any) -> None:
    r = await api.post(CUSTOM, event(**fields))
    assert r.status_code == 202, r.text


async def client_id(api: Api, custom_id: str = "cust-1") -> int:
    (cid,) = await api.app.ctx.store.find_client_ids(1, custom_id=custom_id)
    return cid


async def by_client(api: Api, cid: int | str, **params: Any) -> Any:
    return await api.get(f"/v4/events/by-client/{cid}", params=params)


# -- §8.1 ------------------------------------------------------------------------------------------------------


async def test_by_client_shape(api: Api) -> None:
    await put(api, client={"email": "ana@example.org"}, time=T[0], params={"door": "front"})
    r = await by_client(api, 7000000001)
    assert r.status_code == 200
    assert r.headers["content-type"] == "application/json"
    (ev,) = r.json()
    assert list(ev) == ["uuid", "time", "action", "label", "client", "params"]
    assert ev["time"] == T[0]
    assert ev["client"] == {
        "id": 7000000001,
        "uuid": "ad33ed01-06f4-510e-9688-5157b52fbba4",
        "customId": None,
        "email": "ana@example.org",
    }
    assert ev["params"]["door"] == "front"


async def test_by_client_shows_current_profile_identifiers(api: Api) -> None:
    await put(api, client={"customId": "c"})
    await put(api, client={"customId": "c", "email": "later@example.org"})
    cid = await client_id(api, "c")
    events = (await by_client(api, cid)).json()
    assert [e["client"]["email"] for e in events] == ["later@example.org", "later@example.org"]
    assert all(e["client"]["customId"] == "c" for e in events)


async def test_by_client_orders_time_desc_then_seq_desc(api: Api) -> None:
    await put(api, time=T[1], label="b1")
    await put(api, time=T[0], label="a")
    await put(api, time=T[1], label="b2")
    await put(api, time=T[2], label="c")
    await put(api, time=T[1], label="b3")
    labels = [e["label"] for e in (await by_client(api, await client_id(api))).json()]
    assert labels == ["c", "b3", "b2", "b1", "a"]


async def test_by_client_overwrite_moves_by_seq(api: Api) -> None:
    await put(api, time=T[1], label="salted", eventSalt="s")
    await put(api, time=T[1], label="plain")
    await put(api, time=T[1], label="salted again", eventSalt="s")
    labels = [e["label"] for e in (await by_client(api, await client_id(api))).json()]
    assert labels == ["salted again", "plain"]


async def test_by_client_only_that_profile(api: Api) -> None:
    await put(api, client={"customId": "a"})
    await put(api, client={"customId": "b"})
    events = (await by_client(api, await client_id(api, "a"))).json()
    assert len(events) == 1
    assert events[0]["client"]["customId"] == "a"


async def test_by_client_time_range_is_inclusive(api: Api) -> None:
    for t in T:
        await put(api, time=t, label=t)
    cid = await client_id(api)
    r = await by_client(api, cid, **{"time[from]": T[1], "time[to]": T[1]})
    assert [e["label"] for e in r.json()] == [T[1]]
    r = await by_client(api, cid, **{"time[from]": T[1]})
    assert [e["label"] for e in r.json()] == [T[2], T[1]]
    r = await by_client(api, cid, **{"time[to]": "2024-03-05T12:00:00+01:00"})  # = 11:00Z
    assert [e["label"] for e in r.json()] == [T[1], T[0]]
    r = await by_client(
        api, cid, **{"time[from]": "2024-03-05T10:00:00.001Z", "time[to]": "2024-03-05T11:59:59.999Z"}
    )
    assert [e["label"] for e in r.json()] == [T[1]]


async def test_by_client_time_to_defaults_to_now(api: Api, clock: Clock) -> None:
    await put(api, time=T[0])
    cid = await client_id(api)
    clock.now_ms = 1_000  # "now" before the event
    assert (await by_client(api, cid)).json() == []


async def test_by_client_future_time_from_is_not_replaced(api: Api) -> None:
    await put(api, time=T[0])
    r = await by_client(api, await client_id(api), **{"time[from]": "2999-01-01T00:00:00Z"})
    assert r.status_code == 200
    assert r.json() == []


@pytest.mark.parametrize(
    ("params", "field", "message", "value"),
    [
        ({"time[from]": "yesterday"}, "time[from]", "time[from] is not a valid ISO8601 time", "yesterday"),
        (
            {"time[to]": "2024-02-30T00:00:00Z"},
            "time[to]",
            "time[to] is not a valid ISO8601 time",
            "2024-02-30T00:00:00Z",
        ),
        ({"time[from]": "1709633730"}, "time[from]", "time[from] is not a valid ISO8601 time", "1709633730"),
        (
            {"time[to]": "1969-12-31T23:59:59Z"},
            "time[to]",
            "time[to] is not a valid ISO8601 time",
            "1969-12-31T23:59:59Z",
        ),
        ({"time[from]": T[2], "time[to]": T[0]}, "time[from]", "time[from] is after time[to]", T[2]),
        ({"limit": "0"}, "limit", "limit must be an integer between 1 and 1000", "0"),
        ({"limit": "1001"}, "limit", "limit must be an integer between 1 and 1000", "1001"),
        ({"limit": "ten"}, "limit", "limit must be an integer between 1 and 1000", "ten"),
        ({"limit": "-1"}, "limit", "limit must be an integer between 1 and 1000", "-1"),
        ({"limit": ""}, "limit", "limit must be an integer between 1 and 1000", ""),
    ],
)
async def test_by_client_bad_query_is_1017(
    api: Api, params: dict[str, str], field: str, message: str, value: str
) -> None:
    await put(api)
    r = await by_client(api, await client_id(api), **params)
    assert_error(r, 400, entry(1017, field, message, value))


async def test_by_client_action_is_any_of_exact(api: Api) -> None:
    for action in ("door.open", "door.close", "door.opened", "Door.open"):
        await put(api, action=action)
    cid = await client_id(api)
    r = await by_client(api, cid, action=["door.open", "door.close"])
    assert sorted(e["action"] for e in r.json()) == ["door.close", "door.open"]
    r = await by_client(api, cid, action="door")
    assert r.json() == []


async def test_by_client_limit(api: Api) -> None:
    for i in range(101):
        await put(api, label=f"e{i}")
    cid = await client_id(api)
    events = (await by_client(api, cid)).json()
    assert len(events) == 100
    assert events[0]["label"] == "e100"
    assert len((await by_client(api, cid, limit="1000")).json()) == 101
    assert [e["label"] for e in (await by_client(api, cid, limit="2")).json()] == ["e100", "e99"]


async def test_by_client_other_parameters_are_ignored(api: Api) -> None:
    await put(api)
    r = await by_client(api, await client_id(api), foo="bar", cursor="junk", partial="x")
    assert r.status_code == 200
    assert len(r.json()) == 1


@pytest.mark.parametrize(
    "raw", ["abc", "0", "-5", "1.5", "7000000001x", "%C2%B9", "+1"]
)  # digits past int64 name no profile: 404 (§12, tests/http/test_hardening.py)
async def test_by_client_non_integer_client_id_is_1017(api: Api, raw: str) -> None:
    r = await api.get(f"/v4/events/by-client/{raw}")
    shown = "¹" if raw == "%C2%B9" else raw
    assert_error(r, 400, entry(1017, "clientId", "clientId must be a positive integer", shown))


async def test_by_client_unknown_profile_is_404(api: Api) -> None:
    r = await by_client(api, 7000000099)
    assert_error(r, 404, entry(3001, "clientId", "Profile not found", "7000000099"))


async def test_by_client_profile_without_events_is_empty(api: Api) -> None:
    await put(api, client={"customId": "a"}, params={"email": "x@example.org"})
    assert (await by_client(api, await client_id(api, "a"))).json() != []
    r = await by_client(api, await client_id(api, "a"), action="nothing")
    assert r.status_code == 200
    assert r.json() == []


# -- §13.2 -------------------------------------------------------------------------------------------------------


async def test_search_envelope(api: Api) -> None:
    r = await api.get("/-/api/events")
    assert r.status_code == 200
    assert r.json() == {"items": [], "nextCursor": None}


async def test_search_action_repeatable(api: Api) -> None:
    for action in ("a.one", "a.two", "a.three"):
        await put(api, action=action)
    items = await api.events(action=["a.one", "a.three"])
    assert sorted(i["action"] for i in items) == ["a.one", "a.three"]


async def test_search_identifier_lookups(api: Api) -> None:
    u = "8a3d6b4f-3f7b-4a4d-8d86-4e5f60718293"
    await put(api, client={"customId": "cc", "email": "Mixed@Example.org", "uuid": u}, label="mine")
    await put(api, client={"customId": "other"}, label="other")
    cid = await client_id(api, "cc")
    for params in (
        {"clientId": str(cid)},
        {"customId": "cc"},
        {"email": "mixed@example.ORG"},
        {"uuid": u.upper()},
        {"clientId": str(cid), "customId": "cc"},
    ):
        assert [i["label"] for i in await api.events(**params)] == ["mine"], params


@pytest.mark.parametrize(
    "params",
    [
        {"clientId": "7000000099"},
        {"customId": "CC"},
        {"email": "nobody@example.org"},
        {"uuid": "00000000-0000-4000-8000-000000000000"},
        {"uuid": "not-a-uuid"},
        {"customId": "cc", "email": "other@example.org"},  # two profiles: no single match
    ],
)
async def test_search_unknown_identifier_is_empty(api: Api, params: dict[str, str]) -> None:
    await put(api, client={"customId": "cc"})
    await put(api, client={"email": "other@example.org"})
    r = await api.get("/-/api/events", params=params)
    assert r.status_code == 200
    assert r.json() == {"items": [], "nextCursor": None}


async def test_search_bad_client_id_is_1017(api: Api) -> None:
    r = await api.get("/-/api/events", params={"clientId": "abc"})
    assert_error(r, 400, entry(1017, "clientId", "clientId must be a positive integer", "abc"))


async def test_search_time_range_and_endpoint(api: Api) -> None:
    for t in T:
        await put(api, time=t, label=t)
    await put(api, time=T[1], label="timer", action="client.hitTimer")
    r = await api.post(
        "/v4/events/hit-timer", {"client": {"customId": "cust-1"}, "label": "hit", "time": T[1]}
    )
    assert r.status_code == 202, r.text
    items = await api.events(**{"from": T[1], "to": T[1]})
    assert [i["label"] for i in items] == ["hit", "timer", T[1]]
    items = await api.events(endpoint="/v4/events/hit-timer")
    assert [i["label"] for i in items] == ["hit"]
    assert items[0]["kind"] == "dedicated"
    assert await api.events(endpoint="/v4/events/hit-timer/") == []
    r = await api.get("/-/api/events", params={"from": T[2], "to": T[0]})
    assert_error(r, 400, entry(1017, "from", "from is after to", T[2]))
    r = await api.get("/-/api/events", params={"to": "soon"})
    assert_error(r, 400, entry(1017, "to", "to is not a valid ISO8601 time", "soon"))


@pytest.mark.parametrize("limit", ["1", "2", "3", "7", "100"])
async def test_cursor_paging_yields_each_match_once(api: Api, limit: str) -> None:
    # Same times on purpose: the cursor must break ties by seq.
    for i in range(7):
        await put(api, time=T[i % 2], label=f"e{i}")
    await put(api, time=T[0], label="e0", eventSalt="s")  # an overwrite-able one
    await put(api, time=T[0], label="e0-again", eventSalt="s")
    expected = [i["seq"] for i in await api.events(limit="1000")]
    assert len(expected) == 8
    seen: list[int] = []
    cursor: str | None = None
    pages = 0
    while True:
        params = {"limit": limit, **({"cursor": cursor} if cursor else {})}
        r = await api.get("/-/api/events", params=params)
        assert r.status_code == 200
        body = r.json()
        assert len(body["items"]) <= int(limit)
        seen += [i["seq"] for i in body["items"]]
        pages += 1
        cursor = body["nextCursor"]
        if cursor is None:
            break
        assert body["items"]
    assert seen == expected
    assert pages == max(1, -(-8 // int(limit)))


async def test_cursor_respects_filters(api: Api) -> None:
    for i in range(5):
        await put(api, action="a.x" if i % 2 else "a.y", label=str(i))
    page1 = (await api.get("/-/api/events", params={"action": "a.y", "limit": "2"})).json()
    page2 = (
        await api.get("/-/api/events", params={"action": "a.y", "limit": "2", "cursor": page1["nextCursor"]})
    ).json()
    assert [i["label"] for i in page1["items"] + page2["items"]] == ["4", "2", "0"]
    assert page2["nextCursor"] is None


def b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


@pytest.mark.parametrize(
    "cursor",
    [
        "junk!",
        "",
        b64(b"[1]"),
        b64(b"[1, 2, 3]"),
        b64(b'["a", 1]'),
        b64(b"[true, 1]"),
        b64(b"[1.5, 1]"),
        b64(b"{}"),
        b64(b"[18446744073709551615, 1]"),  # beyond int64: must not reach the database
        b64(b"[1, 9223372036854775808]"),
    ],
)
async def test_invalid_cursor_is_1017(api: Api, cursor: str) -> None:
    r = await api.get("/-/api/events", params={"cursor": cursor})
    assert_error(r, 400, entry(1017, "cursor", "cursor is not valid", cursor))


async def test_search_limit_bounds(api: Api) -> None:
    for limit in ("0", "1001", "x"):
        r = await api.get("/-/api/events", params={"limit": limit})
        assert_error(r, 400, entry(1017, "limit", "limit must be an integer between 1 and 1000", limit))


async def test_get_event_by_uuid(api: Api) -> None:
    await put(api, eventSalt="s", time=T[0])
    (item,) = await api.events()
    r = await api.get(f"/-/api/events/{item['uuid']}")
    assert r.status_code == 200
    assert r.json() == item
    r = await api.get(f"/-/api/events/{item['uuid'].upper()}")
    assert r.json() == item


@pytest.mark.parametrize("ref", ["6d3f9a4e-2f57-4c8e-9a51-0c1b7e1d2f33", "not-a-uuid", "123"])
async def test_get_unknown_event_is_404(api: Api, ref: str) -> None:
    await put(api)
    r = await api.get(f"/-/api/events/{ref}")
    assert_error(r, 404, entry(3001, "uuid", "Event not found", ref))
