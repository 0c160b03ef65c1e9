"""Contract §5.1–§5.4 through `POST /v4/events/batch`: typed items, order, limits, atomic and partial mode,
and the quarantine of every refused item."""

from __future__ import annotations

import gzip
import json
from typing import Any

import pytest

from tests.support.api import Api
from tests.support.http import T0, Clock, Keys, assert_error, bearer, entry, event
from tests.support.ingest import (
    all_events,
    all_quarantine,
    caller_params,
    definitions,
    post_as,
    profile_count,
    profile_token,
)
from tracktion.auth.permissions import sorted_permissions
from tracktion.domain.timefmt import format_ms

BATCH = "/v4/events/batch"
FIRST = 7_000_000_001  # first clientId of a fresh store
CART = {"sku": "MUG-1", "finalUnitPrice": {"amount": 15.0, "currency": "EUR"}, "quantity": 2}


def item(type_: str | None = None, _drop: tuple[str, ...] = (), **fields: Any) -> dict[str, Any]:
    """A valid batch item: a custom event, or (with `type_`) a dedicated one without `action`."""
    body = event(_drop, **fields)
    if type_ is not None:
        body["type"] = type_
        if "action" not in fields:
            body.pop("action", None)
    return body


async def ids_of(api: Api, custom_id: str) -> tuple[int, ...]:
    return await api.app.ctx.store.find_client_ids(1, custom_id=custom_id)


# -- types and order -------------------------------------------------------------------------------------------


async def test_mixed_types_and_profiles_in_one_request(api: Api) -> None:
    items = [
        item(client={"customId": "ana"}),
        item("hit-timer", client={"email": "bob@example.org"}),
        item("added-to-cart", client={"customId": "ana"}, params=CART),
        item("push/clicked", client={"uuid": "0a6e0c0e-4b4b-4a53-9d0a-6a8c2b1f7a10"}),
        item("completed-transaction", client={"email": "bob@example.org"}, params={"orderId": "o-1"}),
        item(None, action="product.buy", client={"customId": "cy"}, params={"sku": "x"}),
    ]
    r = await api.post(BATCH, items)
    assert r.status_code == 202, r.text
    assert r.content == b""
    events = sorted(await all_events(api), key=lambda e: e["seq"])
    got = [(e["action"], e["kind"], e["client"]["id"], e["endpoint"]) for e in events]
    assert got == [
        ("door.open", "custom", FIRST, BATCH),
        ("client.hitTimer", "dedicated", FIRST + 1, BATCH),
        ("product.addToCart", "dedicated", FIRST, BATCH),
        ("push.click", "dedicated", FIRST + 2, BATCH),
        ("transaction.charge", "transaction", FIRST + 1, BATCH),
        ("product.buy", "transaction", FIRST + 3, BATCH),  # §6.5: a plain event, nothing derived
    ]
    assert caller_params(events[2]) == CART
    assert caller_params(events[4]) == {"orderId": "o-1"}
    assert "type" not in events[0]["params"]
    assert {e["params"]["eventCreateTime"] for e in events} == {events[0]["params"]["eventCreateTime"]}
    assert await api.quarantine() == []


async def test_batch_permission_covers_every_item_type(api: Api, keys: Keys) -> None:
    items = [item(), item("added-to-cart", params=CART), item("push-viewed"), item("completed-transaction")]
    only = await keys.token(["API_BATCH_EVENTS_CREATE"])
    r = await api.client.post(BATCH, json=items, headers=bearer(only))
    assert r.status_code == 202, r.text
    assert len(await all_events(api)) == 4
    lacking = await keys.token([p for p in sorted_permissions() if p != "API_BATCH_EVENTS_CREATE"])
    r = await api.client.post(BATCH, json=items, headers=bearer(lacking))
    assert_error(r, 403, entry(2003, "Authorization", "Permission API_BATCH_EVENTS_CREATE missing"))
    assert [q["reason"] for q in await api.quarantine()] == ["permission denied"]


