"""Contract §4 at HTTP level: every catalog row (dedicated, legacy and ai-compat) stores the right action and
definition kind, enforces its required and typed params with the contract's messages, its permission, and
(envelope rows) refuses a mismatching `action`. Schema-level detail lives in tests/schemas."""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from tests.support.api import Api
from tests.support.http import T0, Clock, Keys, assert_error, bearer, entry, single
from tests.support.ingest import (
    SYSTEM_PARAMS,
    all_events,
    article,
    caller_params,
    definitions,
    wrong_value,
)
from tests.support.param_cases import VALID_PARAMS
from tests.support.uuids import is_arrival_v7
from tracktion.auth.permissions import sorted_permissions
from tracktion.catalog import CatalogRow, load_catalog
from tracktion.domain.timefmt import format_ms
from tracktion.errors import rejected

ROWS = [r for r in load_catalog() if not r.is_custom]
ENVELOPE_ROWS = [r for r in ROWS if not r.is_ai_compat]
AI_ROWS = [r for r in ROWS if r.is_ai_compat]
LEGACY = {
    "/v4/events/completed-transaction",
    "/v4/events/recommendation-seen",
    "/v4/events/recommendation-click",
}
CLIENT_UUID = "0a6e0c0e-4b4b-4a53-9d0a-6a8c2b1f7a10"

# The contract's phrase for each typed key (§3.8: Synerise's SDK phrases; "<Name> must be a <type>").
HUMAN = {
    "params": "Params",
    "sku": "Sku",
    "name": "Name",
    "category": "Category",
    "categories": "Categories",
    "offline": "Offline",
    "regularUnitPrice": "Regular unit price",
    "discountedUnitPrice": "Discounted unit price",
    "finalUnitPrice": "Final unit price",
    "amount": "Amount",
    "currency": "Currency",
    "ItemUrlAddress": "Item url address",
    "producer": "Producer",
    "quantity": "Quantity",
    "source": "Source",
    "productId": "Product id",
    "url": "Url",
    "fromRecommendation": "From recommendation",
    "campaignHash": "Campaign hash",
    "lat": "Lat",
    "lon": "Lon",
    "applicationName": "Application name",
    "version": "Version",
    "companyId": "Company id",
    "orderId": "Order id",
    "orderStatus": "Order status",
    "discountAmount": "Discount amount",
    "discountPercent": "Discount percent",
    "discountCode": "Discount code",
    "value": "Value",
    "revenue": "Revenue",
    "products": "Products",
    "paymentInfo": "Payment info",
    "method": "Method",
    "correlationId": "Correlation id",
    "item": "Item",
    "items": "Items",
    "position": "Position",
    "searchType": "Search type",
    "campaignId": "Campaign id",
    "sessionId": "Session id",
    "clientUUID": "Client UUID",
}
REQUIRED_MESSAGES = {
    "params": "Params are required",
    "finalUnitPrice.amount": "Amount cannot be empty",
    "finalUnitPrice.currency": "Currency cannot be empty",
    "clientUUID": "Client UUID is required",
    "items": "Items are required",
}
AI_VALID: dict[str, dict[str, Any]] = {
    "/v4/events/ai-compat/item.search.click": {
        "clientUUID": CLIENT_UUID,
        "correlationId": "corr-1",
        "item": "MUG-1",
        "position": 3,
        "searchType": "full-text-search",
        "sessionId": "s-1",
    },
    "/v4/events/ai-compat/recommendation.click": {
        "clientUUID": CLIENT_UUID,
        "correlationId": "corr-1",
        "item": "MUG-1",
        "campaignId": "camp-1",
        "sessionId": "s-1",
    },
    "/v4/events/ai-compat/recommendation.view": {
        "clientUUID": CLIENT_UUID,
        "correlationId": "corr-1",
        "items": ["MUG-1", "TEA-9"],
        "campaignId": "camp-1",
    },
}


def valid_body(row: CatalogRow) -> dict[str, Any]:
    if row.is_ai_compat:
        return copy.deepcopy(AI_VALID[row.path])
    body: dict[str, Any] = {"client": {"customId": "cust-1"}, "label": "Row label"}
    params = VALID_PARAMS[row.batch_type or ""]
    if params is not None:
        body["params"] = json.loads(json.dumps(params))  # no shared sub-objects (deepcopy keeps them)
    return body


