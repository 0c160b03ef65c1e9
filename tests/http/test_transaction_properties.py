"""Property tests of §6.3: for any valid transaction with N products, exactly N `product.buy` events with UUIDs
uuid5(charge, i) and the mapped params; a salted re-send leaves exactly 1 + N events.

Two layers: the pure validation + fan-out (`validate_transaction`, `fanout.expand`) with many examples, and the
whole API with a few examples, each in a fresh workspace of the test's store."""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.support.api import Api
from tests.support.http import basic
from tests.support.ingest import SYSTEM_PARAMS, caller_params, salted_uuid
from tests.support.uuids import v8_product
from tracktion.bootstrap import create_key
from tracktion.domain import fanout
from tracktion.domain.timefmt import parse_time_ms
from tracktion.schemas.transaction import validate_transaction

RECEIVE_MS = 1_709_683_200_000  # after every generated recordedAt
OFFSETS = [0, 60, -480, 330, 840, -720]
MONEY_FIELDS = ("finalUnitPrice", "regularPrice", "discountPrice", "netUnitPrice")
AS_SENT = ("url", "image", "categories", "discountPercent", "tax")
TABLE = {"sku", "name", "quantity", *MONEY_FIELDS, "currency", "orderId", *AS_SENT}

text = st.text(st.characters(codec="utf-8"), min_size=1, max_size=8)
amount = st.one_of(st.integers(0, 10**9), st.floats(0, 1e9, allow_nan=False, allow_infinity=False))
positive = st.one_of(st.integers(1, 10**6), st.floats(0.001, 1e6, allow_nan=False, allow_infinity=False))
number = st.one_of(st.integers(-(10**6), 10**6), st.floats(-1e6, 1e6, allow_nan=False, allow_infinity=False))
free = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**53), 2**53) | text,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(text, inner, max_size=3),
    max_leaves=5,
)


def money(currency: str) -> st.SearchStrategy[dict[str, Any]]:
    return st.fixed_dictionaries({"amount": amount, "currency": st.just(currency)})


def product(currency: str) -> st.SearchStrategy[dict[str, Any]]:
    return st.fixed_dictionaries(
        {"sku": text, "name": text, "quantity": positive, "finalUnitPrice": money(currency)},
        optional={
            "regularPrice": money(currency),
            "discountPrice": money(currency),
            "netUnitPrice": money(currency),
            "url": text,
            "image": text,
            "categories": st.lists(text, max_size=3),
            "discountPercent": number,
            "tax": number,
            # keys outside the table are kept; table keys sent inside a product are overwritten
            "color": free,
            "orderId": free,
            "currency": free,
        },
    )


@st.composite
def transactions(draw: st.DrawFn, max_products: int = 6) -> dict[str, Any]:
    currency = draw(st.sampled_from(["EUR", "PLN", "USD"]))
    body = draw(
        st.fixed_dictionaries(
            {
                "client": st.just({"customId": "buyer"}),
                "orderId": text,
                "products": st.lists(product(currency), max_size=max_products),
            },
            optional={
                "value": money(currency),
                "revenue": money(currency),
                "discountAmount": money(currency),
                "source": st.sampled_from(
                    ["WEB_DESKTOP", "WEB_MOBILE", "MOBILE_APP", "POS", "MOBILE", "DESKTOP"]
                ),
                "paymentInfo": st.fixed_dictionaries({"method": text}, optional={"provider": text}),
                "metadata": st.dictionaries(
                    st.sampled_from(["promo", "channel", "$orderID"]), free, max_size=3
                ),
                "recordedAt": st.builds(
                    _iso, st.integers(86_400_000, RECEIVE_MS - 1), st.sampled_from(OFFSETS)
                ),
                "eventSalt": text,
            },
        )
    )
    return json.loads(json.dumps(body))  # what the server decodes: plain JSON values


