"""The one route table: Synerise's paths verbatim, tracktion's own under `/-/` (docs/api.md §1.1, §2.5).

Each entry also carries what the OpenAPI description says of it (`Doc`: body schema, query parameters,
success answers, the error statuses only it answers); `tracktion.http.openapi` only assembles them. The
body schemas are built next to their validators and cached there, so building a table costs little more
than registering its handlers.
"""

from __future__ import annotations

from dataclasses import replace

from tracktion.auth.permissions import sorted_permissions
from tracktion.catalog import load_catalog
from tracktion.http import (
    batch,
    destinations,
    explore,
    lifecycle,
    openapi,
    profiles,
    public,
    reads,
    stream,
    tokens,
    transactions,
    ui,
)
from tracktion.http.batch import PARTIAL
from tracktion.http.events import ai_compat_event, single_event
from tracktion.http.query import ACTIONS, CURSOR, LIMIT, POSITIVE_INT, query_param, time_query
from tracktion.http.routing import (
    Admin,
    Authenticated,
    AuthenticatedHandler,
    Doc,
    Public,
    Router,
    UnauthenticatedHandler,
)
from tracktion.relay.config import DESTINATION_BODY, DESTINATION_PATCH_BODY
from tracktion.schemas.ai_compat import ai_compat_batch_schema, ai_compat_schema
from tracktion.schemas.batch import batch_of
from tracktion.schemas.envelope import envelope_schema, events_batch_schema
from tracktion.schemas.login import ANONYMOUS_LOGIN_BODY, LOGIN_BODY
from tracktion.schemas.openapi_shapes import JsonSchema, ref
from tracktion.schemas.profile import PROFILE_ELEMENT
from tracktion.schemas.responses import (
    ACCEPTED,
    BATCH_ANSWERS,
    CLIENT_TOKEN,
    ERASURE_ACCEPTED,
    ERASURE_RECEIPT,
    JWKS,
    REPLAY_ACCEPTED,
    SERVER_TIME,
    STATS,
    TOKEN,
    array_of,
    ignored_keys_answers,
    json_answer,
    ok,
    page,
)
from tracktion.schemas.transaction import transaction_schema

EVENTS_READ = "API_EVENTS_READ"
CLIENT_READ = "API_CLIENT_READ"
CLIENT_DELETE = "API_CLIENT_DELETE"
BOTH = frozenset({"workspace", "profile"})
PROFILE = frozenset({"profile"})
WORKSPACE = frozenset({"workspace"})


def _write(
    handler: AuthenticatedHandler, permission: str, doc: Doc, kinds: frozenset[str] = BOTH
) -> Authenticated:
    return Authenticated(handler, permission=permission, kinds=kinds, body=True, write=True, doc=doc)


def _read(handler: AuthenticatedHandler, doc: Doc, permission: str | None = EVENTS_READ) -> Authenticated:
    return Authenticated(handler, permission=permission, doc=doc)


def _batch(body: JsonSchema, errors: tuple[int, ...] = ()) -> Doc:
    """A batch (§5): 202, or 207 with `?partial=true`."""
    return Doc(BATCH_ANSWERS, body=body, query=(PARTIAL,), errors=errors)


