"""Profile-token endpoints (docs/api.md §2.2 `/sauth/…`), reading profiles (§9.5), the profile batch (§9.6) and
`POST /v4/clients` (§9.7)."""

from __future__ import annotations

from typing import Any

from tracktion.domain.identity import profile_for_uuid
from tracktion.domain.models import ClientRef, Credential, ProfileIn
from tracktion.domain.ports import ProfileDetails
from tracktion.domain.profiles import view as profile_data_view
from tracktion.domain.timefmt import format_ms
from tracktion.errors import NotFound, TokenKindNotAllowed, Unauthorized
from tracktion.http import query
from tracktion.http.batch import run_batch
from tracktion.http.context import Context
from tracktion.http.request import ACCEPTED, Request, Response, json_response
from tracktion.http.writes import commit, edge_item, write_request
from tracktion.schemas.client import lookup_identifier
from tracktion.schemas.login import api_key_field, validate_anonymous_login
from tracktion.schemas.profile import ignored_keys, validate_profile


async def anonymous_login(ctx: Context, request: Request, body: Any) -> Response:
    """`POST /sauth/v3/auth/login/client/anonymous`: profile API key + uuid → a profile token."""
    login = validate_anonymous_login(body)
    key = await ctx.authn.key_by_secret(login.api_key)
    if key is None or key.revoked_ms is not None or key.kind != "profile":
        raise Unauthorized("Invalid API key", field="apiKey")
    uuid = login.uuid.lower()
    if ctx.suppressions is not None and await ctx.suppressions.names_suppressed(
        key.workspace_id, ClientRef(uuid=uuid)
    ):
        # §15.1: a suppressed uuid must not bring its profile back. A login cannot be answered "as if it had
        # worked" (a token needs a profile), so it is refused like a bad credential, without saying why.
        raise Unauthorized(field="uuid")
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


def _profile_not_found() -> NotFound:
    return NotFound("Profile not found")


async def _profile_response(ctx: Context, workspace_id: int, client_ids: tuple[int, ...]) -> Response:
    details = await ctx.store.profile_details(workspace_id, client_ids[0]) if client_ids else None
    if details is None:
        raise _profile_not_found()
    return json_response(profile_json(details))


async def client_by_id(ctx: Context, request: Request, credential: Credential, body: Any) -> Response:
    client_id = query.path_id(request.path_params["clientId"], "clientId", _profile_not_found)
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


IGNORED_KEYS_HEADER = b"x-tracktion-ignored-keys"
IGNORED_KEYS_SHOWN = 20  # §9.7: "comma-separated, first 20"
_KEY_CHARS_SHOWN = 256  # like a §1.6 rejectedValue, a key is cut to 256 characters


def _header_text(path: str) -> str:
    """One key path as header text. Keys are any JSON string, and a header value must stay one line of
    visible ASCII: every byte outside `!`…`~`, and `,` (the separator) and `%`, is percent-encoded (UTF-8;
    a lone surrogate as its surrogate-pass bytes), like a URL. `area_code` and `[3].firstname` stay as they are."""
    raw = path[:_KEY_CHARS_SHOWN].encode("utf-8", "surrogatepass")
    return "".join(chr(b) if 0x21 <= b <= 0x7E and b not in (0x25, 0x2C) else f"%{b:02X}" for b in raw)


def with_ignored_keys(response: Response, paths: list[str]) -> Response:
    """§9.7: the answer names the keys tracktion did not know and ignored (absent when there were none)."""
    if not paths:
        return response
    value = ", ".join(_header_text(p) for p in paths[:IGNORED_KEYS_SHOWN]).encode("ascii")
    # A new Response: `ACCEPTED` is shared by every write handler and must never change.
    return Response(response.status, response.body, [*response.headers, (IGNORED_KEYS_HEADER, value)])


def _profile_body(obj: Any) -> ProfileIn:
    return validate_profile(obj, item=False)


async def create_client(ctx: Context, request: Request, credential: Credential, body: Any) -> Response:
    """`POST /v4/clients` (§9.7): one profile with the rules of one §9.6 element; 202, or 400 with every error.

    Like an element it upserts (identity of §9.2–§9.4, then its data merged), and a lone unknown `clientId`
    creates nothing: it is quarantined and answered 202 (§9.6).
    """
    await commit(ctx, write_request(request, credential, [edge_item(_profile_body, body)]))
    return with_ignored_keys(ACCEPTED, ignored_keys(body))


async def clients_batch(ctx: Context, request: Request, credential: Credential, body: Any) -> Response:
    """`POST /v4/clients/batch` (§9.6): each element upserts one profile; limits and modes of §5.2–§5.4."""
    response = await run_batch(ctx, request, credential, body, validate_profile)
    # Reached only when the batch was stored (202, or 207 in partial mode), so `body` is its list of elements.
    ignored = [f"[{i}].{key}" for i, element in enumerate(body) for key in ignored_keys(element)]
    return with_ignored_keys(response, ignored)
