"""docs/api.md §13.6a (`GET /-/api/stats`), §13.6b (`GET /-/api/profiles`) and the explorer's additions to §13.2
(`param`, `order=seq`, `receivedAt`)."""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest

from tests.support.api import Api
from tests.support.http import Clock, Keys, event
from tests.support.ingest import all_events
from tracktion.http import reads

CUSTOM = "/v4/events/custom"
BATCH = "/v4/events/batch"
NOW = "2024-03-06T00:00:00.000Z"  # the `clock` fixture's receive time
MIN = 60_000
HOUR = 3_600_000


async def put(api: Api, body: dict[str, Any], path: str = CUSTOM) -> None:
    r = await api.post(path, body)
    assert r.status_code == 202, r.text


async def stats(api: Api, **params: Any) -> dict[str, Any]:
    r = await api.get("/-/api/stats", params=params)
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


def one_error(r: Any, status: int) -> dict[str, Any]:
    """The single entry of a §1.6 error body with that status."""
    assert r.status_code == status, r.text
    body = r.json()
    assert body["status"] == status
    (error,) = body["errors"]
    assert isinstance(error, dict)
    return error


def totals(body: dict[str, Any]) -> dict[str, int]:
    return {s["key"]: s["total"] for s in body["series"]}


# -- §13.6a ----------------------------------------------------------------------------------------------------


async def test_stats_shape_default_range_and_buckets(api: Api, clock: Clock) -> None:
    await put(api, event(action="a.one"))
    await put(api, event(action="a.one", time="2020-01-01T00:00:00Z"))  # old event time, received now
    clock.advance(2 * HOUR + 5 * MIN)
    await put(api, event(action="a.two"))
    body = await stats(api)
    assert list(body) == ["bucket", "from", "to", "by", "series"]
    assert (body["bucket"], body["by"]) == ("hour", "action")
    assert (body["from"], body["to"]) == ("2024-03-05T02:05:00.000Z", "2024-03-06T02:05:00.000Z")
    assert body["series"] == [
        {"key": "a.one", "total": 2, "points": [[NOW, 2]]},
        {"key": "a.two", "total": 1, "points": [["2024-03-06T02:00:00.000Z", 1]]},
    ]
    minute = await stats(api, bucket="minute", **{"from": "2024-03-06T02:05:59Z"})
    assert minute["series"] == [{"key": "a.two", "total": 1, "points": [["2024-03-06T02:05:00.000Z", 1]]}]
    day = await stats(api, bucket="day", by="kind", **{"from": "2024-03-01T00:00:00Z"})
    assert day["series"] == [{"key": "custom", "total": 3, "points": [[NOW, 3]]}]
    assert (await stats(api, **{"from": "2024-03-07T00:00:00Z", "to": "2024-03-08T00:00:00Z"}))[
        "series"
    ] == []


async def test_stats_top_and_other(api: Api, clock: Clock) -> None:
    items = [event(action=f"act.{i}") for i in range(4) for _ in range(i + 1)]  # act.3 ×4 … act.0 ×1
    items.append(event(action="act.x"))
    await put(api, items, BATCH)  # type: ignore[arg-type]
    body = await stats(api, top=2)
    # ties by key, bytewise: "(" sorts before "a"
    assert [(s["key"], s["total"]) for s in body["series"]] == [("(other)", 4), ("act.3", 4), ("act.2", 3)]
    other = body["series"][0]
    assert other["points"] == [[NOW, 4]]
    assert totals(await stats(api, top=50)) == {"act.0": 1, "act.1": 2, "act.2": 3, "act.3": 4, "act.x": 1}


async def test_stats_by_reason_counts_quarantine_records(api: Api, clock: Clock) -> None:
    await put(api, event())
    r = await api.post(CUSTOM, event(label=""))
    assert r.status_code == 400
    r = await api.post(BATCH, [event(), event(label="")])
    assert r.status_code == 400
    body = await stats(api, by="reason")
    assert totals(body) == {"validation failed": 2, "batch rejected": 1}
    assert totals(await stats(api)) == {"door.open": 1}  # the refused batch stored nothing