def build_router(admin: bool = False) -> Router:
    r = Router()
    # Public (§13.1) and token endpoints (§2.2): no credential.
    r.add("GET", "/-/health", Public(public.health, doc=Doc(ok({"const": {"status": "ok"}}))))
    r.add("GET", "/-/ready", Public(public.ready, doc=Doc(ok({"const": {"status": "ready"}}), errors=(503,))))
    text = {
        "description": "Prometheus text format 0.0.4 (§13.1)",
        "content": {"text/plain": {"schema": {"type": "string"}}},
    }
    # 401 only when TRACKTION_METRICS_TOKEN is set and not given as the bearer token.
    r.add("GET", "/-/metrics", Public(public.metrics, doc=Doc({"200": text}, errors=(401, 404))))
    r.add("GET", "/-/jwks.json", Public(tokens.jwks, doc=Doc(ok(JWKS))))
    description = ok({"type": "object", "required": ["openapi", "paths"]})
    r.add("GET", "/-/openapi.json", Public(openapi.document(r), doc=Doc(description)))
    login = Doc(ok(TOKEN), body=LOGIN_BODY, errors=(401, 503))
    r.add("POST", "/uauth/v2/auth/login/profile", Public(tokens.workspace_login(), body=True, doc=login))
    deprecated = Public(
        tokens.workspace_login(deprecated=True), body=True, doc=replace(login, deprecated=True)
    )
    r.add("POST", "/v4/auth/login/profile", deprecated)
    r.add(
        "GET",
        "/v4/auth/refresh/profile",
        Authenticated(tokens.workspace_refresh, kinds=BOTH, doc=Doc(ok(TOKEN))),
    )
    anonymous = Public(
        profiles.anonymous_login, body=True, doc=Doc(ok(TOKEN), body=ANONYMOUS_LOGIN_BODY, errors=(401, 503))
    )
    r.add("POST", "/sauth/v3/auth/login/client/anonymous", anonymous)
    r.add("POST", "/sauth/v2/auth/login/client/anonymous", anonymous)  # the older documented path
    client_refresh = Authenticated(
        profiles.client_refresh, kinds=BOTH, body=True, doc=Doc(ok(CLIENT_TOKEN), body=LOGIN_BODY)
    )
    r.add("POST", "/sauth/v3/auth/refresh/client", client_refresh)
    r.add("POST", "/sauth/v2/auth/refresh/client", client_refresh)  # Synerise's Data Management client (§2.2)
    # §8.3: public, store-free (no 503); the /v4/ prefix still means Api-Version is checked (400).
    r.add("GET", "/v4/server/time", Public(public.server_time, doc=Doc(ok(SERVER_TIME))))

    # Event writes: one generic handler per catalog row (§4.1), ai-compat rows with their flat schema (§4.3).
    for row in load_catalog():
        doc = Doc(
            ACCEPTED,
            body=ai_compat_schema(row) if row.is_ai_compat else envelope_schema(row),
            summary=f"{row.default_label} → `{row.action or 'action from the body'}`",
            description="Legacy endpoint of Synerise's older Data Management API (§4.1)."
            if row.legacy
            else None,
        )
        handler = ai_compat_event(row) if row.is_ai_compat else single_event(row)
        r.add("POST", row.path, _write(handler, row.permission, doc))
    r.add(
        "POST",
        "/v4/events/batch",
        _write(batch.events_batch, "API_BATCH_EVENTS_CREATE", _batch(events_batch_schema())),
    )
    r.add(
        "POST",
        "/v4/events/ai-compat/batch",
        _write(batch.ai_compat_batch, "API_AI_COMPAT_BATCH_EVENTS_CREATE", _batch(ai_compat_batch_schema())),
    )

    # Transactions (§6): workspace credentials only.
    one = Doc(ACCEPTED, body=transaction_schema())
    r.add(
        "POST", "/v4/transactions", _write(transactions.transaction, "API_TRANSACTION_CREATE", one, WORKSPACE)
    )
    many = _batch(batch_of(transaction_schema()))
    r.add(
        "POST",
        "/v4/transactions/batch",
        _write(transactions.transactions_batch, "API_BATCH_TRANSACTION_CREATE", many, WORKSPACE),
    )

    # Reads (§8, §13.2–13.4).
    by_profile = (time_query("time[from]"), time_query("time[to]"), ACTIONS, LIMIT)
    events = Doc(ok(array_of("Event")), query=by_profile, errors=(404,))
    r.add("GET", "/v4/events/by-client/{clientId}", _read(reads.events_by_client, events))
    r.add("GET", "/v4/events", Authenticated(reads.own_events, kinds=PROFILE, doc=events))
    search = (
        ACTIONS,
        query_param("clientId", POSITIVE_INT),
        query_param("uuid", {"type": "string"}),
        query_param("customId", {"type": "string"}),
        query_param("email", {"type": "string"}),
        time_query("from"),
        time_query("to"),
        query_param("endpoint", {"type": "string"}),
        query_param(
            "param", {"type": "string"}, "`<name>:<JSON value>`, exact match on a top-level param", many=True
        ),
        query_param("order", {"enum": ["time", "seq"], "default": "time"}, "`seq`: newest arrivals first"),
        LIMIT,
        CURSOR,
    )
    r.add("GET", "/-/api/events", _read(reads.search_events, Doc(ok(page("EventExtended")), query=search)))
    stats_query = (
        time_query("from"),
        time_query("to"),
        query_param("bucket", {"enum": ["minute", "hour", "day"], "default": "hour"}),
        query_param("by", {"enum": ["action", "kind", "reason"], "default": "action"}),
        query_param("top", {"type": "integer", "minimum": 1, "maximum": 50, "default": 10}),
    )
    r.add("GET", "/-/api/stats", _read(explore.get_stats, Doc(ok(STATS), query=stats_query)))
    sse = {
        "description": "Server-sent events of committed writes (§13.5); never ends by itself",
        "content": {"text/event-stream": {"schema": {"type": "string"}}},
    }
    live = Doc(
        {"200": sse},
        query=(
            ACTIONS,
            query_param("clientId", POSITIVE_INT),
            query_param("include", {"enum": ["quarantine"]}),
        ),
        headers=({"name": "Last-Event-ID", "in": "header", "required": False, "schema": {"type": "string"}},),
    )
    r.add("GET", "/-/api/stream", _read(stream.stream, live))
    r.add("GET", "/-/api/events/{uuid}", _read(reads.get_event, Doc(ok(ref("EventExtended")), errors=(404,))))
    definitions = (query_param("kind", {"type": "string"}), query_param("prefix", {"type": "string"}))
    r.add(
        "GET",
        "/-/api/definitions",
        _read(reads.list_definitions, Doc(ok(array_of("Definition")), query=definitions)),
    )
    r.add(
        "GET",
        "/-/api/definitions/{action}",
        _read(reads.get_definition, Doc(ok(ref("Definition")), errors=(404,))),
    )
    quarantine = (
        query_param("reason", {"type": "string"}),
        query_param("endpoint", {"type": "string"}),
        time_query("from"),
        time_query("to"),
        LIMIT,
        CURSOR,
    )
    r.add(
        "GET",
        "/-/api/quarantine",
        _read(reads.list_quarantine, Doc(ok(page("QuarantineRecord")), query=quarantine)),
    )
    record = Doc(ok(ref("QuarantineRecord")), errors=(404,))
    r.add("GET", "/-/api/quarantine/{id}", _read(reads.get_quarantine, record))
    deleted = Doc({"204": {"description": "Deleted"}}, errors=(404,))
    r.add(
        "DELETE", "/-/api/quarantine/{id}", _read(reads.delete_quarantine, deleted, "API_QUARANTINE_DELETE")
    )

    # Profiles (§9.5).
    profile = Doc(ok(ref("Profile")), errors=(404,))
    r.add("GET", "/v4/clients/{clientId}", _read(profiles.client_by_id, profile, CLIENT_READ))
    listed = (query_param("prefix", {"type": "string", "minLength": 1, "maxLength": 256}), LIMIT, CURSOR)
    r.add(
        "GET",
        "/-/api/profiles",
        _read(explore.list_profiles, Doc(ok(page("Profile")), query=listed), CLIENT_READ),
    )
    r.add(
        "GET", "/v4/clients/by-customid/{customId}", _read(profiles.client_by_custom_id, profile, CLIENT_READ)
    )
    r.add("GET", "/v4/clients/by-email/{email}", _read(profiles.client_by_email, profile, CLIENT_READ))
    # Profile writes (§9.6, §9.7): their answers may name the keys they ignored (X-Tracktion-Ignored-Keys).
    elements = Doc(ignored_keys_answers(BATCH_ANSWERS), body=batch_of(PROFILE_ELEMENT), query=(PARTIAL,))
    r.add(
        "POST",
        "/v4/clients/batch",
        _write(profiles.clients_batch, "API_BATCH_CLIENT_CREATE", elements, WORKSPACE),
    )
    # §9.7: a key holding the batch permission may create one profile too (keys made before
    # API_CLIENT_CREATE existed hold the batch one).
    one_profile = Doc(ignored_keys_answers(ACCEPTED), body=PROFILE_ELEMENT)
    create = _write(profiles.create_client, "API_CLIENT_CREATE", one_profile, WORKSPACE)
    r.add("POST", "/v4/clients", replace(create, also_permitted=frozenset({"API_BATCH_CLIENT_CREATE"})))

    # Data lifecycle (§15.1, §9.7): erasures and suppressions, workspace credentials only.
    receipt = Doc(ERASURE_RECEIPT, errors=(404,))
    r.add("DELETE", "/v4/clients/{clientId}", _read(lifecycle.delete_client, receipt, CLIENT_DELETE))
    erase = Authenticated(
        lifecycle.create_erasure,
        permission=CLIENT_DELETE,
        body=True,
        doc=Doc(ERASURE_ACCEPTED, body=lifecycle.ERASURE_BODY, errors=(404,)),
    )
    r.add("POST", "/-/api/erasures", erase)
    r.add(
        "GET", "/-/api/erasures", _read(lifecycle.list_erasures, Doc(ok(array_of("Erasure"))), CLIENT_DELETE)
    )
    erasure = Doc(ok(ref("Erasure")), errors=(404,))
    r.add("GET", "/-/api/erasures/{id}", _read(lifecycle.get_erasure, erasure, CLIENT_DELETE))
    suppressions = Doc(ok(array_of("Suppression")))
    r.add("GET", "/-/api/suppressions", _read(lifecycle.list_suppressions, suppressions, CLIENT_DELETE))
    lifted = Doc({"204": {"description": "Lifted"}}, errors=(404,))
    r.add("DELETE", "/-/api/suppressions/{id}", _read(lifecycle.delete_suppression, lifted, CLIENT_DELETE))
    _destination_routes(r)
    if admin:
        _admin_routes(r)
    ui.register_ui(r)  # §13.6: the event debugger's static files, no credential
    return r


