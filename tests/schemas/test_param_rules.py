"""Contract §3.6 and §4.2: money objects, the `source` and `searchType` enums, lat/lon and position ranges."""

from __future__ import annotations

from typing import Any

import pytest

from tests.support.param_cases import (
    CART,
    EVENT_ROWS,
    RECEIVE_MS,
    Entry,
    body,
    errors_of,
    row,
    valid,
)
from tracktion.catalog import CatalogRow, rows_by_path
from tracktion.errors import ValidationFailed
from tracktion.schemas.body import decode_json
from tracktion.schemas.envelope import validate_event
from tracktion.schemas.params import SEARCH_TYPES, SOURCES, humanize

# --- money objects ------------------------------------------------------------------------------------------

MONEY_CASES: list[tuple[Any, list[tuple[int, str, str, str | None]]]] = [
    (
        {},
        [
            (1002, "amount", "Amount cannot be empty", None),
            (1002, "currency", "Currency cannot be empty", None),
        ],
    ),
    ({"amount": None, "currency": "EUR"}, [(1002, "amount", "Amount cannot be empty", None)]),
    ({"amount": 1}, [(1002, "currency", "Currency cannot be empty", None)]),
    (
        {"amount": -0.01, "currency": "EUR"},
        [(1006, "amount", "Amount must be greater than or equal to 0", "-0.01")],
    ),
    ({"amount": "15", "currency": "EUR"}, [(1004, "amount", "Amount must be a number", "15")]),
    ({"amount": True, "currency": "EUR"}, [(1004, "amount", "Amount must be a number", "true")]),
    ({"amount": 1, "currency": "eur"}, [(1005, "currency", "Invalid currency format(eur)", "eur")]),
    ({"amount": 1, "currency": "EURO"}, [(1005, "currency", "Invalid currency format(EURO)", "EURO")]),
    ({"amount": 1, "currency": "E1R"}, [(1005, "currency", "Invalid currency format(E1R)", "E1R")]),
    ({"amount": 1, "currency": ""}, [(1005, "currency", "Invalid currency format()", "")]),
    ({"amount": 1, "currency": 978}, [(1004, "currency", "Currency must be a string", "978")]),
    (
        {"amount": -1, "currency": "x"},
        [
            (1006, "amount", "Amount must be greater than or equal to 0", "-1"),
            (1005, "currency", "Invalid currency format(x)", "x"),
        ],
    ),
]


@pytest.mark.parametrize(
    ("batch_type", "key"),
    [
        ("added-to-cart", "finalUnitPrice"),
        ("added-to-cart", "regularUnitPrice"),
        ("removed-from-cart", "discountedUnitPrice"),
        ("cancelled-transaction", "discountAmount"),
        ("cancelled-transaction", "value"),
        ("completed-transaction", "revenue"),
    ],
)
@pytest.mark.parametrize(("money", "expected"), MONEY_CASES)
def test_money(batch_type: str, key: str, money: Any, expected: list[Entry]) -> None:
    params = {**valid(batch_type), key: money}
    assert errors_of(batch_type, params) == [(c, f"params.{key}.{f}", m, r) for c, f, m, r in expected]


@pytest.mark.parametrize("amount", [0, 0.0, 15, 15.25, 10**18])
def test_money_accepted_and_other_keys_kept(amount: float) -> None:
    params = {**CART, "finalUnitPrice": {"amount": amount, "currency": "PLN", "net": 12.2}}
    event = validate_event(body(params), row("added-to-cart"), RECEIVE_MS)
    assert event.params["finalUnitPrice"] == {"amount": amount, "currency": "PLN", "net": 12.2}


def test_money_children_only_checked_when_parent_is_an_object() -> None:
    params = {k: v for k, v in CART.items() if k != "finalUnitPrice"}
    assert errors_of("added-to-cart", params) == [
        (1002, "params.finalUnitPrice", "Final unit price is required", None)
    ]


# --- enums and ranges ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "batch_type",
    [
        "added-to-cart",
        "product-view",
        "cancelled-transaction",
        "completed-transaction",
        "recommendation-seen",
        "recommendation-click",
    ],
)
def test_source_enum(batch_type: str) -> None:
    for source in sorted(SOURCES):
        params = {**valid(batch_type), "source": source}
        assert validate_event(body(params), row(batch_type), RECEIVE_MS).params["source"] == source
    params = {**valid(batch_type), "source": "web_desktop"}
    assert errors_of(batch_type, params) == [
        (1007, "params.source", "Invalid source (web_desktop)", "web_desktop")
    ]


