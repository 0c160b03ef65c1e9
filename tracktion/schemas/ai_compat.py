"""Flat AI-engine bodies of `/v4/events/ai-compat/*` (docs/api.md §4.3, §5.5) → `EventIn`.

No `client`, `label`, `params` or `eventSalt` envelope: `clientUUID` identifies the profile, `EventTimestamp`
is the time, and every other top-level key becomes a param. The required and typed keys come from the catalog
row; they are compiled with the same machinery as envelope params (shifted under a pseudo `params.` root).
"""

from __future__ import annotations

import dataclasses
from functools import cache
from typing import Any

from tracktion.catalog import CatalogRow, kind_for_action, rows_by_path
from tracktion.domain.models import ClientRef, EventIn
from tracktion.errors import ErrorEntry, ValidationFailed, rejected
from tracktion.schemas.batch import batch_of
from tracktion.schemas.client import UUID, trimmed, uuid_error
from tracktion.schemas.common import TIME, check_time
from tracktion.schemas.openapi_shapes import NON_EMPTY, JsonSchema, nullable, without_nulls_on_required
from tracktion.schemas.params import ParamCheck, check_params, compile_checks, stored_params, typed_tree

# Keys with their own rules here; they are not params.
_ENVELOPE_KEYS = frozenset({"clientUUID", "EventTimestamp", "label", "eventSalt"})
# §4.3 types these on every ai-compat body, whether or not the catalog row lists them.
_ALWAYS_TYPED = (("campaignId", "string"), ("sessionId", "string"))

PRODUCT_SEARCH_CLICK = "product.search.click"
# §5.5: batch `eventType` → the row whose rules apply.
EVENT_TYPES = {
    "recommendation.view": "/v4/events/ai-compat/recommendation.view",
    "recommendation.click": "/v4/events/ai-compat/recommendation.click",
    "item.search.click": "/v4/events/ai-compat/item.search.click",
    PRODUCT_SEARCH_CLICK: "/v4/events/ai-compat/item.search.click",
}

_compiled: dict[tuple[str, bool], tuple[CatalogRow, tuple[ParamCheck, ...]]] = {}


def _param_rules(row: CatalogRow, product_search: bool) -> tuple[list[str], list[tuple[str, str]]]:
    """The row's required and typed top-level keys, less the envelope's own (checks and schema alike)."""
    required = [p for p in row.required_params if p not in _ENVELOPE_KEYS]
    typed = [(p, t) for p, t in row.typed_params if p not in _ENVELOPE_KEYS]
    typed += [(p, t) for p, t in _ALWAYS_TYPED if p not in dict(typed)]
    if product_search:  # deprecated Synerise type: `productId` takes the place of `item`
        required = ["productId" if p == "item" else p for p in required]
        typed = [("productId" if p == "item" else p, t) for p, t in typed]
    return required, typed


def _checks(row: CatalogRow, product_search: bool) -> tuple[ParamCheck, ...]:
    cached = _compiled.get((row.path, product_search))
    if cached is not None and cached[0] is row:
        return cached[1]
    required, typed = _param_rules(row, product_search)
    shifted = dataclasses.replace(
        row,
        required_params=tuple("params." + p for p in required),
        typed_params=tuple(("params." + p, t) for p, t in typed),
    )
    checks = tuple(
        dataclasses.replace(c, field=c.field.removeprefix("params.")) for c in compile_checks(shifted)
    )
    _compiled[(row.path, product_search)] = (row, checks)
    return checks


def validate_ai_compat(
    obj: Any,
    row: CatalogRow,
    receive_ms: int,
    *,
    client_optional: bool = False,
    item: bool = False,
    event_type: str | None = None,
) -> EventIn:
    """Validate one ai-compat body (or batch item of `event_type`). Paths are relative to the body/item."""
    if type(obj) is not dict:
        message = "Item must be a JSON object" if item else "Request body must be a JSON object"
        raise ValidationFailed(errors=[ErrorEntry(1001, "", message, rejected(obj))])
    assert row.action is not None
    errors: list[ErrorEntry] = []
    client_uuid = obj.get("clientUUID")
    client = ClientRef()
    if client_uuid is None:
        if not client_optional:
            errors.append(ErrorEntry(1002, "clientUUID", "Client UUID is required"))
    else:
        # §3.2: trimmed first, like `client.uuid`; the error shows the value as sent.
        value = trimmed(client_uuid)
        error = uuid_error(value, "clientUUID", "Client UUID", sent=client_uuid)
        if error is not None:
            errors.append(error)
        else:
            client = ClientRef(uuid=value.lower())

    label = obj.get("label")
    if label is not None and (type(label) is not str or not label):
        code = 1004 if type(label) is not str else 1003
        errors.append(ErrorEntry(code, "label", "Label must be a non-empty string", rejected(label)))

    time_ms, original = check_time(obj.get("EventTimestamp"), "EventTimestamp", receive_ms, errors)

    product_search = event_type == PRODUCT_SEARCH_CLICK
    check_params(obj, _checks(row, product_search), errors)
    if errors:
        raise ValidationFailed(errors=errors)
    params = stored_params({k: v for k, v in obj.items() if k not in _ENVELOPE_KEYS})
    if product_search:
        params["item"] = params["productId"]
    return EventIn(
        client,
        row.action,
        label or row.default_label,
        time_ms,
        original,
        None,
        params,
        kind_for_action(row.action),
    )


def row_for_event_type(event_type: Any) -> CatalogRow | None:
    path = EVENT_TYPES.get(event_type) if type(event_type) is str else None
    return rows_by_path()[path] if path else None


# -- the OpenAPI description of what `validate_ai_compat` accepts -------------------------------------------
@cache
def ai_compat_schema(row: CatalogRow, product_search: bool = False) -> JsonSchema:
    """A flat ai-compat body (§4.3) from its row, with the keys `validate_ai_compat` treats itself."""
    schema = without_nulls_on_required(typed_tree(*_param_rules(row, product_search)))
    schema["properties"].update(
        clientUUID=UUID,
        EventTimestamp=nullable(TIME),
        label=nullable(NON_EMPTY),
    )
    schema["required"] = ["clientUUID", *schema.get("required", [])]
    schema["title"] = f"{row.default_label} ({row.action})"
    return schema


@cache
def ai_compat_batch_schema() -> JsonSchema:
    """`/v4/events/ai-compat/batch` (§5.5): one `eventType`, its items of that type's row."""
    variants = []
    for event_type, path in EVENT_TYPES.items():
        items = ai_compat_schema(rows_by_path()[path], event_type == PRODUCT_SEARCH_CLICK)
        variants.append(
            {
                "type": "object",
                "required": ["eventType", "items"],
                "properties": {"eventType": {"const": event_type}, "items": batch_of(items)},
            }
        )
    return {"anyOf": variants}
