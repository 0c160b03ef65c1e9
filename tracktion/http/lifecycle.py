"""Data lifecycle endpoints (docs/api.md §15, §9.7): erasures, suppressions, `DELETE /v4/clients/{clientId}`
and the admin's `PATCH /-/admin/workspaces/{id}` (retention). What happens underneath is described in
`tracktion.domain.lifecycle`."""

from __future__ import annotations

import uuid as uuidlib
from typing import Any

from tracktion.domain.lifecycle import ERASE_BY
from tracktion.domain.models import Credential
from tracktion.errors import ErrorEntry, NotFound, ValidationFailed, rejected
from tracktion.http import query
from tracktion.http.context import Context
from tracktion.http.request import Request, Response, json_response
from tracktion.schemas.openapi_shapes import NON_EMPTY, JsonSchema
from tracktion.schemas.render import erasure_json, suppression_json, workspace_json

MAX_INT64 = 2**63 - 1
MAX_RETENTION_DAYS = 36_500  # 100 years: anything longer is a typo, and `days * 86400000` stays small
PROFILE_NOT_FOUND = "Profile not found"

# The request bodies, as `_erasure_request` and `patch_workspace` check them (for the OpenAPI description).
ERASURE_BODY: JsonSchema = {
    "type": "object",
    "description": "Exactly one of clientId, customId, email, uuid; `suppress` defaults to true.",
    "properties": {
        "clientId": {"type": "integer", "minimum": 1, "maximum": MAX_INT64},
        "customId": NON_EMPTY,
        "email": NON_EMPTY,
        "uuid": NON_EMPTY,
        "suppress": {"type": ["boolean", "null"]},
    },
}


def _invalid(code: int, field: str, message: str, value: Any) -> ValidationFailed:
    return ValidationFailed(errors=[ErrorEntry(code, field, message, rejected(value))])


def _erasure_request(body: Any) -> tuple[str, Any, bool]:
    """`{"clientId" | "customId" | "email" | "uuid": value, "suppress"?: bool}` → (by, value, suppress)."""
    if not isinstance(body, dict):
        raise _invalid(1001, "", "Request body must be a JSON object", body)
    given = [k for k in ERASE_BY if body.get(k) is not None]
    if not given:
        raise _invalid(1002, "", "One of clientId, customId, email, uuid is required", None)
    if len(given) > 1:
        raise _invalid(1010, given[1], "Only one identifier may be given", body[given[1]])
    by = given[0]
    value = body[by]
    if by == "clientId":
        if not isinstance(value, int) or isinstance(value, bool):
            raise _invalid(1004, by, "clientId must be an integer", value)
        if not 0 < value <= MAX_INT64:
            raise _invalid(1006, by, "clientId must be a positive 64-bit integer", value)
    elif not isinstance(value, str):
        raise _invalid(1004, by, f"{by} must be a string", value)
    elif not value:
        raise _invalid(1003, by, f"{by} must not be empty", value)
    suppress = body.get("suppress")
    if suppress is None:
        suppress = True
    elif not isinstance(suppress, bool):
        raise _invalid(1004, "suppress", "suppress must be a boolean", suppress)
    return by, value, suppress


async def _erase(ctx: Context, workspace_id: int, by: str, value: Any, suppress: bool) -> Any:
    erasure = await ctx.store.erase(
        workspace_id, by, value, suppress=suppress, now_ms=ctx.clock_ms(), erasure_id=str(uuidlib.uuid4())
    )
    if erasure is None:
        # The same answer whether the identifier exists in another workspace or nowhere (§2.1).
        raise NotFound(PROFILE_NOT_FOUND, field=by, rejected_value=rejected(value))
    if ctx.suppressions is not None:
        ctx.suppressions.forget(workspace_id)  # effective at once for this process's writes
    ctx.authn.forget_profile(workspace_id, erasure.client_id)  # its profile tokens stop working
    if ctx.lifecycle is not None:
        ctx.lifecycle.wake()
    if ctx.relay is not None:
        ctx.relay.erased(workspace_id)  # §15.1: destinations are told
    ctx.changes.notify(workspace_id)
    return erasure


