"""`GET /-/openapi.json`: an OpenAPI 3.1 description of every route, generated, never written twice.

Where each part comes from:

* paths, methods, authentication, permissions, which routes take a body and which write: the route table
  (`Router.routes()`, built by `tracktion.http.routes`), so a route added there is described here;
* event request bodies: the catalog rows (`catalog.json`: action, required and typed params), compiled the
  way `tracktion.schemas.params` compiles them (money objects, `source`, `searchType`, ranges);
* the patterns and limits of every field: the constants the validators use (`tracktion.schemas.*`, the
  time grammar, batch and body limits, the `Api-Version` and `X-Request-Id` patterns, permission names);
* the error body: the shape `tracktion.errors.error_body` renders, on every 4xx/5xx.

Response bodies of the read endpoints follow the `*_json` functions of their handlers; the schemathesis run
in the test suite (`tests/reliability/test_openapi_fuzz.py`) checks every answer of the live server against
this document, so a drift on either side fails there. A handler this module does not know still gets a
description from its route entry (auth, body, error responses) with a free-form success response.
"""

from __future__ import annotations

import functools
import inspect
import re
from collections.abc import Callable
from typing import Any

import msgspec

from tracktion import __version__
from tracktion.auth.permissions import sorted_permissions
from tracktion.catalog import CatalogRow
from tracktion.http import admin, batch, events, profiles, public, reads, stream, tokens, transactions, ui
from tracktion.http.context import Context
from tracktion.http.headers import API_VERSION_RE, API_VERSIONED_PREFIXES
from tracktion.http.request import REQUEST_ID_RE, Request, Response
from tracktion.http.routing import Authenticated, Endpoint, Router
from tracktion.schemas import responses
from tracktion.schemas.ai_compat import ai_compat_batch_schema, ai_compat_schema
from tracktion.schemas.batch import batch_of
from tracktion.schemas.body import BODY_LIMIT, MAX_DEPTH
from tracktion.schemas.client import CLIENT
from tracktion.schemas.common import TIME
from tracktion.schemas.envelope import envelope_schema, events_batch_schema
from tracktion.schemas.login import ANONYMOUS_LOGIN_BODY, LOGIN_BODY
from tracktion.schemas.openapi_shapes import JsonSchema, anchored, ref
from tracktion.schemas.profile import PROFILE_ELEMENT
from tracktion.schemas.responses import BATCH_ANSWERS, CLIENT_TOKEN, JWKS, TOKEN, array_of, json_answer, page
from tracktion.schemas.transaction import transaction_schema

INT64_MAX = 2**63 - 1
# `check_api_version`: `API_VERSION_RE` with a minor version of at most 4.
API_VERSION_PATTERN = API_VERSION_RE.pattern.replace(r"4\.(\d+)", r"4\.(0*[0-4])")
COMPONENTS: dict[str, JsonSchema] = {
    "Client": CLIENT,
    "Error": responses.ERROR,
    "ErrorEntry": responses.ERROR_ENTRY,
    "Event": responses.EVENT,
    "EventExtended": responses.EVENT_EXTENDED,
    "Definition": responses.DEFINITION,
    "QuarantineRecord": responses.QUARANTINE_RECORD,
    "Profile": responses.PROFILE,
    "BatchResult": responses.BATCH_RESULT,
    "Workspace": responses.WORKSPACE,
    "ApiKey": responses.API_KEY,
}


# -- operations -----------------------------------------------------------------------------------------
def _q(name: str, schema: JsonSchema, description: str = "", *, many: bool = False) -> JsonSchema:
    param: JsonSchema = {"name": name, "in": "query", "required": False, "schema": schema}
    if many:
        param.update(schema={"type": "array", "items": schema}, style="form", explode=True)
    if description:
        param["description"] = description
    return param


LIMIT = _q("limit", {"type": "integer", "minimum": 1, "maximum": 1000, "default": 100})
CURSOR = _q("cursor", {"type": "string"}, "opaque, from `nextCursor`")
ACTIONS = _q("action", {"type": "string"}, "any of these actions", many=True)
PARTIAL = _q(
    "partial", {"enum": ["true", "false", "1", "0"]}, "partial mode (§5.4): 207 with a result per item"
)


