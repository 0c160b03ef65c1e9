"""Contract §5.5: `POST /v4/events/ai-compat/batch`, one event type per request, items under `items`."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.support.api import Api
from tests.support.http import T0, UUID_RE, Clock, Keys, assert_error, bearer, entry, single
from tests.support.ingest import (
    all_events,
    all_quarantine,
    caller_params,
    definitions,
    post_as,
    profile_token,
)
from tests.support.uuids import is_arrival_v7
from tracktion.auth.permissions import sorted_permissions
from tracktion.domain.timefmt import format_ms

AI_BATCH = "/v4/events/ai-compat/batch"
U1 = "0a6e0c0e-4b4b-4a53-9d0a-6a8c2b1f7a10"
U2 = "6d3f9a4e-2f57-4c8e-9a51-0c1b7e1d2f33"
FIRST = 7_000_000_001

VALID: dict[str, dict[str, Any]] = {
    "item.search.click": {
        "clientUUID": U1,
        "correlationId": "c-1",
        "item": "MUG-1",
        "position": 1,
        "searchType": "autocomplete",
    },
    "product.search.click": {
        "clientUUID": U1,
        "correlationId": "c-1",
        "productId": "MUG-1",
        "position": 2,
        "searchType": "full-text-search",
    },
    "recommendation.click": {"clientUUID": U1, "correlationId": "c-1", "item": "MUG-1", "campaignId": "k"},
    "recommendation.view": {"clientUUID": U1, "correlationId": "c-1", "items": []},
}
STORED_ACTION = {
    "item.search.click": "item.search.click",
    "product.search.click": "item.search.click",
    "recommendation.click": "recommendation.click",
    "recommendation.view": "recommendation.view",
}
DEFAULT_LABEL = {
    "item.search.click": "Search result clicked",
    "product.search.click": "Search result clicked",
    "recommendation.click": "Recommendation clicked",
    "recommendation.view": "Recommendation viewed",
}


def batch(event_type: Any, *items: Any) -> dict[str, Any]:
    return {"eventType": event_type, "items": list(items)}


def valid(event_type: str, **fields: Any) -> dict[str, Any]:
    return {**json.loads(json.dumps(VALID[event_type])), **fields}


# -- eventType and items envelope ---------------------------------------------------------------------------------


@pytest.mark.parametrize("event_type", sorted(VALID))
async def test_each_event_type_is_stored_with_its_action(api: Api, clock: Clock, event_type: str) -> None:
    items = [valid(event_type, EventTimestamp=format_ms(T0)), valid(event_type, clientUUID=U2, label="Mine")]
    r = await api.post(AI_BATCH, batch(event_type, *items))
    assert r.status_code == 202, r.text
    assert r.content == b""
    events = sorted(await all_events(api), key=lambda e: e["seq"])
    action = STORED_ACTION[event_type]
    assert [(e["action"], e["kind"], e["endpoint"]) for e in events] == [(action, "dedicated", AI_BATCH)] * 2
    assert [e["label"] for e in events] == [DEFAULT_LABEL[event_type], "Mine"]
    assert [e["client"]["uuid"] for e in events] == [U1, U2]
    assert [e["client"]["id"] for e in events] == [FIRST, FIRST + 1]
    assert events[0]["time"] == format_ms(T0)
    assert events[0]["params"]["snr-original-time"] == format_ms(T0)
    sent = {k: v for k, v in items[0].items() if k not in ("clientUUID", "EventTimestamp")}
    if event_type == "product.search.click":
        sent["item"] = sent["productId"]  # stored as params.item, productId kept
    assert caller_params(events[0]) == sent
    assert (await definitions(api))[action]["kind"] == "dedicated"


async def test_product_search_click_item_comes_from_product_id(api: Api) -> None:
    r = await api.post(AI_BATCH, batch("product.search.click", valid("product.search.click", item="ignored")))
    assert r.status_code == 202, r.text
    params = (await single(api))["params"]
    assert (params["item"], params["productId"]) == ("MUG-1", "MUG-1")


@pytest.mark.parametrize(
    ("event_type", "expected"),
    [
        (None, entry(1002, "eventType", "Event type is required")),
        ("product.view", entry(1007, "eventType", "Invalid event type (product.view)", "product.view")),
        ("Item.Search.Click", entry(1007, "eventType", "Invalid event type (Item.Search.Click)", "Item.Search.Click")),
        ("item-search-click", entry(1007, "eventType", "Invalid event type (item-search-click)", "item-search-click")),
        ("custom", entry(1007, "eventType", "Invalid event type (custom)", "custom")),
        (5, entry(1007, "eventType", "Invalid event type (5)", "5")),
        (["item.search.click"], entry(1007, "eventType", 'Invalid event type (["item.search.click"])', '["item.search.click"]')),
    ],
)  # fmt: skip
async def test_bad_event_type(api: Api, event_type: Any, expected: dict[str, Any]) -> None:
    r = await api.post(AI_BATCH, batch(event_type, valid("item.search.click")))
    assert_error(r, 400, expected, path=AI_BATCH)
    assert await api.events() == []
    (record,) = await api.quarantine()
    assert (record["reason"], record["itemIndex"], record["status"]) == ("invalid batch", None, 400)


async def test_event_type_absent(api: Api) -> None:
    r = await api.post(AI_BATCH, {"items": [valid("item.search.click")]})
    assert_error(r, 400, entry(1002, "eventType", "Event type is required"))


@pytest.mark.parametrize(
    ("items", "expected"),
    [
        ({"a": 1}, entry(1004, "items", "Items must be an array", '{"a":1}')),
        ("x", entry(1004, "items", "Items must be an array", "x")),
        ([], entry(1013, "items", "Batch must not be empty")),
    ],
)
async def test_items_envelope(api: Api, items: Any, expected: dict[str, Any]) -> None:
    r = await api.post(AI_BATCH, {"eventType": "recommendation.view", "items": items})
    assert_error(r, 400, expected, path=AI_BATCH)
    assert [q["reason"] for q in await api.quarantine()] == ["invalid batch"]


@pytest.mark.parametrize(
    "body", [{"eventType": "recommendation.view"}, {"eventType": "recommendation.view", "items": None}]
)
async def test_items_absent_or_null_is_required(api: Api, body: dict[str, Any]) -> None:
    r = await api.post(AI_BATCH, body)
    assert_error(r, 400, entry(1002, "items", "Items are required"), path=AI_BATCH)


@pytest.mark.parametrize("content", [b"[]", b'"x"', b"null"])
async def test_body_must_be_an_object(api: Api, content: bytes) -> None:
    r = await api.post(AI_BATCH, content=content)
    shown = None if content == b"null" else json.loads(content) if content != b"[]" else "[]"
    assert_error(r, 400, entry(1001, "", "Request body must be a JSON object", shown))


# -- item rules -------------------------------------------------------------------------------------------------


async def test_item_errors_live_under_items(api: Api) -> None:
    items = [
        valid("item.search.click"),
        {"correlationId": 5, "item": "i", "position": 0, "searchType": "x", "EventTimestamp": "yesterday"},
        "oops",
        valid("item.search.click", clientUUID="not-a-uuid", label="", sessionId=1),
    ]
    r = await api.post(AI_BATCH, batch("item.search.click", *items))
    assert_error(
        r,
        400,
        entry(1002, "items[1].clientUUID", "Client UUID is required"),
        entry(1005, "items[1].EventTimestamp", "Time is not a valid ISO8601 format", "yesterday"),
        entry(1004, "items[1].correlationId", "Correlation id must be a string", "5"),
        entry(1006, "items[1].position", "Position must be at least 1", "0"),
        entry(1007, "items[1].searchType", "Invalid search type (x)", "x"),
        entry(1001, "items[2]", "Item must be a JSON object", "oops"),
        entry(1005, "items[3].clientUUID", "UUID format invalid (not-a-uuid)", "not-a-uuid"),
        entry(1003, "items[3].label", "Label must be a non-empty string", ""),
        entry(1004, "items[3].sessionId", "Session id must be a string", "1"),
        path=AI_BATCH,
    )
    assert await api.events() == []
    records = await all_quarantine(api)
    assert [(q["itemIndex"], q["reason"]) for q in records] == [
        (0, "batch rejected"),
        (1, "validation failed"),
        (2, "validation failed"),
        (3, "validation failed"),
    ]
    assert records[1]["errors"][0]["field"] == "items[1].clientUUID"


@pytest.mark.parametrize(
    ("event_type", "missing", "message"),
    [
        ("item.search.click", "item", "Item is required"),
        ("item.search.click", "position", "Position is required"),
        ("item.search.click", "searchType", "Search type is required"),
        ("product.search.click", "productId", "Product id is required"),
        ("recommendation.click", "correlationId", "Correlation id is required"),
        ("recommendation.view", "items", "Items are required"),
    ],
)
async def test_required_keys_per_event_type(api: Api, event_type: str, missing: str, message: str) -> None:
    item = valid(event_type)
    del item[missing]
    r = await api.post(AI_BATCH, batch(event_type, valid(event_type), item))
    assert_error(r, 400, entry(1002, f"items[1].{missing}", message))


async def test_product_id_must_be_a_string_and_item_is_not_required(api: Api) -> None:
    r = await api.post(AI_BATCH, batch("product.search.click", valid("product.search.click", productId=7)))
    assert_error(r, 400, entry(1004, "items[0].productId", "Product id must be a string", "7"))


async def test_recommendation_view_items_elements_are_strings(api: Api) -> None:
    r = await api.post(AI_BATCH, batch("recommendation.view", valid("recommendation.view", items=["a", 1])))
    assert_error(r, 400, entry(1004, "items[0].items[1]", "Item must be a string", "1"))


async def test_event_salt_is_ignored_and_uuids_are_v4(api: Api, clock: Clock) -> None:
    item = valid("recommendation.click", eventSalt="same", EventTimestamp=format_ms(T0))
    for _ in range(2):
        assert (await api.post(AI_BATCH, batch("recommendation.click", item))).status_code == 202
    events = await all_events(api)
    assert len(events) == 2
    for stored in events:
        assert is_arrival_v7(stored["uuid"])  # docs/api.md §3.7
        assert "eventSalt" not in stored["params"]


async def test_items_are_processed_in_order_and_share_profiles(api: Api) -> None:
    items = [valid("recommendation.view", clientUUID=u) for u in (U1, U2, U1.upper(), U2)]
    assert (await api.post(AI_BATCH, batch("recommendation.view", *items))).status_code == 202
    events = sorted(await all_events(api), key=lambda e: e["seq"])
    assert [e["client"]["id"] for e in events] == [FIRST, FIRST + 1, FIRST, FIRST + 1]


# -- limits, modes, permission, profile tokens ----------------------------------------------------------------------


async def test_1000_items_accepted_1001_refused(api: Api) -> None:
    items = [valid("recommendation.click")] * 1000
    assert (await api.post(AI_BATCH, batch("recommendation.click", *items))).status_code == 202
    assert len(await all_events(api)) == 1000
    r = await api.post(AI_BATCH, batch("recommendation.click", *items, items[0]))
    assert_error(r, 400, entry(1012, "items", "Batch cannot contain more than 1000 items", "1001"))


async def test_one_mib_boundary(api: Api) -> None:
    def sized(size: int) -> bytes:
        body = batch("recommendation.click", valid("recommendation.click", pad=""))
        body["items"][0]["pad"] = "x" * (size - len(json.dumps(body).encode()))
        return json.dumps(body).encode()

    assert (await api.post(AI_BATCH, content=sized(1_048_576))).status_code == 202
    r = await api.post(AI_BATCH, content=sized(1_048_577))
    assert_error(r, 413, entry(1014, "", "Payload too large (max 1048576 bytes)"))
    assert len(await all_events(api)) == 1


async def test_partial_mode(api: Api) -> None:
    items = [valid("item.search.click"), valid("item.search.click", position="1"), valid("item.search.click")]
    r = await api.post(f"{AI_BATCH}?partial=true", batch("item.search.click", *items))
    assert r.status_code == 207, r.text
    body = r.json()
    uuids = [res.get("uuid") for res in body["results"]]
    assert body == {
        "status": 207,
        "accepted": 2,
        "quarantined": 0,
        "rejected": 1,
        "results": [
            {"index": 0, "status": 202, "uuid": uuids[0]},
            {"index": 1, "status": 400, "errors": [entry(1004, "items[1].position", "Position must be an integer", "1")]},
            {"index": 2, "status": 202, "uuid": uuids[2]},
        ],
    }  # fmt: skip
    assert UUID_RE.match(uuids[0] or "") and uuids[0] != uuids[2]
    assert {e["uuid"] for e in await all_events(api)} == {uuids[0], uuids[2]}
    assert [(q["itemIndex"], q["reason"]) for q in await all_quarantine(api)] == [(1, "validation failed")]
    r = await api.post(f"{AI_BATCH}?partial=maybe", batch("item.search.click", *items))
    assert_error(r, 400, entry(1017, "partial", "partial must be true, false, 1 or 0", "maybe"))


async def test_batch_permission_alone_is_enough(api: Api, keys: Keys) -> None:
    body = batch("recommendation.view", valid("recommendation.view"))
    lacking = await keys.token([p for p in sorted_permissions() if p != "API_AI_COMPAT_BATCH_EVENTS_CREATE"])
    r = await api.client.post(AI_BATCH, json=body, headers=bearer(lacking))
    assert_error(r, 403, entry(2003, "Authorization", "Permission API_AI_COMPAT_BATCH_EVENTS_CREATE missing"))
    only = await keys.token(["API_AI_COMPAT_BATCH_EVENTS_CREATE"])
    assert (await api.client.post(AI_BATCH, json=body, headers=bearer(only))).status_code == 202
    assert len(await all_events(api)) == 1


async def test_profile_token_may_omit_client_uuid(api: Api) -> None:
    token = await profile_token(api, U2)
    item = valid("recommendation.click")
    del item["clientUUID"]
    r = await post_as(api, token, AI_BATCH, batch("recommendation.click", item))
    assert r.status_code == 202, r.text
    assert (await single(api))["client"]["uuid"] == U2
