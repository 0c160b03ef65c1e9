"""Contract §3.6 and §4.2: required and typed params of every custom/dedicated catalog row."""

from __future__ import annotations

from typing import Any

import pytest

from tests.support.param_cases import (
    CART,
    EUR,
    EVENT_ROWS,
    RECEIVE_MS,
    TRANSACTION,
    VALID_PARAMS,
    body,
    errors_of,
    row,
    valid,
)
from tracktion.catalog import CatalogRow
from tracktion.errors import rejected
from tracktion.schemas.envelope import validate_event


def test_every_event_row_has_a_valid_example() -> None:
    assert {r.batch_type for r in EVENT_ROWS} == set(VALID_PARAMS)


@pytest.mark.parametrize("event_row", EVENT_ROWS, ids=lambda r: r.batch_type)
def test_valid_body_per_row(event_row: CatalogRow) -> None:
    params = VALID_PARAMS[event_row.batch_type or ""]
    extra = {"action": "door.open"} if event_row.is_custom else {}
    event = validate_event(body(params, **extra), event_row, RECEIVE_MS)
    assert event.action == (event_row.action or "door.open")
    assert event.params == (params or {})


REQUIRED = [
    (r.batch_type, path)
    for r in EVENT_ROWS
    for path in r.required_params
    if path.startswith("params.") and path.count(".") == 1
]
MESSAGES = {
    "sku": "Sku is required",
    "finalUnitPrice": "Final unit price is required",
    "quantity": "Quantity is required",
    "lat": "Lat is required",
    "lon": "Lon is required",
    "applicationName": "Application name is required",
    "version": "Version is required",
    "correlationId": "Correlation id is required",
    "item": "Item is required",
    "position": "Position is required",
    "searchType": "Search type is required",
}


def test_required_list_is_the_contract_list() -> None:
    assert sorted({p.split(".")[1] for _, p in REQUIRED}) == sorted(MESSAGES)


@pytest.mark.parametrize(("batch_type", "path"), REQUIRED)
@pytest.mark.parametrize("how", ["absent", "null"])
def test_each_required_param_missing(batch_type: str, path: str, how: str) -> None:
    key = path.split(".")[1]
    params = valid(batch_type)
    if how == "absent":
        del params[key]
    else:
        params[key] = None
    assert errors_of(batch_type, params) == [(1002, path, MESSAGES[key], None)]


@pytest.mark.parametrize(
    "batch_type", sorted({r.batch_type for r in EVENT_ROWS if "params" in r.required_params})
)
def test_params_required_rows(batch_type: str) -> None:
    assert errors_of(batch_type, None) == [(1002, "params", "Params are required", None)]


def test_empty_params_on_a_row_with_required_params_lists_them_in_catalog_order() -> None:
    assert [f for _, f, _, _ in errors_of("added-to-cart", {})] == [
        "params.sku",
        "params.finalUnitPrice",
        "params.quantity",
    ]
    assert [m for _, _, m, _ in errors_of("item-search-click", {})] == [
        "Correlation id is required",
        "Item is required",
        "Position is required",
        "Search type is required",
    ]


def test_required_params_come_before_other_typed_params() -> None:
    params = {"categories": 3, "name": 5, "quantity": "2", "sku": "S", "finalUnitPrice": EUR}
    assert errors_of("added-to-cart", params) == [
        (1004, "params.quantity", "Quantity must be a number", "2"),
        (1004, "params.name", "Name must be a string", "5"),
        (1004, "params.categories", "Categories must be an array", "3"),
    ]


def test_typed_checks_need_params_to_be_an_object() -> None:
    assert errors_of("added-to-cart", "x") == [(1004, "params", "Params must be an object", "x")]


# --- types (§3.6 "Typed params") ---------------------------------------------------------------------------

