"""Shared data and helpers of the §4.2 param tests: a valid `params` per catalog row and error extraction."""

from __future__ import annotations

from typing import Any

import pytest

from tracktion.catalog import CatalogRow, load_catalog
from tracktion.errors import ValidationFailed
from tracktion.schemas.envelope import validate_event

RECEIVE_MS = 1_709_640_000_000
Entry = tuple[int, str, str, str | None]
EUR = {"amount": 15.0, "currency": "EUR"}
CART = {
    "sku": "MUG-1",
    "name": "Mug",
    "category": "kitchen",
    "categories": ["kitchen", "mugs"],
    "offline": False,
    "regularUnitPrice": {"amount": 18, "currency": "EUR"},
    "discountedUnitPrice": {"amount": 0, "currency": "EUR"},
    "finalUnitPrice": EUR,
    "ItemUrlAddress": "https://shop.example/mug",
    "producer": "Acme",
    "quantity": 2,
    "source": "WEB_DESKTOP",
}
TRANSACTION = {
    "orderId": "ord-77",
    "orderStatus": "CANCELLED",
    "discountAmount": {"amount": 0, "currency": "EUR"},
    "discountPercent": 10,
    "discountCode": "SPRING",
    "value": EUR,
    "revenue": EUR,
    "products": [{"sku": "MUG-1"}, {}],
    "source": "POS",
    "paymentInfo": {"method": "CASH"},
}
RECOMMENDATION = {
    "productId": "P-1",
    "name": "Mug",
    "source": "MOBILE_APP",
    "campaignHash": "h",
    "url": "u",
    "category": "kitchen",
}
# A valid `params` for every non-ai-compat row, exercising each typed path where the row has some.
VALID_PARAMS: dict[str, dict[str, Any] | None] = {
    "custom": {"anything": [1, {"x": None}]},
    "added-to-cart": CART,
    "removed-from-cart": CART,
    "added-to-favorites": {"sku": 5},  # untyped rows: free-form
    "product-view": {
        "productId": "P-1",
        "name": "Mug",
        "category": "c",
        "url": "u",
        "source": "WEB_MOBILE",
        "fromRecommendation": True,
        "campaignHash": "h",
    },
    "appeared-in-location": {"lat": 52.2297, "lon": 21},
    "application-started": {"applicationName": "Shop", "version": "1.2.3"},
    "assigned-to-company": {"companyId": 42},
    "cancelled-transaction": TRANSACTION,
    "hit-timer": None,
    "logged-in": None,
    "logged-out": {"source": "nonsense"},
    "registered": {},
    "searched": {"query": "mug"},
    "shared": {"channel": "mail"},
    "visited-screen": {"screen": "cart"},
    "push/clicked": {"campaignHash": 5},
    "push/viewed": {},
    "push/received": {},
    "push/cancelled": {},
    "item-search-click": {
        "correlationId": "c-1",
        "item": "MUG-1",
        "position": 1,
        "searchType": "autocomplete",
    },
    "completed-transaction": TRANSACTION,
    "recommendation-seen": RECOMMENDATION,
    "recommendation-click": RECOMMENDATION,
}
EVENT_ROWS = [r for r in load_catalog() if not r.is_ai_compat]


def row(batch_type: str) -> CatalogRow:
    return next(r for r in EVENT_ROWS if r.batch_type == batch_type)


def valid(batch_type: str) -> dict[str, Any]:
    return dict(VALID_PARAMS[batch_type] or {})


def body(params: Any, **fields: Any) -> dict[str, Any]:
    out = {"client": {"id": 7}, "label": "L", "params": params, **fields}
    return out if params is not None else {k: v for k, v in out.items() if k != "params"}


def errors_of(batch_type: str, params: Any) -> list[Entry]:
    with pytest.raises(ValidationFailed) as info:
        validate_event(body(params), row(batch_type), RECEIVE_MS)
    return [(e.code, e.field, e.message, e.rejected_value) for e in info.value.errors]
