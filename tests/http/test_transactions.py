"""Contract §6.2–§6.4 through `POST /v4/transactions`: the worked example exactly, salted re-sends, the mapping
tables and every validation rule with its message, code and field."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest

from tests.support.api import Api
from tests.support.http import T0, Clock, assert_error, entry, event
from tests.support.ingest import SYSTEM_PARAMS, all_events, caller_params, definitions
from tests.support.uuids import is_arrival_v7, product_uuids
from tracktion.domain.timefmt import format_ms

TX = "/v4/transactions"
FIRST = 7_000_000_001
EXAMPLE: dict[str, Any] = {
    "client": {"id": 7000000001},
    "orderId": "ord-77",
    "recordedAt": "2024-03-05T11:15:30.250+01:00",
    "eventSalt": "ord-77",
    "source": "WEB_DESKTOP",
    "paymentInfo": {"method": "CARD"},
    "value": {"amount": 40.65, "currency": "EUR"},
    "revenue": {"amount": 50.0, "currency": "EUR"},
    "products": [
        {
            "sku": "MUG-1",
            "name": "Mug",
            "quantity": 2,
            "finalUnitPrice": {"amount": 15.0, "currency": "EUR"},
            "regularPrice": {"amount": 18.0, "currency": "EUR"},
            "categories": ["kitchen"],
            "color": "blue",
        },
        {"sku": "TEA-9", "name": "Tea", "quantity": 1, "finalUnitPrice": {"amount": 20.0, "currency": "EUR"}},
    ],
    "metadata": {"promotionCode": "SPRING"},
}
CHARGE = "ed8c8891-3be1-5d15-8237-fb668e2d9429"
MUG, TEA = "f7166ea7-7cc7-5131-9c97-2e09d7d1dcc7", "6ee67d62-040a-5828-a984-3ecc18314eca"
ORIGINAL = "2024-03-05T11:15:30.250+01:00"
CHARGE_PARAMS = {
    "promotionCode": "SPRING",
    "$orderID": "ord-77",
    "$totalAmount": 40.65,
    "$revenue": 50.0,
    "$currency": "EUR",
    "$paymentType": {"method": "CARD"},
    "products": [
        {"$sku": "MUG-1", "$name": "Mug", "$quantity": 2, "$finalUnitPrice": 15.0, "$currency": "EUR"},
        {"$sku": "TEA-9", "$name": "Tea", "$quantity": 1, "$finalUnitPrice": 20.0, "$currency": "EUR"},
    ],
    "productEventsUUIDs": [MUG, TEA],
    "source": "WEB_DESKTOP",
}
MUG_PARAMS = {
    "color": "blue",
    "sku": "MUG-1",
    "name": "Mug",
    "quantity": 2,
    "finalUnitPrice": 15.0,
    "regularPrice": 18.0,
    "currency": "EUR",
    "orderId": "ord-77",
    "categories": ["kitchen"],
}
TEA_PARAMS = {
    "sku": "TEA-9",
    "name": "Tea",
    "quantity": 1,
    "finalUnitPrice": 20.0,
    "currency": "EUR",
    "orderId": "ord-77",
}


def example(**fields: Any) -> dict[str, Any]:
    body: dict[str, Any] = json.loads(json.dumps(EXAMPLE))
    body.update(fields)
    return body


async def transaction_events(api: Api) -> dict[str, dict[str, Any]]:
    events = await all_events(api, endpoint=TX)
    return {e["uuid"]: e for e in events}


async def make_profile(api: Api) -> None:
    r = await api.post("/v4/events/custom", event(client={"customId": "shopper"}))
    assert r.status_code == 202


async def test_worked_example_exactly(api: Api, clock: Clock) -> None:
    await make_profile(api)  # the first profile of a fresh store: 7000000001
    r = await api.post(TX, EXAMPLE)
    assert r.status_code == 202, r.text
    assert r.content == b""
    events = await transaction_events(api)
    assert set(events) == {CHARGE, MUG, TEA}
    expected = {
        CHARGE: ("transaction.charge", "Transaction charge", CHARGE_PARAMS),
        MUG: ("product.buy", "Product bought", MUG_PARAMS),
        TEA: ("product.buy", "Product bought", TEA_PARAMS),
    }
    for event_id, (action, label, params) in expected.items():
        stored = events[event_id]
        assert (stored["action"], stored["label"], stored["kind"]) == (action, label, "transaction")
        assert (stored["time"], stored["client"]["id"], stored["endpoint"]) == (format_ms(T0), FIRST, TX)
        assert caller_params(stored) == params
        system = {k: stored["params"][k] for k in SYSTEM_PARAMS}
        assert system["eventUUID"] == event_id and system["time"] == T0
        assert (system["clientId"], system["businessProfileId"]) == (FIRST, 1)
        assert system["snr-original-time"] == ORIGINAL
        assert system["eventCreateTime"] == format_ms(clock.now_ms)
    defs = await definitions(api)
    assert (defs["transaction.charge"]["kind"], defs["transaction.charge"]["eventCount"]) == (
        "transaction",
        1,
    )
    assert (defs["product.buy"]["kind"], defs["product.buy"]["eventCount"]) == ("transaction", 2)
    assert [p["name"] for p in defs["product.buy"]["params"]] == sorted(MUG_PARAMS)
    assert await api.quarantine() == []


async def test_resend_replaces_all_three_in_place(api: Api, clock: Clock) -> None:
    await make_profile(api)
    assert (await api.post(TX, EXAMPLE)).status_code == 202
    before = await transaction_events(api)
    clock.advance(5_000)
    body = example(metadata={"promotionCode": "SUMMER"})
    body["products"][1]["name"] = "Green tea"
    assert (await api.post(TX, body)).status_code == 202
    after = await transaction_events(api)
    assert set(after) == {CHARGE, MUG, TEA}
    assert after[CHARGE]["params"]["promotionCode"] == "SUMMER"
    assert after[TEA]["params"]["name"] == "Green tea"
    for event_id in (CHARGE, MUG, TEA):
        assert after[event_id]["time"] == before[event_id]["time"]
        assert after[event_id]["seq"] > before[event_id]["seq"]
        assert after[event_id]["params"]["eventCreateTime"] == format_ms(clock.now_ms)
    defs = await definitions(api)
    assert (defs["transaction.charge"]["eventCount"], defs["product.buy"]["eventCount"]) == (1, 2)


async def test_different_recorded_at_creates_three_new(api: Api, clock: Clock) -> None:
    await make_profile(api)
    assert (await api.post(TX, EXAMPLE)).status_code == 202
    assert (await api.post(TX, example(recordedAt="2024-03-05T10:15:30.251Z"))).status_code == 202
    events = await transaction_events(api)
    assert len(events) == 6
    ns = uuid.UUID("7b0fe651-8b45-5c83-84be-1b49d1448e59")
    charge = uuid.uuid5(ns, f"1|{FIRST}|transaction.charge|ord-77|{T0 + 1}")
    assert {str(charge), str(uuid.uuid5(charge, "0")), str(uuid.uuid5(charge, "1"))} == set(events) - {
        CHARGE,
        MUG,
        TEA,
    }


async def test_unsalted_charge_is_v7_and_products_derive_from_it(api: Api) -> None:
    body = example(client={"customId": "x"}, eventSalt=None, recordedAt=None)
    assert (await api.post(TX, body)).status_code == 202
    assert (await api.post(TX, body)).status_code == 202
    events = list((await transaction_events(api)).values())
    charges = [e for e in events if e["action"] == "transaction.charge"]
    assert len(charges) == 2 and len(events) == 6
    for charge in charges:
        assert is_arrival_v7(charge["uuid"])  # docs/api.md §3.7
        derived = product_uuids(charge["uuid"], 2)  # v8 of the charge and the position (§6.3)
        assert all(uuid.UUID(p).version == 8 for p in derived)
        assert charge["params"]["productEventsUUIDs"] == derived
        assert "snr-original-time" not in charge["params"]


async def test_mapping_edge_cases(api: Api) -> None:
    body = {
        "client": {"customId": "x"},
        "orderId": "o-1",
        "discountAmount": {"amount": 0, "currency": "PLN"},  # Synerise's store plugin sends 0
        "metadata": {
            "$orderID": "from-metadata",
            "source": "meta",
            "keep": 1,
            "eventUUID": "x",
            "apiKey": "k",
        },
        "products": [
            {
                "sku": "A",
                "name": "A",
                "quantity": 0.5,
                "finalUnitPrice": {"amount": 0, "currency": "PLN", "net": 1},
                "orderId": "product-level",
                "currency": "USD",
                "discountPrice": {"amount": 1, "currency": "PLN"},
                "netUnitPrice": {"amount": 2, "currency": "PLN"},
                "url": "u",
                "image": "i",
                "discountPercent": 5,
                "tax": 23,
                "extra": {"x": None},
            }
        ],
        "time": "garbage",  # unknown top-level keys (the store plugin sends these) are ignored
        "label": "Order completed",
        "action": "door.open",
        "type": "custom",
    }
    r = await api.post(TX, body)
    assert r.status_code == 202, r.text
    events = sorted((await transaction_events(api)).values(), key=lambda e: e["action"])
    buy, charge = events
    assert caller_params(charge) == {
        "$orderID": "o-1",
        "source": "meta",
        "keep": 1,
        "$currency": "PLN",
        "products": [{"$sku": "A", "$name": "A", "$quantity": 0.5, "$finalUnitPrice": 0, "$currency": "PLN"}],
        "productEventsUUIDs": [buy["uuid"]],
        "discountAmount": 0,
    }
    assert caller_params(buy) == {
        "extra": {"x": None},
        "sku": "A",
        "name": "A",
        "quantity": 0.5,
        "finalUnitPrice": 0,
        "discountPrice": 1,
        "netUnitPrice": 2,
        "currency": "PLN",
        "orderId": "o-1",
        "url": "u",
        "image": "i",
        "discountPercent": 5,
        "tax": 23,
    }
    assert charge["label"] == "Transaction charge"
    assert "apiKey" not in charge["params"] and charge["params"]["eventUUID"] == charge["uuid"]


async def test_empty_products(api: Api) -> None:
    body = {"client": {"customId": "x"}, "orderId": "o-1", "products": []}
    assert (await api.post(TX, body)).status_code == 202
    (charge,) = (await transaction_events(api)).values()
    assert caller_params(charge) == {"$orderID": "o-1", "products": [], "productEventsUUIDs": []}
    assert "product.buy" not in await definitions(api)


# -- validation (§6.2) ---------------------------------------------------------------------------------------------

EUR = {"amount": 1, "currency": "EUR"}
P = {"sku": "S", "name": "N", "quantity": 1, "finalUnitPrice": EUR}


def tx(**fields: Any) -> dict[str, Any]:
    body: dict[str, Any] = {"client": {"customId": "x"}, "orderId": "o-1", "products": [dict(P)]}
    body.update(fields)
    return {k: v for k, v in body.items() if v is not ...}


def product(**fields: Any) -> list[dict[str, Any]]:
    return [{k: v for k, v in {**P, **fields}.items() if v is not ...}]


RULES: list[tuple[dict[str, Any], list[dict[str, Any]]]] = [
    (tx(client=...), [entry(1002, "client", "Client is required")]),
    (tx(client={"id": "7"}), [entry(1004, "client.id", "Client id must be a positive integer", "7")]),
    (tx(orderId=...), [entry(1002, "orderId", "Order id is required")]),
    (tx(orderId=None), [entry(1002, "orderId", "Order id is required")]),
    (tx(orderId=""), [entry(1003, "orderId", "Order id is required", "")]),
    (tx(orderId=77), [entry(1004, "orderId", "Order id is required", "77")]),
    (tx(recordedAt="2024-03-05"), [entry(1005, "recordedAt", "Time is not a valid ISO8601 format", "2024-03-05")]),
    (tx(recordedAt="1969-12-31T23:59:59Z"), [entry(1006, "recordedAt", "Time is out of range", "1969-12-31T23:59:59Z")]),
    (tx(eventSalt=""), [entry(1003, "eventSalt", "Event salt must be a non-empty string", "")]),
    (tx(products={}), [entry(1004, "products", "Products must be an array", "{}")]),
    (tx(products=[P, "p"]), [entry(1004, "products[1]", "Product must be an object", "p")]),
    (tx(products=product(sku=...)), [entry(1002, "products[0].sku", "Sku is required")]),
    (tx(products=product(sku="")), [entry(1003, "products[0].sku", "Sku is required", "")]),
    (tx(products=product(name=None)), [entry(1002, "products[0].name", "Name is required")]),
    (tx(products=product(quantity=...)), [entry(1002, "products[0].quantity", "Quantity is required")]),
    (tx(products=product(quantity=0)), [entry(1006, "products[0].quantity", "Quantity must be greater than 0", "0")]),
    (tx(products=product(quantity=-1.5)), [entry(1006, "products[0].quantity", "Quantity must be greater than 0", "-1.5")]),
    (tx(products=product(quantity="2")), [entry(1004, "products[0].quantity", "Quantity must be a number", "2")]),
    (tx(products=product(quantity=True)), [entry(1004, "products[0].quantity", "Quantity must be a number", "true")]),
    (tx(products=product(finalUnitPrice=...)), [entry(1002, "products[0].finalUnitPrice", "Final unit price is required")]),
    (tx(products=product(finalUnitPrice={"currency": "EUR"})), [entry(1002, "products[0].finalUnitPrice.amount", "Amount cannot be empty")]),
    (tx(products=product(finalUnitPrice={"amount": 1})), [entry(1002, "products[0].finalUnitPrice.currency", "Currency cannot be empty")]),
    (tx(products=product(finalUnitPrice={"amount": -0.01, "currency": "EUR"})), [entry(1006, "products[0].finalUnitPrice.amount", "Amount must be greater than or equal to 0", "-0.01")]),
    (tx(products=product(finalUnitPrice={"amount": 1, "currency": "eur"})), [entry(1005, "products[0].finalUnitPrice.currency", "Invalid currency format(eur)", "eur")]),
    (tx(products=product(regularPrice=18)), [entry(1004, "products[0].regularPrice", "Regular price must be an object", "18")]),
    (tx(products=product(discountPrice={"amount": "1", "currency": "EUR"})), [entry(1004, "products[0].discountPrice.amount", "Amount must be a number", "1")]),
    (tx(products=product(netUnitPrice={"amount": 1, "currency": "EURO"})), [entry(1005, "products[0].netUnitPrice.currency", "Invalid currency format(EURO)", "EURO")]),
    (tx(products=product(discountPercent="5")), [entry(1004, "products[0].discountPercent", "Discount percent must be a number", "5")]),
    (tx(products=product(tax=True)), [entry(1004, "products[0].tax", "Tax must be a number", "true")]),
    (tx(products=product(url=1)), [entry(1004, "products[0].url", "Url must be a string", "1")]),
    (tx(products=product(image=[])), [entry(1004, "products[0].image", "Image must be a string", "[]")]),
    (tx(products=product(categories="kitchen")), [entry(1004, "products[0].categories", "Categories must be an array", "kitchen")]),
    (tx(products=product(categories=["a", 1])), [entry(1004, "products[0].categories[1]", "Category must be a string", "1")]),
    (tx(value=40), [entry(1004, "value", "Value must be an object", "40")]),
    (tx(revenue={"amount": -1, "currency": "EUR"}), [entry(1006, "revenue.amount", "Amount must be greater than or equal to 0", "-1")]),
    (tx(discountAmount={"amount": -0.01, "currency": "EUR"}), [entry(1006, "discountAmount.amount", "Amount must be greater than or equal to 0", "-0.01")]),
    (tx(discountAmount={"amount": 0}), [entry(1002, "discountAmount.currency", "Currency cannot be empty")]),
    (tx(source="web"), [entry(1007, "source", "Invalid source (web)", "web")]),
    (tx(source=1), [entry(1007, "source", "Invalid source (1)", "1")]),
    (tx(paymentInfo="CARD"), [entry(1004, "paymentInfo", "Payment info must be an object", "CARD")]),
    (tx(paymentInfo={}), [entry(1002, "paymentInfo.method", "Payment method is required")]),
    (tx(paymentInfo={"method": ""}), [entry(1003, "paymentInfo.method", "Payment method is required", "")]),
    (tx(metadata=[]), [entry(1004, "metadata", "Metadata must be an object", "[]")]),
    # Currencies: the reference is the first valid one in the order value, revenue, discountAmount, products.
    (tx(value={"amount": 1, "currency": "USD"}), [entry(1010, "products[0].finalUnitPrice.currency", "Currency mismatch (EUR, expected USD)", "EUR")]),
    (tx(products=[], value=EUR, revenue={"amount": 1, "currency": "PLN"}), [entry(1010, "revenue.currency", "Currency mismatch (PLN, expected EUR)", "PLN")]),
    (tx(products=[P, {**P, "regularPrice": {"amount": 1, "currency": "USD"}}]), [entry(1010, "products[1].regularPrice.currency", "Currency mismatch (USD, expected EUR)", "USD")]),
    (tx(value={"amount": 1, "currency": "usd"}, discountAmount={"amount": 0, "currency": "USD"}), [
        entry(1010, "products[0].finalUnitPrice.currency", "Currency mismatch (EUR, expected USD)", "EUR"),
        entry(1005, "value.currency", "Invalid currency format(usd)", "usd"),
    ]),
    # Several fields at once, in the §6.2 order.
    ({"client": {}, "orderId": "", "recordedAt": 5, "products": [{"quantity": 0, "finalUnitPrice": EUR}], "source": "x"}, [
        entry(1003, "client", "At least one client identifier required", "{}"),
        entry(1003, "orderId", "Order id is required", ""),
        entry(1005, "recordedAt", "Time is not a valid ISO8601 format", "5"),
        entry(1002, "products[0].sku", "Sku is required"),
        entry(1002, "products[0].name", "Name is required"),
        entry(1006, "products[0].quantity", "Quantity must be greater than 0", "0"),
        entry(1007, "source", "Invalid source (x)", "x"),
    ]),
]  # fmt: skip


@pytest.mark.parametrize(("body", "expected"), RULES)
async def test_validation_rule(api: Api, body: dict[str, Any], expected: list[dict[str, Any]]) -> None:
    r = await api.post(TX, body)
    assert_error(r, 400, *expected, path=TX)
    assert await api.events() == []
    (record,) = await api.quarantine()
    assert (record["reason"], record["status"], record["itemIndex"], record["endpoint"]) == (
        "validation failed",
        400,
        None,
        TX,
    )
    assert record["errors"] == expected


@pytest.mark.parametrize("content", [b"[]", b'"order"', b"null"])
async def test_body_must_be_an_object(api: Api, content: bytes) -> None:
    r = await api.post(TX, content=content)
    shown = {b"[]": "[]", b'"order"': "order", b"null": None}[content]
    assert_error(r, 400, entry(1001, "", "Request body must be a JSON object", shown))


@pytest.mark.parametrize("amount", [0, 0.0])
async def test_discount_amount_zero_is_accepted_and_stored(api: Api, amount: float) -> None:
    r = await api.post(TX, tx(discountAmount={"amount": amount, "currency": "EUR"}))
    assert r.status_code == 202, r.text
    charge = next(e for e in await all_events(api) if e["action"] == "transaction.charge")
    assert charge["params"]["discountAmount"] == 0
