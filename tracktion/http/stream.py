"""`GET /-/api/stream` (contract §13.5): the workspace's committed writes as server-sent events.

Each stream follows the store by `seq` (events) and quarantine `seq`: woken at once by local commits, and
polling every second for writes of other processes. With `Last-Event-ID`, up to 1000 stored events after
that id are replayed first, oldest first. When the server stops, each stream sends what is committed and
ends (clients reconnect with `Last-Event-ID`), so a stop never waits for a browser tab or a `tail`.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from typing import Any

import msgspec

from tracktion.domain.models import Credential
from tracktion.errors import BadParameter
from tracktion.http import query
from tracktion.http.context import Context
from tracktion.http.reads import quarantine_json
from tracktion.http.request import Request, Response, StreamResponse
from tracktion.schemas.render import event_json

PING_SECONDS = 15.0
POLL_SECONDS = 1.0
REPLAY_MAX = 1000
PAGE = 500
_encode = msgspec.json.encode
_HEADERS = [
    (b"content-type", b"text/event-stream; charset=utf-8"),
    (b"cache-control", b"no-cache"),
    (b"x-accel-buffering", b"no"),  # proxies must not buffer a live stream
]


def last_event_id(request: Request) -> int | None:
    """§13.5: a decimal integer within int64, else 400, 1017. Absent or empty: no replay."""
    raw = request.headers.get("last-event-id", "").strip()
    if not raw:
        return None
    number = query.int64(raw[1:]) if raw.startswith("-") else query.int64(raw)
    if number is None:
        raise BadParameter(
            "Last-Event-ID must be a decimal integer within int64", field="Last-Event-ID", rejected_value=raw
        )
    return -number if raw.startswith("-") else number


async def stream(ctx: Context, request: Request, credential: Credential, body: Any) -> Response:
    actions = set(request.query_all("action"))
    raw_client = request.query_one("clientId")
    client_id = query.positive_int(raw_client, "clientId") if raw_client is not None else None
    with_quarantine = "quarantine" in request.query_all("include")
    replay_from = last_event_id(request)
    event_seq, quarantine_seq = await ctx.store.latest_seqs()

    def wanted(item: dict[str, Any]) -> bool:
        return (not actions or item["action"] in actions) and (
            client_id is None or item["client"]["id"] == client_id
        )

    async def chunks() -> AsyncIterator[bytes]:
        ctx.stream_clients += 1
        try:
            async for chunk in follow():
                yield chunk
        finally:
            ctx.stream_clients -= 1

    async def follow() -> AsyncIterator[bytes]:
        nonlocal event_seq, quarantine_seq
        yield b"retry: 2000\n: connected\n\n"
        ws = credential.workspace_id
        if replay_from is not None:
            for stored in await ctx.store.events_since(ws, replay_from, REPLAY_MAX):
                item = event_json(stored, extended=True)
                if wanted(item):
                    yield _frame("event", item, stored.row.seq)
                event_seq = max(event_seq, stored.row.seq)
        last_sent = time.monotonic()
        while not ctx.changes.closed:  # closed: the server is stopping, end the response
            await ctx.changes.wait(ws, POLL_SECONDS)
            sent = False
            while True:  # drain: a burst can exceed one page
                page = await ctx.store.events_since(ws, event_seq, PAGE)
                for stored in page:
                    item = event_json(stored, extended=True)
                    if wanted(item):
                        yield _frame("event", item, stored.row.seq)
                        sent = True
                    event_seq = stored.row.seq
                if len(page) < PAGE:
                    break
            if with_quarantine:
                for seq, record in await ctx.store.quarantine_since(ws, quarantine_seq, PAGE):
                    yield _frame("quarantine", quarantine_json(record), None)
                    quarantine_seq, sent = seq, True
            if sent:
                last_sent = time.monotonic()
            elif time.monotonic() - last_sent >= PING_SECONDS:
                yield b": ping\n\n"
                last_sent = time.monotonic()

    return StreamResponse(chunks(), _HEADERS)


def _frame(kind: str, data: dict[str, Any], seq: int | None) -> bytes:
    head = f"id: {seq}\nevent: {kind}\n" if seq is not None else f"event: {kind}\n"
    return head.encode() + b"data: " + _encode(data) + b"\n\n"
