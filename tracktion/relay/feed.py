"""The events a node's destinations deliver: read once per workspace and rendered once per event.

Every destination of a workspace walks the same writes, usually at the same place (a live destination sits
at the horizon). Each used to read them and render the §13.2 item (docs/api.md §13.2, `extended`) for
itself: with a webhook and a NATS destination that was two reads and two renders per event, CPU taken from
ingestion on the same node. The `Feed` keeps the last pages read per workspace for a few seconds; a second
destination asking for the same place gets the same `Item`s, whose JSON is rendered on first use and kept.

A page is the writes after a seq up to a horizon (every write up to it is final, see `worker`), so a page
read up to one horizon answers any request from the same seq: to a lower horizon by dropping what is past
it; to a higher one as it is when the page was full (its events are the first ones after the seq whatever
the horizon), else by reading only what lies between the two horizons. Pages are kept `_KEEP_SECONDS` at
most and dropped at once when the workspace has an erasure (§15.1), so nothing deleted since is sent later
than a delivery already under way would have sent it.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections import OrderedDict
from typing import Any

import msgspec

from tracktion.domain.models import EventRow
from tracktion.domain.relay import RelayEvent, RelayRow, RelayStore
from tracktion.domain.timefmt import format_ms
from tracktion.schemas.render import event_json

READ_PAGE = 1000  # events per read: a destination that is behind catches up 1,000 at a time
_KEEP_SECONDS = 2.0
_KEEP_PAGES = 16  # across workspaces: a page is ~1 MB at most (1,000 rendered items)


class _Client(msgspec.Struct, rename="camel"):
    id: int
    uuid: Any
    custom_id: str | None
    email: str | None


class _Item(msgspec.Struct, rename={"received_at": "receivedAt"}):
    """`render.event_json(e, extended=True)`: the same keys in the same order, without the dicts."""

    uuid: str
    time: str
    action: str
    label: str
    client: _Client
    params: msgspec.Raw  # as stored: msgspec's own encoding, written back as it is
    endpoint: str
    kind: str
    seq: int
    received_at: str


class _System(msgspec.Struct):
    """The two params the item shows elsewhere too (`client.uuid`, `receivedAt`); the others are skipped by
    the decoder, not built."""

    uuid: Any = None
    eventCreateTime: Any = None


_encode = msgspec.json.Encoder().encode
_read_system = msgspec.json.Decoder(_System).decode
_decode = msgspec.json.Decoder().decode


def decode_params(params: str | bytes) -> dict[str, Any]:
    """Stored params as a dict (the stdlib reads the escaped lone surrogates msgspec refuses)."""
    try:
        decoded: dict[str, Any] = _decode(params)
    except msgspec.DecodeError:
        decoded = json.loads(params)
    return decoded


def render_item(row: RelayRow) -> bytes:
    """The §13.2 item (extended) of a write as JSON, its params embedded as stored."""
    try:
        system = _read_system(row.params)
        time_text = format_ms(row.time_ms)
        return _encode(
            _Item(
                row.uuid,
                time_text,
                row.action,
                row.label,
                _Client(row.client_id, system.uuid, row.custom_id, row.email),
                msgspec.Raw(row.params),
                row.endpoint,
                row.kind,
                row.seq,
                system.eventCreateTime or time_text,
            )
        )
    except (msgspec.DecodeError, UnicodeEncodeError):  # a lone surrogate (stored as sent): the stdlib
        event = to_event(row)  # escapes it
        return json.dumps(event_json(event, extended=True), separators=(",", ":")).encode()


def to_event(row: RelayRow) -> RelayEvent:
    return RelayEvent(
        EventRow(
            row.workspace_id,
            row.uuid,
            row.client_id,
            row.action,
            row.label,
            row.time_ms,
            decode_params(row.params),
            row.endpoint,
            row.kind,
            row.seq,
        ),
        row.custom_id,
        row.email,
        row.primary_uuid,
    )


def to_row(event: RelayEvent) -> RelayRow:
    r = event.row
    return RelayRow(
        r.seq,
        r.workspace_id,
        r.uuid,
        r.client_id,
        r.action,
        r.label,
        r.time_ms,
        _params_json(r.params),
        r.endpoint,
        r.kind,
        event.custom_id,
        event.email,
        event.primary_uuid,
    )


def _params_json(params: dict[str, Any]) -> bytes:
    """Params as stored JSON: msgspec's encoding; the stdlib's for a lone surrogate (escaped), which msgspec
    refuses. Encoded once: the check used to encode them a first time only to throw the result away."""
    try:
        return msgspec.json.encode(params)
    except UnicodeEncodeError:
        return json.dumps(params).encode()


class Item:
    """One write as delivered: its row, its event (built on first use: the `synerise` type maps it) and its
    item JSON (rendered on first use, then shared by every destination that sends it)."""

    __slots__ = ("_body", "_event", "row")

    def __init__(self, row: RelayRow, event: RelayEvent | None = None) -> None:
        self.row = row
        self._event = event
        self._body: bytes | None = None

    @classmethod
    def of(cls, event: RelayEvent) -> Item:
        return cls(to_row(event), event)

    @property
    def seq(self) -> int:
        return self.row.seq

    @property
    def event(self) -> RelayEvent:
        event = self._event
        if event is None:
            event = self._event = to_event(self.row)
        return event

    @property
    def body(self) -> bytes:
        body = self._body
        if body is None:
            body = self._body = render_item(self.row)
        return body


def items(rows: list[RelayRow]) -> list[Item]:
    return [Item(r) for r in rows]


class _Page:
    __slots__ = ("at", "items", "upto")

    def __init__(self, items: list[Item], upto: int, at: float) -> None:
        self.items = items
        self.upto = upto
        self.at = at  # when its first events were read: it is dropped _KEEP_SECONDS later, extended or not


class Feed:
    def __init__(self, store: RelayStore) -> None:
        self.store = store
        self._pages: OrderedDict[tuple[int, int], _Page] = OrderedDict()  # (workspace, after seq)
        self._reading: dict[tuple[int, int], asyncio.Future[None]] = {}
        self._forgotten = 0  # bumped by `forget`: a page whose read began before is not kept

    async def read(self, workspace_id: int, after: int, upto: int) -> list[Item]:
        """The workspace's writes after `after` up to `upto`, in seq order, at most `READ_PAGE`."""
        key = (workspace_id, after)
        while True:
            page = self._pages.get(key)
            if page is not None and time.monotonic() - page.at > _KEEP_SECONDS:
                del self._pages[key]
                page = None
            if page is not None:
                if upto <= page.upto:
                    if upto == page.upto or not page.items or page.items[-1].seq <= upto:
                        return page.items
                    return [i for i in page.items if i.seq <= upto]
                if len(page.items) >= READ_PAGE:
                    return page.items  # the first READ_PAGE writes after `after`, whatever the horizon
            reading = self._reading.get(key)
            if reading is None:
                break
            await asyncio.wait([reading])  # another destination is reading this place: share its page
        done = self._reading[key] = asyncio.get_running_loop().create_future()
        forgotten = self._forgotten
        try:
            if page is not None:  # short, and read up to a lower horizon: read only the rest
                more = await self.store.relay_rows(workspace_id, page.upto, upto, READ_PAGE - len(page.items))
                page = _Page(page.items + items(more), upto, page.at)
            else:
                found = items(await self.store.relay_rows(workspace_id, after, upto, READ_PAGE))
                page = _Page(found, upto, time.monotonic())
            if forgotten != self._forgotten:
                return page.items
            self._pages[key] = page
            self._pages.move_to_end(key)
            while len(self._pages) > _KEEP_PAGES:
                self._pages.popitem(last=False)
            return page.items
        finally:
            del self._reading[key]
            done.set_result(None)

    def forget(self, workspace_id: int) -> None:
        """Drop the workspace's pages (an erasure: §15.1)."""
        self._forgotten += 1
        for key in [k for k in self._pages if k[0] == workspace_id]:
            del self._pages[key]