def _destination_routes(r: Router) -> None:
    """§14.1, §14.3: the relay's destinations; workspace credentials only."""
    read, manage = "API_DESTINATIONS_READ", "API_DESTINATIONS_MANAGE"
    base = "/-/api/destinations"

    def route(handler: AuthenticatedHandler, permission: str, doc: Doc, body: bool = False) -> Authenticated:
        return Authenticated(handler, permission=permission, kinds=WORKSPACE, body=body, doc=doc)

    one = Doc(ok(ref("Destination")), errors=(404,))
    created = Doc({"201": json_answer(ref("Destination"), "Created")}, body=DESTINATION_BODY)
    r.add("POST", base, route(destinations.create, manage, created, body=True))
    r.add("GET", base, route(destinations.list_all, read, Doc(ok(array_of("Destination")))))
    r.add("GET", base + "/{id}", route(destinations.get_one, read, one))
    patched = replace(one, body=DESTINATION_PATCH_BODY)
    r.add("PATCH", base + "/{id}", route(destinations.patch, manage, patched, body=True))
    deleted = Doc({"204": {"description": "Deleted"}}, errors=(404,))
    r.add("DELETE", base + "/{id}", route(destinations.delete, manage, deleted))
    r.add("POST", base + "/{id}/pause", route(destinations.pause, manage, one))
    r.add("POST", base + "/{id}/resume", route(destinations.resume, manage, one))
    status = Doc(ok(ref("DestinationStatus")), errors=(404,))
    r.add("GET", base + "/{id}/status", route(destinations.status, read, status))
    failures = Doc(ok(page("RelayFailure")), query=(LIMIT, CURSOR), errors=(404,))
    r.add("GET", base + "/{id}/failures", route(destinations.failures, read, failures))
    replay = Doc(
        {"202": json_answer(REPLAY_ACCEPTED, "Accepted")}, body=destinations.REPLAY_BODY, errors=(404,)
    )
    r.add("POST", base + "/{id}/replay", route(destinations.replay, manage, replay, body=True))
    r.add(
        "GET",
        base + "/{id}/replays/{replayId}",
        route(destinations.get_replay, read, Doc(ok(ref("Replay")), errors=(404,))),
    )


