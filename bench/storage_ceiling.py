"""The storage ceiling: the same event rows inserted straight into the same storage, same durability, no HTTP
and no tracktion code on the way (only its schema).

* SQLite: tracktion's own migrations on a fresh file, WAL, `synchronous=FULL` (as `tracktion serve` sets),
  tracktion's INSERT statement; 1 row per transaction (the single-event comparison) and 1000 rows per
  transaction (the batch comparison).
* PostgreSQL: an `events` table of the same shape in a throw-away schema; 1 row per transaction (INSERT +
  COMMIT), and 1000 rows per transaction by COPY and by executemany; fsync / synchronous_commit as the server
  is configured (both are recorded; the figures are only production-like when both are on).
"""

from __future__ import annotations

import os
import sqlite3
import time
import uuid as uuidlib
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import msgspec

from tracktion.domain.event_ids import time_ordered_uuid, uuid_bytes
from tracktion.storage.event_params import compact_ip, endpoint_code, kind_code
from tracktion.storage.sqlite_backend import WRITER_PRAGMAS, migrate
from tracktion.storage.sqlite_checkpoint import Checkpointer

EVENT_COLUMNS = (
    "workspace_id, uuid, client_id, action, label, time_ms, params, endpoint, kind,"
    " created_ms, ip, modified_by, client_uuid, sent_time"
)
EVENT_INSERT = f"INSERT INTO events ({EVENT_COLUMNS}) VALUES ({', '.join(['?'] * 14)})"
# The §7.2 origin columns of a row as SQLite's writer stores them (`tracktion.storage.event_params`): receive
# time, the ip (an IPv4 address as its 4 bytes), a workspace key's number, the profile's primary uuid (NULL),
# `time` sent as stored ('').
# PostgreSQL keeps the key's id (16 bytes) and the ip's text.
KEY_NUMBER = 1
KEY_ID = uuidlib.UUID("8d3c1c1e-9b0e-4d8e-8f5e-2f3a4b5c6d7e").bytes


def origin(now_ms: int, backend: str = "sqlite") -> tuple[Any, ...]:
    if backend == "postgres":
        return (now_ms, "127.0.0.1", KEY_ID, None, "")
    return (now_ms, compact_ip("127.0.0.1"), KEY_NUMBER, None, "")


BATCH_ROWS = 1000


@dataclass
class Ceiling:
    backend: str
    kind: str  # "single" or "batch"
    method: str
    rows_per_txn: int
    rows: int
    seconds: float
    note: str = ""
    when: str = ""  # "start" or "end" of the run

    @property
    def rows_per_s(self) -> float:
        return self.rows / self.seconds if self.seconds > 0 else 0.0

    def as_json(self) -> dict[str, Any]:
        return asdict(self) | {"rows_per_s": round(self.rows_per_s, 1)}


def stored_params(client_id: int, time_ms: int) -> dict[str, Any]:
    """What tracktion stores in `params` for one custom workload event: the caller's params (the §7.2 system
    params are rebuilt when read since issue 23, from the row's columns and `origin`)."""
    return {
        "url": "https://shop.example.org/products/0-1",
        "title": "Blue ceramic mug, 350 ml",
        "referrer": "https://www.example.com/newsletter/spring",
        "campaign": "spring-sale",
        "device": {"type": "desktop", "os": "Linux", "browser": "Firefox"},
        "cartValue": 42.5,
        "loggedIn": True,
    }


def _row_values(
    params_blob: bytes, time_ms: int, uuid: bytes, client_id: int = 7_000_000_001
) -> tuple[Any, ...]:
    return (
        1,
        uuid,
        client_id,
        "page.visit",
        "Page visited",
        time_ms,
        params_blob,
        endpoint_code("/v4/events/custom"),
        kind_code("custom"),
        *origin(time_ms),
    )


