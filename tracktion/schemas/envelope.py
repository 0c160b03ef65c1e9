"""One event envelope (docs/api.md §3) against its catalog row → `EventIn`, or `ValidationFailed` with every error.

Covers the custom row and the dedicated rows (legacy ones included); ai-compat bodies have another shape (§4.3).
Checks run in the order of §3.8 and append to one list, so the error list comes out already ordered and the
valid path raises nothing.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from typing import Any

from tracktion.catalog import CatalogRow, custom_row, kind_for_action, rows_by_batch_type
from tracktion.domain.models import EventIn
from tracktion.errors import ErrorEntry, ValidationFailed, rejected
from tracktion.schemas.batch import batch_of
from tracktion.schemas.client import validate_client
from tracktion.schemas.common import TIME, check_salt, check_time
from tracktion.schemas.openapi_shapes import NON_EMPTY, JsonSchema, anchored, nullable, ref
from tracktion.schemas.params import ParamCheck, check_params, compile_checks, params_schema, stored_params

ACTION_MAX = 32
ACTION_RE = re.compile(r"[a-zA-Z0-9.\-_]+")  # fullmatch: `^…$` would let a trailing newline through
# Valid custom actions → their §10 kind. A workspace uses a handful of actions, so one dict hit replaces the
# pattern match and the kind lookup; only valid actions (≤ 32 characters) are kept, and the dict is emptied
# when full so no sender can grow it without bound.
_CUSTOM_KINDS: dict[str, str] = {}
_CUSTOM_KINDS_MAX = 4096


@dataclass(frozen=True, slots=True)
class _Plan:
    """What a row needs at validation time, computed once (hashing a CatalogRow per call would cost more)."""

    row: CatalogRow
    action: str | None  # None = custom: taken from the body
    kind: str | None  # precomputed for dedicated rows; custom kinds depend on the sent action
    params_required: bool
    checks: tuple[ParamCheck, ...]


_plans: dict[str, _Plan] = {}


def _plan_for(row: CatalogRow) -> _Plan:
    plan = _plans.get(row.path)
    if plan is None or plan.row is not row:  # identity check: a test may build its own row for a known path
        if row.is_ai_compat:
            raise ValueError(f"{row.path} is an ai-compat row; validate_event handles envelopes only")
        plan = _Plan(
            row=row,
            action=row.action,
            kind=None if row.action is None else kind_for_action(row.action),
            params_required="params" in row.required_params,
            checks=compile_checks(row),
        )
        _plans[row.path] = plan
    return plan


def validate_event(
    obj: Any, row: CatalogRow, receive_ms: int, *, client_optional: bool = False, item: bool = False
) -> EventIn:
    """Validate one envelope sent to `row`'s endpoint (or a batch item of that type).

    `receive_ms` is the request's receive time (§3.5). `client_optional` is for profile tokens (§2.6): an absent
    `client` gives an all-None ClientRef to be filled from the token. `item` only changes the not-an-object
    message. Field paths are relative to the envelope; batch callers prefix them (`ErrorEntry.with_prefix`).
    """
    if type(obj) is not dict:
        message = "Item must be a JSON object" if item else "Request body must be a JSON object"
        raise ValidationFailed(errors=[ErrorEntry(1001, "", message, rejected(obj))])
    plan = _plan_for(row)
    errors: list[ErrorEntry] = []
    get = obj.get

    client = validate_client(get("client"), errors, optional=client_optional)

    label: Any = get("label")
    if type(label) is not str or not label:
        code = 1002 if label is None else 1004 if type(label) is not str else 1003
        errors.append(ErrorEntry(code, "label", "Label is required", rejected(label)))

    action: Any = get("action")
    kind = plan.kind
    if plan.action is None:
        kind = _CUSTOM_KINDS.get(action) if type(action) is str else None
        if kind is None:
            kind = _custom_action_kind(action)
            if kind is None:
                errors.append(_custom_action_error(action))
    elif action is None:
        action = plan.action
    elif action != plan.action:
        errors.append(
            ErrorEntry(
                1010, "action", f"Action does not match endpoint (expected {plan.action})", rejected(action)
            )
        )

    time_ms, original_time = check_time(get("time"), "time", receive_ms, errors)
    salt = get("eventSalt")
    check_salt(salt, errors)

    params = get("params")
    stored: dict[str, Any] = {}
    if params is None:
        if plan.params_required:
            errors.append(ErrorEntry(1002, "params", "Params are required"))
    elif type(params) is not dict:
        errors.append(ErrorEntry(1004, "params", "Params must be an object", rejected(params)))
    else:
        if plan.checks:  # most rows type nothing: no walk at all
            check_params(params, plan.checks, errors)
        stored = stored_params(params)

    if errors:
        raise ValidationFailed(errors=errors)
    assert kind is not None
    return EventIn(client, action, label, time_ms, original_time, salt, stored, kind)


def _custom_action_kind(action: Any) -> str | None:
    """The §10 kind of a valid custom `action`, remembered; None if the action breaks §3.4."""
    if type(action) is not str or not 0 < len(action) <= ACTION_MAX or ACTION_RE.fullmatch(action) is None:
        return None
    if len(_CUSTOM_KINDS) >= _CUSTOM_KINDS_MAX:
        _CUSTOM_KINDS.clear()
    kind = _CUSTOM_KINDS[action] = kind_for_action(action)
    return kind


def _custom_action_error(action: Any) -> ErrorEntry:
    # §3.8 row 6, in its order: missing, type, empty, length, pattern.
    if action is None:
        return ErrorEntry(1002, "action", "Action is required")
    if type(action) is not str:
        return ErrorEntry(1004, "action", "Action must be a string", rejected(action))
    if not action:
        return ErrorEntry(1003, "action", "Action cannot be empty", action)
    if len(action) > ACTION_MAX:
        return ErrorEntry(1009, "action", "Action is too long (max 32 characters)", rejected(action))
    return ErrorEntry(1005, "action", f"Action contains invalid characters ({action})", rejected(action))


# -- the OpenAPI description of what `validate_event` accepts -----------------------------------------------
@cache
def envelope_schema(row: CatalogRow, batch_types: tuple[str, ...] | None = None) -> JsonSchema:
    """One event body for a catalog row (§3); with `batch_types`, a batch item of that type (§5.1)."""
    properties: JsonSchema = {
        "client": ref("Client"),
        "label": NON_EMPTY,
        "time": nullable(TIME),
        "eventSalt": nullable(NON_EMPTY),
        "params": params_schema(row),
    }
    required = ["client", "label"]
    if row.is_custom:
        properties["action"] = {
            "type": "string",
            "minLength": 1,
            "maxLength": ACTION_MAX,
            "pattern": anchored(ACTION_RE),
        }
        required.append("action")
    else:
        properties["action"] = nullable({"const": row.action})
    if "params" in row.required_params:
        required.append("params")
    else:
        properties["params"] = nullable(properties["params"])
    if batch_types is not None:
        properties["type"] = {"enum": list(batch_types)}
        if row.is_custom:
            properties["type"] = nullable(properties["type"])
        else:
            required.append("type")
    title = f"{row.default_label} ({row.action or 'custom action'})"
    return {"type": "object", "title": title, "required": required, "properties": properties}


@cache
def events_batch_schema() -> JsonSchema:
    """`/v4/events/batch`: items of any row, told apart by `type` (§5.1)."""
    by_row: dict[str, list[str]] = {}
    rows: dict[str, CatalogRow] = {}
    for name, row in rows_by_batch_type().items():
        by_row.setdefault(row.path, []).append(name)
        rows[row.path] = row
    items = [
        envelope_schema(rows[path], tuple(sorted(names)))
        for path, names in by_row.items()
        if path != custom_row().path
    ]
    return batch_of({"anyOf": [envelope_schema(custom_row(), ("custom",)), *items]})