async def test_stats_equal_the_stored_events(api: Api, clock: Clock) -> None:
    """What the chart shows is what is stored: salted re-sends stay one event, on their latest receive time."""
    salted = event(eventSalt="s-1", time="2024-03-05T10:00:00Z")
    await put(api, salted)
    await put(api, [event(action="b"), event(action="b"), salted], BATCH)  # type: ignore[arg-type]
    clock.advance(3 * HOUR)
    await put(api, salted)
    stored = await all_events(api)
    by_action = Counter(e["action"] for e in stored)
    body = await stats(api, bucket="minute", **{"from": "2024-03-05T23:00:00Z", "to": "2024-03-06T04:00:00Z"})
    assert totals(body) == dict(by_action)
    received = Counter((e["action"], e["receivedAt"][:16]) for e in stored)
    shown = Counter({(s["key"], t[:16]): n for s in body["series"] for t, n in s["points"]})
    assert shown == received
    assert {e["receivedAt"] for e in stored if e["action"] == "door.open"} == {"2024-03-06T03:00:00.000Z"}


@pytest.mark.parametrize(
    ("params", "field", "value"),
    [
        ({"bucket": "week"}, "bucket", "week"),
        ({"by": "label"}, "by", "label"),
        ({"top": "0"}, "top", "0"),
        ({"top": "51"}, "top", "51"),
        ({"top": "x"}, "top", "x"),
        ({"from": "yesterday"}, "from", "yesterday"),
        ({"from": "2024-03-06T00:00:00Z", "to": "2024-03-05T00:00:00Z"}, "from", "2024-03-06T00:00:00Z"),
        (
            {"bucket": "minute", "from": "2024-02-01T00:00:00Z", "to": "2024-03-01T00:00:00Z"},
            "bucket",
            "minute",
        ),
    ],
)
async def test_stats_bad_parameters(api: Api, params: dict[str, str], field: str, value: str) -> None:
    error = one_error(await api.get("/-/api/stats", params=params), 400)
    assert (error["code"], error["field"], error["rejectedValue"]) == (1017, field, value)


async def test_stats_limits_are_inclusive(api: Api) -> None:
    # 10,000 minute buckets pass, 10,001 do not
    start = "2024-03-01T00:00:00Z"
    ok = await api.get(
        "/-/api/stats", params={"bucket": "minute", "from": start, "to": "2024-03-07T22:39:59Z"}
    )
    assert ok.status_code == 200
    over = await api.get(
        "/-/api/stats", params={"bucket": "minute", "from": start, "to": "2024-03-07T22:40:00Z"}
    )
    assert over.status_code == 400
    assert (await api.get("/-/api/stats", params={"top": "50"})).status_code == 200


async def test_stats_needs_events_read_and_is_per_workspace(api: Api, keys: Keys, clock: Clock) -> None:
    await put(api, event())
    token = await keys.token(["API_CLIENT_READ"])
    assert one_error(await api.get("/-/api/stats", headers=api.auth(token)), 403)["code"] == 2003
    ws2 = await api.app.ctx.store.create_workspace("two", 0)
    other = await keys.token(None, workspace_id=ws2.id)
    r = await api.get("/-/api/stats", headers=api.auth(other))
    assert r.status_code == 200 and r.json()["series"] == []
    r = await api.get("/-/api/stats", headers=api.auth(other), params={"by": "reason"})
    assert r.json()["series"] == []


# -- §13.2 additions ---------------------------------------------------------------------------------------------


async def search(api: Api, **params: Any) -> dict[str, Any]:
    r = await api.get("/-/api/events", params=params)
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


async def test_param_filter_matches_json_values(api: Api) -> None:
    values: list[Any] = ["happy", 2, 2.0, True, 1, None, {"a": 1, "b": [1, 2]}, [1, "x"]]
    for i, v in enumerate(values):
        await put(api, event(params={"v": v, "i": i}))
    await put(api, event(params={"other": "happy"}))

    async def hits(*filters: str) -> list[int]:
        body = await search(api, param=list(filters))
        assert body["nextCursor"] is None
        return sorted(e["params"]["i"] for e in body["items"])

    assert await hits('v:"happy"') == [0]
    assert await hits("v:2") == [1, 2]
    assert await hits("v:true") == [3]
    assert await hits("v:1") == [4]
    assert await hits("v:null") == [5]
    assert await hits('v:{"b":[1,2],"a":1.0}') == [6]
    assert await hits('v:[1,"x"]') == [7]
    assert await hits("v:2", "i:2") == [2]
    assert await hits("v:3") == []
    assert await hits('action:"door.open"') == []  # params only, not the event's fields
    r = await api.get("/-/api/events", params={"param": "eventCreateTime:" + '"' + "x" + '"'})
    assert r.json()["items"] == []