def _location(erasure_id: str) -> list[tuple[bytes, bytes]]:
    return [(b"location", f"/-/api/erasures/{erasure_id}".encode())]


async def create_erasure(ctx: Context, request: Request, credential: Credential, body: Any) -> Response:
    """`POST /-/api/erasures` (§15.1)."""
    by, value, suppress = _erasure_request(body)
    erasure = await _erase(ctx, credential.workspace_id, by, value, suppress)
    return json_response(
        {"id": erasure.id, "state": erasure.state, "clientId": erasure.client_id}, 202, _location(erasure.id)
    )


async def delete_client(ctx: Context, request: Request, credential: Credential, body: Any) -> Response:
    """`DELETE /v4/clients/{clientId}` (§9.7): an erasure without suppression."""
    raw = request.path_params["clientId"]
    client_id = query.path_id(
        raw, "clientId", lambda: NotFound(PROFILE_NOT_FOUND, field="clientId", rejected_value=raw)
    )
    erasure = await _erase(ctx, credential.workspace_id, "clientId", client_id, False)
    return json_response({"erasureId": erasure.id}, 202, _location(erasure.id))


async def list_erasures(ctx: Context, request: Request, credential: Credential, body: Any) -> Response:
    return json_response([erasure_json(e) for e in await ctx.store.erasures(credential.workspace_id)])


async def get_erasure(ctx: Context, request: Request, credential: Credential, body: Any) -> Response:
    raw = request.path_params["id"]
    erasure = await ctx.store.erasure(credential.workspace_id, raw)
    if erasure is None:
        raise NotFound("Erasure not found", field="id", rejected_value=raw)
    return json_response(erasure_json(erasure))


async def list_suppressions(ctx: Context, request: Request, credential: Credential, body: Any) -> Response:
    return json_response([suppression_json(s) for s in await ctx.store.suppressions(credential.workspace_id)])


async def delete_suppression(ctx: Context, request: Request, credential: Credential, body: Any) -> Response:
    raw = request.path_params["id"]
    if not await ctx.store.delete_suppression(credential.workspace_id, raw):
        raise NotFound("Suppression not found", field="id", rejected_value=raw)
    if ctx.suppressions is not None:
        ctx.suppressions.forget(credential.workspace_id)
    return Response(204)


RETENTION_BODY: JsonSchema = {
    "type": "object",
    "required": ["retentionDays"],
    "properties": {
        "retentionDays": {"type": ["integer", "null"], "minimum": 1, "maximum": MAX_RETENTION_DAYS}
    },
}


def retention_days(value: Any, field: str = "retentionDays") -> int | None:
    """§15.2: an integer ≥ 1 (at most `MAX_RETENTION_DAYS`), or null = keep forever."""
    if value is None:
        return None
    if not isinstance(value, int) or isinstance(value, bool):
        raise _invalid(1004, field, "retentionDays must be an integer or null", value)
    if not 1 <= value <= MAX_RETENTION_DAYS:
        raise _invalid(1006, field, f"retentionDays must be between 1 and {MAX_RETENTION_DAYS}", value)
    return value


async def patch_workspace(ctx: Context, request: Request, body: Any) -> Response:
    """`PATCH /-/admin/workspaces/{id}` `{"retentionDays"}` (§15.2)."""
    if not isinstance(body, dict):
        raise _invalid(1001, "", "Request body must be a JSON object", body)
    if "retentionDays" not in body:
        raise _invalid(1002, "retentionDays", "retentionDays is required", None)
    days = retention_days(body["retentionDays"])
    raw = request.path_params["id"]

    def not_found() -> NotFound:
        return NotFound("Workspace not found", field="id", rejected_value=raw)

    workspace = await ctx.store.set_retention(query.path_id(raw, "id", not_found), days)
    if workspace is None:
        raise not_found()
    if ctx.lifecycle is not None:
        ctx.lifecycle.wake()
    return json_response(workspace_json(workspace))
