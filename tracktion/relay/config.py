"""Destination bodies (docs/api.md §14.1): checking what a caller sends, and the answer's shape.

Every problem is reported at once as §1.6 errors with body paths (`name`, `config.url`, `filter.kinds[1]`);
an unknown `type` is 1005 and, its config schema being unknown, hides the config's own errors.
"""

from __future__ import annotations

from typing import Any

from tracktion.domain.relay import Destination
from tracktion.domain.timefmt import format_ms
from tracktion.errors import ErrorEntry, ValidationFailed, rejected
from tracktion.relay.jetstream import NATS
from tracktion.relay.synerise import SYNERISE
from tracktion.relay.types import DestinationType, keep_secrets, masked
from tracktion.relay.webhook import WEBHOOK
from tracktion.schemas.openapi_shapes import JsonSchema

TYPES: dict[str, DestinationType] = {t.name: t for t in (SYNERISE, WEBHOOK, NATS)}
KINDS = ("custom", "dedicated", "transaction")
NAME_MAX = 64
START = ("now", "beginning")

# The OpenAPI request bodies of `parse_create` and `parse_patch` (a config's own keys depend on its type:
# docs/api.md §14.1 lists them; `DestinationType.validate` checks them).
_NAME: JsonSchema = {"type": "string", "minLength": 1, "maxLength": NAME_MAX}
_FILTER: JsonSchema = {
    "type": "object",
    "properties": {
        "actions": {"type": "array", "items": {"type": "string", "minLength": 1}},
        "kinds": {"type": "array", "items": {"enum": list(KINDS)}},
    },
}
_CONFIG: JsonSchema = {"type": "object", "description": "the type's settings (§14.1); secrets are write-only"}
DESTINATION_BODY: JsonSchema = {
    "type": "object",
    "required": ["name", "type", "config"],
    "properties": {
        "name": _NAME,
        "type": {"enum": list(TYPES)},
        "config": _CONFIG,
        "filter": _FILTER,
        "start": {"enum": list(START), "default": "now"},
    },
}
DESTINATION_PATCH_BODY: JsonSchema = {
    "type": "object",
    "description": "name, config (whole; a secret sent back as *** is kept) and filter; type cannot change",
    "properties": {"name": _NAME, "config": _CONFIG, "filter": _FILTER},
}


def _object(body: Any, field: str, errors: list[ErrorEntry]) -> dict[str, Any] | None:
    if not isinstance(body, dict):
        errors.append(
            ErrorEntry(
                1001 if not field else 1004, field, f"{field or 'Body'} must be a JSON object", rejected(body)
            )
        )
        return None
    return body


def _name(value: Any, errors: list[ErrorEntry]) -> str:
    if value is None:
        errors.append(ErrorEntry(1002, "name", "name is required", None))
    elif not isinstance(value, str):
        errors.append(ErrorEntry(1004, "name", "name must be a string", rejected(value)))
    elif not value:
        errors.append(ErrorEntry(1003, "name", "name must not be empty", value))
    elif len(value) > NAME_MAX:
        errors.append(ErrorEntry(1009, "name", f"name must be at most {NAME_MAX} characters", value))
    elif not value.isprintable():
        errors.append(ErrorEntry(1008, "name", "name must not contain control characters", value))
    else:
        return value
    return ""


def _filter(value: Any, errors: list[ErrorEntry]) -> dict[str, Any]:
    if value is None:
        return {}
    found = _object(value, "filter", errors)
    if found is None:
        return {}
    out: dict[str, Any] = {}
    for key in ("actions", "kinds"):
        items = found.get(key)
        if items is None:
            continue
        if not isinstance(items, list) or not all(isinstance(i, str) and i for i in items):
            errors.append(
                ErrorEntry(
                    1004, f"filter.{key}", f"filter.{key} must be an array of strings", rejected(items)
                )
            )
            continue
        if key == "kinds":
            for i, kind in enumerate(items):
                if kind not in KINDS:
                    errors.append(
                        ErrorEntry(
                            1007, f"filter.kinds[{i}]", "kind must be custom, dedicated or transaction", kind
                        )
                    )
        out[key] = items
    return out


