"""The §13.6a counters (`tracktion.storage.counters`) on every backend (`[sqlite]`, `[postgres]`).

The invariant: after any sequence of writes, overwrites and deletions, the counters equal a `GROUP BY` over
the rows actually stored (the same query the migration backfills from), at every grain. The recount reads
the tables directly (`SQLStore._read`), since no port exposes them.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from tests.support.store import T0, event, request
from tracktion.domain.models import ClientRef
from tracktion.domain.ports import EventQuery, ProfileQuery, QuarantineQuery, StatsQuery, Store
from tracktion.domain.stats import DAY_MS, HOUR_MS, MINUTE_MS
from tracktion.errors import ErrorEntry, ValidationFailed
from tracktion.storage.counters import WIDTHS, backfill_sql
from tracktion.storage.sql_store import SQLStore


async def _workspace(store: Store, name: str = "default") -> int:
    return (await store.create_workspace(name, T0)).id


async def _counters(store: Store) -> tuple[set[tuple[Any, ...]], set[tuple[Any, ...]]]:
    assert isinstance(store, SQLStore)
    events = await store._read(
        "SELECT workspace_id, width, bucket_ms, action, kind, n FROM event_counts WHERE n <> 0"
    )
    records = await store._read(
        "SELECT workspace_id, width, bucket_ms, reason, n FROM quarantine_counts WHERE n <> 0"
    )
    return {tuple(int(v) if isinstance(v, int) else v for v in r) for r in events}, {
        tuple(r) for r in records
    }


async def _recount(store: Store) -> tuple[set[tuple[Any, ...]], set[tuple[Any, ...]]]:
    """What the counters must hold: the backfill's GROUP BY over the stored rows."""
    assert isinstance(store, SQLStore)
    minute = store._d.received_minute
    events: set[tuple[Any, ...]] = set()
    records: set[tuple[Any, ...]] = set()
    for sql in backfill_sql(minute):
        select = sql[sql.index("SELECT") :]
        rows = await store._read(select)
        (events if "event_counts" in sql else records).update(tuple(r) for r in rows)
    return events, records


async def _assert_exact(store: Store) -> None:
    assert await _counters(store) == await _recount(store)


def _invalid(field: str = "label") -> ValidationFailed:
    return ValidationFailed(errors=[ErrorEntry(1002, field, "Label is required", None)])


async def test_counts_follow_inserts_batches_and_quarantine(store: Store) -> None:
    ws = await _workspace(store)
    await store.write(request(event(action="a.one"), received_ms=T0))
    await store.write(request(event(action="a.one"), received_ms=T0 + 5))
    await store.write(
        request(event(action="a.two"), event(action="a.one"), batch=True, received_ms=T0 + MINUTE_MS)
    )
    # a refused atomic batch: no events, two quarantine records
    await store.write(
        request(event(action="a.three"), _invalid("[1].label"), batch=True, received_ms=T0 + HOUR_MS)
    )
    counted = await store.stats(StatsQuery(ws, "action", MINUTE_MS, 0, T0 + DAY_MS))
    m0 = T0 - T0 % MINUTE_MS
    assert sorted(counted) == [("a.one", m0, 2), ("a.one", m0 + MINUTE_MS, 1), ("a.two", m0 + MINUTE_MS, 1)]
    by_hour = await store.stats(StatsQuery(ws, "action", HOUR_MS, 0, T0 + DAY_MS))
    h0 = T0 - T0 % HOUR_MS
    assert sorted(by_hour) == [("a.one", h0, 3), ("a.two", h0, 1)]
    assert await store.stats(StatsQuery(ws, "kind", DAY_MS, 0, T0 + DAY_MS)) == [
        ("custom", T0 - T0 % DAY_MS, 4)
    ]
    reasons = await store.stats(StatsQuery(ws, "reason", HOUR_MS, 0, T0 + DAY_MS))
    h1 = h0 + HOUR_MS
    assert sorted(reasons) == [("batch rejected", h1, 1), ("validation failed", h1, 1)]
    # the range selects buckets by their start
    assert await store.stats(StatsQuery(ws, "action", MINUTE_MS, m0 + MINUTE_MS, m0 + MINUTE_MS)) != []
    assert await store.stats(StatsQuery(ws, "action", MINUTE_MS, m0 + 2 * MINUTE_MS, T0 + DAY_MS)) == []
    await _assert_exact(store)


