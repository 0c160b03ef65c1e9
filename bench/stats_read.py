"""Read latency of the explorer's endpoints on a large store (docs/api.md §13.6a, §13.2 `param`):
`python -m bench.stats_read [--events N] [--counted M] [--actions A] [--requests R]`.

A `tracktion serve` on SQLite (production settings) is preloaded with N real events (`bench.preload`, spread
over 30 days), then with per-minute counters as M events over the last 30 days would leave them: A actions,
every minute of the 30 days non-empty for each, written straight into `event_counts` at the three grains
(minute, hour, day) as the writer keeps them. `GET /-/api/stats` reads only the counters, so M is what the
answer adds up, and the rows a query reads are what its cost depends on: 30 days by hour = 720 × A rows.

The migration's backfill is timed on the preloaded events first (what `0010_stats_counters` costs an
existing store). Then R sequential requests per query (R/10, at least 10, for the two heavy ones), each timed from the client (one connection per request, as
`bench.servers.http_request` does), report p50 / p99 / max in ms. The store is idle otherwise.
"""

from __future__ import annotations

import argparse
import json
import sqlite3
import statistics
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from urllib.parse import quote

from bench.preload import preload_sqlite
from bench.servers import TracktionServer, http_request
from tracktion.storage.counters import SQLITE_RECEIVED_MINUTE, backfill_sql

MINUTE, HOUR, DAY = 60_000, 3_600_000, 86_400_000
SPAN_DAYS = 30


def _iso(ms: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ms / 1000)) + f".{ms % 1000:03d}Z"


def load_counters(db: Path, counted: int, actions: int, now_ms: int) -> int:
    """Counter rows for `counted` events over the last 30 days, spread evenly over `actions` and minutes."""
    start = (now_ms - SPAN_DAYS * DAY) // MINUTE * MINUTE
    minutes = SPAN_DAYS * DAY // MINUTE
    per_cell = max(1, counted // (minutes * actions))
    conn = sqlite3.connect(db, isolation_level=None, timeout=30.0)
    try:
        conn.execute("PRAGMA synchronous = OFF")
        conn.execute("BEGIN IMMEDIATE")
        rows = 0
        for width in (MINUTE, HOUR, DAY):
            buckets = sorted({(start + m * MINUTE) // width * width for m in range(minutes)})
            n = per_cell * (width // MINUTE)
            batch = [(1, width, b, f"action.{a:02d}", "custom", n) for b in buckets for a in range(actions)]
            conn.executemany(
                "INSERT INTO event_counts (workspace_id, width, bucket_ms, action, kind, n)"
                " VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (workspace_id, width, bucket_ms, action, kind)"
                " DO UPDATE SET n = n + excluded.n",
                batch,
            )
            rows += len(batch)
        conn.execute("COMMIT")
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    finally:
        conn.close()
    return rows


def time_backfill(db: Path) -> float:
    """Seconds the migration's backfill (`0010_stats_counters`) takes over the preloaded events, in one
    transaction as the migration runs it (the preload wrote no counters)."""
    conn = sqlite3.connect(db, isolation_level=None, timeout=30.0)
    try:
        t0 = time.perf_counter()
        conn.execute("BEGIN IMMEDIATE")
        for sql in backfill_sql(SQLITE_RECEIVED_MINUTE):
            conn.execute(sql)
        conn.execute("COMMIT")
        return round(time.perf_counter() - t0, 2)
    finally:
        conn.close()


def timed(port: int, token: str, path: str, requests: int) -> dict[str, float | int]:
    reply = http_request(port, "GET", path, token=token)
    if reply.status != 200:
        raise SystemExit(f"{path}: HTTP {reply.status} {reply.body[:300]!r}")
    size = len(reply.body)
    samples = []
    for _ in range(requests):
        t0 = time.perf_counter()
        reply = http_request(port, "GET", path, token=token)
        samples.append((time.perf_counter() - t0) * 1000)
        assert reply.status == 200
    samples.sort()
    return {
        "p50_ms": round(statistics.median(samples), 2),
        "p99_ms": round(samples[min(len(samples) - 1, int(len(samples) * 0.99))], 2),
        "max_ms": round(samples[-1], 2),
        "bytes": size,
    }


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.stats_read", description=__doc__.split("\n\n")[0])
    p.add_argument("--events", type=int, default=1_000_000, help="real events preloaded (default 1,000,000)")
    p.add_argument("--counted", type=int, default=10_000_000, help="events the counters add up to")
    p.add_argument("--actions", type=int, default=20, help="distinct actions in the counters (default 20)")
    p.add_argument("--requests", type=int, default=300, help="timed requests per query (default 300)")
    args = p.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="tracktion-stats-read-") as tmp:
        scratch = Path(tmp)
        server = TracktionServer(scratch / "data", scratch / "server.log")
        server.start_server()
        try:
            token = server.login()
            t0 = time.perf_counter()
            pre = preload_sqlite(server.sqlite_path, args.events)
            backfill_s = time_backfill(server.sqlite_path)
            now_ms = int(time.time() * 1000)
            rows = load_counters(server.sqlite_path, args.counted, args.actions, now_ms)
            setup_s = round(time.perf_counter() - t0, 1)
            month = f"from={quote(_iso(now_ms - SPAN_DAYS * DAY))}&to={quote(_iso(now_ms))}"
            week = f"from={quote(_iso(now_ms - 6 * DAY))}&to={quote(_iso(now_ms))}"
            heavy = max(10, args.requests // 10)  # answers of megabytes, or 10,000 rows looked at
            queries = {
                "stats 30 d by hour, by action, top 10": (f"/-/api/stats?{month}&bucket=hour", args.requests),
                "stats 30 d by hour, by kind": (f"/-/api/stats?{month}&bucket=hour&by=kind", args.requests),
                "stats 30 d by day, by action": (f"/-/api/stats?{month}&bucket=day", args.requests),
                "stats 24 h by hour (default)": ("/-/api/stats", args.requests),
                "stats 6 d by minute, by action, top 10": (f"/-/api/stats?{week}&bucket=minute", heavy),
                "events, param filter matching nothing (10,000 rows looked at)": (
                    "/-/api/events?param=" + quote('campaign:"none"'),
                    heavy,
                ),
                "events, param filter matching every row, limit 100": (
                    "/-/api/events?param=" + quote('campaign:"spring-sale"'),
                    args.requests,
                ),
                "events, order=seq, limit 100": ("/-/api/events?order=seq", args.requests),
            }
            results = {
                name: timed(server.port, token, path, n) | {"requests": n}
                for name, (path, n) in queries.items()
            }
        finally:
            server.stop()
    print(
        json.dumps(
            {
                "preloaded_events": pre.events,
                "counted_events": args.counted,
                "actions": args.actions,
                "counter_rows": rows,
                "backfill_seconds": backfill_s,
                "setup_seconds": setup_s,
                "requests_per_query": args.requests,
                "results": results,
            },
            indent=2,
        )
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