@pytest.mark.parametrize("raw", ["mood", ':"x"', "mood:happy", "mood:", 'mood:"x'])
async def test_param_filter_malformed(api: Api, raw: str) -> None:
    error = one_error(await api.get("/-/api/events", params={"param": raw}), 400)
    assert (error["code"], error["field"], error["rejectedValue"]) == (1017, "param", raw)


async def test_param_filter_work_is_bounded_and_cursors_continue(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    await put(api, [event(params={"n": i, "hit": i % 7 == 0}) for i in range(40)], BATCH)  # type: ignore[arg-type]
    monkeypatch.setattr(reads, "PARAM_SCAN_ROWS", 5)
    monkeypatch.setattr(reads, "_PARAM_FETCH_ROWS", 2)
    found: list[int] = []
    pages = 0
    cursor = None
    while True:
        params: dict[str, Any] = {"param": "hit:true", "limit": 3}
        if cursor:
            params["cursor"] = cursor
        body = await search(api, **params)
        pages += 1
        found.extend(e["params"]["n"] for e in body["items"])
        cursor = body["nextCursor"]
        if cursor is None:
            break
    assert sorted(found) == [0, 7, 14, 21, 28, 35]
    assert len(found) == len(set(found))
    assert pages >= 8  # 40 rows, at most 5 looked at per request


async def test_order_seq_lists_newest_arrivals_first(api: Api, clock: Clock) -> None:
    await put(api, event(params={"n": 0}))
    clock.advance(1000)
    await put(api, [event(time="2020-01-01T00:00:00Z", params={"n": i}) for i in (1, 2)], BATCH)  # type: ignore[arg-type]
    by_time = await search(api)
    assert [e["params"]["n"] for e in by_time["items"]] == [0, 2, 1]
    by_seq = await search(api, order="seq")
    assert [e["params"]["n"] for e in by_seq["items"]] == [2, 1, 0]
    seqs = [e["seq"] for e in by_seq["items"]]
    assert seqs == sorted(seqs, reverse=True)
    assert [e["receivedAt"] for e in by_seq["items"]] == ["2024-03-06T00:00:01.000Z"] * 2 + [NOW]
    first = await search(api, order="seq", limit=2)
    rest = await search(api, order="seq", cursor=first["nextCursor"])
    assert [e["params"]["n"] for e in first["items"] + rest["items"]] == [2, 1, 0]
    assert rest["nextCursor"] is None
    r = await api.get("/-/api/events", params={"order": "arrival"})
    assert one_error(r, 400)["field"] == "order"


# -- §13.6b ----------------------------------------------------------------------------------------------------


async def test_profiles_list_newest_first_with_prefix_and_paging(api: Api, keys: Keys) -> None:
    for body in (
        event(client={"customId": "alpha-1"}),
        event(client={"email": "Alfred@example.org"}),
        event(client={"customId": "beta"}),
    ):
        await put(api, body)
    r = await api.get("/-/api/profiles")
    assert r.status_code == 200
    body = r.json()
    assert body["nextCursor"] is None
    assert [p["customId"] or p["email"] for p in body["items"]] == ["beta", "Alfred@example.org", "alpha-1"]
    one = await api.get(f"/v4/clients/{body['items'][0]['clientId']}")
    assert body["items"][0] == one.json()  # the §9.5 shape, createdAt included
    assert "createdAt" in body["items"][0]
    r = await api.get("/-/api/profiles", params={"prefix": "al", "limit": 1})
    page1 = r.json()
    assert [p["email"] for p in page1["items"]] == ["Alfred@example.org"]
    r = await api.get("/-/api/profiles", params={"prefix": "al", "cursor": page1["nextCursor"]})
    assert [p["customId"] for p in r.json()["items"]] == ["alpha-1"]
    assert r.json()["nextCursor"] is None
    uuid = body["items"][0]["uuid"]
    r = await api.get("/-/api/profiles", params={"prefix": uuid[:6].upper()})
    assert [p["customId"] for p in r.json()["items"]] == ["beta"]
    for bad in ({"prefix": ""}, {"prefix": "x" * 257}, {"cursor": "abc"}, {"limit": "0"}):
        r = await api.get("/-/api/profiles", params=bad)
        assert one_error(r, 400)["code"] == 1017
    token = await keys.token(["API_EVENTS_READ"])
    assert one_error(await api.get("/-/api/profiles", headers=api.auth(token)), 403)["code"] == 2003
    ws2 = await api.app.ctx.store.create_workspace("two", 0)
    other = await keys.token(None, workspace_id=ws2.id)
    r = await api.get("/-/api/profiles", headers=api.auth(other))
    assert r.json() == {"items": [], "nextCursor": None}
