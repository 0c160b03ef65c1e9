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

import copy
import functools
import inspect
import re
from collections.abc import Callable
from typing import Any

import msgspec

from tracktion import __version__
from tracktion.auth.permissions import sorted_permissions
from tracktion.catalog import CatalogRow, custom_row, load_catalog, rows_by_batch_type
from tracktion.domain.fanout import CURRENCY, MONEY_FIELDS, PRODUCT_MONEY_FIELDS
from tracktion.domain.timefmt import TIME_RE
from tracktion.errors import REJECTED_VALUE_MAX
from tracktion.http import admin, batch, events, profiles, public, reads, stream, tokens, transactions, ui
from tracktion.http.context import Context
from tracktion.http.headers import API_VERSION_RE, API_VERSIONED_PREFIXES
from tracktion.http.request import REQUEST_ID_RE, Request, Response
from tracktion.http.routing import Authenticated, Endpoint, Router
from tracktion.schemas import ai_compat
from tracktion.schemas.body import BODY_LIMIT, MAX_DEPTH
from tracktion.schemas.client import CLIENT_ID_MAX, EMAIL_RE, UUID_RE
from tracktion.schemas.envelope import ACTION_MAX, ACTION_RE
from tracktion.schemas.params import LAT_RANGE, LON_RANGE, POSITION_MIN, SEARCH_TYPES, SOURCES

JsonSchema = dict[str, Any]
INT64_MAX = 2**63 - 1
_JSON_TYPES = ("string", "number", "integer", "boolean", "array", "object")


# -- field schemas from the validators' constants --------------------------------------------------------
def _anchored(pattern: re.Pattern[str]) -> str:
    """A Python pattern used with fullmatch (or already anchored) as a JSON Schema `pattern`."""
    text = pattern.pattern
    return text if text.startswith("^") else f"^(?:{text})$"


def _nullable(schema: JsonSchema) -> JsonSchema:
    """§1.3: `null` equals absence for every named optional field."""
    return {"anyOf": [schema, {"type": "null"}]}


