"""The background deletion's statements reach their rows by seq (SQLite's rowid), not by searching one of the
workspace's indexes: a chunk runs inside the write transaction, so its cost is what live writes wait for
(docs/api.md §15.1, §15.2). `workspace_id = ? AND seq IN (…)` alone was planned as a search of
`events_by_time (workspace_id=?)`, every event of the workspace per chunk (100-400 ms at 300k events,
whatever the chunk's size; bench/results/2026-12-06-deletion.txt)."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

from tests.support.store import T0, event, request
from tracktion.domain.lifecycle import DAY_MS
from tracktion.domain.models import ClientRef
from tracktion.storage.sqlite import SQLiteStore


def _plans(db: Path, statements: list[tuple[str, Any]]) -> list[tuple[str, str]]:
    conn = sqlite3.connect(db)
    try:
        return [
            (sql, " / ".join(row[3] for row in conn.execute(f"EXPLAIN QUERY PLAN {sql}", params or ())))
            for sql, params in statements
        ]
    finally:
        conn.close()


async def test_deletion_chunks_find_their_rows_by_rowid(tmp_path: Path) -> None:
    db = tmp_path / "plans.db"
    store = SQLiteStore(db)
    await store.start()
    try:
        await store.create_workspace("default", T0)
        person = ClientRef(custom_id="cust-plan")
        for base in (0, 100):
            batch = [event(person, time_ms=T0 + base + i) for i in range(100)]
            assert (await store.write(request(*batch, batch=True))).error is None
        statements: list[tuple[str, Any]] = []
        execute = store._execute

        def recording(tx: Any, sql: str, params: Any = None) -> Any:
            if " IN (" in sql and sql.lstrip().startswith(("DELETE", "SELECT")):
                statements.append((sql, params))
            return execute(tx, sql, params)

        store._execute = recording  # type: ignore[method-assign]
        await store.set_retention(1, 1)
        assert await store.retention_step(50, T0 + 2 * DAY_MS, 0) == 50
        await store.set_retention(1, None)
        await store.erase(1, "customId", "cust-plan", suppress=False, now_ms=T0, erasure_id="er-plan")
        assert await store.erasure_step(50, T0)
    finally:
        await store.close()
    plans = _plans(db, statements)
    assert any(sql.startswith("DELETE FROM events") for sql, _ in plans)
    for sql, plan in plans:
        if "FROM events" in sql or "FROM quarantine" in sql:
            assert "INTEGER PRIMARY KEY (rowid=?)" in plan, (sql[:80], plan)