TYPE_CASES = [
    ("added-to-cart", "sku", 5, "Sku must be a string"),
    ("added-to-cart", "name", ["Mug"], "Name must be a string"),
    ("added-to-cart", "category", {}, "Category must be a string"),
    ("added-to-cart", "categories", "kitchen", "Categories must be an array"),
    ("added-to-cart", "offline", "false", "Offline must be a boolean"),
    ("added-to-cart", "offline", 0, "Offline must be a boolean"),
    ("added-to-cart", "regularUnitPrice", 18, "Regular unit price must be an object"),
    ("added-to-cart", "discountedUnitPrice", [], "Discounted unit price must be an object"),
    ("added-to-cart", "finalUnitPrice", "15 EUR", "Final unit price must be an object"),
    ("added-to-cart", "ItemUrlAddress", 1, "Item url address must be a string"),
    ("added-to-cart", "producer", True, "Producer must be a string"),
    ("added-to-cart", "quantity", True, "Quantity must be a number"),
    ("added-to-cart", "quantity", "2", "Quantity must be a number"),
    ("added-to-cart", "source", 1, "Source must be a string"),
    ("removed-from-cart", "sku", 5, "Sku must be a string"),
    ("product-view", "productId", 5, "Product id must be a string"),
    ("product-view", "url", 5, "Url must be a string"),
    ("product-view", "campaignHash", 5, "Campaign hash must be a string"),
    ("product-view", "fromRecommendation", "yes", "From recommendation must be a boolean"),
    ("appeared-in-location", "lat", "52.2", "Lat must be a number"),
    ("appeared-in-location", "lon", True, "Lon must be a number"),
    ("application-started", "applicationName", 5, "Application name must be a string"),
    ("application-started", "version", 1.2, "Version must be a string"),
    ("assigned-to-company", "companyId", "42", "Company id must be a number"),
    ("assigned-to-company", "companyId", False, "Company id must be a number"),
    ("cancelled-transaction", "orderId", 77, "Order id must be a string"),
    ("cancelled-transaction", "orderStatus", 1, "Order status must be a string"),
    ("cancelled-transaction", "discountCode", 1, "Discount code must be a string"),
    ("cancelled-transaction", "discountPercent", "10", "Discount percent must be a number"),
    ("cancelled-transaction", "value", 40.65, "Value must be an object"),
    ("cancelled-transaction", "revenue", 50, "Revenue must be an object"),
    ("cancelled-transaction", "discountAmount", 0, "Discount amount must be an object"),
    ("cancelled-transaction", "products", {}, "Products must be an array"),
    ("cancelled-transaction", "paymentInfo", "CASH", "Payment info must be an object"),
    ("completed-transaction", "orderId", 77, "Order id must be a string"),
    ("item-search-click", "correlationId", 1, "Correlation id must be a string"),
    ("item-search-click", "item", 1, "Item must be a string"),
    ("item-search-click", "position", 1.0, "Position must be an integer"),
    ("item-search-click", "position", True, "Position must be an integer"),
    ("item-search-click", "position", "1", "Position must be an integer"),
    ("item-search-click", "searchType", 1, "Search type must be a string"),
    ("recommendation-seen", "productId", 1, "Product id must be a string"),
    ("recommendation-click", "campaignHash", 1, "Campaign hash must be a string"),
]


@pytest.mark.parametrize(("batch_type", "key", "value", "message"), TYPE_CASES)
def test_wrong_type(batch_type: str, key: str, value: Any, message: str) -> None:
    params = {**valid(batch_type), key: value}
    assert errors_of(batch_type, params) == [(1004, f"params.{key}", message, rejected(value))]


@pytest.mark.parametrize(
    ("batch_type", "key"),
    [("added-to-cart", "name"), ("product-view", "url"), ("cancelled-transaction", "value")],
)
def test_typed_null_is_absent_and_stored(batch_type: str, key: str) -> None:
    params = {**valid(batch_type), key: None}
    assert validate_event(body(params), row(batch_type), RECEIVE_MS).params[key] is None


def test_array_elements_each_checked() -> None:
    params = {**CART, "categories": ["a", 5, None, True, []]}
    assert errors_of("added-to-cart", params) == [
        (1004, "params.categories[1]", "Category must be a string", "5"),
        (1004, "params.categories[3]", "Category must be a string", "true"),
        (1004, "params.categories[4]", "Category must be a string", "[]"),
    ]


def test_products_elements_must_be_objects_and_are_not_checked_further() -> None:
    params = {**TRANSACTION, "products": [{"sku": 5, "quantity": -1}, "MUG-1"]}
    assert errors_of("cancelled-transaction", params) == [
        (1004, "params.products[1]", "Product must be an object", "MUG-1")
    ]


def test_nested_typed_path() -> None:
    params = {**TRANSACTION, "paymentInfo": {"method": 5, "extra": 1}}
    assert errors_of("cancelled-transaction", params) == [
        (1004, "params.paymentInfo.method", "Method must be a string", "5")
    ]
    ok = {**TRANSACTION, "paymentInfo": {}}  # `method` is typed, not required, on event endpoints
    assert validate_event(body(ok), row("cancelled-transaction"), RECEIVE_MS).params["paymentInfo"] == {}
