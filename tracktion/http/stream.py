"""`GET /-/api/stream` (docs/api.md §13.5): the workspace's committed writes as server-sent events.

Each stream follows the store by `seq` (events) and quarantine `seq`: woken at once by local commits, and
polling every second for writes of other processes. With `Last-Event-ID`, up to 1000 stored events after
that id are replayed first, oldest first. When the server stops, each stream sends what is committed and
ends (clients reconnect with `Last-Event-ID`), so a stop never waits for a browser tab or a `tail`.

A stream lives longer than the credential it was opened with may: the credential is checked again at its
token's `exp` and at least every `RECHECK_SECONDS`, and once it no longer holds (key revoked, token expired,
permission gone) the stream sends `event: error` with the §1.6 body and ends.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator
from typing import Any

import msgspec

from tracktion.domain.models import Credential
from tracktion.domain.timefmt import format_ms
from tracktion.errors import BadParameter, PermissionDenied, TracktionError, error_body
from tracktion.http import query
from tracktion.http.context import Context
from tracktion.http.pages import Sizer
from tracktion.http.reads import quarantine_json
from tracktion.http.request import Request, Response, StreamResponse
from tracktion.schemas.render import event_json

PING_SECONDS = 15.0
POLL_SECONDS = 1.0
RECHECK_SECONDS = 5.0  # §13.5: the credential is checked again at least this often
REPLAY_MAX = 1000
PAGE = 500
PERMISSION = "API_EVENTS_READ"  # the route's permission (§2.5), which must still be held
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
    authorization = request.headers.get("authorization")
    expires = _token_exp(ctx, authorization)

    def wanted(item: dict[str, Any]) -> bool:
        return (not actions or item["action"] in actions) and (
            client_id is None or item["client"]["id"] == client_id
        )

    async def still_allowed() -> TracktionError | None:
        """What ends the stream, once its credential no longer holds."""
        try:
            now = await ctx.authn.authenticate(authorization)
        except TracktionError as exc:
            if exc.status in (400, 401, 403):
                return exc
            raise
        if now.workspace_id != credential.workspace_id:  # cannot happen for the same header; cheap to say
            return PermissionDenied()
        if now.kind == "workspace" and PERMISSION not in now.permissions:
            return PermissionDenied(f"Permission {PERMISSION} missing")
        return None

    def error_frame(exc: TracktionError) -> bytes:
        data = error_body(exc.status, exc.errors, request.path, format_ms(ctx.clock_ms()))
        return b"event: error\ndata: " + _encode(data) + b"\n\n"

    async def chunks() -> AsyncIterator[bytes]:
        ctx.stream_clients += 1
        try:
            async for chunk in follow():
                yield chunk
        finally:
            ctx.stream_clients -= 1

    def frame_of(stored: Any, sizer: Sizer) -> bytes | None:
        """The frame of a stored event, or None when the filters leave it out. Every frame is sized,
        wanted or not: fetches are sized from the largest seen, so a flood of near-1-MiB events of
        another action is not read 500 at once either."""
        item = event_json(stored, extended=True)
        frame = _frame("event", item, stored.row.seq)
        sizer.saw(len(frame))
        return frame if wanted(item) else None

    async def follow() -> AsyncIterator[bytes]:
        nonlocal event_seq, quarantine_seq, expires
        yield b"retry: 2000\n: connected\n\n"
        ws = credential.workspace_id
        sizer, records = Sizer(), Sizer()
        if replay_from is not None:
            left, after = REPLAY_MAX, replay_from
            while left > 0:
                asked = sizer.rows(left)
                batch = await ctx.store.events_since(ws, after, asked)
                for stored in batch:
                    frame = frame_of(stored, sizer)
                    if frame is not None:
                        yield frame
                    after = stored.row.seq
                    event_seq = max(event_seq, stored.row.seq)
                left -= len(batch)
                if len(batch) < asked:
                    break
        last_sent = time.monotonic()
        next_check = last_sent + RECHECK_SECONDS
        while not ctx.changes.closed:  # closed: the server is stopping, end the response
            timeout = min(POLL_SECONDS, max(0.0, next_check - time.monotonic()))
            if expires is not None:
                timeout = min(timeout, max(0.0, expires - time.time()))
            await ctx.changes.wait(ws, timeout)
            if time.monotonic() >= next_check or (expires is not None and time.time() >= expires):
                problem = await still_allowed()
                if problem is not None:
                    yield error_frame(problem)
                    return
                if expires is not None and time.time() >= expires:
                    expires = None  # checked and still valid (a clock of its own): periodic checks only
                next_check = time.monotonic() + RECHECK_SECONDS
            sent = False
            while True:  # drain: a burst can exceed one fetch
                asked = sizer.rows(PAGE)
                page = await ctx.store.events_since(ws, event_seq, asked)
                for stored in page:
                    frame = frame_of(stored, sizer)
                    if frame is not None:
                        yield frame
                        sent = True
                    event_seq = stored.row.seq
                if len(page) < asked:
                    break
            if with_quarantine:
                # A record keeps its item whole (up to 1 MiB): sized like the events.
                for seq, record in await ctx.store.quarantine_since(ws, quarantine_seq, records.rows(PAGE)):
                    frame = _frame("quarantine", quarantine_json(record), None)
                    records.saw(len(frame))
                    yield frame
                    quarantine_seq, sent = seq, True
            if sent:
                last_sent = time.monotonic()
            elif time.monotonic() - last_sent >= PING_SECONDS:
                yield b": ping\n\n"
                last_sent = time.monotonic()

    return StreamResponse(chunks(), _HEADERS)


def _token_exp(ctx: Context, authorization: str | None) -> float | None:
    """The `exp` of a bearer token (epoch seconds), when the stream's credential is one."""
    scheme, _, token = (authorization or "").partition(" ")
    if scheme.lower() != "bearer":
        return None
    try:
        return float(ctx.tokens.verify(token.strip()).exp)  # cached: verified moments ago
    except TracktionError:
        return None


def _frame(kind: str, data: dict[str, Any], seq: int | None) -> bytes:
    head = f"id: {seq}\nevent: {kind}\n" if seq is not None else f"event: {kind}\n"
    return head.encode() + b"data: " + _encode(data) + b"\n\n"
