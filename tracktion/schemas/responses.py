"""JSON Schemas of what tracktion answers, for the OpenAPI description: the public JSON shapes
(`tracktion.schemas.render`, and the handlers' `quarantine_json`, `profile_json`, `result_json`), the token
answers and the one error body (`tracktion.errors.error_body`). The schemathesis run of the test suite
(`tests/reliability/test_openapi_fuzz.py`) checks every answer of the live server against these, so a
drift on either side fails there."""

from __future__ import annotations

from tracktion.errors import REJECTED_VALUE_MAX
from tracktion.schemas.client import UUID
from tracktion.schemas.openapi_shapes import JsonSchema, ref

_JSON_TYPES = ("string", "number", "integer", "boolean", "array", "object")
TIMESTAMP: JsonSchema = {  # `format_ms`
    "type": "string",
    "pattern": r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$",
}
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
        "errors": {"type": "array", "minItems": 1, "items": ref("ErrorEntry")},
    },
}
STRING_OR_NULL: JsonSchema = {"type": ["string", "null"]}
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
    "allOf": [ref("Event")],
    "type": "object",
    "required": ["endpoint", "kind", "seq", "receivedAt"],
    "properties": {
        "endpoint": {"type": "string"},
        "kind": {"enum": ["custom", "dedicated", "transaction"]},
        "seq": {"type": "integer"},
        "receivedAt": TIMESTAMP,
    },
}
STATS: JsonSchema = {  # `GET /-/api/stats` (§13.6a)
    "type": "object",
    "required": ["bucket", "from", "to", "by", "series"],
    "properties": {
        "bucket": {"enum": ["minute", "hour", "day"]},
        "from": TIMESTAMP,
        "to": TIMESTAMP,
        "by": {"enum": ["action", "kind", "reason"]},
        "series": {
            "type": "array",
            "items": {
                "type": "object",
                "required": ["key", "total", "points"],
                "properties": {
                    "key": {"type": "string"},
                    "total": {"type": "integer"},
                    "points": {
                        "type": "array",
                        "items": {  # [bucket start, count]
                            "type": "array",
                            "items": {"anyOf": [TIMESTAMP, {"type": "integer", "minimum": 1}]},
                            "minItems": 2,
                            "maxItems": 2,
                        },
                    },
                },
            },
        },
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
        "errors": {"type": "array", "items": ref("ErrorEntry")},
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
                    "clientId": {"type": "integer", "description": "`/v4/clients/batch`: the profile"},
                    "quarantined": {"const": True},
                    "reason": {"type": "string"},
                    "errors": {"type": "array", "items": ref("ErrorEntry")},
                },
            },
        },
    },
}
TOKEN: JsonSchema = {"type": "object", "required": ["token"], "properties": {"token": {"type": "string"}}}
CLIENT_TOKEN: JsonSchema = {
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
SERVER_TIME: JsonSchema = {  # `GET /v4/server/time` (§8.3)
    "type": "object",
    "required": ["serverTime"],
    "properties": {"serverTime": TIMESTAMP},
    "additionalProperties": False,
}
JWKS: JsonSchema = {
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
WORKSPACE: JsonSchema = {
    "type": "object",
    "required": ["id", "guid", "name", "createdAt"],
    "properties": {
        "id": {"type": "integer"},
        "guid": {"type": "string"},
        "name": {"type": "string"},
        "createdAt": TIMESTAMP,
        "retentionDays": {"type": ["integer", "null"], "minimum": 1},  # §15.2, null = keep forever
    },
}
# §15.1: `erasure_json`, `suppression_json`.
ERASURE: JsonSchema = {
    "type": "object",
    "required": ["id", "state", "clientId", "requestedAt", "completedAt", "deleted"],
    "properties": {
        "id": {"type": "string"},
        "state": {"enum": ["pending", "running", "done"]},
        "clientId": {"type": "integer"},
        "requestedAt": TIMESTAMP,
        "completedAt": {"anyOf": [TIMESTAMP, {"type": "null"}]},
        "deleted": {
            "type": "object",
            "required": ["events", "quarantineRecords", "relayFailures"],
            "properties": {
                n: {"type": "integer", "minimum": 0} for n in ("events", "quarantineRecords", "relayFailures")
            },
        },
    },
}
SUPPRESSION: JsonSchema = {
    "type": "object",
    "required": ["id", "createdAt", "erasureId"],
    "properties": {"id": {"type": "string"}, "createdAt": TIMESTAMP, "erasureId": STRING_OR_NULL},
}
API_KEY: JsonSchema = {
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


# The relay (docs/api.md §14): `tracktion.relay.config.destination_json` and `tracktion.http.destinations`.
_RELAY_STATE: JsonSchema = {"enum": ["running", "backing-off", "paused", "failing"]}
_TIMESTAMP_OR_NULL: JsonSchema = {"anyOf": [TIMESTAMP, {"type": "null"}]}
DESTINATION: JsonSchema = {
    "type": "object",
    "required": ["id", "name", "type", "config", "filter", "state", "createdAt"],
    "properties": {
        "id": {"type": "string"},
        "name": {"type": "string"},
        "type": {"enum": ["synerise", "webhook", "nats"]},
        "config": {"type": "object", "description": "secrets shown as ***"},
        "filter": {"type": "object"},
        "state": _RELAY_STATE,
        "createdAt": TIMESTAMP,
    },
}
DESTINATION_STATUS: JsonSchema = {
    "type": "object",
    "required": [
        "state",
        "cursor",
        "headSeq",
        "lagEvents",
        "lagSeconds",
        "delivered",
        "failed",
        "lastSuccessAt",
        "lastError",
        "nextAttemptAt",
    ],
    "properties": {
        "state": _RELAY_STATE,
        "cursor": {"type": "integer", "minimum": 0},
        "headSeq": {"type": "integer", "minimum": 0},
        "lagEvents": {"type": "integer", "minimum": 0},
        "lagSeconds": {"type": "number", "minimum": 0},
        "delivered": {"type": "integer", "minimum": 0},
        "failed": {"type": "integer", "minimum": 0},
        "lastSuccessAt": _TIMESTAMP_OR_NULL,
        "lastError": {
            "anyOf": [
                {
                    "type": "object",
                    "required": ["at", "status", "message"],
                    "properties": {
                        "at": TIMESTAMP,
                        "status": {"type": ["integer", "null"]},
                        "message": STRING_OR_NULL,
                    },
                },
                {"type": "null"},
            ]
        },
        "nextAttemptAt": _TIMESTAMP_OR_NULL,
    },
}
RELAY_FAILURE: JsonSchema = {
    "type": "object",
    "required": ["id", "eventUuid", "seq", "failedAt", "attempts", "status", "response"],
    "properties": {
        "id": {"type": "string"},
        "eventUuid": {"type": "string"},
        "seq": {"type": "integer"},
        "failedAt": TIMESTAMP,
        "attempts": {"type": "integer", "minimum": 0},
        "status": {"type": ["integer", "null"]},
        "response": {"type": "string"},
    },
}
REPLAY: JsonSchema = {
    "type": "object",
    "required": ["id", "state", "matched", "delivered", "failed", "createdAt"],
    "properties": {
        "id": {"type": "string"},
        "state": {"enum": ["pending", "running", "done"]},
        "matched": {"type": "integer", "minimum": 0},
        "delivered": {"type": "integer", "minimum": 0},
        "failed": {"type": "integer", "minimum": 0},
        "createdAt": TIMESTAMP,
    },
}
REPLAY_ACCEPTED: JsonSchema = {
    "type": "object",
    "required": ["replayId"],
    "properties": {"replayId": {"type": "string"}},
}


def json_answer(schema: JsonSchema, description: str = "OK") -> JsonSchema:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def ok(schema: JsonSchema) -> dict[str, JsonSchema]:
    """The success answers of a route answering 200 with `schema`."""
    return {"200": json_answer(schema)}


def array_of(component: str) -> JsonSchema:
    return {"type": "array", "items": ref(component)}


def page(component: str) -> JsonSchema:
    """A keyset-paged list (§13.2, §13.4)."""
    return {
        "type": "object",
        "required": ["items", "nextCursor"],
        "properties": {"items": array_of(component), "nextCursor": STRING_OR_NULL},
    }


# Writes: 202 once durably committed; batches also 207 in partial mode (§5.4).
ACCEPTED: dict[str, JsonSchema] = {"202": {"description": "Accepted: durably committed (empty body)"}}
BATCH_ANSWERS: dict[str, JsonSchema] = {
    **ACCEPTED,
    "207": json_answer(ref("BatchResult"), "Multi-status (`?partial=true`)"),
}
# §9.7: the profile writes name the body's keys tracktion did not know (`tracktion.http.profiles`).
IGNORED_KEYS_HEADER: JsonSchema = {
    "required": False,
    "description": (
        "Keys of the body tracktion does not know and ignored (§9.7), comma-separated, at most 20; batch items"
        " as `[3].firstname`; other than visible ASCII, `,` and `%` percent-encoded"
    ),
    "schema": {"type": "string"},
}


def ignored_keys_answers(answers: dict[str, JsonSchema]) -> dict[str, JsonSchema]:
    """`answers` of a profile write, each of which may carry `X-Tracktion-Ignored-Keys`."""
    return {
        status: {
            **answer,
            "headers": {**answer.get("headers", {}), "X-Tracktion-Ignored-Keys": IGNORED_KEYS_HEADER},
        }
        for status, answer in answers.items()
    }


# §15.1, §9.7: an erasure is accepted, and done in the background.
_LOCATION: JsonSchema = {"Location": {"required": True, "schema": {"type": "string"}}}
ERASURE_ACCEPTED: dict[str, JsonSchema] = {
    "202": {
        **json_answer(
            {
                "type": "object",
                "required": ["id", "state", "clientId"],
                "properties": {
                    "id": {"type": "string"},
                    "state": {"const": "pending"},
                    "clientId": {"type": "integer"},
                },
            },
            "Accepted: the profile is gone from reads; its data is deleted in the background",
        ),
        "headers": _LOCATION,
    }
}
ERASURE_RECEIPT: dict[str, JsonSchema] = {
    "202": {
        **json_answer(
            {"type": "object", "required": ["erasureId"], "properties": {"erasureId": {"type": "string"}}},
            "Accepted: an erasure without suppression",
        ),
        "headers": _LOCATION,
    }
}
