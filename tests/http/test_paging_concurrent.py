"""Contract §13.2 and §13.4: keyset paging of `/-/api/events` and `/-/api/quarantine` while writes land between
(and during) page fetches. Among the items that existed when paging started, none is skipped or repeated, and
they come in their original order; items inserted meanwhile may or may not show up, never twice."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

import pytest

from tests.support.api import Api
from tests.support.http import T0, Clock, event
from tracktion.domain.timefmt import format_ms

CUSTOM = "/v4/events/custom"
Writer = Callable[[int], Awaitable[None]]
WRITING_PAGES = 24


async def page_through(
    api: Api, path: str, key: str, limit: int, between: Writer, params: dict[str, str] | None = None
) -> list[str]:
    """Follow `nextCursor` to the end, running `between(page_number)` concurrently with the first
    `WRITING_PAGES` fetches and between them (writes of old times land after the cursor: writing on every
    page would never let paging end)."""
    seen: list[str] = []
    cursor: str | None = None
    page = 0

    async def maybe_write(page: int) -> None:
        if page < WRITING_PAGES:
            await between(page)

    while True:
        assert page < 1000, "paging does not end"
        query = {"limit": str(limit), **(params or {}), **({"cursor": cursor} if cursor else {})}
        response, _ = await asyncio.gather(api.get(path, params=query), maybe_write(2 * page))
        assert response.status_code == 200, response.text
        body = response.json()
        assert len(body["items"]) <= limit
        seen += [item[key] for item in body["items"]]
        cursor = body["nextCursor"]
        page += 1
        if cursor is None:
            return seen
        await maybe_write(2 * page - 1)  # and once more strictly between two fetches


def assert_stable(initial: list[str], seen: list[str]) -> None:
    assert len(seen) == len(set(seen)), "an item was repeated"
    missing = [i for i in initial if i not in seen]
    assert missing == [], f"skipped: {missing}"
    old = set(initial)
    assert [i for i in seen if i in old] == initial, "original order changed"


async def snapshot(api: Api, path: str, key: str, params: dict[str, str] | None = None) -> list[str]:
    r = await api.get(path, params={"limit": "1000", **(params or {})})
    assert r.json()["nextCursor"] is None
    return [item[key] for item in r.json()["items"]]


# -- events ---------------------------------------------------------------------------------------------------------

OLD_TIMES = [T0 - 3_000, T0 - 2_000, T0 - 2_000, T0 - 1_000]  # shared milliseconds on purpose


async def seed_events(api: Api, clock: Clock, n: int) -> None:
    for i in range(n):
        body = event(label=f"seed-{i}", client={"customId": f"c{i % 3}"})
        if i % 3 == 0:
            body["time"] = format_ms(OLD_TIMES[i % len(OLD_TIMES)])  # many seeds share a millisecond
        assert (await api.post(CUSTOM, body)).status_code == 202
        if i % 4 == 0:
            clock.advance(1)


def event_writer(api: Api, clock: Clock) -> Writer:
    async def write(page: int) -> None:
        # Newest-first paging: a new receive time lands before the cursor, an old explicit time (equal to
        # seeded ones) lands at or after it, in the same millisecond as existing items.
        clock.advance(1)
        items = [
            event(label=f"new-{page}-now"),
            event(label=f"new-{page}-old", time=format_ms(OLD_TIMES[page % len(OLD_TIMES)])),
            event(label=f"new-{page}-oldest", time=format_ms(T0 - 10_000 - page)),
            event(label=f"new-{page}-same", time=format_ms(clock.now_ms - 2)),
        ]
        assert (await api.post("/v4/events/batch", items)).status_code == 202
        assert (await api.post(CUSTOM, event(label=f"new-{page}-single"))).status_code == 202

    return write


@pytest.mark.parametrize("limit", [1, 3, 7])
async def test_events_paging_is_stable_under_concurrent_inserts(api: Api, clock: Clock, limit: int) -> None:
    await seed_events(api, clock, 20)
    initial = await snapshot(api, "/-/api/events", "uuid")
    assert len(initial) == 20
    seen = await page_through(api, "/-/api/events", "uuid", limit, event_writer(api, clock))
    assert_stable(initial, seen)
    assert len(await snapshot(api, "/-/api/events", "uuid")) > len(seen)  # the writes really happened


async def test_filtered_events_paging_is_stable_under_concurrent_inserts(api: Api, clock: Clock) -> None:
    await seed_events(api, clock, 12)
    params = {"customId": "c1"}
    initial = await snapshot(api, "/-/api/events", "uuid", params)
    assert len(initial) == 4

    async def write(page: int) -> None:
        clock.advance(1)
        for t in (clock.now_ms, *OLD_TIMES):
            body = event(client={"customId": "c1"}, time=format_ms(t), label=f"w{page}")
            assert (await api.post(CUSTOM, body)).status_code == 202

    seen = await page_through(api, "/-/api/events", "uuid", 1, write, params)
    assert_stable(initial, seen)


async def test_events_paging_while_many_writers_run(api: Api, clock: Clock) -> None:
    await seed_events(api, clock, 30)
    initial = await snapshot(api, "/-/api/events", "uuid")

    async def burst(page: int) -> None:
        await asyncio.gather(*(event_writer(api, clock)(page * 10 + k) for k in range(3)))

    seen = await page_through(api, "/-/api/events", "uuid", 4, burst)
    assert_stable(initial, seen)


# -- quarantine -------------------------------------------------------------------------------------------------------


async def refuse(api: Api, label: str) -> None:
    assert (await api.post(CUSTOM, event(action="", label=label))).status_code == 400


@pytest.mark.parametrize("limit", [1, 2, 5])
async def test_quarantine_paging_is_stable_under_concurrent_inserts(
    api: Api, clock: Clock, limit: int
) -> None:
    seeded_at: list[int] = []
    for i in range(13):
        await refuse(api, f"seed-{i}")
        seeded_at.append(clock.now_ms)
        if i % 3 == 0:
            clock.advance(1)  # some records share a millisecond
    initial = await snapshot(api, "/-/api/quarantine", "id")
    assert len(initial) == 13

    async def write(page: int) -> None:
        clock.advance(1)
        await refuse(api, f"new-{page}")
        r = await api.post("/v4/events/batch", [event(), event(label=""), event(client={"id": 9})])
        assert r.status_code == 400  # three records: batch rejected, validation failed, unknown clientId
        # Another node whose clock lags: records in the same milliseconds as the seeded ones.
        now = clock.now_ms
        clock.now_ms = seeded_at[page % len(seeded_at)]
        await refuse(api, f"lagging-{page}")
        clock.now_ms = now

    seen = await page_through(api, "/-/api/quarantine", "id", limit, write)
    assert_stable(initial, seen)
    assert len(await snapshot(api, "/-/api/quarantine", "id")) > len(seen)


async def test_filtered_quarantine_paging_is_stable_under_concurrent_inserts(api: Api, clock: Clock) -> None:
    for i in range(8):
        await refuse(api, f"seed-{i}")
        assert (await api.post(CUSTOM, event(client={"id": 77}))).status_code == 202  # unknown clientId
    params = {"reason": "unknown clientId"}
    initial = await snapshot(api, "/-/api/quarantine", "id", params)
    assert len(initial) == 8

    async def write(page: int) -> None:
        await asyncio.gather(
            api.post(CUSTOM, event(client={"id": 77})), refuse(api, f"w{page}"), api.post(CUSTOM, event())
        )

    seen = await page_through(api, "/-/api/quarantine", "id", 3, write, params)
    assert_stable(initial, seen)
