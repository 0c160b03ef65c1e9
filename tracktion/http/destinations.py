"""`/-/api/destinations` (docs/api.md §14.1, §14.3): a workspace's destinations, their status, failures and
replays. Another workspace's destination answers 404 exactly like one that does not exist."""

from __future__ import annotations

import uuid as uuidlib
from dataclasses import replace
from typing import Any

from tracktion.domain.models import Credential
from tracktion.domain.relay import BACKING_OFF, FAILING, Destination, RelayStore, Replay, relay_store
from tracktion.domain.timefmt import TimeFormatError, TimeRangeError, format_ms, parse_time_ms
from tracktion.errors import ErrorEntry, NotFound, ValidationFailed, rejected
from tracktion.http import query
from tracktion.http.context import Context
from tracktion.http.request import Request, Response, json_response
from tracktion.relay.config import destination_json, parse_create, parse_patch
from tracktion.relay.worker import written_ms
from tracktion.schemas.openapi_shapes import JsonSchema

NAME_TAKEN = "A destination with this name already exists"
_TIME: JsonSchema = {"type": "string", "description": "ISO 8601 (§3.5)"}
REPLAY_BODY: JsonSchema = {  # what `replay` checks; no body is an empty one
    "type": "object",
    "properties": {
        "from": _TIME,
        "to": _TIME,
        "actions": {"type": "array", "items": {"type": "string"}},
        "onlyFailed": {"type": "boolean"},
    },
}


def _store(ctx: Context) -> RelayStore:
    return relay_store(ctx.store)


def _poke(ctx: Context, d: Destination | None = None, replays: bool = False) -> None:
    if ctx.relay is not None:
        ctx.relay.poke(d.workspace_id if d else None, d.id if d else None, replays)


def _name_taken(name: str) -> ValidationFailed:
    return ValidationFailed(errors=[ErrorEntry(1010, "name", NAME_TAKEN, name)])


async def _find(ctx: Context, request: Request, credential: Credential) -> Destination:
    ident = request.path_params["id"]
    found = await _store(ctx).destination(credential.workspace_id, ident)
    if found is None:
        raise NotFound("Destination not found", field="id", rejected_value=ident)
    return found


async def create(ctx: Context, request: Request, credential: Credential, body: Any) -> Response:
    name, kind, config, filters, start = parse_create(body)
    store = _store(ctx)
    cursor = 0 if start == "beginning" else await store.relay_horizon()
    d = Destination(
        credential.workspace_id,
        str(uuidlib.uuid4()),
        name,
        kind,
        config,
        filters,
        False,
        ctx.clock_ms(),
        cursor=cursor,
    )
    if not await store.create_destination(d):
        raise _name_taken(name)
    _poke(ctx)
    return json_response(destination_json(d), 201)


async def list_all(ctx: Context, request: Request, credential: Credential, body: Any) -> Response:
    return json_response(
        [destination_json(d) for d in await _store(ctx).destinations(credential.workspace_id)]
    )


async def get_one(ctx: Context, request: Request, credential: Credential, body: Any) -> Response:
    return json_response(destination_json(await _find(ctx, request, credential)))


async def patch(ctx: Context, request: Request, credential: Credential, body: Any) -> Response:
    current = await _find(ctx, request, credential)
    changed = parse_patch(body, current)
    outcome = await _store(ctx).update_destination(changed)
    if outcome is None:
        raise NotFound("Destination not found", field="id", rejected_value=current.id)
    if outcome is False:
        raise _name_taken(changed.name)
    _poke(ctx, changed)
    return json_response(
        destination_json(replace(current, name=changed.name, config=changed.config, filter=changed.filter))
    )


async def delete(ctx: Context, request: Request, credential: Credential, body: Any) -> Response:
    d = await _find(ctx, request, credential)
    if not await _store(ctx).delete_destination(d.workspace_id, d.id):
        raise NotFound("Destination not found", field="id", rejected_value=d.id)
    _poke(ctx, d)
    return Response(204)


async def _set_paused(ctx: Context, request: Request, credential: Credential, paused: bool) -> Response:
    d = replace(await _find(ctx, request, credential), paused=paused)
    if await _store(ctx).update_destination(d) is None:
        raise NotFound("Destination not found", field="id", rejected_value=d.id)
    _poke(ctx, d)
    return json_response(destination_json(d))


async def pause(ctx: Context, request: Request, credential: Credential, body: Any) -> Response:
    return await _set_paused(ctx, request, credential, True)


async def resume(ctx: Context, request: Request, credential: Credential, body: Any) -> Response:
    return await _set_paused(ctx, request, credential, False)


