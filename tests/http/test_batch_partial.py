"""Contract §5.4 (`?partial=`) and §3.7's in-batch upsert rule through `POST /v4/events/batch`."""

from __future__ import annotations

from typing import Any

import pytest

from tests.support.api import Api
from tests.support.http import T0, UUID_RE, Clock, assert_error, entry, event
from tests.support.ingest import (
    all_events,
    all_quarantine,
    definitions,
    post_as,
    profile_token,
    salted_uuid,
)
from tracktion.domain.timefmt import format_ms

BATCH = "/v4/events/batch"
FIRST = 7_000_000_001


@pytest.mark.parametrize(("value", "partial"), [("true", True), ("1", True), ("false", False), ("0", False)])
async def test_partial_values(api: Api, value: str, partial: bool) -> None:
    r = await api.post(f"{BATCH}?partial={value}", [event(), event(label="")])
    if partial:
        assert r.status_code == 207, r.text
        assert len(await all_events(api)) == 1
    else:
        assert_error(r, 400, entry(1003, "[1].label", "Label is required", ""))
        assert await api.events() == []


@pytest.mark.parametrize("value", ["yes", "TRUE", "True", "2", "", "on"])
async def test_bad_partial_value(api: Api, value: str) -> None:
    r = await api.post(BATCH, [event()], params={"partial": value})
    assert_error(r, 400, entry(1017, "partial", "partial must be true, false, 1 or 0", value), path=BATCH)
    assert await api.events() == []
    (record,) = await api.quarantine()
    assert (record["status"], record["itemIndex"], record["errors"][0]["code"]) == (400, None, 1017)


async def test_last_partial_parameter_wins(api: Api) -> None:
    r = await api.post(f"{BATCH}?partial=false&partial=true", [event(), event(label="")])
    assert r.status_code == 207


async def test_partial_body_is_exactly_the_contract_shape(api: Api, clock: Clock) -> None:
    items: list[Any] = [
        event(client={"customId": "a"}),
        event(client={"id": 55555}),
        event(label=None),
        {
            "type": "hit-timer",
            "label": "t",
            "client": {"customId": "b"},
            "eventSalt": "s",
            "time": format_ms(T0),
        },
        {"type": "nope", "label": "t", "client": {"customId": "b"}},
        [],
    ]
    r = await api.post(f"{BATCH}?partial=true", items, headers={"X-Request-Id": "partial-1"})
    assert r.status_code == 207, r.text
    assert r.headers["content-type"] == "application/json"
    body = r.json()
    events = {e["uuid"]: e for e in await all_events(api)}
    assert len(events) == 2
    first, fourth = body["results"][0].get("uuid"), body["results"][3].get("uuid")
    assert UUID_RE.match(first or "")
    assert fourth == salted_uuid(1, FIRST + 1, "client.hitTimer", "s", T0)
    assert body == {
        "status": 207,
        "accepted": 2,
        "quarantined": 1,
        "rejected": 3,
        "results": [
            {"index": 0, "status": 202, "uuid": first},
            {"index": 1, "status": 202, "quarantined": True, "reason": "unknown clientId"},
            {"index": 2, "status": 400, "errors": [entry(1002, "[2].label", "Label is required")]},
            {"index": 3, "status": 202, "uuid": fourth},
            {
                "index": 4,
                "status": 400,
                "errors": [entry(1011, "[4].type", "Unknown event type (nope)", "nope")],
            },
            {"index": 5, "status": 400, "errors": [entry(1001, "[5]", "Item must be a JSON object", "[]")]},
        ],
    }
    assert (events[first]["action"], events[first]["client"]["id"]) == ("door.open", FIRST)
    assert (events[fourth]["action"], events[fourth]["client"]["id"]) == ("client.hitTimer", FIRST + 1)
    # Invalid and unknown-id items are quarantined, valid ones are not, and nothing says `batch rejected`.
    records = await all_quarantine(api)
    assert [(q["itemIndex"], q["reason"], q["status"]) for q in records] == [
        (1, "unknown clientId", 202),
        (2, "validation failed", 400),
        (4, "validation failed", 400),
        (5, "validation failed", 400),
    ]
    assert all(q["requestId"] == "partial-1" for q in records)
    assert records[1]["errors"] == body["results"][2]["errors"]
    assert records[3]["item"] == []


