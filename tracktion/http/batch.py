"""Batch endpoints (docs/api.md §5): `/v4/events/batch`, `/v4/events/ai-compat/batch` and the rules every batch
shares (`/v4/transactions/batch` and `/v4/clients/batch` too): envelope, limits, atomic mode and
`?partial=true` (207 with a result per item)."""

from __future__ import annotations

from typing import Any

from tracktion.domain.models import Credential, WriteResult
from tracktion.errors import BadParameter, ErrorEntry, InvalidBatch, rejected
from tracktion.http.context import Context
from tracktion.http.events import ai_compat_validator, envelope_validator
from tracktion.http.query import query_param
from tracktion.http.request import ACCEPTED, Request, Response, json_response
from tracktion.http.writes import Validate, commit, edge_item, write_request
from tracktion.schemas.ai_compat import row_for_event_type
from tracktion.schemas.batch import batch_items


def partial_mode(request: Request) -> bool:
    raw = request.query_one("partial")
    if raw is None or raw in ("false", "0"):
        return False
    if raw in ("true", "1"):
        return True
    raise BadParameter("partial must be true, false, 1 or 0", field="partial", rejected_value=raw)


PARTIAL = query_param(
    "partial", {"enum": ["true", "false", "1", "0"]}, "partial mode (§5.4): 207 with a result per item"
)


def result_json(result: WriteResult) -> dict[str, Any]:
    """§5.4 body: one result per item, in order, with the counts."""
    results = []
    accepted = quarantined = refused = 0
    for outcome in result.outcomes:
        entry: dict[str, Any] = {"index": outcome.index, "status": outcome.status}
        if outcome.error is not None:
            refused += 1
            entry["errors"] = [e.as_json() for e in outcome.error.errors]
        elif outcome.quarantine_reason is not None:
            quarantined += 1
            entry["quarantined"] = True
            entry["reason"] = outcome.quarantine_reason
        else:
            accepted += 1
            entry["uuid"] = outcome.uuid
            if outcome.client_id is not None:  # `/v4/clients/batch`: uuid = the profile's primary uuid
                entry["clientId"] = outcome.client_id
        results.append(entry)
    return {
        "status": 207,
        "accepted": accepted,
        "quarantined": quarantined,
        "rejected": refused,
        "results": results,
    }


async def run_batch(
    ctx: Context,
    request: Request,
    credential: Credential,
    body: Any,
    validate: Validate,
    *,
    items_field: str = "",
    array_message: str = "Request body must be a JSON array",
) -> Response:
    partial = partial_mode(request)
    items = batch_items(body, field=items_field, array_message=array_message)
    prefix = f"{items_field}[{{}}]" if items_field else "[{}]"
    write = [edge_item(validate, obj, i, prefix.format(i)) for i, obj in enumerate(items)]
    # In partial mode the store refuses no request as a whole: every item has its own result (§5.4).
    result = await commit(ctx, write_request(request, credential, write, atomic=not partial))
    return json_response(result_json(result), 207) if partial else ACCEPTED


async def events_batch(ctx: Context, request: Request, credential: Credential, body: Any) -> Response:
    """`POST /v4/events/batch`: items typed by `type` (custom, any dedicated batch type, push aliases)."""
    return await run_batch(ctx, request, credential, body, envelope_validator(request, credential))


async def ai_compat_batch(ctx: Context, request: Request, credential: Credential, body: Any) -> Response:
    """`POST /v4/events/ai-compat/batch`: `{"eventType", "items"}`, one event type per request (§5.5)."""
    if type(body) is not dict:
        raise InvalidBatch(
            errors=[ErrorEntry(1001, "", "Request body must be a JSON object", rejected(body))]
        )
    event_type = body.get("eventType")
    row = row_for_event_type(event_type)
    if row is None:
        code, message = (
            (1002, "Event type is required")
            if event_type is None
            else (1007, f"Invalid event type ({rejected(event_type)})")
        )
        raise InvalidBatch(errors=[ErrorEntry(code, "eventType", message, rejected(event_type))])

    validate = ai_compat_validator(request, credential, row, item=True, event_type=event_type)
    return await run_batch(
        ctx,
        request,
        credential,
        body.get("items"),
        validate,
        items_field="items",
        array_message="Items must be an array",
    )
