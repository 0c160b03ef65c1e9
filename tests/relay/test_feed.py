"""The relay's shared reads (`tracktion.relay.feed`): one store read per place for all of a workspace's
destinations, answers that match what a read of their own would give, and the item JSON the same as
`render.event_json`'s."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import msgspec

from tracktion.domain.relay import RelayRow
from tracktion.relay import feed as feed_module
from tracktion.relay.feed import READ_PAGE, Feed, Item, render_item, to_event
from tracktion.schemas.render import event_json


def _row(seq: int, workspace_id: int = 1, **params: Any) -> RelayRow:
    p = {
        "uuid": "7d3c0d7e-1f1a-4b8e-9a51-0d3b8c1f6a10",
        "eventCreateTime": "2026-12-06T08:00:00.000Z",
    } | params
    return RelayRow(
        seq,
        workspace_id,
        f"00000000-0000-4000-8000-{seq:012d}",
        42,
        "page.visit",
        "a label",
        1_765_000_000_000 + seq,
        msgspec.json.encode(p).decode(),
        "custom",
        "custom",
        "cust-1",
        None,
        "11111111-2222-4333-8444-555555555555",
    )


class FakeStore:
    def __init__(self, seqs: list[int]) -> None:
        self.rows = [_row(s) for s in seqs]
        self.reads: list[tuple[int, int, int, int]] = []

    async def relay_rows(self, workspace_id: int, after: int, upto: int, limit: int) -> list[RelayRow]:
        self.reads.append((workspace_id, after, upto, limit))
        await asyncio.sleep(0)
        return [r for r in self.rows if after < r.seq <= upto and r.workspace_id == workspace_id][:limit]


def _seqs(found: list[Item]) -> list[int]:
    return [i.seq for i in found]


async def test_destinations_at_the_same_place_share_one_read_and_one_rendering() -> None:
    store = FakeStore([2, 3, 5, 8])
    feed = Feed(store)  # type: ignore[arg-type]
    a, b = await asyncio.gather(feed.read(1, 0, 8), feed.read(1, 0, 8))
    assert _seqs(a) == _seqs(b) == [2, 3, 5, 8]
    assert len(store.reads) == 1
    assert a[0] is b[0] and a[0].body is b[0].body  # rendered once


async def test_a_page_answers_any_horizon_as_a_read_of_its_own_would() -> None:
    store = FakeStore([2, 3, 5, 8, 9, 12])
    feed = Feed(store)  # type: ignore[arg-type]
    assert _seqs(await feed.read(1, 0, 8)) == [2, 3, 5, 8]
    assert _seqs(await feed.read(1, 0, 4)) == [2, 3]  # a lower horizon: no read
    assert len(store.reads) == 1
    assert _seqs(await feed.read(1, 0, 10)) == [2, 3, 5, 8, 9]  # a higher one: only (8, 10] is read
    assert store.reads[-1] == (1, 8, 10, READ_PAGE - 4)
    assert _seqs(await feed.read(1, 3, 12)) == [5, 8, 9, 12]  # another place: a read of its own
    assert _seqs(await feed.read(2, 0, 12)) == []  # another workspace
    assert len(store.reads) == 4


async def test_a_full_page_serves_a_higher_horizon_without_reading(monkeypatch: Any) -> None:
    monkeypatch.setattr(feed_module, "READ_PAGE", 3)
    store = FakeStore([1, 2, 3, 4, 5])
    feed = Feed(store)  # type: ignore[arg-type]
    assert _seqs(await feed.read(1, 0, 4)) == [1, 2, 3]
    assert _seqs(await feed.read(1, 0, 5)) == [1, 2, 3]
    assert _seqs(await feed.read(1, 0, 2)) == [1, 2]
    assert len(store.reads) == 1


async def test_an_erasure_drops_the_workspaces_pages() -> None:
    store = FakeStore([1, 2])
    feed = Feed(store)  # type: ignore[arg-type]
    await feed.read(1, 0, 2)
    feed.forget(1)
    store.rows = store.rows[:1]
    assert _seqs(await feed.read(1, 0, 2)) == [1]


def test_the_item_json_is_render_event_json() -> None:
    for row in (
        _row(7),
        _row(8, nested={"a": [1, 2.5, None, True]}, text="é ✓ \u2028"),
        _row(9, eventCreateTime=None),
    ):
        expected = msgspec.json.encode(event_json(to_event(row), extended=True))
        assert render_item(row) == expected
    # A lone surrogate stored escaped (the stdlib fallback): same item, escaped.
    row = _row(10)._replace(params='{"uuid":"x","odd":"\\ud800"}')
    assert json.loads(render_item(row)) == event_json(to_event(row), extended=True)