async def test_items_are_processed_in_order(api: Api) -> None:
    items = [
        item(client={"customId": "first"}),
        item(client={"email": "made-by-item-1@example.org"}),  # creates FIRST + 1
        item(client={"customId": "third"}),
        item(client={"uuid": "0a6e0c0e-4b4b-4a53-9d0a-6a8c2b1f7a10"}),
        item(client={"id": FIRST + 1}),  # a lone id: found because item 1 created it
        item(client={"email": "MADE-BY-ITEM-1@example.org", "customId": "attached"}),
    ]
    r = await api.post(BATCH, items)
    assert r.status_code == 202, r.text
    events = sorted(await all_events(api), key=lambda e: e["seq"])
    assert [e["client"]["id"] for e in events] == [
        FIRST,
        FIRST + 1,
        FIRST + 2,
        FIRST + 3,
        FIRST + 1,
        FIRST + 1,
    ]
    assert await api.quarantine() == []
    assert await ids_of(api, "attached") == (FIRST + 1,)


@pytest.mark.parametrize(
    ("type_", "action"),
    [
        ("push-clicked", "push.click"),
        ("push-viewed", "push.view"),
        ("push-received", "push.receiveInBackground"),
        ("push-cancelled", "push.cancel"),
        ("push/received", "push.receiveInBackground"),
        ("recommendation-seen", "recommendation.view"),
        ("visited-screen", "screen.view"),
    ],
)
async def test_type_names_and_push_aliases(api: Api, type_: str, action: str) -> None:
    r = await api.post(BATCH, [item(type_), item(type_, action=action)])
    assert r.status_code == 202, r.text
    assert [e["action"] for e in await all_events(api)] == [action, action]
    assert (await definitions(api))[action]["kind"] == "dedicated"


@pytest.mark.parametrize("type_", [None, "custom"])
async def test_absent_null_or_custom_type_is_a_custom_event(api: Api, type_: str | None) -> None:
    body = [item(action="door.open"), {**item(action="door.close"), "type": type_}]
    assert (await api.post(BATCH, body)).status_code == 202
    assert sorted(e["action"] for e in await all_events(api)) == ["door.close", "door.open"]


@pytest.mark.parametrize(
    ("type_", "shown"),
    [
        ("item.search.click", "item.search.click"),  # ai-compat names are not batch types
        ("ai-compat/item.search.click", "ai-compat/item.search.click"),
        ("Hit-Timer", "Hit-Timer"),
        ("push_clicked", "push_clicked"),
        ("transaction", "transaction"),
        ("", ""),
        (5, "5"),
        (True, "true"),
        ({"a": 1}, '{"a":1}'),
    ],
)
async def test_unknown_type(api: Api, type_: Any, shown: str) -> None:
    r = await api.post(BATCH, [item(), {**item(), "type": type_}])
    assert_error(r, 400, entry(1011, "[1].type", f"Unknown event type ({shown})", shown), path=BATCH)
    assert await api.events() == []


async def test_dedicated_item_action_rules(api: Api) -> None:
    items = [
        item("hit-timer", action="client.hitTimer"),
        item("hit-timer", action="door.open"),
        item("custom", _drop=("action",)),
        item("push-clicked", action="push.view"),
    ]
    r = await api.post(BATCH, items)
    assert_error(
        r,
        400,
        entry(1010, "[1].action", "Action does not match endpoint (expected client.hitTimer)", "door.open"),
        entry(1002, "[2].action", "Action is required"),
        entry(1010, "[3].action", "Action does not match endpoint (expected push.click)", "push.view"),
    )
    assert await api.events() == []


async def test_item_is_validated_like_its_single_endpoint(api: Api) -> None:
    items = [
        item("added-to-cart", params={"sku": 5, "quantity": 1}),
        item(
            "item-search-click", params={"correlationId": "c", "item": "i", "position": 0, "searchType": "x"}
        ),
        "not an item",
        item("appeared-in-location", _drop=("client",)),
    ]
    r = await api.post(BATCH, items)
    assert_error(
        r,
        400,
        entry(1004, "[0].params.sku", "Sku must be a string", "5"),  # required paths in catalog order
        entry(1002, "[0].params.finalUnitPrice", "Final unit price is required"),
        entry(1006, "[1].params.position", "Position must be at least 1", "0"),
        entry(1007, "[1].params.searchType", "Invalid search type (x)", "x"),
        entry(1001, "[2]", "Item must be a JSON object", "not an item"),
        entry(1002, "[3].client", "Client is required"),
        entry(1002, "[3].params", "Params are required"),
    )