def _admin_routes(r: Router) -> None:
    """§13.7: only registered when `TRACKTION_ADMIN_TOKEN` is set, so otherwise every path is a plain 404."""
    from tracktion.http import admin

    def endpoint(handler: UnauthenticatedHandler, doc: Doc, body: bool = False) -> Admin:
        return Admin(handler, body=body, doc=doc)

    created_workspace = Doc({"201": json_answer(ref("Workspace"), "Created")}, body=admin.WORKSPACE_BODY)
    r.add("POST", "/-/admin/workspaces", endpoint(admin.create_workspace, created_workspace, body=True))
    r.add("GET", "/-/admin/workspaces", endpoint(admin.list_workspaces, Doc(ok(array_of("Workspace")))))
    retention = Doc(ok(ref("Workspace")), body=lifecycle.RETENTION_BODY, errors=(404,))
    r.add(
        "PATCH", "/-/admin/workspaces/{id}", endpoint(lifecycle.patch_workspace, retention, body=True)
    )  # §15.2
    created_key = Doc({"201": json_answer(ref("ApiKey"), "Created")}, body=admin.API_KEY_BODY, errors=(404,))
    r.add("POST", "/-/admin/workspaces/{id}/api-keys", endpoint(admin.create_api_key, created_key, body=True))
    keys = Doc(ok(array_of("ApiKey")), errors=(404,))
    r.add("GET", "/-/admin/workspaces/{id}/api-keys", endpoint(admin.list_api_keys, keys))
    revoked = Doc({"204": {"description": "Revoked"}}, errors=(404,))
    r.add("DELETE", "/-/admin/api-keys/{keyId}", endpoint(admin.revoke_api_key, revoked))
    names = Doc(ok({"type": "array", "items": {"enum": sorted_permissions()}}))
    r.add("GET", "/-/admin/permissions", endpoint(admin.permissions, names))