async def status(ctx: Context, request: Request, credential: Credential, body: Any) -> Response:
    d = await _find(ctx, request, credential)
    store = _store(ctx)
    count, oldest, newest = await store.relay_lag(d.workspace_id, d.cursor)
    lag_seconds = 0.0
    if oldest is not None:
        found = await store.relay_events(d.workspace_id, oldest - 1, oldest, 1)
        if found:
            lag_seconds = max(0.0, (ctx.clock_ms() - written_ms(found[0])) / 1000)
    state = d.public_state
    error = d.last_error
    return json_response(
        {
            "state": state,
            "cursor": d.cursor,
            "headSeq": newest if newest is not None else d.cursor,
            "lagEvents": count,
            "lagSeconds": round(lag_seconds, 3),
            "delivered": d.delivered,
            "failed": d.failed,
            "lastSuccessAt": format_ms(d.last_success_ms) if d.last_success_ms is not None else None,
            "lastError": (
                {"at": format_ms(error["at"]), "status": error.get("status"), "message": error.get("message")}
                if error
                else None
            ),
            "nextAttemptAt": (
                format_ms(d.next_attempt_ms)
                if state in (BACKING_OFF, FAILING) and d.next_attempt_ms is not None
                else None
            ),
        }
    )


async def failures(ctx: Context, request: Request, credential: Credential, body: Any) -> Response:
    d = await _find(ctx, request, credential)
    limit = query.limit(request)
    after = query.decode_cursor(request)
    rows = await _store(ctx).failures(d.workspace_id, d.id, after[0] if after else 0, limit + 1)
    page = rows[:limit]
    cursor = query.encode_cursor(page[-1].seq, 0) if len(rows) > limit else None
    items = [
        {
            "id": f.id,
            "eventUuid": f.event_uuid,
            "seq": f.seq,
            "failedAt": format_ms(f.failed_ms),
            "attempts": f.attempts,
            "status": f.status,
            "response": f.response,
        }
        for f in page
    ]
    return json_response({"items": items, "nextCursor": cursor})


def _time(found: dict[str, Any], key: str, errors: list[ErrorEntry]) -> int | None:
    value = found.get(key)
    if value is None:
        return None
    if not isinstance(value, str):
        errors.append(ErrorEntry(1004, key, f"{key} must be a time string", rejected(value)))
        return None
    try:
        return parse_time_ms(value)
    except (TimeFormatError, TimeRangeError):
        errors.append(ErrorEntry(1005, key, f"{key} is not a valid ISO8601 time", value))
        return None


async def replay(ctx: Context, request: Request, credential: Credential, body: Any) -> Response:
    d = await _find(ctx, request, credential)
    body = {} if body is None else body
    if not isinstance(body, dict):
        raise ValidationFailed(
            errors=[ErrorEntry(1001, "", "Request body must be a JSON object", rejected(body))]
        )
    errors: list[ErrorEntry] = []
    start, end = _time(body, "from", errors), _time(body, "to", errors)
    if start is not None and end is not None and start > end:
        errors.append(ErrorEntry(1006, "from", "from is after to", body.get("from")))
    actions = body.get("actions")
    if actions is not None and (
        not isinstance(actions, list) or not all(isinstance(a, str) for a in actions)
    ):
        errors.append(ErrorEntry(1004, "actions", "actions must be an array of strings", rejected(actions)))
        actions = None
    only_failed = body.get("onlyFailed")
    if only_failed is not None and not isinstance(only_failed, bool):
        errors.append(ErrorEntry(1004, "onlyFailed", "onlyFailed must be a boolean", rejected(only_failed)))
    if errors:
        raise ValidationFailed(errors=errors)
    r = Replay(
        d.workspace_id,
        d.id,
        str(uuidlib.uuid4()),
        start,
        end,
        tuple(actions or ()),
        bool(only_failed),
        upto=d.cursor,
        created_ms=ctx.clock_ms(),
    )
    await _store(ctx).create_replay(r)
    _poke(ctx, d, replays=True)
    return json_response({"replayId": r.id}, 202)


async def get_replay(ctx: Context, request: Request, credential: Credential, body: Any) -> Response:
    d = await _find(ctx, request, credential)
    ident = request.path_params["replayId"]
    r = await _store(ctx).replay(d.workspace_id, d.id, ident)
    if r is None:
        raise NotFound("Replay not found", field="replayId", rejected_value=ident)
    return json_response(
        {
            "id": r.id,
            "state": r.state,
            "matched": r.matched,
            "delivered": r.delivered,
            "failed": r.failed,
            "createdAt": format_ms(r.created_ms),
        }
    )
