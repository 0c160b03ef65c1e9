"""Bytes on disk per event (issue 23): `python -m bench.footprint [--events N] [--database-url URL]`.

Imports N typical e-commerce events (default 100,000: 5 actions, 20,000 customIds, params `url`, `ref`,
`price`, `qty`, ~207 bytes per NDJSON line) with `tracktion import` into a fresh `tracktion serve`
(production settings), stops it, and prints the store's size per event, tables and indexes apart:

* SQLite: after `PRAGMA wal_checkpoint(TRUNCATE)`, the `dbstat` virtual table (pages of each table and
  index × page size) and the file size;
* PostgreSQL (with `--database-url`, a role allowed to CREATE DATABASE): a fresh database, `VACUUM` after
  the import, then `pg_table_size` and `pg_indexes_size` per table and `pg_database_size`.

The input is deterministic (seeded), so two commits can be compared by running this on each.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from bench.preload import drop_database, fresh_database_url
from bench.servers import TracktionServer

ACTIONS = {
    "page.visit": "Page visit",
    "product.view": "Product view",
    "product.addToCart": "Add to cart",
    "checkout.start": "Checkout",
    "search.query": "Search",
}
CUSTOMERS = 20_000
SPAN_MS = 30 * 24 * 3600 * 1000
END_MS = 1_764_547_200_000  # 2025-12-01T00:00:00Z: a fixed past, so every line keeps its time


def lines(events: int, seed: int = 23) -> list[bytes]:
    """The NDJSON lines: batch items as `tracktion import` sends them."""
    rng = random.Random(seed)
    start = END_MS - SPAN_MS
    out = []
    for i in range(events):
        time_ms = start + i * SPAN_MS // events // 1000 * 1000
        product = rng.randrange(1, 5_000)
        action = rng.choice(list(ACTIONS))
        item = {
            "action": action,
            "label": ACTIONS[action],
            "time": _iso(time_ms),
            "client": {"customId": f"c{rng.randrange(CUSTOMERS):05d}"},
            "params": {
                "url": f"https://shop.example/p/{product}",
                "ref": f"https://google.com/?q={rng.randrange(100)}",
                "price": round(rng.uniform(5, 300), 2),
                "qty": rng.randrange(1, 5),
            },
        }
        out.append(json.dumps(item, separators=(",", ":")).encode())
    return out


def _iso(ms: int) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(ms // 1000))


def sqlite_sizes(db: Path) -> dict[str, Any]:
    conn = sqlite3.connect(db, isolation_level=None)
    try:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
        (page,) = conn.execute("PRAGMA page_size").fetchone()
        kinds = dict(conn.execute("SELECT name, type FROM sqlite_master WHERE type IN ('table', 'index')"))
        rows = conn.execute("SELECT name, SUM(pgsize), COUNT(*) FROM dbstat GROUP BY name").fetchall()
        (events,) = conn.execute("SELECT COUNT(*) FROM events").fetchone()
    finally:
        conn.close()
    tables: dict[str, int] = {}
    indexes: dict[str, int] = {}
    for name, size, _pages in rows:
        (indexes if kinds.get(name) == "index" or name.startswith("sqlite_autoindex") else tables)[name] = (
            size
        )
    return {
        "events": events,
        "page_size": page,
        "file_bytes": db.stat().st_size,
        "tables": tables,
        "indexes": indexes,
    }


def postgres_sizes(url: str) -> dict[str, Any]:
    import psycopg

    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("VACUUM")
        rows = conn.execute(
            "SELECT c.relname, pg_table_size(c.oid), pg_indexes_size(c.oid) FROM pg_class c"
            " JOIN pg_namespace n ON n.oid = c.relnamespace"
            " WHERE c.relkind = 'r' AND n.nspname = current_schema()"
        ).fetchall()
        ((events, database),) = conn.execute(
            "SELECT (SELECT COUNT(*) FROM events), pg_database_size(current_database())"
        ).fetchall()
    return {
        "events": events,
        "database_bytes": database,
        "tables": {name: t for name, t, _ in rows if t},
        "indexes": {name: i for name, _, i in rows if i},
    }


def report(backend: str, sizes: dict[str, Any]) -> str:
    n = max(1, sizes["events"])
    tables, indexes = sizes["tables"], sizes["indexes"]
    total = sum(tables.values()) + sum(indexes.values())
    out = [f"{backend}: {sizes['events']:,} events"]
    if "file_bytes" in sizes:
        out.append(
            f"  file after checkpoint: {sizes['file_bytes']:,} B = {sizes['file_bytes'] / n:.0f} B/event"
        )
    else:
        out.append(f"  database: {sizes['database_bytes']:,} B (catalog included)")
    out.append(f"  tables + indexes: {total:,} B = {total / n:.0f} B/event")
    out.append(f"  {'object':<28} {'kind':<6} {'bytes':>12} {'B/event':>8}")
    for kind, sizes_of in (("table", tables), ("index", indexes)):
        for name, size in sorted(sizes_of.items(), key=lambda kv: -kv[1]):
            if size * 100 >= total:  # the objects above 1% of the total
                out.append(f"  {name:<28} {kind:<6} {size:>12,} {size / n:>8.1f}")
    return "\n".join(out)


def run(backend: str, events: int, database_url: str | None, work: Path) -> dict[str, Any]:
    data = work / f"data-{backend}"
    data.mkdir()
    input_path = work / "events.ndjson"
    if not input_path.exists():
        input_path.write_bytes(b"\n".join(lines(events)) + b"\n")
    url = db_name = None
    if backend == "postgres":
        assert database_url
        db_name = f"tracktion_footprint_{os.getpid()}"
        url = fresh_database_url(database_url, db_name)
    server = TracktionServer(data, work / f"server-{backend}.log", database_url=url)
    try:
        server.start_server()
        started = time.perf_counter()
        done = subprocess.run(
            [
                sys.executable,
                "-m",
                "tracktion",
                "import",
                str(input_path),
                "--url",
                f"http://127.0.0.1:{server.port}",
                "--api-key",
                server.api_key,
                "--no-progress",
                "--json",
                "--restart",
            ],
            capture_output=True,
            check=False,
        )
        seconds = time.perf_counter() - started
        if done.returncode != 0:
            raise RuntimeError(
                f"import failed ({done.returncode}): {done.stdout[-1500:]!r} {done.stderr[-1500:]!r}"
            )
    finally:
        server.stop()
    try:
        sizes = sqlite_sizes(server.sqlite_path) if url is None else postgres_sizes(url)
    finally:
        if db_name is not None and database_url:
            drop_database(database_url, db_name)
    sizes["line_bytes"] = round(input_path.stat().st_size / events, 1)
    sizes["import_seconds"] = round(seconds, 1)
    return sizes


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.footprint", description=__doc__.split("\n\n")[0])
    p.add_argument("--events", type=int, default=100_000)
    p.add_argument("--backend", choices=["sqlite", "postgres", "both"], default="sqlite")
    p.add_argument("--database-url", default=os.environ.get("TRACKTION_DATABASE_URL"))
    p.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = p.parse_args(argv)
    backends = ["sqlite", "postgres"] if args.backend == "both" else [args.backend]
    if "postgres" in backends and not args.database_url:
        p.error("postgres needs --database-url (or TRACKTION_DATABASE_URL)")
    results = {}
    with tempfile.TemporaryDirectory(prefix="tracktion-footprint-") as tmp:
        for backend in backends:
            results[backend] = run(backend, args.events, args.database_url, Path(tmp))
    if args.json:
        print(json.dumps(results, indent=2))
    else:
        for backend, sizes in results.items():
            print(f"input: {sizes['line_bytes']} B per NDJSON line; import {sizes['import_seconds']} s")
            print(report(backend, sizes))
    return 0


if __name__ == "__main__":
    sys.exit(main())