@functools.cache
def _handler_specs() -> dict[Callable[..., Any], JsonSchema]:
    """What the route table does not say: request bodies, query parameters and success responses."""
    accepted = responses.ACCEPTED
    batch_answers = BATCH_ANSWERS
    login_body = LOGIN_BODY
    event_filters = [
        _q("time[from]", TIME),
        _q("time[to]", TIME),
        ACTIONS,
        LIMIT,
    ]
    return {
        public.health: {"responses": {"200": json_answer({"const": {"status": "ok"}})}},
        public.ready: {"responses": {"200": json_answer({"const": {"status": "ready"}})}, "errors": [503]},
        public.metrics: {
            "responses": {
                "200": {
                    "description": "Prometheus text format 0.0.4 (§13.1)",
                    "content": {"text/plain": {"schema": {"type": "string"}}},
                }
            },
            "errors": [401],  # only when TRACKTION_METRICS_TOKEN is set and not given as the bearer token
        },
        tokens.jwks: {"responses": {"200": json_answer(JWKS)}},
        tokens.workspace_login: {
            "body": login_body,
            "responses": {"200": json_answer(TOKEN)},
            "errors": [401, 503],
        },
        tokens.workspace_refresh: {"responses": {"200": json_answer(TOKEN)}},
        profiles.anonymous_login: {
            "body": ANONYMOUS_LOGIN_BODY,
            "responses": {"200": json_answer(TOKEN)},
            "errors": [401, 503],
        },
        profiles.client_refresh: {"body": login_body, "responses": {"200": json_answer(CLIENT_TOKEN)}},
        events.single_event: {"responses": accepted},
        events.ai_compat_event: {"responses": accepted},
        batch.events_batch: {"body": events_batch_schema(), "query": [PARTIAL], "responses": batch_answers},
        batch.ai_compat_batch: {
            "body": ai_compat_batch_schema(),
            "query": [PARTIAL],
            "responses": batch_answers,
        },
        transactions.transaction: {"body": transaction_schema(), "responses": accepted},
        transactions.transactions_batch: {
            "body": batch_of(transaction_schema()),
            "query": [PARTIAL],
            "responses": batch_answers,
        },
        profiles.clients_batch: {
            "body": batch_of(PROFILE_ELEMENT),
            "query": [PARTIAL],
            "responses": batch_answers,
            "errors": [501],
        },
        reads.events_by_client: {
            "query": event_filters,
            "responses": {"200": json_answer(array_of("Event"))},
            "errors": [404],
        },
        reads.own_events: {
            "query": event_filters,
            "responses": {"200": json_answer(array_of("Event"))},
            "errors": [404],
        },
        reads.search_events: {
            "query": [
                ACTIONS,
                _q("clientId", {"type": "integer", "minimum": 1, "maximum": INT64_MAX}),
                _q("uuid", {"type": "string"}),
                _q("customId", {"type": "string"}),
                _q("email", {"type": "string"}),
                _q("from", TIME),
                _q("to", TIME),
                _q("endpoint", {"type": "string"}),
                LIMIT,
                CURSOR,
            ],
            "responses": {"200": json_answer(page("EventExtended"))},
        },
        reads.get_event: {"responses": {"200": json_answer(ref("EventExtended"))}, "errors": [404]},
        reads.list_definitions: {
            "query": [_q("kind", {"type": "string"}), _q("prefix", {"type": "string"})],
            "responses": {"200": json_answer(array_of("Definition"))},
        },
        reads.get_definition: {"responses": {"200": json_answer(ref("Definition"))}, "errors": [404]},
        reads.list_quarantine: {
            "query": [
                _q("reason", {"type": "string"}),
                _q("endpoint", {"type": "string"}),
                _q("from", TIME),
                _q("to", TIME),
                LIMIT,
                CURSOR,
            ],
            "responses": {"200": json_answer(page("QuarantineRecord"))},
        },
        reads.get_quarantine: {"responses": {"200": json_answer(ref("QuarantineRecord"))}, "errors": [404]},
        reads.delete_quarantine: {"responses": {"204": {"description": "Deleted"}}, "errors": [404]},
        stream.stream: {
            "query": [
                ACTIONS,
                _q("clientId", {"type": "integer", "minimum": 1, "maximum": INT64_MAX}),
                _q("include", {"enum": ["quarantine"]}),
            ],
            "headers": [
                {"name": "Last-Event-ID", "in": "header", "required": False, "schema": {"type": "string"}}
            ],
            "responses": {
                "200": {
                    "description": "Server-sent events of committed writes (§13.5); never ends by itself",
                    "content": {"text/event-stream": {"schema": {"type": "string"}}},
                }
            },
        },
        profiles.client_by_id: {"responses": {"200": json_answer(ref("Profile"))}, "errors": [404]},
        profiles.client_by_custom_id: {"responses": {"200": json_answer(ref("Profile"))}, "errors": [404]},
        profiles.client_by_email: {"responses": {"200": json_answer(ref("Profile"))}, "errors": [404]},
        ui.index: {"responses": {"200": {"description": "The debugger", "content": {"text/html": {}}}}},
        ui.asset: {
            "responses": {
                "200": {
                    "description": "A static file of the debugger",
                    "content": {ct.split(";")[0]: {} for ct in ui.ASSETS.values()},
                }
            },
            "errors": [404],
            "path": {"asset": {"type": "string", "enum": sorted(ui.ASSETS)}},
        },
        admin.create_workspace: {
            "body": admin.WORKSPACE_BODY,
            "responses": {"201": json_answer(ref("Workspace"), "Created")},
        },
        admin.list_workspaces: {"responses": {"200": json_answer(array_of("Workspace"))}},
        admin.create_api_key: {
            "body": admin.API_KEY_BODY,
            "responses": {"201": json_answer(ref("ApiKey"), "Created")},
            "errors": [404],
        },
        admin.list_api_keys: {
            "responses": {"200": json_answer(array_of("ApiKey"))},
            "errors": [404],
        },
        admin.revoke_api_key: {"responses": {"204": {"description": "Revoked"}}, "errors": [404]},
        admin.permissions: {
            "responses": {"200": json_answer({"type": "array", "items": {"enum": sorted_permissions()}})}
        },
        document: {"responses": {"200": json_answer({"type": "object", "required": ["openapi", "paths"]})}},
    }