def test_search_type_enum() -> None:
    for search_type in sorted(SEARCH_TYPES):
        params = {**valid("item-search-click"), "searchType": search_type}
        assert (
            validate_event(body(params), row("item-search-click"), RECEIVE_MS).params["searchType"]
            == search_type
        )
    params = {**valid("item-search-click"), "searchType": "fulltext"}
    assert errors_of("item-search-click", params) == [
        (1007, "params.searchType", "Invalid search type (fulltext)", "fulltext")
    ]


@pytest.mark.parametrize(("position", "ok"), [(1, True), (10**6, True), (0, False), (-3, False)])
def test_position(position: int, ok: bool) -> None:
    params = {**valid("item-search-click"), "position": position}
    if ok:
        assert (
            validate_event(body(params), row("item-search-click"), RECEIVE_MS).params["position"] == position
        )
    else:
        assert errors_of("item-search-click", params) == [
            (1006, "params.position", "Position must be at least 1", str(position))
        ]


def test_position_written_with_exponent_is_not_an_integer() -> None:
    obj = decode_json(
        b'{"client": {"id": 7}, "label": "L", "params": {"correlationId": "c", "item": "i",'
        b' "position": 1e0, "searchType": "autocomplete"}}'
    )
    with pytest.raises(ValidationFailed) as info:
        validate_event(obj, row("item-search-click"), RECEIVE_MS)
    assert [(e.code, e.field, e.message) for e in info.value.errors] == [
        (1004, "params.position", "Position must be an integer")
    ]


@pytest.mark.parametrize(
    ("lat", "lon", "expected"),
    [
        (-90, -180, []),
        (90, 180, []),
        (0.0, 0, []),
        (90.0001, 0, [(1006, "params.lat", "Lat must be between -90 and 90", "90.0001")]),
        (-91, 0, [(1006, "params.lat", "Lat must be between -90 and 90", "-91")]),
        (0, 180.5, [(1006, "params.lon", "Lon must be between -180 and 180", "180.5")]),
        (0, -181, [(1006, "params.lon", "Lon must be between -180 and 180", "-181")]),
    ],
)
def test_lat_lon(lat: float, lon: float, expected: list[Entry]) -> None:
    params = {"lat": lat, "lon": lon}
    if expected:
        assert errors_of("appeared-in-location", params) == expected
    else:
        assert validate_event(body(params), row("appeared-in-location"), RECEIVE_MS).params == params


def test_untyped_rows_do_not_check_named_params() -> None:
    params = {"source": "x", "lat": 1000, "position": 0, "finalUnitPrice": {"amount": -1}}
    assert validate_event(body(params), row("hit-timer"), RECEIVE_MS).params == params


@pytest.mark.parametrize(
    ("name", "human"),
    [
        ("finalUnitPrice", "Final unit price"),
        ("sku", "Sku"),
        ("ItemUrlAddress", "Item url address"),
        ("clientUUID", "Client UUID"),
        ("correlationId", "Correlation id"),
        ("UUID", "UUID"),
    ],
)
def test_humanize(name: str, human: str) -> None:
    assert humanize(name) == human


def test_catalog_rows_are_the_contract_rows() -> None:
    assert rows_by_path()["/v4/events/added-to-cart"].action == "product.addToCart"
    assert len(EVENT_ROWS) == 24


def test_checks_are_compiled_from_the_row_data() -> None:
    # Rows are data: a row built here (same path as a catalog row, other content) gets its own checks.
    base = rows_by_path()["/v4/events/hit-timer"]
    custom = CatalogRow(
        path=base.path,
        batch_type=base.batch_type,
        action=base.action,
        required_params=("params", "params.count"),
        typed_params=(("params", "object"), ("params.count", "integer"), ("params.tags[]", "string")),
        permission=base.permission,
        default_label=base.default_label,
    )
    with pytest.raises(ValidationFailed) as info:
        validate_event({"client": {"id": 7}, "label": "L", "params": {"tags": 5}}, custom, RECEIVE_MS)
    assert [(e.code, e.field, e.message) for e in info.value.errors] == [
        (1002, "params.count", "Count is required")
    ]
    with pytest.raises(ValidationFailed) as info:
        validate_event(
            {"client": {"id": 7}, "label": "L", "params": {"count": 1.5, "tags": [1]}}, custom, RECEIVE_MS
        )
    assert [(e.code, e.field, e.message) for e in info.value.errors] == [
        (1004, "params.count", "Count must be an integer"),
        (1004, "params.tags[0]", "Tag must be a string"),
    ]
    assert validate_event({"client": {"id": 7}, "label": "L"}, base, RECEIVE_MS).params == {}