# -- SQLite ---------------------------------------------------------------------------------------------
def sqlite_ceilings(work_dir: Path, seconds: float, preload_rows: int = 0) -> list[Ceiling]:
    """`preload_rows` > 0 (issue 23's batch target): that many rows are stored first (time-ordered v7
    UUIDs, as tracktion gives unsalted events, `synchronous=OFF`, checkpointed), and the measured rows
    get time-ordered UUIDs too; 0: an empty table and random UUIDs, as the issue 7 runs measured."""
    path = work_dir / "ceiling.db"
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        # The same storage as tracktion's writer: its settings (WAL, synchronous=FULL, page cache, no
        # checkpoint in the commit path) and its checkpoint thread. Without any checkpoint the WAL only grows,
        # which slows the one-row commits (the file's size changes at every fsync) and flatters the batches.
        for pragma in WRITER_PRAGMAS:
            conn.execute(pragma)
        migrate(conn)
        if preload_rows:
            _sqlite_preload(conn, preload_rows)
        checkpointer = Checkpointer(lambda: sqlite3.connect(path, isolation_level=None))
        checkpointer.start()
        blob = msgspec.json.encode(stored_params(7_000_000_001, int(time.time() * 1000)))
        now_ms = int(time.time() * 1000)
        try:
            ids = _ordered_ids if preload_rows else os.urandom
            out = [
                _sqlite_single(conn, blob, now_ms, seconds, ids),
                _sqlite_batch(conn, blob, now_ms, seconds, ids),
            ]
            if preload_rows:
                for c in out:
                    c.method += f", {preload_rows:,} rows preloaded, UUIDv7"
        finally:
            checkpointer.stop()
    finally:
        conn.close()
    for suffix in ("", "-wal", "-shm"):
        Path(str(path) + suffix).unlink(missing_ok=True)
    return out


