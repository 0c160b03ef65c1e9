"""Token endpoints (docs/api.md §2.2) and the public key set (§13.1)."""

from __future__ import annotations

from typing import Any

from tracktion.domain.models import Credential
from tracktion.errors import TokenKindNotAllowed, Unauthorized
from tracktion.http.context import Context
from tracktion.http.request import Request, Response, json_response
from tracktion.http.routing import UnauthenticatedHandler
from tracktion.schemas.login import api_key_field


def workspace_login(*, deprecated: bool = False) -> UnauthenticatedHandler:
    """The login handler; on the deprecated alias its answers say `Deprecation: true` (§2.2)."""
    headers = [(b"deprecation", b"true")] if deprecated else None

    async def login(ctx: Context, request: Request, body: Any) -> Response:
        """`POST /uauth/v2/auth/login/profile` (and its deprecated alias): workspace API key → JWT."""
        api_key = api_key_field(body)
        key = await ctx.authn.key_by_secret(api_key)
        # One answer for unknown, revoked and profile keys: nothing tells an attacker which one it was.
        if key is None or key.revoked_ms is not None or key.kind != "workspace":
            raise Unauthorized("Invalid API key", field="apiKey")
        token = ctx.tokens.issue_workspace_token(key.workspace_id, key.id, key.permissions)
        return json_response({"token": token}, headers=headers)

    return login


async def workspace_refresh(ctx: Context, request: Request, credential: Credential, body: Any) -> Response:
    """`GET /v4/auth/refresh/profile`: a valid (unexpired) workspace token → a new one, same claims."""
    scheme, _, token = (request.headers.get("authorization") or "").partition(" ")
    if credential.kind != "workspace" or scheme.lower() != "bearer":
        raise TokenKindNotAllowed("Only a workspace token can be refreshed here")
    claims = ctx.tokens.verify(token.strip())  # cached: costs nothing after authentication
    return json_response({"token": ctx.tokens.refresh(claims)})


async def jwks(ctx: Context, request: Request, body: Any) -> Response:
    return json_response(ctx.signing_key.jwks(), headers=[(b"cache-control", b"max-age=300")])