_REASONS = {
    400: "Bad request (§1.2, §1.3, §3–§6)",
    401: "Missing, invalid or expired credentials",
    403: "Permission or token kind not allowed, or another profile's identifiers",
    404: "Not found",
    413: f"Body larger than {BODY_LIMIT} bytes, raw or decompressed",
    415: "Content-Type not application/json (UTF-8), or Content-Encoding not gzip/identity",
    501: "Not implemented",
    503: "Storage unavailable (5001) or write path overloaded (5002); retry after `Retry-After`",
}
_STORE_FREE = {public.health, tokens.jwks, ui.index, ui.asset}


def _error_response(status: int) -> JsonSchema:
    headers: JsonSchema = {"X-Request-Id": _REQUEST_ID_HEADER}
    if status == 401:
        headers["WWW-Authenticate"] = {"required": True, "schema": {"type": "string"}}
    if status == 503:
        headers["Retry-After"] = {"required": True, "schema": {"type": "string", "pattern": r"^\d+$"}}
    return {
        "description": _REASONS[status],
        "headers": headers,
        "content": {"application/json": {"schema": ref("Error")}},
    }


_REQUEST_ID_HEADER: JsonSchema = {
    "required": True,
    "description": "echoed when it matches the pattern, else a new UUID",
    "schema": {"type": "string", "pattern": anchored(REQUEST_ID_RE)},
}


def _base(handler: Any) -> tuple[Any, CatalogRow | None]:
    if isinstance(handler, functools.partial):
        return handler.func, handler.keywords.get("row")
    return handler, None