def expected_kind(row: CatalogRow) -> str:
    return "transaction" if row.action in ("transaction.charge", "product.buy") else "dedicated"


def ids(row: CatalogRow) -> str:
    return row.path.removeprefix("/v4/events/")


def test_the_catalog_has_every_contract_row() -> None:
    assert len(ENVELOPE_ROWS) == 23 and len(AI_ROWS) == 3
    assert {r.path for r in ROWS if r.legacy} == LEGACY


# -- a valid event per row ----------------------------------------------------------------------------------


@pytest.mark.parametrize("row", ENVELOPE_ROWS, ids=ids)
async def test_envelope_row_stores_its_action_and_dedicated_definition(
    api: Api, clock: Clock, row: CatalogRow
) -> None:
    body = valid_body(row)
    body["time"] = "2024-03-05T11:15:30.250+01:00"
    r = await api.post(row.path, body)
    assert r.status_code == 202, r.text
    assert r.content == b""
    event = await single(api)
    assert (event["action"], event["label"], event["endpoint"]) == (row.action, "Row label", row.path)
    assert event["kind"] == expected_kind(row)
    assert event["time"] == format_ms(T0)
    assert event["client"]["customId"] == "cust-1"
    assert caller_params(event) == (VALID_PARAMS[row.batch_type or ""] or {})
    assert event["params"]["snr-original-time"] == "2024-03-05T11:15:30.250+01:00"
    assert is_arrival_v7(event["uuid"])  # docs/api.md §3.7
    definition = (await definitions(api))[row.action or ""]
    assert (definition["kind"], definition["eventCount"]) == (expected_kind(row), 1)
    r = await api.get("/-/api/definitions", params={"kind": expected_kind(row)})
    assert [d["action"] for d in r.json()] == [row.action]
    assert await api.quarantine() == []


@pytest.mark.parametrize("row", ENVELOPE_ROWS, ids=ids)
async def test_envelope_row_accepts_its_own_action_and_refuses_another(api: Api, row: CatalogRow) -> None:
    assert (await api.post(row.path, {**valid_body(row), "action": row.action})).status_code == 202
    bad = {**valid_body(row), "action": "door.open"}
    r = await api.post(row.path, bad)
    message = f"Action does not match endpoint (expected {row.action})"
    assert_error(r, 400, entry(1010, "action", message, "door.open"), path=row.path)
    assert len(await all_events(api)) == 1
    (record,) = await api.quarantine()
    assert (record["reason"], record["status"], record["itemIndex"]) == ("validation failed", 400, None)
    assert record["item"] == bad


@pytest.mark.parametrize("row", AI_ROWS, ids=ids)
async def test_ai_compat_row_stores_its_action_default_label_and_definition(
    api: Api, clock: Clock, row: CatalogRow
) -> None:
    body = {**valid_body(row), "EventTimestamp": "2024-03-05T10:15:30.250Z"}
    r = await api.post(row.path, body)
    assert r.status_code == 202, r.text
    event = await single(api)
    assert (event["action"], event["label"], event["endpoint"]) == (row.action, row.default_label, row.path)
    assert (event["kind"], event["time"]) == ("dedicated", format_ms(T0))
    assert event["client"]["uuid"] == CLIENT_UUID
    sent = {k: v for k, v in body.items() if k not in ("clientUUID", "EventTimestamp")}
    assert caller_params(event) == sent
    assert event["params"]["snr-original-time"] == "2024-03-05T10:15:30.250Z"
    assert is_arrival_v7(event["uuid"])  # docs/api.md §3.7
    assert (await definitions(api))[row.action or ""]["kind"] == "dedicated"
    # An explicit label is stored instead of the default.
    assert (await api.post(row.path, {**valid_body(row), "label": "Mine"})).status_code == 202
    labels = sorted(e["label"] for e in await all_events(api))
    assert labels == sorted(["Mine", row.default_label])


# -- required params -----------------------------------------------------------------------------------------

REQUIRED = [
    (row, path, how)
    for row in ROWS
    for path in row.required_params
    if not row.is_custom
    for how in ("absent", "null")
]


