"""The one route table: Synerise's paths verbatim, tracktion's own under `/-/` (contract §1.1, §2.5)."""

from __future__ import annotations

from functools import partial

from tracktion.catalog import load_catalog
from tracktion.http import batch, openapi, profiles, public, reads, stream, tokens, transactions, ui
from tracktion.http.events import ai_compat_event, single_event
from tracktion.http.routing import (
    Admin,
    Authenticated,
    AuthenticatedHandler,
    Public,
    Router,
    UnauthenticatedHandler,
)

EVENTS_READ = "API_EVENTS_READ"
CLIENT_READ = "API_CLIENT_READ"
BOTH = frozenset({"workspace", "profile"})
PROFILE = frozenset({"profile"})
WORKSPACE = frozenset({"workspace"})


def _write(handler: AuthenticatedHandler, permission: str, kinds: frozenset[str] = BOTH) -> Authenticated:
    return Authenticated(handler, permission=permission, kinds=kinds, body=True, write=True)


def _read(handler: AuthenticatedHandler, permission: str | None = EVENTS_READ) -> Authenticated:
    return Authenticated(handler, permission=permission)


def build_router(admin: bool = False) -> Router:
    r = Router()
    # Public (§13.1) and token endpoints (§2.2): no credential.
    r.add("GET", "/-/health", Public(public.health))
    r.add("GET", "/-/ready", Public(public.ready))
    r.add("GET", "/-/metrics", Public(public.metrics))
    r.add("GET", "/-/jwks.json", Public(tokens.jwks))
    r.add("GET", "/-/openapi.json", Public(partial(openapi.document, router=r)))
    login = Public(tokens.workspace_login, body=True)
    r.add("POST", "/uauth/v2/auth/login/profile", login)
    deprecated_login = Public(partial(tokens.workspace_login, deprecated=True), body=True)
    r.add("POST", "/v4/auth/login/profile", deprecated_login)
    r.add("GET", "/v4/auth/refresh/profile", Authenticated(tokens.workspace_refresh, kinds=BOTH))
    anonymous = Public(profiles.anonymous_login, body=True)
    r.add("POST", "/sauth/v3/auth/login/client/anonymous", anonymous)
    r.add("POST", "/sauth/v2/auth/login/client/anonymous", anonymous)  # the older documented path
    r.add(
        "POST", "/sauth/v3/auth/refresh/client", Authenticated(profiles.client_refresh, kinds=BOTH, body=True)
    )

    # Event writes: one generic handler per catalog row (§4.1), ai-compat rows with their flat schema (§4.3).
    for row in load_catalog():
        handler = partial(ai_compat_event if row.is_ai_compat else single_event, row=row)
        r.add("POST", row.path, _write(handler, row.permission))
    r.add("POST", "/v4/events/batch", _write(batch.events_batch, "API_BATCH_EVENTS_CREATE"))
    r.add(
        "POST",
        "/v4/events/ai-compat/batch",
        _write(batch.ai_compat_batch, "API_AI_COMPAT_BATCH_EVENTS_CREATE"),
    )

    # Transactions (§6): workspace credentials only.
    r.add("POST", "/v4/transactions", _write(transactions.transaction, "API_TRANSACTION_CREATE", WORKSPACE))
    r.add(
        "POST",
        "/v4/transactions/batch",
        _write(transactions.transactions_batch, "API_BATCH_TRANSACTION_CREATE", WORKSPACE),
    )

    # Reads (§8, §13.2–13.4).
    r.add("GET", "/v4/events/by-client/{clientId}", _read(reads.events_by_client))
    r.add("GET", "/v4/events", Authenticated(reads.own_events, kinds=PROFILE))
    r.add("GET", "/-/api/events", _read(reads.search_events))
    r.add("GET", "/-/api/stream", _read(stream.stream))
    r.add("GET", "/-/api/events/{uuid}", _read(reads.get_event))
    r.add("GET", "/-/api/definitions", _read(reads.list_definitions))
    r.add("GET", "/-/api/definitions/{action}", _read(reads.get_definition))
    r.add("GET", "/-/api/quarantine", _read(reads.list_quarantine))
    r.add("GET", "/-/api/quarantine/{id}", _read(reads.get_quarantine))
    r.add("DELETE", "/-/api/quarantine/{id}", _read(reads.delete_quarantine, "API_QUARANTINE_DELETE"))

    # Profiles (§9.5).
    r.add("GET", "/v4/clients/{clientId}", _read(profiles.client_by_id, CLIENT_READ))
    r.add("GET", "/v4/clients/by-customid/{customId}", _read(profiles.client_by_custom_id, CLIENT_READ))
    r.add("GET", "/v4/clients/by-email/{email}", _read(profiles.client_by_email, CLIENT_READ))
    r.add("POST", "/v4/clients/batch", _write(profiles.clients_batch, "API_BATCH_CLIENT_CREATE", WORKSPACE))
    if admin:
        _admin_routes(r)
    ui.register_ui(r)  # §13.6: the event debugger's static files, no credential
    return r


def _admin_routes(r: Router) -> None:
    """§13.7: only registered when `TRACKTION_ADMIN_TOKEN` is set, so otherwise every path is a plain 404."""
    from tracktion.http import admin

    def endpoint(handler: UnauthenticatedHandler, body: bool = False) -> Admin:
        return Admin(handler, body=body)

    r.add("POST", "/-/admin/workspaces", endpoint(admin.create_workspace, body=True))
    r.add("GET", "/-/admin/workspaces", endpoint(admin.list_workspaces))
    r.add("POST", "/-/admin/workspaces/{id}/api-keys", endpoint(admin.create_api_key, body=True))
    r.add("GET", "/-/admin/workspaces/{id}/api-keys", endpoint(admin.list_api_keys))
    r.add("DELETE", "/-/admin/api-keys/{keyId}", endpoint(admin.revoke_api_key))
    r.add("GET", "/-/admin/permissions", endpoint(admin.permissions))
