"""Read endpoints: events by profile (docs/api.md §8), event search (§13.2), definitions (§13.3) and the
quarantine (§13.4)."""

from __future__ import annotations

import operator
import re
import uuid as uuidlib
from collections.abc import Callable, Iterable, Sequence
from dataclasses import replace
from typing import Any

import msgspec

from tracktion.domain.definitions import Definition
from tracktion.domain.models import Credential, Profile, QuarantineRecord
from tracktion.domain.ports import EventQuery, QuarantineQuery, StoredEvent, TimelineEvent
from tracktion.domain.stats import params_match
from tracktion.domain.timefmt import format_ms
from tracktion.errors import BadParameter, NotFound
from tracktion.http import pages, query, timeline
from tracktion.http.context import Context
from tracktion.http.request import Request, Response, json_response
from tracktion.schemas.client import lookup_identifier
from tracktion.schemas.render import definition_json, event_json

PROFILE_NOT_FOUND = "Profile not found"
TIMELINE_FIRST_FETCH = 100
_JSON_HEADER = (b"content-type", b"application/json")  # as `json_response` sends it
# §13.2 identifier filters: (store argument, query parameter, name in messages)
_IDENTIFIER_FILTERS = (
    ("uuid", "uuid", "UUID"),
    ("custom_id", "customId", "Custom id"),
    ("email", "email", "Email"),
)
_encode = msgspec.json.encode


async def events_by_client(ctx: Context, request: Request, credential: Credential, body: Any) -> Response:
    """`GET /v4/events/by-client/{clientId}` (workspace credentials)."""
    raw = request.path_params["clientId"]
    client_id = query.path_id(raw, "clientId", lambda: _profile_not_found(raw))
    return await _profile_events(ctx, request, credential.workspace_id, client_id)


def _profile_not_found(client_id: str) -> NotFound:
    return NotFound(PROFILE_NOT_FOUND, field="clientId", rejected_value=client_id)


async def own_events(ctx: Context, request: Request, credential: Credential, body: Any) -> Response:
    """`GET /v4/events` (profile tokens): the same, for the token's own profile."""
    assert credential.client_id is not None  # the route admits profile tokens only, which name a profile
    return await _profile_events(ctx, request, credential.workspace_id, credential.client_id)


async def _profile_events(ctx: Context, request: Request, workspace_id: int, client_id: int) -> Response:
    start, end = query.time_range(request, "time[from]", "time[to]")
    selection = EventQuery(
        workspace_id,
        client_ids=(client_id,),
        actions=tuple(request.query_all("action")),
        from_ms=start,
        to_ms=end if end is not None else request.received_ms,
    )
    profile: Profile | None = None

    async def fetch(n: int, after: tuple[int, int] | None) -> list[TimelineEvent]:
        nonlocal profile
        found = await ctx.store.profile_events(replace(selection, limit=n, after=after))
        if found is None:
            raise _profile_not_found(str(client_id))
        profile = found[0]
        return found[1]

    async def render(events: Sequence[TimelineEvent]) -> Iterable[Any]:
        assert profile is not None
        # The stored params as they are (`timeline`); the rare list it declines is rendered the general way.
        items = timeline.render_items(profile, events)
        return items if items is not None else timeline.event_dicts(profile, events)

    async def position(event_uuid: str) -> tuple[int, int] | None:
        # The timeline's rows carry no `seq`; the next fetch continues after this event's (time, seq).
        stored = await ctx.store.event(workspace_id, event_uuid)
        return (stored.row.time_ms, stored.row.seq) if stored is not None else None

    # The hot read path (§8.1, a p99 target): a default page (100) comes in one read, as before. Its rows
    # are the stored JSON, not decoded objects, so the first fetch costs at most its rows' bytes (≤ 101
    # events); larger pages continue in fetches sized from what the first one held.
    def joined(events: Sequence[TimelineEvent], room: int) -> tuple[memoryview, int] | None:
        assert profile is not None
        return timeline.render_joined(profile, events, room)

    page = await pages.collect(
        fetch,
        _timeline_uuid,
        render,
        query.limit(request),
        position=position,
        first=TIMELINE_FIRST_FETCH,
        joined=joined,
    )
    return Response(200, page.array(), [_JSON_HEADER])


_timeline_uuid: Callable[[TimelineEvent], str] = operator.itemgetter(0)  # its uuid; a C call per row