async def test_partial_all_valid_is_still_207(api: Api) -> None:
    r = await api.post(f"{BATCH}?partial=1", [event(), event(action="other")])
    assert r.status_code == 207
    body = r.json()
    assert (body["accepted"], body["quarantined"], body["rejected"]) == (2, 0, 0)
    assert {res["uuid"] for res in body["results"]} == {e["uuid"] for e in await all_events(api)}


async def test_partial_all_invalid_stores_nothing(api: Api) -> None:
    r = await api.post(f"{BATCH}?partial=1", [event(label=""), event(client={"id": 9})])
    assert r.status_code == 207
    body = r.json()
    assert (body["accepted"], body["quarantined"], body["rejected"]) == (0, 1, 1)
    assert await api.events() == []
    assert await definitions(api) == {}


async def test_partial_ownership_failure_is_a_403_result(api: Api) -> None:
    assert (await api.post("/v4/events/custom", event(client={"customId": "taken"}))).status_code == 202
    token = await profile_token(api, "6d3f9a4e-2f57-4c8e-9a51-0c1b7e1d2f33")
    r = await post_as(api, token, f"{BATCH}?partial=true", [event(client={"customId": "taken"}), event()])
    assert r.status_code == 207, r.text
    body = r.json()
    message = "Profile token cannot act for another profile"
    assert body["results"][0] == {
        "index": 0,
        "status": 403,
        "errors": [entry(2004, "[0].client.customId", message, "taken")],
    }
    assert (body["accepted"], body["rejected"]) == (1, 1)
    assert [(q["itemIndex"], q["reason"]) for q in await all_quarantine(api)] == [(0, "profile mismatch")]


@pytest.mark.parametrize(
    ("content", "code", "message"),
    [
        (b"[]", 1013, "Batch must not be empty"),
        (b"{}", 1001, "Request body must be a JSON array"),
    ],
)
async def test_partial_envelope_failures_answer_as_atomic(
    api: Api, content: bytes, code: int, message: str
) -> None:
    r = await api.post(f"{BATCH}?partial=true", content=content)
    assert r.status_code == 400
    assert r.json()["errors"][0]["code"] == code and r.json()["message"] == message
    r = await api.post(f"{BATCH}?partial=true", [event()] * 1001)
    assert r.status_code == 400 and r.json()["errors"][0]["code"] == 1012


# -- two items with one salted UUID (§3.7) ------------------------------------------------------------------------


def salted(label: str, **params: Any) -> dict[str, Any]:
    return event(client={"customId": "s"}, eventSalt="same", time=format_ms(T0), label=label, params=params)


@pytest.mark.parametrize("partial", [False, True])
async def test_same_salted_uuid_twice_in_one_batch_the_later_wins(
    api: Api, clock: Clock, partial: bool
) -> None:
    path = f"{BATCH}?partial=true" if partial else BATCH
    r = await api.post(path, [salted("first", a=1), event(), salted("second", b=2)])
    expected_uuid = salted_uuid(1, FIRST, "door.open", "same", T0)
    events = await all_events(api)
    assert len(events) == 2
    (kept,) = [e for e in events if e["uuid"] == expected_uuid]
    assert kept["label"] == "second"
    assert kept["params"]["b"] == 2 and "a" not in kept["params"]
    assert (await definitions(api))["door.open"]["eventCount"] == 2  # the overwrite is not an insert
    if not partial:
        assert r.status_code == 202
        return
    body = r.json()
    assert (body["accepted"], body["quarantined"], body["rejected"]) == (3, 0, 0)
    assert body["results"][0] == {"index": 0, "status": 202, "uuid": expected_uuid}
    assert body["results"][2] == {"index": 2, "status": 202, "uuid": expected_uuid}
