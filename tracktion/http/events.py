"""Write handlers for the event endpoints. One generic handler serves the custom endpoint and every
dedicated catalog row: the row (route `extra`) says which action, required and typed params apply."""

from __future__ import annotations

from typing import Any

from tracktion.catalog import CatalogRow
from tracktion.domain.models import ClientRef, Credential, EventIn, WriteItem, WriteRequest
from tracktion.errors import TracktionError, ValidationFailed
from tracktion.http.context import Context
from tracktion.http.request import ACCEPTED, Request, Response
from tracktion.schemas.ai_compat import validate_ai_compat
from tracktion.schemas.envelope import validate_event


def validate_item(
    obj: Any,
    row: CatalogRow,
    request: Request,
    credential: Credential,
    *,
    index: int | None = None,
    prefix: str = "",
) -> WriteItem:
    """Edge validation of one envelope into a `WriteItem` (valid event, or its errors)."""
    try:
        event = validate_event(
            obj,
            row,
            request.received_ms,
            client_optional=credential.kind == "profile",
            item=index is not None,
        )
    except ValidationFailed as exc:
        if prefix:
            exc = ValidationFailed(errors=[e.with_prefix(prefix) for e in exc.errors])
        return WriteItem(index, obj, prefix, error=exc)
    return WriteItem(index, obj, prefix, event=_fill_from_token(event, credential))


def _fill_from_token(event: EventIn, credential: Credential) -> EventIn:
    """§2.6: a profile token's event without `client` belongs to the token's profile."""
    if credential.kind == "profile" and event.client == ClientRef():
        event.client = ClientRef(id=credential.client_id, uuid=credential.uuid)
    return event


def write_request(
    ctx: Context, request: Request, credential: Credential, items: list[WriteItem], atomic: bool = True
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


async def commit(ctx: Context, write: WriteRequest) -> None:
    """Hand the request to the store; it answers only once everything is durably committed."""
    result = await ctx.write(write)
    if result.error is not None:
        _mark_recorded(result.error)
        raise result.error


def _mark_recorded(exc: TracktionError) -> None:
    # The store already wrote this failure's quarantine records; the pipeline must not add another.
    exc.recorded = True  # type: ignore[attr-defined]


async def single_event(
    ctx: Context, request: Request, credential: Credential | None, body: Any, *, row: CatalogRow
) -> Response:
    """`POST /v4/events/custom` and every dedicated endpoint (registered once per catalog row)."""
    assert credential is not None
    item = validate_item(body, row, request, credential)
    await commit(ctx, write_request(ctx, request, credential, [item]))
    return ACCEPTED


async def ai_compat_event(
    ctx: Context, request: Request, credential: Credential | None, body: Any, *, row: CatalogRow
) -> Response:
    """`POST /v4/events/ai-compat/<type>`: a flat AI-engine body (§4.3)."""
    assert credential is not None
    item = ai_compat_item(body, row, request, credential)
    await commit(ctx, write_request(ctx, request, credential, [item]))
    return ACCEPTED


def ai_compat_item(
    obj: Any,
    row: CatalogRow,
    request: Request,
    credential: Credential,
    *,
    index: int | None = None,
    prefix: str = "",
    event_type: str | None = None,
) -> WriteItem:
    try:
        event = validate_ai_compat(
            obj,
            row,
            request.received_ms,
            client_optional=credential.kind == "profile",
            item=index is not None,
            event_type=event_type,
        )
    except ValidationFailed as exc:
        if prefix:
            exc = ValidationFailed(errors=[e.with_prefix(prefix) for e in exc.errors])
        return WriteItem(index, obj, prefix, error=exc)
    event.uuid_field = "clientUUID"  # §2.6: a foreign uuid is refused at the field the body used
    return WriteItem(index, obj, prefix, event=_fill_from_token(event, credential))