async def search_events(ctx: Context, request: Request, credential: Credential, body: Any) -> Response:
    """`GET /-/api/events`: filters, newest first, keyset cursor paging."""
    ws = credential.workspace_id
    client_ids: tuple[int, ...] | None = None
    raw_id = request.query_one("clientId")
    idents: dict[str, str | None] = {}
    for key, field, name in _IDENTIFIER_FILTERS:
        value = request.query_one(field)
        idents[key] = None if value is None else lookup_identifier(value, field, name)  # §3.2 trimming
    if raw_id is not None or any(v is not None for v in idents.values()):
        client_id = query.positive_int(raw_id, "clientId") if raw_id is not None else None
        client_ids = await ctx.store.find_client_ids(ws, client_id=client_id, **idents)
    start, end = query.time_range(request, "from", "to")
    limit = query.limit(request)
    order = request.query_one("order") or "time"
    if order not in ("time", "seq"):
        raise BadParameter("order must be time or seq", field="order", rejected_value=order)
    wanted = tuple(_param_filter(raw) for raw in request.query_all("param"))
    selection = EventQuery(
        ws,
        client_ids=client_ids,
        actions=tuple(request.query_all("action")),
        from_ms=start,
        to_ms=end,
        endpoint=request.query_one("endpoint"),
        order=order,
    )
    scan = _ParamScan(ctx, selection, wanted)

    async def render(events: Sequence[StoredEvent]) -> list[dict[str, Any]]:
        return [event_json(e, extended=True) for e in events]

    page = await pages.collect(
        scan.fetch, _event_key, render, limit, query.decode_cursor(request), overhead=_ENVELOPE_BYTES
    )
    if scan.exhausted and not page.more and scan.last is not None:
        # The budget ran out before the store did: continue after the last row looked at (§13.2).
        page = pages.Page(page.items, True, scan.last)
    return _items_page(page)


# Rows a `param` filter looks at per request (§13.2: bounded work per page); see docs/api.md §13.2.
PARAM_SCAN_ROWS = 10_000
_PARAM_FETCH_ROWS = 1_000


def _param_filter(raw: str) -> tuple[str, Any]:
    """`<name>:<JSON value>` (§13.2): the name runs to the first colon."""
    name, colon, value = raw.partition(":")
    if name and colon:
        try:
            return name, msgspec.json.decode(value.encode("utf-8", "surrogatepass"))
        except (msgspec.DecodeError, UnicodeDecodeError):
            pass
    raise BadParameter("param must be <name>:<JSON value>", field="param", rejected_value=raw)


class _ParamScan:
    """The store's rows, filtered on params in Python, at most `PARAM_SCAN_ROWS` of them per request;
    `exhausted` when that budget ended the scan, `last` the position of the last row looked at."""

    def __init__(self, ctx: Context, selection: EventQuery, wanted: tuple[tuple[str, Any], ...]) -> None:
        self.ctx, self.selection, self.wanted = ctx, selection, wanted
        self.scanned = 0
        self.exhausted = False
        self.last: tuple[int, int] | None = None

    async def fetch(self, n: int, after: tuple[int, int] | None) -> list[StoredEvent]:
        store, selection = self.ctx.store, self.selection
        if not self.wanted:
            return await store.events(replace(selection, limit=n, after=after))
        out: list[StoredEvent] = []
        asked = n  # every row may match; fewer matches than wanted make the next read 4× larger
        while len(out) < n:
            room = PARAM_SCAN_ROWS - self.scanned
            if room <= 0:
                self.exhausted = True
                break
            asked = min(room, _PARAM_FETCH_ROWS, asked)
            rows = await store.events(replace(selection, limit=asked, after=after))
            for stored in rows:
                self.scanned += 1
                after = self.last = _event_key(stored)
                if params_match(stored.row.params, self.wanted):
                    out.append(stored)
                    if len(out) == n:
                        break
            if len(rows) < asked:
                break
            asked *= 4
        return out


def _event_key(stored: StoredEvent) -> tuple[int, int]:
    return stored.row.time_ms, stored.row.seq


# `{"items":…,"nextCursor":"…"}` around a page's array: a cursor is two int64 in base64 (under 64 bytes).
_ENVELOPE_BYTES = 100


def _items_page(page: pages.Page[tuple[int, int]]) -> Response:
    """`{"items", "nextCursor"}`: the bytes `json_response` would write for it."""
    cursor = query.encode_cursor(*page.last) if page.more and page.last is not None else None
    body = b'{"items":' + page.array() + b',"nextCursor":' + _encode(cursor) + b"}"
    return Response(200, body, [_JSON_HEADER])


async def get_event(ctx: Context, request: Request, credential: Credential, body: Any) -> Response:
    raw = request.path_params["uuid"]
    try:
        event_id = str(uuidlib.UUID(raw))
    except ValueError:
        raise NotFound("Event not found", field="uuid", rejected_value=raw) from None
    stored = await ctx.store.event(credential.workspace_id, event_id)
    if stored is None:
        raise NotFound("Event not found", field="uuid", rejected_value=raw)
    return json_response(event_json(stored, extended=True))