async def test_salted_overwrite_moves_the_event_to_its_new_receive_minute(store: Store) -> None:
    ws = await _workspace(store)
    client = ClientRef(custom_id="c1")
    await store.write(request(event(client, salt="s-1"), received_ms=T0))
    await store.write(request(event(client, salt="s-1"), received_ms=T0 + 3 * MINUTE_MS))
    # twice in one batch: one event
    await store.write(
        request(
            event(client, salt="s-2"), event(client, salt="s-2"), batch=True, received_ms=T0 + 4 * MINUTE_MS
        )
    )
    # an earlier job of the same commit is overwritten by a later one: both are in one group only sometimes;
    # the invariant holds either way
    rows = await store.stats(StatsQuery(ws, "action", MINUTE_MS, 0, T0 + DAY_MS))
    m0 = T0 - T0 % MINUTE_MS
    assert sorted(rows) == [("door.open", m0 + 3 * MINUTE_MS, 1), ("door.open", m0 + 4 * MINUTE_MS, 1)]
    assert len(await store.events(EventQuery(ws))) == 2
    await _assert_exact(store)


async def test_partial_batches_and_workspaces_are_counted_apart(store: Store) -> None:
    ws1 = await _workspace(store)
    ws2 = await _workspace(store, "other")
    await store.write(request(event(), _invalid("[1].label"), batch=True, atomic=False))
    await store.write(request(event(action="b.x"), workspace_id=ws2))
    assert [k for k, _, _ in await store.stats(StatsQuery(ws1, "action", DAY_MS, 0, T0 + DAY_MS))] == [
        "door.open"
    ]
    assert [k for k, _, _ in await store.stats(StatsQuery(ws2, "action", DAY_MS, 0, T0 + DAY_MS))] == ["b.x"]
    assert [k for k, _, _ in await store.stats(StatsQuery(ws1, "reason", DAY_MS, 0, T0 + DAY_MS))] == [
        "validation failed"
    ]
    assert await store.stats(StatsQuery(ws2, "reason", DAY_MS, 0, T0 + DAY_MS)) == []
    await _assert_exact(store)


async def test_deleted_quarantine_records_are_subtracted(store: Store) -> None:
    ws = await _workspace(store)
    await store.write(request(event(), _invalid("[1].label"), batch=True, received_ms=T0))
    records = await store.quarantine(QuarantineQuery(ws))
    assert len(records) == 2
    assert await store.delete_quarantine(ws, records[0][1].id)
    total = sum(n for _, _, n in await store.stats(StatsQuery(ws, "reason", DAY_MS, 0, T0 + DAY_MS)))
    assert total == 1
    await _assert_exact(store)


async def test_retention_and_erasure_subtract_what_they_delete(store: Store) -> None:
    ws = await _workspace(store)
    old, new = ClientRef(custom_id="old"), ClientRef(custom_id="gone")
    await store.write(request(event(old, time_ms=T0 - 40 * DAY_MS), received_ms=T0))
    await store.write(request(event(old, action="kept"), received_ms=T0 + MINUTE_MS))
    await store.write(request(event(new, action="erased"), event(new, action="erased"), batch=True))
    await store.set_retention(ws, 30)
    while await store.retention_step(1, T0 + DAY_MS, 0):
        pass
    assert await store.erase(ws, "customId", "gone", suppress=False, now_ms=T0, erasure_id="e1") is not None
    while await store.erasure_step(1, T0):
        pass
    keys = {k: n for k, _, n in await store.stats(StatsQuery(ws, "action", DAY_MS, 0, T0 + DAY_MS))}
    assert keys == {"kept": 1}
    await _assert_exact(store)


