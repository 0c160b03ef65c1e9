"""Contract §6.1, §6.5 and the transaction side of §5: `/v4/transactions/batch` (atomic and partial), profile
tokens refused, lone unknown `client.id`, permissions, and `transaction.charge` through the event endpoints."""

from __future__ import annotations

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
    profile_token,
    salted_uuid,
)
from tests.support.uuids import product_uuids
from tracktion.auth.permissions import sorted_permissions
from tracktion.domain.timefmt import format_ms

TX, TX_BATCH = "/v4/transactions", "/v4/transactions/batch"
FIRST = 7_000_000_001
EUR = {"amount": 10, "currency": "EUR"}


def tx(customer: str = "c-1", n: int = 2, **fields: Any) -> dict[str, Any]:
    products = [{"sku": f"S{i}", "name": f"N{i}", "quantity": 1, "finalUnitPrice": EUR} for i in range(n)]
    return {"client": {"customId": customer}, "orderId": f"o-{customer}", "products": products, **fields}


def products_of(charge_uuid: str, n: int) -> list[str]:
    return product_uuids(charge_uuid, n)


async def test_batch_of_transactions(api: Api, clock: Clock) -> None:
    body = [tx("a", 2, eventSalt="s", recordedAt=format_ms(T0)), tx("b", 0), tx("a", 1)]
    r = await api.post(TX_BATCH, body)
    assert r.status_code == 202, r.text
    events = await all_events(api)
    assert len(events) == 3 + 2 + 0 + 1
    assert {e["endpoint"] for e in events} == {TX_BATCH}
    charge = salted_uuid(1, FIRST, "transaction.charge", "s", T0)
    by_uuid = {e["uuid"]: e for e in events}
    assert by_uuid[charge]["params"]["productEventsUUIDs"] == products_of(charge, 2)
    assert {by_uuid[u]["action"] for u in products_of(charge, 2)} == {"product.buy"}
    assert sorted(e["client"]["id"] for e in events if e["action"] == "transaction.charge") == [
        FIRST,
        FIRST,
        FIRST + 1,
    ]


async def test_batch_error_paths_include_item_and_product_index(api: Api) -> None:
    bad = tx("b", 3)
    del bad["products"][2]["sku"]
    bad["products"][1]["finalUnitPrice"] = {"amount": 1, "currency": "USD"}
    r = await api.post(TX_BATCH, [tx("a"), bad, tx("c", orderId=None), tx("d")])
    assert_error(
        r,
        400,
        entry(
            1010, "[1].products[1].finalUnitPrice.currency", "Currency mismatch (USD, expected EUR)", "USD"
        ),
        entry(1002, "[1].products[2].sku", "Sku is required"),
        entry(1002, "[2].orderId", "Order id is required"),
        path=TX_BATCH,
    )
    assert await api.events() == []
    assert await definitions(api) == {}
    assert await api.app.ctx.store.find_client_ids(1, custom_id="a") == ()
    records = await all_quarantine(api)
    assert [(q["itemIndex"], q["reason"], q["status"]) for q in records] == [
        (0, "batch rejected", 400),
        (1, "validation failed", 400),
        (2, "validation failed", 400),
        (3, "batch rejected", 400),
    ]
    assert records[1]["item"] == bad
    assert [e["field"] for e in records[1]["errors"]] == [
        "[1].products[1].finalUnitPrice.currency",
        "[1].products[2].sku",
    ]


async def test_batch_item_not_an_object(api: Api) -> None:
    r = await api.post(TX_BATCH, [tx(), 5])
    assert_error(r, 400, entry(1001, "[1]", "Item must be a JSON object", "5"))


async def test_partial_batch_reports_charge_uuids(api: Api, clock: Clock) -> None:
    items = [
        tx("a", 2, eventSalt="s", recordedAt=format_ms(T0)),
        tx("b", quantity=1, products=[{"sku": "x"}]),
        {"client": {"id": 424242}, "orderId": "lost"},
        tx("c", 1),
    ]
    r = await api.post(f"{TX_BATCH}?partial=true", items)
    assert r.status_code == 207, r.text
    body = r.json()
    charge_a = salted_uuid(1, FIRST, "transaction.charge", "s", T0)
    charge_c = body["results"][3].get("uuid")
    assert body == {
        "status": 207,
        "accepted": 2,
        "quarantined": 1,
        "rejected": 1,
        "results": [
            {"index": 0, "status": 202, "uuid": charge_a},
            {"index": 1, "status": 400, "errors": [
                entry(1002, "[1].products[0].name", "Name is required"),
                entry(1002, "[1].products[0].quantity", "Quantity is required"),
                entry(1002, "[1].products[0].finalUnitPrice", "Final unit price is required"),
            ]},
            {"index": 2, "status": 202, "quarantined": True, "reason": "unknown clientId"},
            {"index": 3, "status": 202, "uuid": charge_c},
        ],
    }  # fmt: skip
    events = {e["uuid"]: e for e in await all_events(api)}
    assert set(events) == {charge_a, *products_of(charge_a, 2), charge_c, *products_of(charge_c or "", 1)}
    assert events[charge_c]["action"] == "transaction.charge"
    assert [(q["itemIndex"], q["reason"]) for q in await all_quarantine(api)] == [
        (1, "validation failed"),
        (2, "unknown clientId"),
    ]