# `check_api_version`: `API_VERSION_RE` with a minor version of at most 4.
API_VERSION_PATTERN = API_VERSION_RE.pattern.replace(r"4\.(\d+)", r"4\.(0*[0-4])")
NON_EMPTY = {"type": "string", "minLength": 1}
TIME = {
    "type": "string",
    "pattern": _anchored(TIME_RE),
    "description": "ISO 8601 (§3.5); a real calendar date, offset ≤ 18:00, not before 1970; later = receive time",
}
UUID = {"type": "string", "pattern": _anchored(UUID_RE)}
TIMESTAMP = {"type": "string", "pattern": r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$"}
IDENTIFIER_NOTE = (
    "non-empty; no code point above U+FFFF, surrogate, CR, LF, U+2028/9, U+00AD, U+FE00–FE0F, U+0000"
)
CLIENT: JsonSchema = {
    "type": "object",
    "description": "At least one identifier (§3.2). Profile tokens may omit `client` (§2.6).",
    "properties": {
        "id": _nullable({"type": "integer", "minimum": 1, "maximum": CLIENT_ID_MAX}),
        "customId": _nullable({**NON_EMPTY, "description": IDENTIFIER_NOTE}),
        "email": _nullable(
            {"type": "string", "pattern": _anchored(EMAIL_RE), "description": IDENTIFIER_NOTE}
        ),
        "uuid": _nullable(UUID),
    },
    "anyOf": [
        {"required": [k], "properties": {k: {"not": {"type": "null"}}}}
        for k in ("id", "customId", "email", "uuid")
    ],
}
MONEY: JsonSchema = {
    "type": "object",
    "required": ["amount", "currency"],
    "properties": {
        "amount": {"type": "number", "minimum": 0},
        "currency": {"type": "string", "pattern": _anchored(CURRENCY)},
    },
}
# Extra rules of named params (tracktion.schemas.params `_NAMED_EXTRAS`), as schema keywords.
NAMED_PARAM_RULES: dict[str, JsonSchema] = {
    "source": {"enum": sorted(SOURCES)},
    "searchType": {"enum": sorted(SEARCH_TYPES)},
    "lat": {"minimum": LAT_RANGE[0], "maximum": LAT_RANGE[1]},
    "lon": {"minimum": LON_RANGE[0], "maximum": LON_RANGE[1]},
    "position": {"minimum": POSITION_MIN},
}


def _typed_tree(required: list[str], typed: list[tuple[str, str]], *, named_rules: bool = True) -> JsonSchema:
    """Nested object schema of dotted paths (`a.b`, `a[]` = each element) relative to one object.

    The same reading as `compile_checks`: an object path whose `.amount` is a number and `.currency` a
    string is a money object (§3.6); named rules apply to top-level keys only."""
    types = dict(typed)
    root: JsonSchema = {"type": "object", "properties": {}}

    def node(path: str) -> JsonSchema:
        holder = root
        keys = path.split(".")
        for key in keys[:-1]:
            holder = holder["properties"].setdefault(key, {"type": "object", "properties": {}})
            holder.setdefault("properties", {})
        return holder

    for path in [*required, *(p for p in types if p not in required)]:
        each = path.endswith("[]")
        key_path = path[:-2] if each else path
        holder = node(key_path)
        key = key_path.rsplit(".", 1)[-1]
        schema: JsonSchema = holder["properties"].setdefault(key, {})
        if each:
            element = types.get(path)
            schema.setdefault("type", "array")
            schema["items"] = _nullable({"type": element}) if element else {}
        else:
            kind = types.get(path)
            if kind is not None:
                schema["type"] = kind
            if types.get(path + ".amount") == "number" and types.get(path + ".currency") == "string":
                money = copy.deepcopy(MONEY)
                money["properties"].update(schema.get("properties", {}))
                schema.update(money)
            if named_rules and "." not in key_path and key in NAMED_PARAM_RULES:
                schema.update(NAMED_PARAM_RULES[key])
            if path in required and key not in holder.setdefault("required", []):
                holder["required"].append(key)
    return root


def _without_nulls_on_required(schema: JsonSchema) -> JsonSchema:
    """Optional properties may be `null` (= absent, §1.3); required ones may not. Applied recursively."""
    props = schema.get("properties")
    if not props:
        return schema
    required = set(schema.get("required", []))
    out = dict(schema)
    out["properties"] = {
        key: _without_nulls_on_required(sub)
        if key in required
        else _nullable(_without_nulls_on_required(sub))
        for key, sub in props.items()
    }
    return out


def params_schema(row: CatalogRow) -> JsonSchema:
    required = [p.removeprefix("params.") for p in row.required_params if p.startswith("params.")]
    typed = [(p.removeprefix("params."), t) for p, t in row.typed_params if p.startswith("params.")]
    schema = _without_nulls_on_required(_typed_tree(required, typed))
    schema["description"] = (
        "Free-form; only the listed paths are checked (§3.6, §4.2). Server-owned keys are dropped."
    )
    return schema


def envelope_schema(row: CatalogRow, batch_types: list[str] | None = None) -> JsonSchema:
    """One event body for a catalog row (§3); with `batch_types`, a batch item of that type (§5.1)."""
    properties: JsonSchema = {
        "client": _ref("Client"),
        "label": NON_EMPTY,
        "time": _nullable(TIME),
        "eventSalt": _nullable(NON_EMPTY),
        "params": params_schema(row),
    }
    required = ["client", "label"]
    if row.is_custom:
        properties["action"] = {
            "type": "string",
            "minLength": 1,
            "maxLength": ACTION_MAX,
            "pattern": _anchored(ACTION_RE),
        }
        required.append("action")
    else:
        properties["action"] = _nullable({"const": row.action})
    if "params" in row.required_params:
        required.append("params")
    else:
        properties["params"] = _nullable(properties["params"])
    if batch_types is not None:
        properties["type"] = {"enum": batch_types}
        if row.is_custom:
            properties["type"] = _nullable(properties["type"])
        else:
            required.append("type")
    title = f"{row.default_label} ({row.action or 'custom action'})"
    return {"type": "object", "title": title, "required": required, "properties": properties}


def ai_compat_schema(row: CatalogRow, product_search: bool = False) -> JsonSchema:
    """A flat ai-compat body (§4.3) from its row, with the keys `validate_ai_compat` treats itself."""
    required = [p for p in row.required_params if p not in ai_compat._ENVELOPE_KEYS]
    typed = [(p, t) for p, t in row.typed_params if p not in ai_compat._ENVELOPE_KEYS]
    typed += [(p, t) for p, t in ai_compat._ALWAYS_TYPED if p not in dict(typed)]
    if product_search:
        required = ["productId" if p == "item" else p for p in required]
        typed = [("productId" if p == "item" else p, t) for p, t in typed]
    schema = _without_nulls_on_required(_typed_tree(required, typed))
    schema["properties"].update(
        clientUUID=UUID,
        EventTimestamp=_nullable(TIME),
        label=_nullable(NON_EMPTY),
    )
    schema["required"] = ["clientUUID", *schema.get("required", [])]
    schema["title"] = f"{row.default_label} ({row.action})"
    return schema


def transaction_schema() -> JsonSchema:
    """§6.2, with the field lists `validate_transaction` walks."""
    product: JsonSchema = {
        "type": "object",
        "required": ["sku", "name", "quantity", "finalUnitPrice"],
        "properties": {
            "sku": NON_EMPTY,
            "name": NON_EMPTY,
            "quantity": {"type": "number", "exclusiveMinimum": 0},
            **{name: MONEY for name in PRODUCT_MONEY_FIELDS},
            "discountPercent": {"type": "number"},
            "tax": {"type": "number"},
            "url": {"type": "string"},
            "image": {"type": "string"},
            "categories": {"type": "array", "items": {"type": "string"}},
        },
        "description": "All currencies of a transaction must be equal (§6.2). Other keys are kept.",
    }
    schema: JsonSchema = {
        "type": "object",
        "required": ["client", "orderId"],
        "properties": {
            "client": _ref("Client"),
            "orderId": NON_EMPTY,
            "recordedAt": TIME,
            "eventSalt": NON_EMPTY,
            "products": {"type": "array", "items": product},
            **{name: MONEY for name in MONEY_FIELDS},
            "source": {"enum": sorted(SOURCES)},
            "paymentInfo": {"type": "object", "required": ["method"], "properties": {"method": NON_EMPTY}},
            "metadata": {"type": "object"},
        },
    }
    return _without_nulls_on_required(schema)


def _batch_of(item: JsonSchema) -> JsonSchema:
    return {"type": "array", "minItems": 1, "maxItems": batch.MAX_ITEMS, "items": item}


def events_batch_schema() -> JsonSchema:
    by_row: dict[str, list[str]] = {}
    rows: dict[str, CatalogRow] = {}
    for name, row in rows_by_batch_type().items():
        by_row.setdefault(row.path, []).append(name)
        rows[row.path] = row
    items = [
        envelope_schema(rows[path], sorted(names))
        for path, names in by_row.items()
        if path != custom_row().path
    ]
    return _batch_of({"anyOf": [envelope_schema(custom_row(), ["custom"]), *items]})


def ai_compat_batch_schema() -> JsonSchema:
    variants = []
    for event_type, path in ai_compat.EVENT_TYPES.items():
        row = next(r for r in load_catalog() if r.path == path)
        product_search = event_type == ai_compat.PRODUCT_SEARCH_CLICK
        variants.append(
            {
                "type": "object",
                "required": ["eventType", "items"],
                "properties": {
                    "eventType": {"const": event_type},
                    "items": _batch_of(ai_compat_schema(row, product_search)),
                },
            }
        )
    return {"anyOf": variants}


# -- response schemas -------------------------------------------------------------------------------------
ERROR_ENTRY: JsonSchema = {
    "type": "object",
    "required": ["code", "field", "message", "rejectedValue"],
    "properties": {
        "code": {"type": "integer"},
        "field": {"type": "string"},
        "message": {"type": "string"},
        "rejectedValue": {"anyOf": [{"type": "string", "maxLength": REJECTED_VALUE_MAX}, {"type": "null"}]},
    },
}
ERROR: JsonSchema = {
    "type": "object",
    "description": "Synerise's HTTP400/Error shape (§1.6), on every 4xx and 5xx.",
    "required": ["error", "message", "path", "status", "timestamp", "errors"],
    "properties": {
        "error": {"type": "string"},
        "message": {"type": "string"},
        "path": {"type": "string"},
        "status": {"type": "integer", "minimum": 400, "maximum": 599},
        "timestamp": TIMESTAMP,
        "errors": {"type": "array", "minItems": 1, "items": {"$ref": "#/components/schemas/ErrorEntry"}},
    },
}
STRING_OR_NULL = {"type": ["string", "null"]}
EVENT: JsonSchema = {
    "type": "object",
    "required": ["uuid", "time", "action", "label", "client", "params"],
    "properties": {
        "uuid": UUID,
        "time": TIMESTAMP,
        "action": {"type": "string"},
        "label": {"type": "string"},
        "client": {
            "type": "object",
            "required": ["id", "uuid", "customId", "email"],
            "properties": {
                "id": {"type": "integer"},
                "uuid": STRING_OR_NULL,
                "customId": STRING_OR_NULL,
                "email": STRING_OR_NULL,
            },
        },
        "params": {"type": "object"},
    },
}
EVENT_EXTENDED: JsonSchema = {
    "allOf": [{"$ref": "#/components/schemas/Event"}],
    "type": "object",
    "required": ["endpoint", "kind", "seq"],
    "properties": {
        "endpoint": {"type": "string"},
        "kind": {"enum": ["custom", "dedicated", "transaction"]},
        "seq": {"type": "integer"},
    },
}
DEFINITION: JsonSchema = {
    "type": "object",
    "required": ["action", "kind", "firstSeen", "lastSeen", "eventCount", "params"],
    "properties": {
        "action": {"type": "string"},
        "kind": {"enum": ["custom", "dedicated", "transaction"]},
        "firstSeen": TIMESTAMP,
        "lastSeen": TIMESTAMP,
        "eventCount": {"type": "integer", "minimum": 0},
        "params": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["name", "types", "firstSeen", "lastSeen"],
                "properties": {
                    "name": {"type": "string"},
                    "types": {"type": "array", "items": {"enum": [*_JSON_TYPES, "null"]}},
                    "firstSeen": TIMESTAMP,
                    "lastSeen": TIMESTAMP,
                },
            },
        },
    },
}
QUARANTINE_RECORD: JsonSchema = {
    "type": "object",
    "required": [
        "id",
        "receivedAt",
        "requestId",
        "method",
        "endpoint",
        "itemIndex",
        "reason",
        "status",
        "errors",
        "credential",
    ],
    "properties": {
        "id": {"type": "string"},
        "receivedAt": TIMESTAMP,
        "requestId": {"type": "string"},
        "method": {"type": "string"},
        "endpoint": {"type": "string"},
        "itemIndex": {"type": ["integer", "null"]},
        "reason": {"type": "string"},
        "status": {"type": "integer"},
        "errors": {"type": "array", "items": {"$ref": "#/components/schemas/ErrorEntry"}},
        "credential": {"type": "object", "required": ["kind", "keyId"]},
        "item": {"description": "the item as sent (salts and params.apiKey shown as ***)"},
        "body": STRING_OR_NULL,
        "bodyTruncated": {"type": "boolean"},
    },
}
PROFILE: JsonSchema = {
    "type": "object",
    "required": ["clientId", "uuid", "uuids", "customId", "email", "anonymous", "createdAt", "updatedAt"],
    "properties": {
        "clientId": {"type": "integer"},
        "uuid": {"type": "string"},
        "uuids": {"type": "array", "items": {"type": "string"}},
        "customId": STRING_OR_NULL,
        "email": STRING_OR_NULL,
        "anonymous": {"type": "boolean"},
        "createdAt": TIMESTAMP,
        "updatedAt": TIMESTAMP,
    },
}
BATCH_RESULT: JsonSchema = {
    "type": "object",
    "description": "`?partial=true` (§5.4): one result per item, in order.",
    "required": ["status", "accepted", "quarantined", "rejected", "results"],
    "properties": {
        "status": {"const": 207},
        "accepted": {"type": "integer", "minimum": 0},
        "quarantined": {"type": "integer", "minimum": 0},
        "rejected": {"type": "integer", "minimum": 0},
        "results": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["index", "status"],
                "properties": {
                    "index": {"type": "integer", "minimum": 0},
                    "status": {"enum": [202, 400, 403]},
                    "uuid": {"type": "string"},
                    "quarantined": {"const": True},
                    "reason": {"type": "string"},
                    "errors": {"type": "array", "items": {"$ref": "#/components/schemas/ErrorEntry"}},
                },
            },
        },
    },
}
TOKEN = {"type": "object", "required": ["token"], "properties": {"token": {"type": "string"}}}
CLIENT_TOKEN = {
    "type": "object",
    "required": ["token", "expiration", "created", "origin", "customId", "realm"],
    "properties": {
        "token": {"type": "string"},
        "expiration": {"type": "integer"},
        "created": {"type": "integer"},
        "origin": {"const": "SYNERISE"},
        "customId": STRING_OR_NULL,
        "realm": {"const": "client"},
    },
}
JWKS = {
    "type": "object",
    "required": ["keys"],
    "properties": {
        "keys": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["kty", "use", "alg", "kid", "n", "e"],
                "properties": {"kty": {"const": "RSA"}, "alg": {"const": "RS512"}, "use": {"const": "sig"}},
            },
        }
    },
}
WORKSPACE = {
    "type": "object",
    "required": ["id", "guid", "name", "createdAt"],
    "properties": {
        "id": {"type": "integer"},
        "guid": {"type": "string"},
        "name": {"type": "string"},
        "createdAt": TIMESTAMP,
    },
}
API_KEY = {
    "type": "object",
    "required": ["id", "kind", "name", "permissions", "createdAt"],
    "properties": {
        "id": {"type": "string"},
        "kind": {"enum": ["workspace", "profile"]},
        "name": STRING_OR_NULL,
        "permissions": {"type": "array", "items": {"type": "string"}},
        "createdAt": TIMESTAMP,
        "apiKey": {"type": "string", "description": "the secret, only in the answer that creates the key"},
    },
}
COMPONENTS: dict[str, JsonSchema] = {
    "Client": CLIENT,
    "Error": ERROR,
    "ErrorEntry": ERROR_ENTRY,
    "Event": EVENT,
    "EventExtended": EVENT_EXTENDED,
    "Definition": DEFINITION,
    "QuarantineRecord": QUARANTINE_RECORD,
    "Profile": PROFILE,
    "BatchResult": BATCH_RESULT,
    "Workspace": WORKSPACE,
    "ApiKey": API_KEY,
}


