"""Write handlers for the event endpoints. One generic handler serves the custom endpoint and every
dedicated catalog row: the row (bound to its handler when the route is registered) says which action,
required and typed params apply."""

from __future__ import annotations

from typing import Any

from tracktion.catalog import CatalogRow, custom_row, rows_by_batch_type
from tracktion.domain.models import ClientRef, Credential, EventIn
from tracktion.errors import ErrorEntry, ValidationFailed, rejected
from tracktion.http.context import Context
from tracktion.http.request import ACCEPTED, Request, Response
from tracktion.http.routing import AuthenticatedHandler
from tracktion.http.writes import Validate, commit, edge_item, write_request
from tracktion.schemas.ai_compat import validate_ai_compat
from tracktion.schemas.envelope import validate_event


def envelope_validator(request: Request, credential: Credential, row: CatalogRow | None = None) -> Validate:
    """Envelopes (§3) sent to `row`'s endpoint by this caller; without a row, items of `/v4/events/batch`,
    each of the row its `type` names (§5.1)."""
    received, client_optional, item = request.received_ms, credential.kind == "profile", row is None

    def validate(obj: Any) -> EventIn:
        event = validate_event(
            obj, row or batch_row(obj), received, client_optional=client_optional, item=item
        )
        return _fill_from_token(event, credential)

    return validate


def batch_row(obj: Any) -> CatalogRow:
    """The row of an event batch item: its `type` (absent or `custom`: the custom row), else 1011."""
    kind = obj.get("type") if type(obj) is dict else None
    if kind is None or kind == "custom":
        return custom_row()
    row = rows_by_batch_type().get(kind) if type(kind) is str else None
    if row is None:
        raise ValidationFailed(
            errors=[ErrorEntry(1011, "type", f"Unknown event type ({rejected(kind)})", rejected(kind))]
        )
    return row


def ai_compat_validator(
    request: Request,
    credential: Credential,
    row: CatalogRow,
    *,
    item: bool = False,
    event_type: str | None = None,
) -> Validate:
    """Flat AI-engine bodies (§4.3) sent to `row`'s endpoint, or items of an ai-compat batch (§5.5)."""
    received, client_optional = request.received_ms, credential.kind == "profile"

    def validate(obj: Any) -> EventIn:
        event = validate_ai_compat(
            obj, row, received, client_optional=client_optional, item=item, event_type=event_type
        )
        event.uuid_field = "clientUUID"  # §2.6: a foreign uuid is refused at the field the body used
        return _fill_from_token(event, credential)

    return validate


def _fill_from_token(event: EventIn, credential: Credential) -> EventIn:
    """§2.6: a profile token's event without `client` belongs to the token's profile."""
    if credential.kind == "profile" and event.client == ClientRef():
        event.client = ClientRef(id=credential.client_id, uuid=credential.uuid)
    return event


def single_event(row: CatalogRow) -> AuthenticatedHandler:
    """The handler of `row`'s endpoint: `POST /v4/events/custom` and every dedicated one (§4.1)."""

    async def handle(ctx: Context, request: Request, credential: Credential, body: Any) -> Response:
        item = edge_item(envelope_validator(request, credential, row), body)
        await commit(ctx, write_request(request, credential, [item]))
        return ACCEPTED

    return handle


def ai_compat_event(row: CatalogRow) -> AuthenticatedHandler:
    """The handler of `row`'s `POST /v4/events/ai-compat/<type>`: a flat AI-engine body (§4.3)."""

    async def handle(ctx: Context, request: Request, credential: Credential, body: Any) -> Response:
        item = edge_item(ai_compat_validator(request, credential, row), body)
        await commit(ctx, write_request(request, credential, [item]))
        return ACCEPTED

    return handle
