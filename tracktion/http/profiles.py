"""Profile-token endpoints (contract §2.2 `/sauth/…`), reading profiles (§9.5) and the profile batch (§9.6)."""

from __future__ import annotations

from typing import Any

from tracktion.domain.identity import profile_for_uuid
from tracktion.domain.models import Credential
from tracktion.domain.ports import ProfileDetails
from tracktion.domain.profiles import view as profile_data_view
from tracktion.domain.timefmt import format_ms
from tracktion.errors import NotFound, TokenKindNotAllowed, Unauthorized
from tracktion.http import query
from tracktion.http.batch import run_batch
from tracktion.http.context import Context
from tracktion.http.request import Request, Response, json_response
from tracktion.schemas.client import lookup_identifier
from tracktion.schemas.login import api_key_field, validate_anonymous_login
from tracktion.schemas.profile import validate_profile


async def anonymous_login(ctx: Context, request: Request, body: Any) -> Response:
    """`POST /sauth/v3/auth/login/client/anonymous`: profile API key + uuid → a profile token."""
    login = validate_anonymous_login(body)
    key = await ctx.authn.key_by_secret(login.api_key)
    if key is None or key.revoked_ms is not None or key.kind != "profile":
        raise Unauthorized("Invalid API key", field="apiKey")
    uuid = login.uuid.lower()
    received = request.received_ms
    profile = await ctx.store.transact(lambda tx: profile_for_uuid(tx, key.workspace_id, uuid, received))
    token = ctx.tokens.issue_profile_token(key.workspace_id, key.id, profile.client_id, uuid, login.device_id)
    return json_response({"token": token})


async def client_refresh(ctx: Context, request: Request, credential: Credential, body: Any) -> Response:
    """`POST /sauth/v3/auth/refresh/client`: a valid profile token + an active profile key of its workspace."""
    scheme, _, token = (request.headers.get("authorization") or "").partition(" ")
    if credential.kind != "profile" or scheme.lower() != "bearer":
        raise TokenKindNotAllowed("Only a profile token can be refreshed here")
    api_key = api_key_field(body)
    key = await ctx.authn.key_by_secret(api_key)
    if (
        key is None
        or key.revoked_ms is not None
        or key.kind != "profile"
        or key.workspace_id != credential.workspace_id
    ):
        raise Unauthorized("Invalid API key", field="apiKey")
    claims = ctx.tokens.verify(token.strip())
    assert credential.client_id is not None
    profile = await ctx.store.profile(credential.workspace_id, credential.client_id)
    if profile is None:
        raise Unauthorized()
    fresh = ctx.tokens.refresh(claims)
    refreshed = ctx.tokens.verify(fresh)
    return json_response(
        {
            "token": fresh,
            "expiration": refreshed.exp,
            "created": refreshed.iat * 1000,
            "origin": "SYNERISE",
            "customId": profile.custom_id,
            "realm": "client",
        }
    )


def profile_json(p: ProfileDetails) -> dict[str, Any]:
    return {
        "clientId": p.client_id,
        "uuid": p.primary_uuid,
        "uuids": p.uuids,
        "customId": p.custom_id,
        "email": p.email,
        "anonymous": p.email is None,
        "createdAt": format_ms(p.created_ms),
        "updatedAt": format_ms(p.updated_ms),
        **profile_data_view(p.data),  # §9.6 fields
    }


async def _profile_response(ctx: Context, workspace_id: int, client_ids: tuple[int, ...]) -> Response:
    details = await ctx.store.profile_details(workspace_id, client_ids[0]) if client_ids else None
    if details is None:
        raise NotFound("Profile not found")
    return json_response(profile_json(details))


async def client_by_id(ctx: Context, request: Request, credential: Credential, body: Any) -> Response:
    client_id = query.positive_int(request.path_params["clientId"], "clientId")
    return await _profile_response(ctx, credential.workspace_id, (client_id,))


async def client_by_custom_id(ctx: Context, request: Request, credential: Credential, body: Any) -> Response:
    # ASGI paths arrive percent-decoded; §3.2 trims the identifier of a lookup as it does a write's.
    custom_id = lookup_identifier(request.path_params["customId"], "customId", "Custom id")
    ids = await ctx.store.find_client_ids(credential.workspace_id, custom_id=custom_id)
    return await _profile_response(ctx, credential.workspace_id, ids)


async def client_by_email(ctx: Context, request: Request, credential: Credential, body: Any) -> Response:
    email = lookup_identifier(request.path_params["email"], "email", "Email")
    ids = await ctx.store.find_client_ids(credential.workspace_id, email=email)
    return await _profile_response(ctx, credential.workspace_id, ids)


async def clients_batch(ctx: Context, request: Request, credential: Credential, body: Any) -> Response:
    """`POST /v4/clients/batch` (§9.6): each element upserts one profile; limits and modes of §5.2–§5.4."""
    return await run_batch(ctx, request, credential, body, validate_profile)