def _ordered_ids(n: int) -> bytes:
    """`n // 16` time-ordered UUIDs (tracktion's own v7 generator), as one bytes object like os.urandom's."""
    return b"".join(uuid_bytes(time_ordered_uuid(int(time.time() * 1000))) for _ in range(n // 16))


def _sqlite_preload(conn: sqlite3.Connection, rows: int) -> None:
    blob = msgspec.json.encode(stored_params(7_000_000_001, int(time.time() * 1000)))
    conn.execute("PRAGMA synchronous = OFF")
    now_ms = int(time.time() * 1000) - rows
    done = 0
    while done < rows:
        n = min(50_000, rows - done)
        ids = _ordered_ids(16 * n)
        conn.execute("BEGIN IMMEDIATE")
        conn.executemany(
            EVENT_INSERT,
            [
                _row_values(
                    blob, now_ms + done + i, ids[16 * i : 16 * i + 16], 7_000_000_001 + (done + i) % 10_000
                )
                for i in range(n)
            ],
        )
        conn.execute("COMMIT")
        done += n
    conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    for pragma in WRITER_PRAGMAS:  # synchronous=FULL again for what is measured
        conn.execute(pragma)


def _sqlite_single(
    conn: sqlite3.Connection, blob: bytes, now_ms: int, seconds: float, random: Any = os.urandom
) -> Ceiling:
    rows = 0
    start = time.perf_counter()
    deadline = start + seconds
    while True:
        conn.execute("BEGIN IMMEDIATE")
        conn.execute(EVENT_INSERT, _row_values(blob, now_ms + rows, random(16)))
        conn.execute("COMMIT")
        rows += 1
        if time.perf_counter() >= deadline:
            break
    return Ceiling("sqlite", "single", "INSERT, WAL + synchronous=FULL", 1, rows, time.perf_counter() - start)


def _sqlite_batch(
    conn: sqlite3.Connection, blob: bytes, now_ms: int, seconds: float, random: Any = os.urandom
) -> Ceiling:
    rows = 0
    start = time.perf_counter()
    deadline = start + seconds
    while True:
        ids = random(16 * BATCH_ROWS)
        batch = [_row_values(blob, now_ms + rows + i, ids[16 * i : 16 * i + 16]) for i in range(BATCH_ROWS)]
        conn.execute("BEGIN IMMEDIATE")
        conn.executemany(EVENT_INSERT, batch)
        conn.execute("COMMIT")
        rows += BATCH_ROWS
        if time.perf_counter() >= deadline:
            break
    return Ceiling(
        "sqlite",
        "batch",
        "executemany, WAL + synchronous=FULL",
        BATCH_ROWS,
        rows,
        time.perf_counter() - start,
    )


# -- PostgreSQL -----------------------------------------------------------------------------------------
_PG_COLUMNS = EVENT_COLUMNS


def postgres_info(url: str) -> dict[str, Any]:
    import psycopg

    with psycopg.connect(url) as conn:
        info = {
            name: conn.execute(f"SHOW {name}").fetchone()[0]  # type: ignore[index]
            for name in (
                "server_version",
                "fsync",
                "synchronous_commit",
                "wal_sync_method",
                "full_page_writes",
            )
        }
    info["psycopg"] = psycopg.__version__
    return info


def postgres_ceilings(url: str, seconds: float) -> list[Ceiling]:
    """tracktion's PostgreSQL `events` table (postgres_schema.py: seq from a sequence, json params and
    label, the same keys and indexes) in a throw-away schema of the given database."""
    import psycopg

    schema = f"tracktion_bench_{os.getpid()}"
    blob = msgspec.json.encode(stored_params(7_000_000_001, int(time.time() * 1000))).decode()
    label = msgspec.json.encode("Page visited").decode()
    now_ms = int(time.time() * 1000)
    table = f"{schema}.events"
    with psycopg.connect(url) as conn:
        conn.execute(f"CREATE SCHEMA {schema}")
        conn.execute(f"CREATE SEQUENCE {schema}.seq AS bigint")
        conn.execute(
            f"""CREATE TABLE {table} (
                workspace_id bigint NOT NULL, seq bigint NOT NULL DEFAULT nextval('{schema}.seq'),
                uuid uuid NOT NULL, client_id bigint NOT NULL, action text NOT NULL, label json NOT NULL,
                time_ms bigint NOT NULL, params json NOT NULL, endpoint text NOT NULL, kind text NOT NULL,
                created_ms bigint, ip text, modified_by bytea, client_uuid text, sent_time text,
                PRIMARY KEY (workspace_id, seq), UNIQUE (workspace_id, uuid))"""
        )
        conn.execute(f"CREATE INDEX ON {table} (workspace_id, client_id, time_ms, seq)")
        conn.execute(f"CREATE INDEX ON {table} (workspace_id, time_ms, seq)")
        conn.commit()
        insert = f"INSERT INTO {table} ({_PG_COLUMNS}) VALUES ({', '.join(['%s'] * 14)})"

        def rows(n: int, base: int) -> list[tuple[Any, ...]]:
            return [
                (
                    1,
                    uuidlib.uuid4(),
                    7_000_000_001,
                    "page.visit",
                    label,
                    now_ms + base + i,
                    blob,
                    "/v4/events/custom",
                    "custom",
                    *origin(now_ms, "postgres"),
                )
                for i in range(n)
            ]

        def single(cur: Any) -> int:
            cur.execute(insert, rows(1, 0)[0])
            conn.commit()
            return 1

        def copy(cur: Any) -> int:
            with cur.copy(f"COPY {table} ({_PG_COLUMNS}) FROM STDIN") as cp:
                for row in rows(BATCH_ROWS, 0):
                    cp.write_row(row)
            conn.commit()
            return BATCH_ROWS

        def many(cur: Any) -> int:
            cur.executemany(insert, rows(BATCH_ROWS, 0))
            conn.commit()
            return BATCH_ROWS

        out = []
        try:
            with conn.cursor() as cur:
                for kind, method, per_txn, step in (
                    ("single", "INSERT + COMMIT", 1, single),
                    ("batch", "COPY", BATCH_ROWS, copy),
                    ("batch", "executemany", BATCH_ROWS, many),
                ):
                    n = 0
                    start = time.perf_counter()
                    while True:
                        n += step(cur)
                        if time.perf_counter() - start >= seconds:
                            break
                    out.append(Ceiling("postgres", kind, method, per_txn, n, time.perf_counter() - start))
            return out
        finally:
            conn.rollback()
            conn.execute(f"DROP SCHEMA {schema} CASCADE")
            conn.commit()