def _config(kind: DestinationType, value: Any, errors: list[ErrorEntry]) -> dict[str, Any]:
    if value is None:
        errors.append(ErrorEntry(1002, "config", "config is required", None))
        return {}
    found = _object(value, "config", errors)
    if found is None:
        return {}
    config, problems = kind.validate(found)
    errors.extend(problems)
    return config


def _type(value: Any, errors: list[ErrorEntry]) -> DestinationType | None:
    if value is None:
        errors.append(ErrorEntry(1002, "type", "type is required", None))
    elif not isinstance(value, str) or value not in TYPES:  # an object or array is no dict key
        errors.append(ErrorEntry(1005, "type", "type must be synerise, webhook or nats", rejected(value)))
    else:
        return TYPES[value]
    return None


def _raise(errors: list[ErrorEntry]) -> None:
    if errors:
        unique: dict[str, ErrorEntry] = {}
        for e in errors:
            unique.setdefault(e.field, e)  # §1.6: at most one entry per field
        raise ValidationFailed(errors=list(unique.values()))


def parse_create(body: Any) -> tuple[str, str, dict[str, Any], dict[str, Any], str]:
    """(name, type, config, filter, start) of a `POST /-/api/destinations` body, or ValidationFailed."""
    errors: list[ErrorEntry] = []
    found = _object(body, "", errors)
    _raise(errors)
    assert found is not None
    name = _name(found.get("name"), errors)
    kind = _type(found.get("type"), errors)
    config = _config(kind, found.get("config"), errors) if kind is not None else {}
    filters = _filter(found.get("filter"), errors)
    start = found.get("start", "now")
    if start is None:
        start = "now"
    if start not in START:
        errors.append(ErrorEntry(1007, "start", "start must be now or beginning", rejected(start)))
    _raise(errors)
    assert kind is not None
    return name, kind.name, config, filters, start


def parse_patch(body: Any, current: Destination) -> Destination:
    """The destination after a `PATCH`: `name`, `config` (whole; a secret sent back as `***` is kept),
    `filter`; `type` cannot change."""
    errors: list[ErrorEntry] = []
    found = _object(body, "", errors)
    _raise(errors)
    assert found is not None
    name = current.name if found.get("name") is None else _name(found["name"], errors)
    if found.get("type") is not None and found["type"] != current.type:
        errors.append(
            ErrorEntry(
                1007, "type", "type cannot change; create another destination", rejected(found["type"])
            )
        )
    config = current.config
    if found.get("config") is not None:
        config = _config(TYPES[current.type], keep_secrets(found["config"], current.config), errors)
    filters = current.filter if "filter" not in found else _filter(found["filter"], errors)
    _raise(errors)
    return Destination(
        current.workspace_id,
        current.id,
        name,
        current.type,
        config,
        filters,
        current.paused,
        current.created_ms,
    )


def destination_json(d: Destination) -> dict[str, Any]:
    """§14.1's destination answer; secrets shown as `***`."""
    return {
        "id": d.id,
        "name": d.name,
        "type": d.type,
        "config": masked(d.config),
        "filter": d.filter,
        "state": d.public_state,
        "createdAt": format_ms(d.created_ms),
    }


def matches(filters: dict[str, Any], action: str, kind: str) -> bool:
    """§14.1 `filter` over a write's action and kind: exact action names or `prefix.*`, and kinds; absent =
    everything."""
    kinds = filters.get("kinds")
    if kinds is not None and kind not in kinds:
        return False
    actions = filters.get("actions")
    if actions is None:
        return True
    return any(action == a or (a.endswith(".*") and action.startswith(a[:-1])) for a in actions)
