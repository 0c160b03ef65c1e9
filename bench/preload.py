"""Preload for the read workload: N events straight into tracktion's store (its own schema and statements,
no HTTP), spread over many profiles, with one "hot" profile holding `hot_events` of them spread
evenly over the timeline, so a by-client read of 100 events walks a realistic index among N rows.

The server is running but idle while this writes (WAL allows it; the server's writer holds no lock between
commits). The preload connection uses `synchronous=OFF`: it is set-up, not a measured write.
"""

from __future__ import annotations

import os
import random
import sqlite3
import time
import uuid as uuidlib
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import msgspec

from bench.storage_ceiling import EVENT_COLUMNS, EVENT_INSERT, origin, stored_params
from tracktion.storage.event_params import endpoint_code, kind_code
from tracktion.storage.sqlite_tx import FIRST_CLIENT_ID

CHUNK = 50_000
SPAN_MS = 30 * 24 * 3600 * 1000  # events spread over the last 30 days


@dataclass
class Preloaded:
    events: int
    profiles: int
    hot_client_id: int
    hot_events: int
    seconds: float
    db_bytes: int

    def as_json(self) -> dict[str, Any]:
        return asdict(self)


def preload_sqlite(
    db_path: Path, events: int, *, workspace_id: int = 1, hot_events: int = 500, profiles: int | None = None
) -> Preloaded:
    started = time.perf_counter()
    hot_events = min(hot_events, events)
    profiles = profiles or max(2, min(100_000, events // 100))
    rng = random.Random(7)
    encode = msgspec.json.encode
    conn = sqlite3.connect(db_path, isolation_level=None, timeout=30.0)
    try:
        conn.execute("PRAGMA busy_timeout = 30000")
        conn.execute("PRAGMA synchronous = OFF")
        (last,) = conn.execute("SELECT MAX(client_id) FROM profiles").fetchone()
        first_id = FIRST_CLIENT_ID if last is None else last + 1
        now_ms = int(time.time() * 1000)
        start_ms = now_ms - SPAN_MS

        conn.execute("BEGIN IMMEDIATE")
        for i in range(profiles):
            client_id = first_id + i
            profile_uuid = str(uuidlib.uuid4())
            conn.execute(
                "INSERT INTO profiles VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                (workspace_id, client_id, profile_uuid, f"preload-{i}", None, None, start_ms, start_ms),
            )
            conn.execute(
                "INSERT INTO profile_uuids VALUES (?, ?, ?, ?)",
                (workspace_id, profile_uuid, client_id, start_ms),
            )
        conn.execute("COMMIT")

        hot = first_id
        every = max(1, events // max(1, hot_events))
        written = 0
        hot_written = 0
        while written < events:
            n = min(CHUNK, events - written)
            ids = os.urandom(16 * n)
            batch = []
            for j in range(n):
                i = written + j
                if i % every == 0 and hot_written < hot_events:
                    client_id = hot
                    hot_written += 1
                else:
                    client_id = first_id + 1 + rng.randrange(profiles - 1)
                time_ms = start_ms + i * SPAN_MS // events
                params = stored_params(client_id, time_ms)
                batch.append(
                    (
                        workspace_id,
                        ids[16 * j : 16 * j + 16],
                        client_id,
                        "page.visit",
                        "Page visited",
                        time_ms,
                        encode(params),
                        endpoint_code("/v4/events/custom"),
                        kind_code("custom"),
                        *origin(time_ms),
                    )
                )
            conn.execute("BEGIN IMMEDIATE")
            conn.executemany(EVENT_INSERT, batch)
            conn.execute("COMMIT")
            written += n
        # Steady state for the reads: the WAL folded back into the main file.
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        conn.close()
    return Preloaded(
        events=events,
        profiles=profiles,
        hot_client_id=hot,
        hot_events=hot_written,
        seconds=round(time.perf_counter() - started, 2),
        db_bytes=db_path.stat().st_size,
    )


def preload_postgres(
    url: str, events: int, *, workspace_id: int = 1, hot_events: int = 500, profiles: int | None = None
) -> Preloaded:
    """The same preload into tracktion's PostgreSQL schema (postgres_schema.py), by COPY; client ids come
    from tracktion's own sequence. Ends with VACUUM ANALYZE: the state autovacuum reaches shortly after a
    bulk load in production."""
    import psycopg

    started = time.perf_counter()
    hot_events = min(hot_events, events)
    profiles = profiles or max(2, min(100_000, events // 100))
    rng = random.Random(7)
    label = msgspec.json.encode("Page visited").decode()
    now_ms = int(time.time() * 1000)
    start_ms = now_ms - SPAN_MS
    cols = EVENT_COLUMNS
    with psycopg.connect(url) as conn:
        ids = [
            r[0]
            for r in conn.execute(
                "SELECT nextval('tracktion_client_id_seq') FROM generate_series(1, %s)", (profiles,)
            ).fetchall()
        ]
        with conn.cursor() as cur:
            with cur.copy(
                "COPY profiles (workspace_id, client_id, primary_uuid, custom_id, created_ms, updated_ms)"
                " FROM STDIN"
            ) as cp:
                uuids = [uuidlib.uuid4() for _ in ids]
                for i, (client_id, u) in enumerate(zip(ids, uuids, strict=True)):
                    cp.write_row((workspace_id, client_id, u, f"preload-{i}", start_ms, start_ms))
            with cur.copy("COPY profile_uuids (workspace_id, uuid, client_id, added_ms) FROM STDIN") as cp:
                for client_id, u in zip(ids, uuids, strict=True):
                    cp.write_row((workspace_id, u, client_id, start_ms))
            conn.commit()
            hot = ids[0]
            every = max(1, events // max(1, hot_events))
            written = hot_written = 0
            while written < events:
                n = min(CHUNK, events - written)
                with cur.copy(f"COPY events ({cols}) FROM STDIN") as cp:
                    for j in range(n):
                        i = written + j
                        if i % every == 0 and hot_written < hot_events:
                            client_id = hot
                            hot_written += 1
                        else:
                            client_id = ids[1 + rng.randrange(profiles - 1)]
                        time_ms = start_ms + i * SPAN_MS // events
                        params = msgspec.json.encode(stored_params(client_id, time_ms)).decode()
                        cp.write_row(
                            (
                                workspace_id,
                                uuidlib.uuid4(),
                                client_id,
                                "page.visit",
                                label,
                                time_ms,
                                params,
                                "/v4/events/custom",
                                "custom",
                                *origin(time_ms, "postgres"),
                            )
                        )
                conn.commit()
                written += n
        conn.autocommit = True
        conn.execute("VACUUM ANALYZE events")
        conn.execute("VACUUM ANALYZE profiles")
        size = conn.execute("SELECT pg_total_relation_size('events')").fetchone()
    return Preloaded(
        events=events,
        profiles=profiles,
        hot_client_id=hot,
        hot_events=hot_written,
        seconds=round(time.perf_counter() - started, 2),
        db_bytes=int(size[0]) if size else 0,
    )


def fresh_database_url(url: str, name: str) -> str:
    """Create database `name` on the server of `url` (which must allow CREATE DATABASE) → its URL."""
    import psycopg
    from psycopg import sql

    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path="/" + name))


def drop_database(url: str, name: str) -> None:
    import psycopg
    from psycopg import sql

    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