def without(body: dict[str, Any], dotted: str, how: str) -> dict[str, Any]:
    out = copy.deepcopy(body)
    *parents, key = dotted.split(".")
    holder = out
    for name in parents:
        holder = holder[name]
    if how == "absent":
        del holder[key]
    else:
        holder[key] = None
    return out


@pytest.mark.parametrize(("row", "path", "how"), REQUIRED, ids=[f"{ids(r)}:{p}:{h}" for r, p, h in REQUIRED])
async def test_each_required_param_missing(api: Api, row: CatalogRow, path: str, how: str) -> None:
    body = without(valid_body(row), path, how)
    relative = path.removeprefix("params.")
    if relative in REQUIRED_MESSAGES:
        message = REQUIRED_MESSAGES[relative]
    else:
        message = f"{HUMAN[relative]} is required"
    r = await api.post(row.path, body)
    assert_error(r, 400, entry(1002, path, message), path=row.path)
    assert await api.events() == []
    (record,) = await api.quarantine()
    assert (record["reason"], record["errors"][0]["field"]) == ("validation failed", path)


async def test_empty_params_object_satisfies_required_params(api: Api) -> None:
    body = {"client": {"customId": "c"}, "label": "L", "params": {}}
    assert (await api.post("/v4/events/assigned-to-company", body)).status_code == 202


async def test_all_missing_params_of_a_row_reported_together_in_catalog_order(api: Api) -> None:
    r = await api.post(
        "/v4/events/item-search-click", {"client": {"customId": "c"}, "label": "L", "params": {}}
    )
    assert_error(
        r,
        400,
        entry(1002, "params.correlationId", "Correlation id is required"),
        entry(1002, "params.item", "Item is required"),
        entry(1002, "params.position", "Position is required"),
        entry(1002, "params.searchType", "Search type is required"),
    )


# -- typed params ----------------------------------------------------------------------------------------------

TYPED = [(row, path, json_type) for row in ROWS for path, json_type in row.typed_params if not row.is_custom]


def with_wrong_type(body: dict[str, Any], path: str, json_type: str) -> tuple[dict[str, Any], str, Any]:
    """`body` with a wrong-typed value at `path`; returns it with the reported field and the bad value."""
    out = copy.deepcopy(body)
    each = path.endswith("[]")
    keys = (path[:-2] if each else path).split(".")
    holder = out
    for name in keys[:-1]:
        holder = holder.setdefault(name, {})
        if not isinstance(holder, dict):
            raise AssertionError(path)
    bad = wrong_value(json_type)
    if each:
        holder[keys[-1]] = [None, bad] if json_type != "object" else [{}, bad]
        return out, f"{path[:-2]}[1]", bad
    holder[keys[-1]] = bad
    return out, path, bad


@pytest.mark.parametrize(("row", "path", "json_type"), TYPED, ids=[f"{ids(r)}:{p}" for r, p, _ in TYPED])
async def test_each_typed_param_with_a_wrong_type(
    api: Api, row: CatalogRow, path: str, json_type: str
) -> None:
    body, field, bad = with_wrong_type(valid_body(row), path, json_type)
    r = await api.post(row.path, body)
    if path == "EventTimestamp":
        expected = entry(1005, field, "Time is not a valid ISO8601 format", rejected(bad))
    elif path == "clientUUID":
        expected = entry(1004, field, "Client UUID must be a string", rejected(bad))
    else:
        name = HUMAN[path.removesuffix("[]").rsplit(".", 1)[-1]]
        if path.endswith("[]"):  # elements: "Categories" → "Category"
            name = name.removesuffix("ies") + "y" if name.endswith("ies") else name.removesuffix("s")
        expected = entry(1004, field, f"{name} must be {article(json_type)} {json_type}", rejected(bad))
    assert_error(r, 400, expected, path=row.path)
    assert await api.events() == []
    assert len(await api.quarantine()) == 1