def _ref(name: str) -> JsonSchema:
    return {"$ref": f"#/components/schemas/{name}"}


def _page(item: str) -> JsonSchema:
    return {
        "type": "object",
        "required": ["items", "nextCursor"],
        "properties": {"items": {"type": "array", "items": _ref(item)}, "nextCursor": STRING_OR_NULL},
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


def _json(schema: JsonSchema, description: str = "OK") -> JsonSchema:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


@functools.cache
def _handler_specs() -> dict[Callable[..., Any], JsonSchema]:
    """What the route table does not say: request bodies, query parameters and success responses."""
    accepted = {"202": {"description": "Accepted: durably committed (empty body)"}}
    batch_answers = {**accepted, "207": _json(_ref("BatchResult"), "Multi-status (`?partial=true`)")}
    login_body = {
        "type": "object",
        "required": ["apiKey"],
        "properties": {"apiKey": {"type": "string"}},
    }
    event_filters = [
        _q("time[from]", TIME),
        _q("time[to]", TIME),
        ACTIONS,
        LIMIT,
    ]
    return {
        public.health: {"responses": {"200": _json({"const": {"status": "ok"}})}},
        public.ready: {"responses": {"200": _json({"const": {"status": "ready"}})}, "errors": [503]},
        public.metrics: {
            "responses": {
                "200": {
                    "description": "Prometheus text format 0.0.4 (§13.1)",
                    "content": {"text/plain": {"schema": {"type": "string"}}},
                }
            },
            "errors": [401],  # only when TRACKTION_METRICS_TOKEN is set and not given as the bearer token
        },
        tokens.jwks: {"responses": {"200": _json(JWKS)}},
        tokens.workspace_login: {
            "body": login_body,
            "responses": {"200": _json(TOKEN)},
            "errors": [401, 503],
        },
        tokens.workspace_refresh: {"responses": {"200": _json(TOKEN)}},
        profiles.anonymous_login: {
            "body": {
                "type": "object",
                "required": ["apiKey", "uuid"],
                "properties": {
                    "apiKey": {"type": "string"},
                    "uuid": UUID,
                    "deviceId": _nullable({**NON_EMPTY, "description": IDENTIFIER_NOTE}),
                },
            },
            "responses": {"200": _json(TOKEN)},
            "errors": [401, 503],
        },
        profiles.client_refresh: {"body": login_body, "responses": {"200": _json(CLIENT_TOKEN)}},
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
            "body": _batch_of(transaction_schema()),
            "query": [PARTIAL],
            "responses": batch_answers,
        },
        profiles.clients_batch: {
            "body": _batch_of({"type": "object", "properties": CLIENT["properties"]}),
            "query": [PARTIAL],
            "responses": batch_answers,
            "errors": [501],
        },
        reads.events_by_client: {
            "query": event_filters,
            "responses": {"200": _json({"type": "array", "items": _ref("Event")})},
            "errors": [404],
        },
        reads.own_events: {
            "query": event_filters,
            "responses": {"200": _json({"type": "array", "items": _ref("Event")})},
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
            "responses": {"200": _json(_page("EventExtended"))},
        },
        reads.get_event: {"responses": {"200": _json(_ref("EventExtended"))}, "errors": [404]},
        reads.list_definitions: {
            "query": [_q("kind", {"type": "string"}), _q("prefix", {"type": "string"})],
            "responses": {"200": _json({"type": "array", "items": _ref("Definition")})},
        },
        reads.get_definition: {"responses": {"200": _json(_ref("Definition"))}, "errors": [404]},
        reads.list_quarantine: {
            "query": [
                _q("reason", {"type": "string"}),
                _q("endpoint", {"type": "string"}),
                _q("from", TIME),
                _q("to", TIME),
                LIMIT,
                CURSOR,
            ],
            "responses": {"200": _json(_page("QuarantineRecord"))},
        },
        reads.get_quarantine: {"responses": {"200": _json(_ref("QuarantineRecord"))}, "errors": [404]},
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
        profiles.client_by_id: {"responses": {"200": _json(_ref("Profile"))}, "errors": [404]},
        profiles.client_by_custom_id: {"responses": {"200": _json(_ref("Profile"))}, "errors": [404]},
        profiles.client_by_email: {"responses": {"200": _json(_ref("Profile"))}, "errors": [404]},
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
            "body": {"type": "object", "required": ["name"], "properties": {"name": NON_EMPTY}},
            "responses": {"201": _json(_ref("Workspace"), "Created")},
        },
        admin.list_workspaces: {"responses": {"200": _json({"type": "array", "items": _ref("Workspace")})}},
        admin.create_api_key: {
            "body": {
                "type": "object",
                "required": ["kind"],
                "properties": {
                    "kind": {"enum": ["workspace", "profile"]},
                    "name": {"type": "string"},
                    "permissions": {"type": "array", "items": {"enum": sorted_permissions()}},
                },
            },
            "responses": {"201": _json(_ref("ApiKey"), "Created")},
            "errors": [404],
        },
        admin.list_api_keys: {
            "responses": {"200": _json({"type": "array", "items": _ref("ApiKey")})},
            "errors": [404],
        },
        admin.revoke_api_key: {"responses": {"204": {"description": "Revoked"}}, "errors": [404]},
        admin.permissions: {
            "responses": {"200": _json({"type": "array", "items": {"enum": sorted_permissions()}})}
        },
        document: {"responses": {"200": _json({"type": "object", "required": ["openapi", "paths"]})}},
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
        "content": {"application/json": {"schema": _ref("Error")}},
    }


_REQUEST_ID_HEADER: JsonSchema = {
    "required": True,
    "description": "echoed when it matches the pattern, else a new UUID",
    "schema": {"type": "string", "pattern": _anchored(REQUEST_ID_RE)},
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