async def test_the_migration_backfills_from_the_stored_rows(store: Store) -> None:
    """Run the backfill again on emptied counter tables: it rebuilds exactly what the writes kept."""
    assert isinstance(store, SQLStore)
    await _workspace(store)
    client = ClientRef(custom_id="c1")
    await store.write(request(event(client, salt="s"), event(action="x"), batch=True, received_ms=T0))
    await store.write(request(event(client, salt="s"), received_ms=T0 + 2 * HOUR_MS))
    await store.write(request(event(), _invalid("[1].label"), batch=True, received_ms=T0 + DAY_MS))
    kept = await _counters(store)

    def rebuild(tx: Any) -> None:
        store._execute(tx, "DELETE FROM event_counts")
        store._execute(tx, "DELETE FROM quarantine_counts")
        for sql in backfill_sql(store._d.received_minute):
            store._execute(tx, sql)

    await store._unit(rebuild)
    assert await _counters(store) == kept
    assert {w for _, w, *_ in kept[0]} == set(WIDTHS)


@pytest.mark.parametrize("prefix", [None, "cu", "CU", "0a6e", "nobody"])
async def test_profiles_newest_first_with_prefix(store: Store, prefix: str | None) -> None:
    ws = await _workspace(store)
    uuid_a = "0a6e0c0e-4b4b-4a53-9d0a-6a8c2b1f7a10"
    await store.write(request(event(ClientRef(custom_id="cust-1"))))
    await store.write(request(event(ClientRef(email="Cute@example.org"))))
    await store.write(request(event(ClientRef(uuid=uuid_a))))
    await store.write(request(event(ClientRef(custom_id="zed"))))
    listed = await store.profiles(ProfileQuery(ws, prefix, limit=10))
    ids = [p.client_id for p in listed]
    assert ids == sorted(ids, reverse=True)
    expected = {
        None: ["zed", uuid_a, "Cute@example.org", "cust-1"],
        "cu": ["Cute@example.org", "cust-1"],  # e-mail prefixes ignore case
        "CU": ["Cute@example.org"],  # customId prefixes do not
        "0a6e": [uuid_a],
        "nobody": [],
    }[prefix]
    assert [p.custom_id or p.email or p.primary_uuid for p in listed] == expected
    if len(listed) > 1:
        rest = await store.profiles(ProfileQuery(ws, prefix, limit=10, after=ids[0]))
        assert [p.client_id for p in rest] == ids[1:]
        first = await store.profiles(dataclasses.replace(ProfileQuery(ws, prefix), limit=1))
        assert [p.client_id for p in first] == ids[:1]


async def test_the_receive_minute_expression_reads_what_reads_show(store: Store) -> None:
    """The SQL the counters use for a stored row's receive minute (overwrites, deletions, the backfill) agrees
    with the `receivedAt` reads show. If the row format changes (e.g. the receive time gets a column), this
    fails until `Dialect.received_minute` follows."""
    assert isinstance(store, SQLStore)
    ws = await _workspace(store)
    for i, received in enumerate((T0, T0 + 7 * MINUTE_MS + 5, T0 + 3 * DAY_MS)):
        await store.write(request(event(time_ms=T0 - i * HOUR_MS), received_ms=received))
    rows = await store._read(f"SELECT seq, {store._d.received_minute} FROM events ORDER BY seq")
    stored = sorted(await store.events(EventQuery(ws)), key=lambda e: e.row.seq)
    from tracktion.domain.timefmt import parse_time_ms

    shown = [parse_time_ms(e.row.params["eventCreateTime"]) // MINUTE_MS * MINUTE_MS for e in stored]
    assert [int(m) for _, m in rows] == shown
    assert len(set(shown)) == 3