# -- limits ----------------------------------------------------------------------------------------------------


async def test_1000_items_accepted_1001_refused(api: Api) -> None:
    r = await api.post(BATCH, [item(client={"customId": f"c{i % 7}"}) for i in range(1000)])
    assert r.status_code == 202, r.text
    assert len(await all_events(api)) == 1000
    r = await api.post(BATCH, [item() for _ in range(1001)])
    assert_error(r, 400, entry(1012, "", "Batch cannot contain more than 1000 items", "1001"), path=BATCH)
    assert len(await all_events(api)) == 1000
    (record,) = await api.quarantine()
    assert (record["reason"], record["status"], record["itemIndex"]) == ("invalid batch", 400, None)
    assert "item" not in record and record["body"].startswith("[")


@pytest.mark.parametrize(
    ("content", "shown"),
    [(b"{}", "{}"), (b'{"items": []}', '{"items":[]}'), (b'"x"', "x"), (b"5", "5"), (b"null", None)],
)
async def test_body_not_an_array(api: Api, content: bytes, shown: str | None) -> None:
    r = await api.post(BATCH, content=content)
    assert_error(r, 400, entry(1001, "", "Request body must be a JSON array", shown), path=BATCH)
    (record,) = await api.quarantine()
    assert (record["reason"], record["body"]) == ("invalid batch", content.decode())


async def test_empty_batch(api: Api) -> None:
    r = await api.post(BATCH, content=b"[]")
    assert_error(r, 400, entry(1013, "", "Batch must not be empty"), path=BATCH)
    assert [q["reason"] for q in await api.quarantine()] == ["invalid batch"]


def sized_batch(size: int) -> bytes:
    """A valid two-item batch whose JSON is exactly `size` bytes."""
    items = [item(params={"pad": ""}), item("hit-timer")]
    base = len(json.dumps(items).encode())
    items[0]["params"]["pad"] = "x" * (size - base)
    content = json.dumps(items).encode()
    assert len(content) == size
    return content


async def test_one_mib_boundary(api: Api) -> None:
    r = await api.post(BATCH, content=sized_batch(1_048_576))
    assert r.status_code == 202, r.text
    assert len(await all_events(api)) == 2
    r = await api.post(BATCH, content=sized_batch(1_048_577))
    assert_error(r, 413, entry(1014, "", "Payload too large (max 1048576 bytes)"), path=BATCH)
    assert len(await all_events(api)) == 2
    assert [q["reason"] for q in await api.quarantine()] == ["payload too large"]
    # The limit applies after gzip decompression too.
    gz = {"Content-Encoding": "gzip"}
    assert (
        await api.post(BATCH, content=gzip.compress(sized_batch(1_048_576)), headers=gz)
    ).status_code == 202
    r = await api.post(BATCH, content=gzip.compress(sized_batch(1_048_577)), headers=gz)
    assert r.status_code == 413
    assert len(await all_events(api)) == 4


# -- atomic mode -----------------------------------------------------------------------------------------------