def operation(method: str, template: str, endpoint: Endpoint) -> JsonSchema:
    """The OpenAPI operation of one route entry."""
    base, row = _base(endpoint.handler)
    spec = _handler_specs().get(base)
    known = spec is not None
    spec = spec or {}
    doc = inspect.getdoc(base) or ""
    op: JsonSchema = {
        "operationId": f"{method.lower()}{re.sub(r'[^A-Za-z0-9]+', '_', template).rstrip('_')}",
        "summary": (
            f"{row.default_label} → `{row.action or 'action from the body'}`" if row else doc.split("\n")[0]
        )
        or f"{method} {template}",
        "tags": [_tag(template)],
    }
    if row is not None and row.legacy:
        op["description"] = "Legacy endpoint of Synerise's older Data Management API (§4.1)."
    if isinstance(endpoint.handler, functools.partial) and endpoint.handler.keywords.get("deprecated"):
        op["deprecated"] = True  # answered with `Deprecation: true` (§2.2)
    # security (§2)
    if endpoint.auth == "none":
        op["security"] = []
    elif endpoint.auth == "admin":
        op["security"] = [{"adminToken": []}]
    elif isinstance(endpoint, Authenticated):
        schemes: list[dict[str, list[str]]] = [{"bearerAuth": []}]
        if "workspace" in endpoint.kinds:
            schemes.append({"basicAuth": []})
        op["security"] = schemes
        kinds = " or ".join(sorted(endpoint.kinds))
        permission = (
            f"; permission `{endpoint.permission}` (workspace credentials)" if endpoint.permission else ""
        )
        op["description"] = (op.get("description", "") + f" Credentials: {kinds}{permission}.").strip()
    # parameters
    params: list[JsonSchema] = []
    for name in re.findall(r"\{([^}]+)\}", template):
        schema = spec.get("path", {}).get(name, {"type": "string", "minLength": 1})
        params.append({"name": name, "in": "path", "required": True, "schema": schema})
    params += spec.get("query", [])
    params += spec.get("headers", [])
    if template.startswith(API_VERSIONED_PREFIXES):
        params.append(
            {
                "name": "Api-Version",
                "in": "header",
                "required": False,
                "description": "4.0 … 4.4, optionally with a patch number (missing = 4.4)",
                "schema": {"type": "string", "pattern": API_VERSION_PATTERN},
            }
        )
    if params:
        op["parameters"] = params
    # request body
    if endpoint.body:
        if row is not None:
            body = ai_compat_schema(row) if row.is_ai_compat else envelope_schema(row)
        else:
            body = spec.get("body", {"description": "any JSON value"})
        op["requestBody"] = {
            "required": True,
            "description": (
                f"UTF-8 JSON, at most {BODY_LIMIT} bytes raw and decompressed, at most {MAX_DEPTH} levels deep;"
                " `Content-Encoding: gzip` for a gzip-compressed body"
            ),
            "content": {"application/json": {"schema": body}},
        }
    # responses
    responses: JsonSchema = {}
    for status, answer in spec.get(
        "responses", {"200": {"description": "OK", "content": {"*/*": {}}}}
    ).items():
        answer = dict(answer)
        answer.setdefault("headers", {})["X-Request-Id"] = _REQUEST_ID_HEADER
        responses[status] = answer
    errors: set[int] = set(spec.get("errors", []))
    if endpoint.auth in ("credential", "admin"):
        errors.add(401)
    if endpoint.auth == "credential":
        errors.add(403)
    if template.startswith(API_VERSIONED_PREFIXES) or "query" in spec or "{" in template:
        errors.add(400)
    if "{" in template:
        errors.add(404)
    if endpoint.body:
        errors |= {400, 413, 415}
    if base not in _STORE_FREE and endpoint.auth != "none":
        errors.add(503)
    for status in sorted(errors):
        responses[str(status)] = _error_response(status)
    if not known:
        responses["default"] = {"description": "See the contract", "content": {"*/*": {}}}
    op["responses"] = responses
    return op


def _tag(template: str) -> str:
    for prefix, tag in (
        ("/v4/events/ai-compat", "ai-compat"),
        ("/v4/events/by-client", "reads"),
        ("/v4/events", "events"),
        ("/v4/transactions", "transactions"),
        ("/v4/clients", "profiles"),
        ("/-/api", "reads"),
        ("/-/admin", "admin"),
        ("/-/ui", "debugger"),
    ):
        if template.startswith(prefix):
            return tag
    return "auth" if "auth" in template else "service"


def build(router: Router) -> JsonSchema:
    paths: JsonSchema = {}
    for route in router.routes():
        item = paths.setdefault(route.template, {})
        for method, endpoint in sorted(route.methods.items()):
            item[method.lower()] = operation(method, route.template, endpoint)
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "tracktion",
            "version": __version__,
            "summary": "Self-hosted event collection server speaking Synerise's event-ingestion API",
            "description": "Generated from the route table, the endpoint catalog and the validators.",
        },
        "servers": [{"url": "/"}],
        "paths": paths,
        "components": {
            "schemas": COMPONENTS,
            "securitySchemes": {
                "bearerAuth": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT (RS512, §2.4)"},
                "basicAuth": {
                    "type": "http",
                    "scheme": "basic",
                    "description": "workspace id or guid : API key",
                },
                "adminToken": {"type": "http", "scheme": "bearer", "description": "TRACKTION_ADMIN_TOKEN"},
            },
        },
    }


@functools.cache
def _document_bytes(router: Router) -> bytes:
    return msgspec.json.encode(build(router))


async def document(ctx: Context, request: Request, body: Any, *, router: Router) -> Response:
    """`GET /-/openapi.json`: this server's OpenAPI 3.1 description (public)."""
    return Response(200, _document_bytes(router), [(b"content-type", b"application/json")])