async def test_same_order_twice_in_one_batch_later_wins(api: Api, clock: Clock) -> None:
    first = tx("a", 2, eventSalt="s", recordedAt=format_ms(T0), metadata={"v": 1})
    second = tx("a", 1, eventSalt="s", recordedAt=format_ms(T0), metadata={"v": 2})
    r = await api.post(f"{TX_BATCH}?partial=1", [first, second])
    body = r.json()
    charge = salted_uuid(1, FIRST, "transaction.charge", "s", T0)
    assert [res["uuid"] for res in body["results"]] == [charge, charge]
    assert body["accepted"] == 2
    events = {e["uuid"]: e for e in await all_events(api)}
    # Replaced by position: product 0 is overwritten, product 1 of the first send stays ("Removed items stay").
    assert set(events) == {charge, *products_of(charge, 2)}
    assert events[charge]["params"]["v"] == 2
    assert events[charge]["params"]["productEventsUUIDs"] == products_of(charge, 1)


@pytest.mark.parametrize(
    ("content", "code", "message", "shown"),
    [
        (b"{}", 1001, "Request body must be a JSON array", "{}"),
        (b"[]", 1013, "Batch must not be empty", None),
    ],
)
async def test_batch_envelope(api: Api, content: bytes, code: int, message: str, shown: str | None) -> None:
    r = await api.post(TX_BATCH, content=content)
    assert_error(r, 400, entry(code, "", message, shown), path=TX_BATCH)
    assert [q["reason"] for q in await api.quarantine()] == ["invalid batch"]


async def test_batch_limit(api: Api) -> None:
    items = [tx(str(i % 5), 0) for i in range(1000)]
    assert (await api.post(TX_BATCH, items)).status_code == 202
    assert len(await all_events(api)) == 1000
    r = await api.post(f"{TX_BATCH}?partial=true", [*items, tx()])
    assert_error(r, 400, entry(1012, "", "Batch cannot contain more than 1000 items", "1001"))


# -- identity, tokens, permissions ------------------------------------------------------------------------------


async def test_lone_unknown_client_id_quarantines_the_whole_transaction(api: Api) -> None:
    body = {**tx(), "client": {"id": 987654321}}
    r = await api.post(TX, body)
    assert r.status_code == 202, r.text
    assert r.content == b""
    assert await api.events() == []
    assert await definitions(api) == {}
    (record,) = await api.quarantine()
    assert (record["reason"], record["status"], record["itemIndex"], record["endpoint"]) == (
        "unknown clientId",
        202,
        None,
        TX,
    )
    assert record["item"] == body
    assert record["errors"][0]["field"] == "client.id"


async def test_unknown_id_next_to_other_identifiers_is_ignored(api: Api) -> None:
    r = await api.post(TX, {**tx(), "client": {"id": 987654321, "customId": "new"}})
    assert r.status_code == 202
    assert {e["client"]["id"] for e in await all_events(api)} == {FIRST}


@pytest.mark.parametrize("path", [TX, TX_BATCH])
async def test_profile_tokens_are_refused(api: Api, path: str) -> None:
    token = await profile_token(api, "0a6e0c0e-4b4b-4a53-9d0a-6a8c2b1f7a10")
    body = tx() if path == TX else [tx()]
    r = await post_as(api, token, path, body)
    assert_error(r, 403, entry(2005, "Authorization", "This token kind is not allowed here"), path=path)
    assert await api.events() == []
    (record,) = await api.quarantine()
    assert (record["reason"], record["status"], record["credential"]["kind"]) == (
        "token kind",
        403,
        "profile",
    )


@pytest.mark.parametrize(
    ("path", "permission"), [(TX, "API_TRANSACTION_CREATE"), (TX_BATCH, "API_BATCH_TRANSACTION_CREATE")]
)
async def test_permissions(api: Api, keys: Keys, path: str, permission: str) -> None:
    body = tx() if path == TX else [tx()]
    lacking = await keys.token([p for p in sorted_permissions() if p != permission])
    r = await api.client.post(path, json=body, headers=bearer(lacking))
    assert_error(r, 403, entry(2003, "Authorization", f"Permission {permission} missing"), path=path)
    only = await keys.token([permission])
    assert (await api.client.post(path, json=body, headers=bearer(only))).status_code == 202
    assert len(await all_events(api)) == 3


# -- §6.5: transactions through the event endpoints --------------------------------------------------------------


async def test_charge_through_event_endpoints_derives_nothing(api: Api) -> None:
    params = {
        "$orderID": "o-1",
        "products": [{"sku": "A", "name": "A", "quantity": 1, "finalUnitPrice": EUR}],
    }
    r = await api.post("/v4/events/custom", event(action="transaction.charge", params=params))
    assert r.status_code == 202
    r = await api.post("/v4/events/completed-transaction", {**event(_drop=("action",)), "params": params})
    assert r.status_code == 202
    batch = [
        {**event(action="transaction.charge"), "params": params},
        {**event(action="product.buy"), "type": "custom"},
    ]
    assert (await api.post("/v4/events/batch", batch)).status_code == 202
    events = await all_events(api)
    assert sorted(e["action"] for e in events) == ["product.buy", *["transaction.charge"] * 3]
    assert all(e["kind"] == "transaction" for e in events)
    charges = [e for e in events if e["action"] == "transaction.charge"]
    assert all(caller_params(e) == params for e in charges)
    defs = await definitions(api)
    assert (defs["transaction.charge"]["eventCount"], defs["product.buy"]["eventCount"]) == (3, 1)
