"""On SQLite a seq is never given twice (migration 0008_seq_never_reused): deleting the newest event or
quarantine record (erasure, retention, `DELETE /-/api/quarantine/{id}`) must not hand its seq to the next
write, or a relay cursor (§14.2) or a stream's Last-Event-ID (§13.5) already past it would skip that write."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from tests.support.store import event, request
from tracktion.domain.models import ClientRef
from tracktion.errors import ValidationFailed
from tracktion.storage import sqlite_backend
from tracktion.storage.sqlite import SQLiteStore
from tracktion.storage.sqlite_backend import migrate
from tracktion.storage.sqlite_schema import MIGRATIONS


def _rows(db: Path, table: str = "events") -> list[tuple[int, str]]:
    column = "label" if table == "events" else "request_id"
    with sqlite3.connect(db) as conn:
        return [(r[0], r[1]) for r in conn.execute(f"SELECT seq, {column} FROM {table} ORDER BY seq")]


def _delete(db: Path, table: str, seq: int) -> None:
    conn = sqlite3.connect(db)
    try:
        with conn:
            assert conn.execute(f"DELETE FROM {table} WHERE seq = ?", (seq,)).rowcount == 1
    finally:
        conn.close()


async def _write(db: Path, *labels: str, salt: str | None = None) -> None:
    store = SQLiteStore(db)
    await store.start()
    try:
        for label in labels:
            result = await store.write(request(event(ClientRef(custom_id="c"), label=label, salt=salt)))
            assert result.error is None
    finally:
        await store.close()


async def test_the_newest_events_seq_is_not_given_again(tmp_path: Path) -> None:
    db = tmp_path / "s.db"
    await _write(db, "a", "b", "c")
    newest, label = _rows(db)[-1]
    assert label == "c"
    _delete(db, "events", newest)  # as erasure or retention would
    await _write(db, "d")
    seq, label = _rows(db)[-1]
    assert label == "d" and seq > newest


async def test_an_overwritten_event_moves_past_every_seq_ever_given(tmp_path: Path) -> None:
    """The overwrite (§3.7) sets its row's seq by UPDATE, which AUTOINCREMENT does not see by itself."""
    db = tmp_path / "s.db"
    await _write(db, "a", "b")
    await _write(db, "x1", salt="s")
    newest = _rows(db)[-1][0]
    _delete(db, "events", newest)  # "x1", the newest, gone: the salted event is new again
    await _write(db, "x2", salt="s")
    await _write(db, "x3", salt="s")  # overwrites x2 in place with a new seq
    rows = _rows(db)
    assert [label for _, label in rows] == ["a", "b", "x3"]
    moved = rows[-1][0]
    assert moved > newest + 1  # x2 took newest + 1, x3 the one after
    _delete(db, "events", moved)
    await _write(db, "e")
    assert _rows(db)[-1] == (moved + 1, "e")  # not moved again: an UPDATE does not move the mark itself


async def test_the_newest_quarantine_records_seq_is_not_given_again(tmp_path: Path) -> None:
    db = tmp_path / "s.db"
    store = SQLiteStore(db)
    await store.start()
    try:
        for rid in ("q1", "q2"):
            await store.write(request(ValidationFailed(), batch=True, atomic=False, request_id=rid))
    finally:
        await store.close()
    rows = _rows(db, "quarantine")
    assert [r for _, r in rows] == ["q1", "q2"]
    _delete(db, "quarantine", rows[-1][0])
    store = SQLiteStore(db)
    await store.start()
    try:
        await store.write(request(ValidationFailed(), batch=True, atomic=False, request_id="q3"))
    finally:
        await store.close()
    seq, rid = _rows(db, "quarantine")[-1]
    assert rid == "q3" and seq > rows[-1][0]


def test_the_migration_keeps_every_row_and_its_seq(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    db = tmp_path / "old.db"
    names = [m[0] for m in MIGRATIONS]
    before = MIGRATIONS[: names.index("0008_seq_never_reused")]
    conn = sqlite3.connect(db, isolation_level=None)
    try:
        with monkeypatch.context() as m:
            m.setattr(sqlite_backend, "MIGRATIONS", before)
            migrate(conn)
        conn.execute("INSERT INTO workspaces (id, guid, name, created_ms) VALUES (1, 'g', 'w', 0)")
        for seq in (3, 5, 9):
            conn.execute(
                "INSERT INTO events VALUES (?, 1, ?, 7, 'a', ?, ?, x'7b7d', '/x', 'custom')",
                (seq, bytes([seq]) * 16, f"l{seq}", seq),
            )
        conn.execute("DELETE FROM events WHERE seq = 9")  # deleted before the upgrade: its seq is lost
        assert migrate(conn) == names[len(before) :]
        assert conn.execute("SELECT seq, label FROM events ORDER BY seq").fetchall() == [(3, "l3"), (5, "l5")]
        indexes = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'index'")}
        assert {"events_by_uuid", "events_by_client", "events_by_time", "quarantine_by_seq"} <= indexes
        conn.execute("DELETE FROM events WHERE seq = 5")
        conn.execute(
            "INSERT INTO events (workspace_id, uuid, client_id, action, label, time_ms, params, endpoint, kind)"
            " VALUES (1, x'00', 7, 'a', 'new', 1, x'7b7d', '/x', 'custom')"
        )
        assert conn.execute("SELECT seq FROM events WHERE label = 'new'").fetchone() == (6,)
    finally:
        conn.close()
