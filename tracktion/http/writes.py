"""The one write path of the HTTP layer: each body or batch item through its validator into a `WriteItem`,
the items of one request into one `WriteRequest`, and that to the store, which answers only once everything
is durably committed (docs/api.md §3–§6, §9.6, §11)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from tracktion.domain.models import (
    Credential,
    EventIn,
    ProfileIn,
    TransactionIn,
    WriteItem,
    WriteRequest,
    WriteResult,
)
from tracktion.errors import TracktionError, ValidationFailed
from tracktion.http.context import Context
from tracktion.http.request import Request

# A body or batch item → its valid value; raises `ValidationFailed` with every error, paths relative to it.
Validate = Callable[[Any], EventIn | TransactionIn | ProfileIn]


def edge_item(validate: Validate, obj: Any, index: int | None = None, prefix: str = "") -> WriteItem:
    """One body (`index` None) or batch item through its validator: the valid value, or its errors with the
    item's path in front (`[3].client.id`, `items[3].clientUUID`, §5.1) for the store to quarantine."""
    try:
        valid = validate(obj)
    except ValidationFailed as exc:
        if prefix:
            exc = ValidationFailed(errors=[e.with_prefix(prefix) for e in exc.errors])
        return WriteItem(index, obj, prefix, error=exc)
    if isinstance(valid, EventIn):
        return WriteItem(index, obj, prefix, event=valid)
    if isinstance(valid, TransactionIn):
        return WriteItem(index, obj, prefix, transaction=valid)
    return WriteItem(index, obj, prefix, profile=valid)


def write_request(
    request: Request, credential: Credential, items: list[WriteItem], atomic: bool = True
) -> WriteRequest:
    return WriteRequest(
        workspace_id=credential.workspace_id,
        credential=credential,
        request_id=request.request_id,
        method=request.method,
        endpoint=request.path,
        received_ms=request.received_ms,
        ip=request.ip,
        items=items,
        atomic=atomic,
        lane="bulk" if request.headers.get("x-tracktion-lane", "").lower() == "bulk" else "live",
    )


class RecordedRefusal(Exception):
    """The store refused a write and has already written its quarantine records (every item, §5.3, §11).
    The answer is `error`; the pipeline (`HttpApp`) must not add a request-level record of its own, as it
    does for refusals raised before the store saw the request."""

    def __init__(self, error: TracktionError) -> None:
        super().__init__(error)
        self.error = error


async def commit(ctx: Context, write: WriteRequest) -> WriteResult:
    """Hand the request to the store; it answers only once everything is durably committed. A refusal (in
    atomic mode: any item failed) raises `RecordedRefusal`."""
    result = await ctx.write(write)
    if result.error is not None:
        raise RecordedRefusal(result.error)
    return result
