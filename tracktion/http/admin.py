"""Admin HTTP API (docs/api.md §13.7), served only when `TRACKTION_ADMIN_TOKEN` is set."""

from __future__ import annotations

from typing import Any

from tracktion.auth.api_keys import secrets_equal
from tracktion.auth.permissions import sorted_permissions, unknown_permissions
from tracktion.bootstrap import create_key
from tracktion.domain.models import Workspace
from tracktion.errors import ErrorEntry, NotFound, Unauthorized, ValidationFailed, rejected
from tracktion.http import query
from tracktion.http.context import Context
from tracktion.http.request import Request, Response, json_response
from tracktion.schemas.openapi_shapes import NON_EMPTY, JsonSchema
from tracktion.schemas.render import key_json, workspace_json


def check_admin(ctx: Context, request: Request) -> None:
    expected = ctx.settings.admin_token
    scheme, _, token = (request.headers.get("authorization") or "").partition(" ")
    if not expected or scheme.lower() != "bearer" or not secrets_equal(token.strip(), expected):
        raise Unauthorized()


def _object(body: Any) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise ValidationFailed(
            errors=[ErrorEntry(1001, "", "Request body must be a JSON object", rejected(body))]
        )
    return body


# The OpenAPI description of the bodies `create_workspace` and `create_api_key` check.
WORKSPACE_BODY: JsonSchema = {"type": "object", "required": ["name"], "properties": {"name": NON_EMPTY}}
API_KEY_BODY: JsonSchema = {
    "type": "object",
    "required": ["kind"],
    "properties": {
        "kind": {"enum": ["workspace", "profile"]},
        "name": {"type": "string"},
        "permissions": {"type": "array", "items": {"enum": sorted_permissions()}},
    },
}


def _check_text(value: str, field: str) -> None:
    """A name is stored as UTF-8: a lone surrogate (JSON `"\\ud800"`, which the body decoder lets through)
    cannot be, and used to fail in the store with a 500. 1008, as for identifiers (§3.2)."""
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        raise ValidationFailed(
            errors=[
                ErrorEntry(
                    1008, field, f"{field.capitalize()} contains forbidden characters", rejected(value)
                )
            ]
        ) from None


async def create_workspace(ctx: Context, request: Request, body: Any) -> Response:
    name = _object(body).get("name")
    if not isinstance(name, str) or not name.strip():
        code = 1002 if name is None else 1004 if not isinstance(name, str) else 1003
        raise ValidationFailed(errors=[ErrorEntry(code, "name", "Name is required", rejected(name))])
    _check_text(name, "name")
    workspace = await ctx.store.create_workspace(name, ctx.clock_ms())
    return json_response(workspace_json(workspace), 201)


async def list_workspaces(ctx: Context, request: Request, body: Any) -> Response:
    return json_response([workspace_json(w) for w in await ctx.store.workspaces()])


async def _workspace(ctx: Context, request: Request) -> Workspace:
    raw = request.path_params["id"]

    def not_found() -> NotFound:
        return NotFound("Workspace not found", field="id", rejected_value=raw)

    workspace = await ctx.store.workspace(query.path_id(raw, "id", not_found))
    if workspace is None:
        raise not_found()
    return workspace


async def create_api_key(ctx: Context, request: Request, body: Any) -> Response:
    fields = _object(body)
    workspace = await _workspace(ctx, request)
    kind = fields.get("kind")
    if kind not in ("workspace", "profile"):
        code = 1002 if kind is None else 1007
        raise ValidationFailed(
            errors=[ErrorEntry(code, "kind", "Kind must be workspace or profile", rejected(kind))]
        )
    name = fields.get("name")
    if name is not None and not isinstance(name, str):
        raise ValidationFailed(errors=[ErrorEntry(1004, "name", "Name must be a string", rejected(name))])
    if name is not None:
        _check_text(name, "name")
    permissions = fields.get("permissions")
    if permissions is not None:
        if kind == "profile":
            raise ValidationFailed(
                errors=[
                    ErrorEntry(
                        1007, "permissions", "Profile keys carry no permissions", rejected(permissions)
                    )
                ]
            )
        if not isinstance(permissions, list) or not all(isinstance(p, str) for p in permissions):
            raise ValidationFailed(
                errors=[
                    ErrorEntry(
                        1004, "permissions", "Permissions must be an array of strings", rejected(permissions)
                    )
                ]
            )
        unknown = unknown_permissions(permissions)
        if unknown:
            raise ValidationFailed(
                errors=[ErrorEntry(1007, "permissions", f"Unknown permission ({unknown[0]})", unknown[0])]
            )
    key, secret = await create_key(ctx.store, workspace.id, kind, name, permissions)
    return json_response(key_json(key, secret), 201)


async def list_api_keys(ctx: Context, request: Request, body: Any) -> Response:
    workspace = await _workspace(ctx, request)
    return json_response([key_json(k) for k in await ctx.store.api_keys(workspace.id)])


async def revoke_api_key(ctx: Context, request: Request, body: Any) -> Response:
    key_id = request.path_params["keyId"]
    if await ctx.store.api_key(key_id) is None:
        raise NotFound("API key not found", field="keyId", rejected_value=key_id)
    await ctx.store.revoke_api_key(key_id, ctx.clock_ms())
    ctx.authn.forget(key_id)  # effective at once in this process
    return Response(204)


async def permissions(ctx: Context, request: Request, body: Any) -> Response:
    return json_response(sorted_permissions())
