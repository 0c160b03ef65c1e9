"""The envelope every batch shares (docs/api.md §5.1, §5.2): an array of 1–1000 items, or `items` of an
ai-compat batch (§5.5). What each item must be is its own validator's business."""

from __future__ import annotations

from typing import Any

from tracktion.errors import ErrorEntry, InvalidBatch, rejected
from tracktion.schemas.openapi_shapes import JsonSchema

MAX_ITEMS = 1000


def batch_items(
    body: Any, *, field: str = "", array_message: str = "Request body must be a JSON array"
) -> list[Any]:
    """§5.1/§5.2: an array of 1–1000 items; anything else is an `invalid batch` (400)."""
    if body is None and field:  # §1.3: a null or absent `items` is a missing required value (1002)
        raise InvalidBatch(errors=[ErrorEntry(1002, field, f"{field.capitalize()} are required")])
    if type(body) is not list:
        raise InvalidBatch(
            errors=[ErrorEntry(1001 if not field else 1004, field, array_message, rejected(body))]
        )
    if not body:
        raise InvalidBatch(errors=[ErrorEntry(1013, field, "Batch must not be empty")])
    if len(body) > MAX_ITEMS:
        raise InvalidBatch(
            errors=[ErrorEntry(1012, field, "Batch cannot contain more than 1000 items", str(len(body)))]
        )
    return body


def batch_of(item: JsonSchema) -> JsonSchema:
    """The OpenAPI schema of what `batch_items` accepts, each element described by `item`."""
    return {"type": "array", "minItems": 1, "maxItems": MAX_ITEMS, "items": item}
