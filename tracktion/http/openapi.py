"""`GET /-/openapi.json`: an OpenAPI 3.1 description of every route, generated, never written twice.

This module only assembles. Where each part comes from:

* paths, methods, authentication, permissions, which routes take a body and which write: the route table
  (`Router.routes()`, built by `tracktion.http.routes`), so a route added there is described here;
* what each route says of itself (`Doc` on its entry): its request body, query parameters, success answers
  and the error statuses only it answers; the summary is its handler's docstring unless the entry says;
* request body schemas: next to the validator of that body (`tracktion.schemas.envelope`, `.ai_compat`,
  `.transaction`, `.profile`, `.login`, `.batch`; the admin bodies in `tracktion.http.admin`), built from
  the constants the validator uses: catalog rows, patterns, limits, the permission names;
* answers: `tracktion.schemas.responses`, and the error body `tracktion.errors.error_body` renders on every
  4xx/5xx, with the statuses every route of its kind can answer (below).

The schemathesis run in the test suite (`tests/reliability/test_openapi_fuzz.py`) checks every answer of the
live server against this document, so a drift on either side fails there. A route whose entry describes no
answers still gets a description from its entry (auth, body, error responses) with a free-form success.
"""

from __future__ import annotations

import functools
import inspect
import re
from typing import Any

import msgspec

from tracktion import __version__
from tracktion.http.context import Context
from tracktion.http.headers import API_VERSION_RE, API_VERSIONED_PREFIXES
from tracktion.http.request import REQUEST_ID_RE, Request, Response
from tracktion.http.routing import Authenticated, Endpoint, Router, UnauthenticatedHandler
from tracktion.schemas import responses
from tracktion.schemas.body import BODY_LIMIT, MAX_DEPTH
from tracktion.schemas.client import CLIENT
from tracktion.schemas.openapi_shapes import JsonSchema, anchored, ref

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
    "Erasure": responses.ERASURE,
    "Suppression": responses.SUPPRESSION,
    "Destination": responses.DESTINATION,
    "DestinationStatus": responses.DESTINATION_STATUS,
    "RelayFailure": responses.RELAY_FAILURE,
    "Replay": responses.REPLAY,
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
_REQUEST_ID_HEADER: JsonSchema = {
    "required": True,
    "description": "echoed when it matches the pattern, else a new UUID",
    "schema": {"type": "string", "pattern": anchored(REQUEST_ID_RE)},
}
_API_VERSION_HEADER: JsonSchema = {
    "name": "Api-Version",
    "in": "header",
    "required": False,
    "description": "4.0 … 4.4, optionally with a patch number (missing = 4.4)",
    "schema": {"type": "string", "pattern": API_VERSION_PATTERN},
}


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


def _docstring(handler: Any) -> str:
    return (inspect.getdoc(handler) or "").split("\n")[0]


def operation(method: str, template: str, endpoint: Endpoint) -> JsonSchema:
    """The OpenAPI operation of one route entry."""
    doc = endpoint.doc
    op: JsonSchema = {
        "operationId": f"{method.lower()}{re.sub(r'[^A-Za-z0-9]+', '_', template).rstrip('_')}",
        "summary": doc.summary or _docstring(endpoint.handler) or f"{method} {template}",
        "tags": [_tag(template)],
    }
    if doc.description:
        op["description"] = doc.description
    if doc.deprecated:
        op["deprecated"] = True  # answered with `Deprecation: true` (§2.2)
    # security (§2)
    if isinstance(endpoint, Authenticated):
        schemes: list[dict[str, list[str]]] = [{"bearerAuth": []}]
        if "workspace" in endpoint.kinds:
            schemes.append({"basicAuth": []})
        op["security"] = schemes
        kinds = " or ".join(sorted(endpoint.kinds))
        names = " or ".join(f"`{p}`" for p in [endpoint.permission, *sorted(endpoint.also_permitted)] if p)
        permission = f"; permission {names} (workspace credentials)" if names else ""
        op["description"] = (op.get("description", "") + f" Credentials: {kinds}{permission}.").strip()
    else:
        op["security"] = [{"adminToken": []}] if endpoint.auth == "admin" else []
    # parameters
    params: list[JsonSchema] = []
    for name in re.findall(r"\{([^}]+)\}", template):
        schema = (doc.path or {}).get(name, {"type": "string", "minLength": 1})
        params.append({"name": name, "in": "path", "required": True, "schema": schema})
    params += doc.query
    params += doc.headers
    if template.startswith(API_VERSIONED_PREFIXES):
        params.append(_API_VERSION_HEADER)
    if params:
        op["parameters"] = params
    # request body
    if endpoint.body:
        body = doc.body if doc.body is not None else {"description": "any JSON value"}
        op["requestBody"] = {
            "required": True,
            "description": (
                f"UTF-8 JSON, at most {BODY_LIMIT} bytes raw and decompressed, at most {MAX_DEPTH} levels deep;"
                " `Content-Encoding: gzip` for a gzip-compressed body"
            ),
            "content": {"application/json": {"schema": body}},
        }
    # responses
    answers = doc.responses or {"200": {"description": "OK", "content": {"*/*": {}}}}
    out: JsonSchema = {
        status: {**answer, "headers": {**answer.get("headers", {}), "X-Request-Id": _REQUEST_ID_HEADER}}
        for status, answer in answers.items()
    }
    for status in sorted(_errors(template, endpoint)):
        out[str(status)] = _error_response(status)
    if doc.responses is None:
        out["default"] = {"description": "See the contract", "content": {"*/*": {}}}
    op["responses"] = out
    return op


def _errors(template: str, endpoint: Endpoint) -> set[int]:
    """The error statuses of one route: its own (`Doc.errors`) and those its kind of entry implies."""
    errors = set(endpoint.doc.errors)
    if endpoint.auth != "none":
        errors.add(401)
        # Checking a credential or the admin token, and then the handler, read the store; public routes
        # that use the store list 503 themselves.
        errors.add(503)
    if endpoint.auth == "credential":
        errors.add(403)
    if template.startswith(API_VERSIONED_PREFIXES) or endpoint.doc.query or "{" in template:
        errors.add(400)
    if "{" in template:
        errors.add(404)
    if endpoint.body:
        errors |= {400, 413, 415}
    return errors


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


def document(router: Router) -> UnauthenticatedHandler:
    """The handler of `GET /-/openapi.json` for `router`: the document is built on first request."""

    async def serve(ctx: Context, request: Request, body: Any) -> Response:
        """`GET /-/openapi.json`: this server's OpenAPI 3.1 description (public)."""
        return Response(200, _document_bytes(router), [(b"content-type", b"application/json")])

    return serve
