"""The SQLite writer's shortcuts (lazy job savepoints, event rows deferred to the commit, the identity
cache) must never change what is stored: these tests drive the backend job by job, and two stores on one
file, where the shortcuts could go wrong."""

from __future__ import annotations

import asyncio
import uuid as uuidlib
from pathlib import Path
from typing import Any

import pytest

from tests.support.store import T0, event, request
from tracktion.domain.event_ids import uuid_bytes
from tracktion.domain.models import ClientRef, EventRow
from tracktion.domain.ports import EventQuery
from tracktion.errors import StorageUnavailable, ValidationFailed
from tracktion.storage.event_params import NO_ORIGIN
from tracktion.storage.sqlite import SQLiteStore
from tracktion.storage.sqlite_backend import SQLiteBackend
from tracktion.storage.sqlite_tx import apply_request
from tracktion.storage.writer import run_group


def _count(path: Path, sql: str) -> int:
    import sqlite3

    with sqlite3.connect(path) as conn:
        (n,) = conn.execute(sql).fetchone()
    return int(n)


def test_a_failed_job_undoes_only_its_own_writes(tmp_path: Path) -> None:
    db = tmp_path / "w.db"
    backend = SQLiteBackend(db)
    backend.open()
    try:
        tx = backend.begin()
        backend.savepoint()
        apply_request(tx, request(event(ClientRef(custom_id="a"))))  # creates a profile: a real savepoint
        backend.release()
        backend.savepoint()
        apply_request(tx, request(event(ClientRef(custom_id="a"))))  # known profile: only a pending row
        backend.release()
        backend.savepoint()
        tx.create_profile(1, uuid="u-doomed", custom_id="doomed", email=None, now_ms=T0)
        backend.rollback_savepoint()  # the job failed after writing: the earlier pending row must survive
        backend.savepoint()
        apply_request(tx, request(event(ClientRef(custom_id="a"), salt="s")))  # salted: flushes in order
        backend.release()
        backend.commit()
    finally:
        backend.close()
    assert _count(db, "SELECT COUNT(*) FROM events") == 3
    assert _count(db, "SELECT COUNT(*) FROM profiles WHERE custom_id = 'doomed'") == 0
    assert _count(db, "SELECT COUNT(*) FROM profiles") == 1


async def test_a_profile_from_a_refused_batch_is_not_remembered(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "w.db")
    await store.start()
    try:
        # Item 0 creates profile "fresh" (and looks it up again at item 1), item 2 fails: all rolled back.
        refused = request(
            event(ClientRef(custom_id="fresh")),
            event(ClientRef(custom_id="fresh")),
            ValidationFailed(),
            batch=True,
        )
        assert (await store.write(refused)).error is not None
        assert await store.find_client_ids(1, custom_id="fresh") == ()
        assert (await store.write(request(event(ClientRef(custom_id="fresh"))))).error is None
        (client_id,) = await store.find_client_ids(1, custom_id="fresh")
        assert await store.profile(1, client_id) is not None
        stored = await store.events(EventQuery(1, client_ids=(client_id,), limit=10))
        assert len(stored) == 1
    finally:
        await store.close()


async def test_another_connections_commit_empties_the_identity_cache(tmp_path: Path) -> None:
    """Process A remembers profile `c` without an e-mail; process B gives it one; A must see it (§3.6)."""
    a, b = SQLiteStore(tmp_path / "w.db"), SQLiteStore(tmp_path / "w.db")
    await a.start()
    await b.start()
    try:
        for _ in range(2):  # the second write is served from A's cache
            assert (await a.write(request(event(ClientRef(custom_id="c"))))).error is None
        assert (await b.write(request(event(ClientRef(custom_id="c", email="c@example.com"))))).error is None
        mismatch = event(ClientRef(custom_id="c"), params={"email": "other@example.com"})
        result = await a.write(request(mismatch))
        assert isinstance(result.error, ValidationFailed)
        assert result.error.errors[0].code == 1010
    finally:
        await a.close()
        await b.close()


@pytest.mark.parametrize("salted_every", [2, 3])
async def test_rows_keep_request_order_within_a_commit(tmp_path: Path, salted_every: int) -> None:
    """Unsalted rows wait for the commit, salted ones go in at once: seq order must still be send order."""
    store = SQLiteStore(tmp_path / "w.db")
    await store.start()
    try:
        await store.write(request(event(ClientRef(custom_id="o"))))
        writes = [
            store.write(
                request(
                    event(
                        ClientRef(custom_id="o"),
                        label=f"n{i}",
                        salt=f"s{i}" if i % salted_every == 0 else None,
                        time_ms=T0 + i,
                    ),
                    request_id=f"r{i}",
                )
            )
            for i in range(40)
        ]
        results = await asyncio.gather(*writes)  # queued together: they share commits
        assert all(r.error is None for r in results)
        stored = await store.events_since(1, 0, 100)
        labels = [s.row.label for s in stored][1:]
        assert labels == [f"n{i}" for i in range(40)]
    finally:
        await store.close()


