"""Transaction fan-out (docs/api.md §6.3): one `transaction.charge` plus one `product.buy` per product.

Pure: given the validated transaction and the charge UUID (which depends on the resolved profile), it
returns the events' actions, labels, UUIDs and caller-side params. System params are injected later by the
ingest, exactly as for any other event.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from tracktion.domain.event_ids import ordered_product_uuid, uuid5_text, uuid_bytes
from tracktion.domain.models import TransactionIn

CHARGE_ACTION, CHARGE_LABEL = "transaction.charge", "Transaction charge"
PRODUCT_ACTION, PRODUCT_LABEL = "product.buy", "Product bought"
CURRENCY = re.compile(r"[A-Z]{3}")
MONEY_FIELDS = ("value", "revenue", "discountAmount")
PRODUCT_MONEY_FIELDS = ("finalUnitPrice", "regularPrice", "discountPrice", "netUnitPrice")
# Product keys that the product.buy table maps; any other key of a product is kept as sent.
_PRODUCT_TABLE_KEYS = frozenset(
    {
        "sku",
        "name",
        "quantity",
        *PRODUCT_MONEY_FIELDS,
        "currency",
        "orderId",
        "url",
        "image",
        "categories",
        "discountPercent",
        "tax",
    }
)
_PRODUCT_AS_SENT = ("url", "image", "categories", "discountPercent", "tax")


@dataclass(frozen=True, slots=True)
class DerivedEvent:
    action: str
    label: str
    uuid: str
    params: dict[str, Any]


def product_uuid(charge_uuid: str, index: int, salted: bool = True) -> str:
    """Synerise derives product events from the charge UUID plus the position (re-sends replace by position):
    uuid5 under a salted charge, the arrival-ordered v8 of §6.3 under an unsalted (v7) one."""
    if salted:
        return uuid5_text(uuid_bytes(charge_uuid), str(index))
    return ordered_product_uuid(uuid_bytes(charge_uuid), index)


def expand(transaction: TransactionIn, charge_uuid: str) -> list[DerivedEvent]:
    body = transaction.body
    products: list[dict[str, Any]] | None = body.get("products")
    salted = transaction.salt is not None
    product_ids = [product_uuid(charge_uuid, i, salted) for i in range(len(products or ()))]

    charge: dict[str, Any] = dict(body.get("metadata") or {})
    charge["$orderID"] = transaction.order_id
    if body.get("value") is not None:
        charge["$totalAmount"] = body["value"]["amount"]
    if body.get("revenue") is not None:
        charge["$revenue"] = body["revenue"]["amount"]
    if transaction.currency is not None:
        charge["$currency"] = transaction.currency
    if body.get("paymentInfo") is not None:
        charge["$paymentType"] = body["paymentInfo"]
    if products is not None:
        charge["products"] = [
            {
                "$sku": p["sku"],
                "$name": p["name"],
                "$quantity": p["quantity"],
                "$finalUnitPrice": p["finalUnitPrice"]["amount"],
                "$currency": p["finalUnitPrice"]["currency"],
            }
            for p in products
        ]
        charge["productEventsUUIDs"] = product_ids
    if body.get("source") is not None:
        charge["source"] = body["source"]
    if body.get("discountAmount") is not None:
        charge["discountAmount"] = body["discountAmount"]["amount"]

    events = [DerivedEvent(CHARGE_ACTION, CHARGE_LABEL, charge_uuid, charge)]
    for product, product_id in zip(products or (), product_ids, strict=True):
        events.append(
            DerivedEvent(
                PRODUCT_ACTION, PRODUCT_LABEL, product_id, _product_params(product, transaction.order_id)
            )
        )
    return events


def _product_params(product: dict[str, Any], order_id: str) -> dict[str, Any]:
    params = {k: v for k, v in product.items() if k not in _PRODUCT_TABLE_KEYS}
    params["sku"] = product["sku"]
    params["name"] = product["name"]
    params["quantity"] = product["quantity"]
    for name in PRODUCT_MONEY_FIELDS:
        if product.get(name) is not None:
            params[name] = product[name]["amount"]
    params["currency"] = product["finalUnitPrice"]["currency"]
    params["orderId"] = order_id
    for name in _PRODUCT_AS_SENT:
        if product.get(name) is not None:
            params[name] = product[name]
    return params