@pytest.mark.parametrize(
    ("path", "params", "expected"),
    [
        ("appeared-in-location", {"lat": 91, "lon": 0}, entry(1006, "params.lat", "Lat must be between -90 and 90", "91")),
        ("appeared-in-location", {"lat": 0, "lon": -180.5}, entry(1006, "params.lon", "Lon must be between -180 and 180", "-180.5")),
        ("item-search-click", {**VALID_PARAMS["item-search-click"], "position": 0},  # type: ignore[dict-item]
         entry(1006, "params.position", "Position must be at least 1", "0")),
        ("item-search-click", {**VALID_PARAMS["item-search-click"], "searchType": "fuzzy"},  # type: ignore[dict-item]
         entry(1007, "params.searchType", "Invalid search type (fuzzy)", "fuzzy")),
        ("product-view", {"source": "WEB"}, entry(1007, "params.source", "Invalid source (WEB)", "WEB")),
        ("added-to-cart", {**VALID_PARAMS["added-to-cart"], "finalUnitPrice": {"amount": -1, "currency": "EUR"}},  # type: ignore[dict-item]
         entry(1006, "params.finalUnitPrice.amount", "Amount must be greater than or equal to 0", "-1")),
        ("cancelled-transaction", {"value": {"amount": 1, "currency": "eur"}},
         entry(1005, "params.value.currency", "Invalid currency format(eur)", "eur")),
    ],
)  # fmt: skip
async def test_value_rules_of_typed_params(api: Api, path: str, params: Any, expected: Any) -> None:
    r = await api.post(f"/v4/events/{path}", {"client": {"customId": "c"}, "label": "L", "params": params})
    assert_error(r, 400, expected)
    assert await api.events() == []


async def test_untyped_params_of_dedicated_rows_are_free_form(api: Api) -> None:
    params = {"sku": 5, "lat": "north", "nested": {"a": [1, None]}, "eventUUID": "mine", "apiKey": "secret"}
    body = {"client": {"customId": "c"}, "label": "L", "params": params}
    assert (await api.post("/v4/events/hit-timer", body)).status_code == 202
    event = await single(api)
    assert caller_params(event) == {"sku": 5, "lat": "north", "nested": {"a": [1, None]}}
    assert event["params"]["eventUUID"] == event["uuid"]
    assert "apiKey" not in event["params"] and SYSTEM_PARAMS - {"snr-original-time"} <= set(event["params"])


# -- permissions -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("row", ROWS, ids=ids)
async def test_permission_of_each_row(api: Api, keys: Keys, row: CatalogRow) -> None:
    everything_else = [p for p in sorted_permissions() if p != row.permission]
    without_it = await keys.token(everything_else)
    r = await api.client.post(row.path, json=valid_body(row), headers=bearer(without_it))
    assert_error(r, 403, entry(2003, "Authorization", f"Permission {row.permission} missing"), path=row.path)
    assert await api.events() == []
    (record,) = await api.quarantine()
    assert (record["reason"], record["status"], record["endpoint"]) == ("permission denied", 403, row.path)
    # The batch permission does not stand in for the row's own.
    assert "API_BATCH_EVENTS_CREATE" in everything_else
    only_it = await keys.token([row.permission])
    r = await api.client.post(row.path, json=valid_body(row), headers=bearer(only_it))
    assert r.status_code == 202, r.text
    assert (await single(api))["action"] == row.action


# -- the read APIs cover the new endpoints (§13.2, §13.3) ----------------------------------------------------------


async def test_events_filter_by_endpoint_and_definitions_list_every_dedicated_action(api: Api) -> None:
    for row in ROWS:
        assert (await api.post(row.path, valid_body(row))).status_code == 202, row.path
    batch = [{**valid_body(ENVELOPE_ROWS[0]), "type": ENVELOPE_ROWS[0].batch_type}]
    assert (await api.post("/v4/events/batch", batch)).status_code == 202
    for row in ROWS:
        (stored,) = await api.events(endpoint=row.path)
        assert stored["action"] == row.action
    (stored,) = await api.events(endpoint="/v4/events/batch")
    assert (stored["action"], stored["endpoint"]) == (ENVELOPE_ROWS[0].action, "/v4/events/batch")
    r = await api.get("/-/api/definitions", params={"kind": "dedicated"})
    dedicated = {r.action or "" for r in ROWS} - {"transaction.charge"}
    assert [d["action"] for d in r.json()] == sorted(dedicated)
    r = await api.get("/-/api/definitions/recommendation.view")
    assert (r.json()["kind"], r.json()["eventCount"]) == ("dedicated", 2)  # legacy row + ai-compat row