def test_uuid_bytes_matches_the_uuid_module() -> None:
    import uuid

    for value in (uuid.uuid4(), uuid.uuid5(uuid.NAMESPACE_URL, "x"), uuid.UUID(int=0)):
        assert uuid_bytes(str(value)) == value.bytes
    assert (
        uuid_bytes("{12345678-1234-5678-1234-567812345678}")
        == uuid.UUID("12345678-1234-5678-1234-567812345678").bytes
    )


def test_salted_rows_waiting_for_the_commit_are_overwritten_and_undone_correctly(tmp_path: Path) -> None:
    db = tmp_path / "w.db"
    backend = SQLiteBackend(db)
    backend.open()
    c = ClientRef(custom_id="a")
    try:
        tx = backend.begin()
        for label in ("first", "second"):  # one job: the second send replaces the first before any INSERT
            backend.savepoint()
            apply_request(tx, request(event(c, salt="s", label=label)))
            backend.release()
        backend.savepoint()
        apply_request(tx, request(event(c, salt="s", label="undone")))  # a later job overwrites, then fails
        backend.rollback_savepoint()
        backend.savepoint()
        apply_request(tx, request(event(c, salt="t", label="other")))
        backend.release()
        backend.commit()
    finally:
        backend.close()
    import sqlite3

    with sqlite3.connect(db) as conn:
        labels = [r[0] for r in conn.execute("SELECT label FROM events ORDER BY seq")]
    assert labels == ["second", "other"]


async def test_two_writers_on_one_file_take_turns_without_busy_waits(tmp_path: Path) -> None:
    """`serve --workers 2` on SQLite: both writers commit in turn through the lock file, none fails, and
    a customId sent to both never makes two profiles (each writer's identity cache notices the other)."""
    a, b = SQLiteStore(tmp_path / "w.db"), SQLiteStore(tmp_path / "w.db")
    await a.start()
    await b.start()
    try:
        writes = [
            (a if i % 2 else b).write(request(event(ClientRef(custom_id=f"p{i % 7}"), label=f"e{i}")))
            for i in range(400)
        ]
        results = await asyncio.gather(*writes)
        assert all(r.error is None for r in results)
        stored = await a.events_since(1, 0, 1000)
        assert len(stored) == 400
        assert len({s.row.client_id for s in stored}) == 7
        for k in range(7):
            assert len(await b.find_client_ids(1, custom_id=f"p{k}")) == 1
    finally:
        await a.close()
        await b.close()
    assert (tmp_path / "w.db.writer-lock").exists()


async def test_the_wal_is_checkpointed_off_the_writer(tmp_path: Path) -> None:
    """The writer never checkpoints (`wal_autocheckpoint = 0`); the checkpointer thread moves committed rows
    into the database file itself, which a reader that ignores the WAL (`immutable=1`) then sees."""
    import sqlite3

    db = tmp_path / "w.db"
    store = SQLiteStore(db)
    await store.start()
    try:
        await asyncio.gather(*(store.write(request(event(label=f"e{i}"))) for i in range(50)))
        for _ in range(100):  # the checkpointer runs every 0.2 s
            if store._checkpointer.checkpoints >= 2:
                break
            await asyncio.sleep(0.05)
        conn = sqlite3.connect(f"file:{db}?immutable=1", uri=True)
        try:
            (n,) = conn.execute("SELECT COUNT(*) FROM events").fetchone()
        finally:
            conn.close()
        assert n == 50
    finally:
        await store.close()


@pytest.mark.parametrize("n", [0, 1, 3, 4, 17, 255, 256, 257, 1000])
def test_multi_row_inserts_keep_every_row_in_order(tmp_path: Path, n: int) -> None:
    import sqlite3

    from tracktion.storage.sqlite_backend import migrate
    from tracktion.storage.sqlite_tx import insert_events

    conn = sqlite3.connect(tmp_path / "w.db", isolation_level=None)
    migrate(conn)
    rows = [
        (1, i.to_bytes(16, "big"), 7, "a", f"l{i}", i, b"{}", "/x", "custom", *NO_ORIGIN) for i in range(n)
    ]
    insert_events(conn, rows)
    assert [r[0] for r in conn.execute("SELECT label FROM events ORDER BY seq")] == [
        f"l{i}" for i in range(n)
    ]
    conn.close()


def test_a_row_that_breaks_a_constraint_fails_the_insert(tmp_path: Path) -> None:
    import sqlite3

    from tracktion.storage.sqlite_backend import migrate
    from tracktion.storage.sqlite_tx import insert_events

    conn = sqlite3.connect(tmp_path / "w.db", isolation_level=None)
    migrate(conn)
    rows = [(1, bytes(16), 7, "a", "l", 1, b"{}", "/x", "custom", *NO_ORIGIN)] * 2
    conn.execute("BEGIN")
    with pytest.raises(sqlite3.IntegrityError):
        insert_events(conn, rows)
    conn.execute("ROLLBACK")
    assert conn.execute("SELECT COUNT(*) FROM events").fetchone() == (0,)
    conn.close()