def _iso(ms: int, offset_min: int) -> str:
    """`ms` written in local time at `offset_min` from UTC, e.g. 2024-03-05T11:15:30.250+01:00."""
    local = datetime.fromtimestamp((ms + offset_min * 60_000) // 1000, tz=UTC)
    sign = "-" if offset_min < 0 else "+"
    hours, minutes = divmod(abs(offset_min), 60)
    return f"{local:%Y-%m-%dT%H:%M:%S}.{ms % 1000:03d}{sign}{hours:02d}:{minutes:02d}"


def expected_product(p: dict[str, Any], order_id: str) -> dict[str, Any]:
    out = {k: v for k, v in p.items() if k not in TABLE}
    out.update(sku=p["sku"], name=p["name"], quantity=p["quantity"], orderId=order_id)
    out.update({k: p[k]["amount"] for k in MONEY_FIELDS if k in p})
    out["currency"] = p["finalUnitPrice"]["currency"]
    out.update({k: p[k] for k in AS_SENT if k in p})
    return out


def expected_charge(body: dict[str, Any], product_ids: list[str]) -> dict[str, Any]:
    out: dict[str, Any] = dict(body.get("metadata", {}))
    out["$orderID"] = body["orderId"]
    if "value" in body:
        out["$totalAmount"] = body["value"]["amount"]
    if "revenue" in body:
        out["$revenue"] = body["revenue"]["amount"]
    currencies = [body[k]["currency"] for k in ("value", "revenue", "discountAmount") if k in body]
    currencies += [p["finalUnitPrice"]["currency"] for p in body["products"]]
    if currencies:
        out["$currency"] = currencies[0]
    if "paymentInfo" in body:
        out["$paymentType"] = body["paymentInfo"]
    out["products"] = [
        {
            "$sku": p["sku"],
            "$name": p["name"],
            "$quantity": p["quantity"],
            "$finalUnitPrice": p["finalUnitPrice"]["amount"],
            "$currency": p["finalUnitPrice"]["currency"],
        }
        for p in body["products"]
    ]
    out["productEventsUUIDs"] = product_ids
    if "source" in body:
        out["source"] = body["source"]
    if "discountAmount" in body:
        out["discountAmount"] = body["discountAmount"]["amount"]
    return out


def without_system(params: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in params.items() if k not in SYSTEM_PARAMS}


# -- pure layer ------------------------------------------------------------------------------------------------


@settings(max_examples=300, deadline=None)
@given(body=transactions(), charge=st.uuids())
def test_fanout_of_any_valid_transaction(body: dict[str, Any], charge: uuid.UUID) -> None:
    transaction = validate_transaction(body, RECEIVE_MS)
    if "recordedAt" in body:
        assert transaction.time_ms == parse_time_ms(body["recordedAt"])
        assert transaction.original_time == body["recordedAt"]
    events = fanout.expand(transaction, str(charge))
    n = len(body["products"])
    assert len(events) == 1 + n
    if transaction.salt is None:  # §6.3: the products of an unsalted charge are v8 of it and the position
        product_ids = [v8_product(charge, i) for i in range(n)]
    else:
        product_ids = [str(uuid.uuid5(charge, str(i))) for i in range(n)]
    assert [e.uuid for e in events] == [str(charge), *product_ids]
    assert [(e.action, e.label) for e in events] == [("transaction.charge", "Transaction charge")] + [
        ("product.buy", "Product bought")
    ] * n
    assert events[0].params == expected_charge(body, product_ids)
    for event, sent in zip(events[1:], body["products"], strict=True):
        assert event.params == expected_product(sent, body["orderId"])


# -- through the API ------------------------------------------------------------------------------------------------


async def fresh_workspace(api: Api) -> tuple[int, dict[str, str]]:
    store = api.app.ctx.store
    workspace = await store.create_workspace("prop", RECEIVE_MS)
    _, secret = await create_key(store, workspace.id, "workspace", "prop", None)
    return workspace.id, basic(str(workspace.id), secret)


@settings(
    max_examples=12,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(body=transactions(max_products=4), salt=text)
async def test_salted_transaction_sent_twice_leaves_one_plus_n_events(
    api: Api, body: dict[str, Any], salt: str
) -> None:
    api.app.ctx.clock_ms = lambda: RECEIVE_MS
    workspace_id, auth = await fresh_workspace(api)
    body = {**body, "eventSalt": salt}
    for _ in range(2):
        r = await api.client.post("/v4/transactions", json=body, headers=auth)
        assert r.status_code == 202, r.text
    r = await api.client.get("/-/api/events", params={"limit": "1000"}, headers=auth)
    events = r.json()["items"]
    n = len(body["products"])
    assert len(events) == 1 + n
    (charge,) = [e for e in events if e["action"] == "transaction.charge"]
    time_ms = parse_time_ms(body["recordedAt"]) if "recordedAt" in body else RECEIVE_MS
    client_id = charge["client"]["id"]
    assert charge["uuid"] == salted_uuid(workspace_id, client_id, "transaction.charge", salt, time_ms)
    product_ids = [str(uuid.uuid5(uuid.UUID(charge["uuid"]), str(i))) for i in range(n)]
    by_uuid = {e["uuid"]: e for e in events}
    assert set(by_uuid) == {charge["uuid"], *product_ids}
    assert caller_params(charge) == without_system(expected_charge(body, product_ids))
    for product_id, sent in zip(product_ids, body["products"], strict=True):
        stored = by_uuid[product_id]
        assert (stored["action"], stored["time"], stored["client"]["id"]) == (
            "product.buy",
            charge["time"],
            client_id,
        )
        assert caller_params(stored) == without_system(expected_product(sent, body["orderId"]))
        assert stored["params"]["time"] == time_ms