async def test_atomic_rejection_stores_nothing_and_lists_every_error(api: Api, clock: Clock) -> None:
    salted = item(client={"customId": "old"}, eventSalt="s-1", time=format_ms(T0), label="original")
    assert (await api.post(BATCH, [salted])).status_code == 202
    before_events = await all_events(api)
    before_defs = await definitions(api)
    clock.advance(60_000)
    items = [
        item(
            client={"customId": "brand-new"}, action="never.seen"
        ),  # would create a profile and a definition
        item(label=""),
        {**salted, "label": "overwritten", "params": {"k": 1}},  # would overwrite the salted event
        item(client={"customId": "old", "email": "old@example.org"}),  # would attach an e-mail
        item("hit-timer", client={"id": 0}, time="nope"),
        item(client={"id": 424242}),  # lone unknown id: not a failure
    ]
    r = await api.post(BATCH, items, headers={"X-Request-Id": "atomic-1"})
    assert_error(
        r,
        400,
        entry(1003, "[1].label", "Label is required", ""),
        entry(1006, "[4].client.id", "Client id must be a positive integer", "0"),
        entry(1005, "[4].time", "Time is not a valid ISO8601 format", "nope"),
        path=BATCH,
    )
    assert await all_events(api) == before_events
    assert await definitions(api) == before_defs
    assert await ids_of(api, "brand-new") == ()
    assert await profile_count(api, FIRST, FIRST + 1, FIRST + 2) == 1
    old = await api.app.ctx.store.profile(1, FIRST)
    assert old is not None and old.email is None
    # Every item is in the quarantine, in order, with its index.
    records = await all_quarantine(api)
    assert [(q["itemIndex"], q["reason"], q["status"]) for q in records] == [
        (0, "batch rejected", 400),
        (1, "validation failed", 400),
        (2, "batch rejected", 400),
        (3, "batch rejected", 400),
        (4, "validation failed", 400),
        (5, "unknown clientId", 202),
    ]
    assert all(q["requestId"] == "atomic-1" and q["endpoint"] == BATCH for q in records)
    assert [q["item"] for q in records] == [
        {**i, "eventSalt": "***"} if "eventSalt" in i else i for i in items
    ]
    assert records[1]["errors"] == [entry(1003, "[1].label", "Label is required", "")]
    assert [e["field"] for e in records[4]["errors"]] == ["[4].client.id", "[4].time"]
    assert records[5]["errors"][0]["field"] == "[5].client.id"


async def test_lone_unknown_client_id_is_quarantined_and_the_rest_proceeds(api: Api) -> None:
    r = await api.post(BATCH, [item(), item(client={"id": 987654321}, label="lost"), item("hit-timer")])
    assert r.status_code == 202, r.text
    assert sorted(e["action"] for e in await all_events(api)) == ["client.hitTimer", "door.open"]
    (record,) = await api.quarantine()
    assert (record["reason"], record["status"], record["itemIndex"]) == ("unknown clientId", 202, 1)
    assert record["item"]["label"] == "lost"


async def test_ownership_only_failure_is_403(api: Api) -> None:
    other = "6d3f9a4e-2f57-4c8e-9a51-0c1b7e1d2f33"
    assert (await api.post("/v4/events/custom", event(client={"customId": "taken"}))).status_code == 202
    token = await profile_token(api, other)
    items = [
        item(_drop=("client",)),
        item(client={"customId": "taken"}),
        item("hit-timer", client={"id": FIRST}),
    ]
    r = await post_as(api, token, BATCH, items)
    body = assert_error(
        r,
        403,
        entry(2004, "[1].client.customId", "Profile token cannot act for another profile", "taken"),
        entry(2004, "[2].client.id", "Profile token cannot act for another profile", str(FIRST)),
        path=BATCH,
    )
    assert body["error"] == "Forbidden"
    assert len(await all_events(api)) == 1
    records = await all_quarantine(api)
    assert [(q["itemIndex"], q["reason"], q["status"]) for q in records] == [
        (0, "batch rejected", 403),
        (1, "profile mismatch", 403),
        (2, "profile mismatch", 403),
    ]
    assert records[0]["credential"]["kind"] == "profile"
    # With a 400 item as well, the batch answers 400 and still lists the ownership error.
    r = await post_as(api, token, BATCH, [item(client={"customId": "taken"}), item(label=None)])
    assert_error(
        r,
        400,
        entry(2004, "[0].client.customId", "Profile token cannot act for another profile", "taken"),
        entry(1002, "[1].label", "Label is required"),
    )
    # A profile token's own batch passes, items without `client` on the token's profile.
    r = await post_as(api, token, BATCH, [item(_drop=("client",)), item("logged-in", client={"uuid": other})])
    assert r.status_code == 202, r.text
    assert {e["client"]["uuid"] for e in await all_events(api, uuid=other)} == {other}