def _queue_twice(tx: Any) -> None:
    """A job that queues two rows with one UUID: a bug the constraint must catch, never a half-stored group."""
    row = EventRow(1, "0" * 8 + "-0000-4000-8000-" + "0" * 12, 7, "a", "l", T0, {}, "/x", "custom")
    tx.upsert_event(row, salted=False)
    tx.upsert_event(row, salted=False)


def _queue_one(tx: Any) -> None:
    tx.upsert_event(EventRow(1, str(uuidlib.uuid4()), 7, "a", "l", T0, {}, "/x", "custom"), salted=False)


def _write_directly(tx: Any) -> None:
    tx.create_profile(1, uuid="u-direct", custom_id="direct", email=None, now_ms=T0)


@pytest.mark.parametrize(
    "jobs",
    [
        [_queue_one, _queue_twice],  # fails at the commit's insert
        [_queue_one, _queue_twice, _write_directly],  # fails while the direct write flushes earlier rows
    ],
    ids=["at-commit", "before-a-savepoint"],
)
def test_a_failed_event_insert_fails_the_whole_group(tmp_path: Path, jobs: list[Any]) -> None:
    db = tmp_path / "w.db"
    backend = SQLiteBackend(db)
    backend.open()
    try:
        outcomes, healthy = run_group(backend, jobs)
    finally:
        backend.close()
    assert not healthy
    assert [ok for ok, _ in outcomes] == [False] * len(jobs)
    assert all(isinstance(value, StorageUnavailable) for _, value in outcomes)
    assert _count(db, "SELECT COUNT(*) FROM events") == 0
    assert _count(db, "SELECT COUNT(*) FROM profiles") == 0


async def test_a_writer_keeps_its_identity_cache_until_identifiers_change(tmp_path: Path) -> None:
    """Another connection's commit empties a writer's identifier cache only when it changed identifiers
    (migration 0013's `identity_changes`): a relay cursor or another writer's events keep it, an e-mail set
    or a profile deleted elsewhere empties it."""
    import sqlite3

    db = tmp_path / "c.db"
    a, b = SQLiteStore(db), SQLiteStore(db)
    await a.start()
    await b.start()
    try:
        cache = a._writer._backend.identities.committed  # type: ignore[union-attr]
        for i in (0, 1, 2, 0, 1, 2):  # created, then found (and remembered)
            assert (await a.write(request(event(ClientRef(custom_id=f"kept{i}"))))).error is None
        known = ("kept0",)
        assert any(known[0] in key for key in cache)
        assert (await b.write(request(event(ClientRef(custom_id="elsewhere"))))).error is None
        assert (await a.write(request(event(ClientRef(custom_id="kept1"))))).error is None
        assert any(known[0] in key for key in cache), "an insert elsewhere emptied the cache"
        with sqlite3.connect(db) as conn:  # an identifier changes elsewhere
            conn.execute("UPDATE profiles SET email = 'x@example.com', email_lower = 'x@example.com'"
                         " WHERE custom_id = 'kept2'")  # fmt: skip
        assert (await a.write(request(event(ClientRef(custom_id="kept1"))))).error is None
        assert not any(known[0] in key for key in cache), "a changed identifier left the cache as it was"
    finally:
        await a.close()
        await b.close()


def test_a_workspace_key_is_looked_up_once_per_writer_and_stored_as_its_number(tmp_path: Path) -> None:
    from tracktion.domain.models import Credential

    backend = SQLiteBackend(tmp_path / "w.db")
    backend.open()
    try:
        conn = backend.conn
        assert conn is not None
        key = str(uuidlib.uuid4())
        conn.execute("INSERT INTO workspaces (id, guid, name, created_ms) VALUES (1, 'g', 'w', 0)")
        for key_id in ("other", key):  # numbered by the trigger: 1, then 2
            conn.execute(
                "INSERT INTO api_keys (workspace_id, id, secret_hash, kind, permissions, created_ms)"
                " VALUES (1, ?, ?, 'workspace', '[]', 0)",
                (key_id, f"h-{key_id}"),
            )
        lookups: list[str] = []
        conn.set_trace_callback(lambda sql: lookups.append(sql) if "FROM api_keys" in sql else None)
        for i in range(3):  # three commits
            tx = backend.begin()
            backend.savepoint()
            cred = Credential("workspace", 1, key)
            apply_request(tx, request(event(ClientRef(custom_id="a"), label=f"e{i}"), credential=cred))
            backend.release()
            backend.commit()
        conn.set_trace_callback(None)
        assert len(lookups) == 1, lookups
        assert [n for (n,) in conn.execute("SELECT modified_by FROM events ORDER BY seq")] == [2, 2, 2]
    finally:
        backend.close()