async def list_definitions(ctx: Context, request: Request, credential: Credential, body: Any) -> Response:
    defs = await ctx.store.definitions(
        credential.workspace_id, kind=request.query_one("kind"), prefix=request.query_one("prefix")
    )

    async def fetch(n: int, after: int | None) -> list[tuple[int, Definition]]:
        start = after or 0
        return list(enumerate(defs[start : start + n], start + 1))  # (position after it, definition)

    async def render(rows: Sequence[tuple[int, Definition]]) -> list[dict[str, Any]]:
        return [definition_json(d) for _, d in rows]

    # No cursor here: a list past 16 MiB (actions with many thousands of param names) ends early (§12).
    page = await pages.collect(fetch, _first, render, max(len(defs), 1))
    return Response(200, page.array(), [_JSON_HEADER])


def _first(row: tuple[int, Any]) -> int:
    return row[0]


async def get_definition(ctx: Context, request: Request, credential: Credential, body: Any) -> Response:
    action = request.path_params["action"]
    defs = await ctx.store.definitions(credential.workspace_id, action=action)
    if not defs:
        raise NotFound("Definition not found", field="action", rejected_value=action)
    return json_response(definition_json(defs[0]))


def quarantine_json(record: QuarantineRecord) -> dict[str, Any]:
    out: dict[str, Any] = {
        "id": record.id,
        "receivedAt": format_ms(record.received_ms),
        "requestId": record.request_id,
        "method": record.method,
        "endpoint": record.endpoint,
        "itemIndex": record.item_index,
        "reason": record.reason,
        "status": record.status,
        "errors": [e.as_json() for e in record.errors],
        "credential": record.credential,
    }
    if record.has_item:
        out["item"] = _masked(record.item)
    else:
        out["body"] = masked_body(record.body)
        out["bodyTruncated"] = record.body_truncated
    return out


# §11: in a request-level body excerpt, the string after an `"apiKey"` or `"eventSalt"` key is shown as
# `"***"`. Matched on the text, since such a body did not parse: the value runs to its closing quote (escaped
# quotes skipped) or, in a body cut short, to the end of the excerpt.
_SECRET_VALUE = re.compile(r'("(?:apiKey|eventSalt)"\s*:\s*)"(?:[^"\\]|\\.)*(?:"|\\?$)', re.DOTALL)


def masked_body(body: str | None) -> str | None:
    if body is None or ('"apiKey"' not in body and '"eventSalt"' not in body):
        return body
    return _SECRET_VALUE.sub(r'\1"***"', body)


def _masked(item: Any) -> Any:
    """§11: salts and `params.apiKey` are shown as `***` (the store keeps them for recovery)."""
    if not isinstance(item, dict):
        return item
    out = dict(item)
    if "eventSalt" in out:
        out["eventSalt"] = "***"
    params = out.get("params")
    if isinstance(params, dict) and "apiKey" in params:
        out["params"] = {**params, "apiKey": "***"}
    return out


async def list_quarantine(ctx: Context, request: Request, credential: Credential, body: Any) -> Response:
    start, end = query.time_range(request, "from", "to")
    limit = query.limit(request)
    selection = QuarantineQuery(
        credential.workspace_id,
        reason=request.query_one("reason"),
        endpoint=request.query_one("endpoint"),
        from_ms=start,
        to_ms=end,
    )

    async def fetch(n: int, after: tuple[int, int] | None) -> list[tuple[int, QuarantineRecord]]:
        return await ctx.store.quarantine(replace(selection, limit=n, after=after))

    async def render(rows: Sequence[tuple[int, QuarantineRecord]]) -> list[dict[str, Any]]:
        return [quarantine_json(record) for _, record in rows]

    page = await pages.collect(
        fetch, _quarantine_key, render, limit, query.decode_cursor(request), overhead=_ENVELOPE_BYTES
    )
    return _items_page(page)


def _quarantine_key(row: tuple[int, QuarantineRecord]) -> tuple[int, int]:
    return row[1].received_ms, row[0]


async def get_quarantine(ctx: Context, request: Request, credential: Credential, body: Any) -> Response:
    record = await ctx.store.quarantine_record(credential.workspace_id, request.path_params["id"])
    if record is None:
        raise NotFound("Quarantine record not found", field="id", rejected_value=request.path_params["id"])
    return json_response(quarantine_json(record))


async def delete_quarantine(ctx: Context, request: Request, credential: Credential, body: Any) -> Response:
    if not await ctx.store.delete_quarantine(credential.workspace_id, request.path_params["id"]):
        raise NotFound("Quarantine record not found", field="id", rejected_value=request.path_params["id"])
    return Response(204)
