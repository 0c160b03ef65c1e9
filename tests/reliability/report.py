"""Regenerate docs/reliability.md: run the reliability suite on both backends and write its figures.

    TRACKTION_TEST_DATABASE_URL=postgresql://postgres@127.0.0.1:5432/test .venv/bin/python -m tests.reliability.report

runs `pytest tests/reliability` once (every test on SQLite and on PostgreSQL), collects the numbers each
test records (`figures` fixture, written as JSON through TRACKTION_RELIABILITY_FIGURES) and renders the
document. `--figures FILE` renders from a JSON file of an earlier run instead of running the tests.
Exit status: pytest's.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import re
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "reliability.md"
BACKENDS = ("sqlite", "postgres")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.reliability.report", description=__doc__)
    parser.add_argument(
        "--figures", type=Path, help="render from this JSON file instead of running the tests"
    )
    parser.add_argument("--output", type=Path, default=DOC)
    args = parser.parse_args(argv)
    run: dict[str, Any] = {}
    if args.figures:
        figures = json.loads(args.figures.read_text())
        status = 0
    else:
        with tempfile.TemporaryDirectory() as tmp:
            path = Path(tmp) / "figures.json"
            env = {**os.environ, "TRACKTION_RELIABILITY_FIGURES": str(path)}
            started = time.monotonic()
            result = subprocess.run(
                [sys.executable, "-m", "pytest", "tests/reliability", "-p", "no:cacheprovider"],
                cwd=ROOT,
                env=env,
                capture_output=True,
                text=True,
            )
            sys.stdout.write(result.stdout if result.returncode else result.stdout[-5000:])
            sys.stderr.write(result.stderr[-5000:])
            run = {
                "seconds": round(time.monotonic() - started),
                "outcome": _outcome(result.stdout),
                "status": result.returncode,
            }
            status = result.returncode
            figures = json.loads(path.read_text()) if path.exists() else {}
    previous = args.output.read_text("utf-8") if args.output.exists() else ""
    args.output.write_text(render(figures, run, hand_written_summary(previous)))
    print(f"wrote {args.output.relative_to(ROOT) if args.output.is_relative_to(ROOT) else args.output}")
    return status


def _outcome(stdout: str) -> str:
    """pytest's closing line, e.g. `16 passed in 240.12s (0:04:00)`."""
    for line in reversed(stdout.splitlines()):
        text = line.strip("= ").strip()
        if re.match(r"^\d+ (passed|failed|skipped|errors?)\b.* in [\d.]+s", text):
            return text
    return "no result line"


def _machine() -> str:
    cores = os.cpu_count()
    try:
        mem = next(
            int(line.split()[1]) // (1024 * 1024)
            for line in Path("/proc/meminfo").read_text().splitlines()
            if line.startswith("MemTotal")
        )
        memory = f"{mem} GiB"
    except (OSError, StopIteration):
        memory = "?"
    pg = "not used"
    url = os.environ.get("TRACKTION_TEST_DATABASE_URL")
    if url:
        try:
            import psycopg

            with psycopg.connect(url, connect_timeout=5) as conn:
                row = conn.execute("SHOW server_version").fetchone()
                pg = f"PostgreSQL {row[0] if row else '?'}"
        except Exception as exc:
            pg = f"PostgreSQL unreachable ({type(exc).__name__})"
    return (
        f"{cores} cores, {memory} RAM, Linux {platform.release()}, Python {platform.python_version()},"
        f" SQLite {sqlite3.sqlite_version}, {pg}"
    )


def _get(figures: dict[str, Any], name: str, backend: str | None, key: str, default: Any = "—") -> Any:
    section = figures.get(f"{name}[{backend}]" if backend else name) or figures.get(name) or {}
    return section.get(key, default)


def _row(figures: dict[str, Any], name: str, label: str, key: str, fmt: str = "{}") -> str:
    cells = []
    for backend in BACKENDS:
        value = _get(figures, name, backend, key)
        cells.append(fmt.format(value) if value != "—" else "—")
    return f"| {label} | {' | '.join(cells)} |"


def _table(figures: dict[str, Any], name: str, rows: list[tuple[str, str]]) -> str:
    lines = ["| | SQLite | PostgreSQL |", "|---|---:|---:|"]
    lines += [_row(figures, name, label, key) for label, key in rows]
    return "\n".join(lines)


def _single(figures: dict[str, Any], name: str, rows: list[tuple[str, str]]) -> str:
    section = figures.get(name, {})
    lines = ["| | |", "|---|---:|"]
    lines += [f"| {label} | {section.get(key, '—')} |" for label, key in rows]
    return "\n".join(lines)


def _faults(figures: dict[str, Any]) -> str:
    disk = figures.get("disk_full", {})
    gone = figures.get("database_gone", {})
    return (
        f"Disk full (SQLite on a {disk.get('tmpfs', '-')} tmpfs): {disk.get('refused_503_5001', '-')} writes"
        f" refused with 503 5001, {disk.get('losses', '-')} acknowledged events lost, the first write"
        f" accepted {disk.get('recovery_seconds', '-')} s after space was freed, without a restart.\n"
        f"Database gone (PostgreSQL behind a cut TCP proxy): {gone.get('refused_503_5001', '-')} writes"
        f" refused with 503 5001, {gone.get('losses', '-')} acknowledged events lost, the first write"
        f" accepted {gone.get('recovery_seconds', '-')} s after the database came back."
    )


SUMMARY_START, SUMMARY_END = "## Summary\n", "## How it is tested\n"
NO_SUMMARY = (
    "(A one-screen summary for users, written by hand, goes here: what is promised, what was measured.)\n\n"
)


def hand_written_summary(document: str) -> str:
    """The `## Summary` section of the document as it was: written by hand for users and kept on every
    regeneration (the figures below it are the generated part)."""
    start = document.find(SUMMARY_START)
    end = document.find(SUMMARY_END, start)
    if start < 0 or end < 0:
        return NO_SUMMARY
    return document[start + len(SUMMARY_START) : end].lstrip("\n")


def render(figures: dict[str, Any], run: dict[str, Any], summary: str = NO_SUMMARY) -> str:
    today = datetime.date.today().isoformat()
    outcome = run.get("outcome", "rendered from a saved figures file")
    duration = f", {run['seconds']} s" if "seconds" in run else ""
    hostile = {b: _get(figures, "hostile", b, "results", {}) for b in BACKENDS}
    hostile_names = list(dict.fromkeys(k for b in BACKENDS for k in hostile[b]))
    hostile_rows = "\n".join(
        f"| {name} | {hostile['sqlite'].get(name, '—')} | {hostile['postgres'].get(name, '—')} |"
        for name in hostile_names
    )
    statuses = {b: _get(figures, "crash", b, "statuses", {}) for b in BACKENDS}
    return f"""# Reliability

<!-- The Summary is written by hand; `python -m tests.reliability.report` keeps it and regenerates the rest. -->

## Summary

{summary}## How it is tested

What the reliability suite (`tests/reliability/`) proves about tracktion, with the figures of its last
run. Every test starts real `tracktion serve` processes on loopback and talks to them over TCP; nothing is
mocked. Regenerate this file (2–5 minutes on 2 cores) with:

```sh
TRACKTION_TEST_DATABASE_URL=postgresql://postgres@127.0.0.1:5432/test .venv/bin/python -m tests.reliability.report
```

It runs `pytest tests/reliability` (each test on SQLite and on PostgreSQL where the backend matters),
collects the numbers the tests record and rewrites this document. The same tests run in CI with the rest of
the suite (`make test`); randomness is seeded (`tests/reliability/load.py: SEED`), so a run is repeatable up
to the timing of the kills.

Last run: {today}, {outcome}{duration}.
Machine: {_machine()}.

## All figures of the last run

| Property | SQLite | PostgreSQL |
|---|---:|---:|
{_row(figures, "crash", "SIGKILL cycles", "cycles")}
{_row(figures, "crash", "requests acknowledged (202)", "acknowledged_requests")}
{_row(figures, "crash", "events verified after the kills", "events_verified")}
{_row(figures, "crash", "**acknowledged events lost**", "losses", "**{}**")}
{_row(figures, "crash", "half-stored requests", "half_stored")}
{_row(figures, "crash", "duplicates of salted re-sends", "duplicates")}
{_row(figures, "overload", "overload: refused with 503 5002", "refused_503")}
{_row(figures, "overload", "overload: p99 of a refusal (ms)", "refused_p99_ms")}
{_row(figures, "overload", "overload: slowest health check (ms)", "health_max_ms")}
{_row(figures, "overload", "overload: stored after a 503", "stored_after_503")}
{_row(figures, "slowloris", "slowest request next to 80 slow connections (ms)", "fast_max_ms")}
{_row(figures, "hostile", "hostile bodies: peak RSS (MiB)", "peak_rss_mib")}
{_row(figures, "schemathesis", "schemathesis test cases (all passed)", "test_cases")}

{_faults(figures)}

## 1. Crash durability — `test_crash.py`

Six concurrent clients send single events, salted events (and re-sends of earlier salted events, across
restarts), atomic batches of 2–20 items (dedicated and custom items mixed; some with one invalid item,
which must store nothing), and transactions with 1–5 products (some salted and re-sent). After a random
0.05–0.9 s of traffic the server is killed with SIGKILL, restarted on the same store, and the next cycle
begins. After the last cycle every stored event is read back and compared with the answers:

* every request answered 202 is stored, every one of its events exactly once (**losses**, **duplicates**);
* a request answered only with errors left nothing (**stored after error**);
* a request that got no answer (cut by the kill) is stored whole or not at all (**half-stored**): no
  charge without all its `product.buy`, no atomic batch cut in half; each charge's `productEventsUUIDs`
  names exactly its stored products;
* nothing is stored that no one sent (**phantoms**).

This holds because a 202 is sent only after the group commit is durable (SQLite WAL with
`synchronous=FULL`; PostgreSQL's commit with the server's default `synchronous_commit`), and each request is
one savepoint inside that commit.

{
        _table(
            figures,
            "crash",
            [
                ("cycles", "cycles"),
                ("logical requests", "requests"),
                ("sends (incl. salted re-sends)", "sends"),
                ("sends answered 202", "acknowledged_sends"),
                ("requests acknowledged", "acknowledged_requests"),
                ("sends answered 400 (invalid batches)", "error_sends"),
                ("sends without an answer (killed)", "unanswered_sends"),
                ("events stored", "events_stored"),
                ("events verified", "events_verified"),
                ("losses", "losses"),
                ("duplicates", "duplicates"),
                ("half-stored", "half_stored"),
                ("stored after an error", "stored_after_error"),
                ("phantoms", "phantoms"),
                ("slowest restart (s)", "restart_seconds_max"),
                ("test duration (s)", "seconds"),
            ],
        )
    }

Statuses seen: SQLite {statuses["sqlite"] or "—"}; PostgreSQL {statuses["postgres"] or "—"}.

## 2. Overload — `test_overload.py`

The server runs with `TRACKTION_WRITE_QUEUE_SIZE=2` and 48 concurrent writers for 3 s, while a client
polls `/-/health` every 50 ms. Proven: the excess is refused at once with 503, code 5002 and `Retry-After`
(never accepted and dropped); health keeps answering; every 202 is stored and nothing answered 503 is;
right after the load the next 50 writes are all accepted, without a restart.

{
        _table(
            figures,
            "overload",
            [
                ("writes answered", "writes"),
                ("accepted (202)", "accepted"),
                ("refused (503, 5002)", "refused_503"),
                ("share refused", "refused_share"),
                ("refusal latency p50 (ms)", "refused_p50_ms"),
                ("refusal latency p99 (ms)", "refused_p99_ms"),
                ("accepted latency p50 (ms)", "accepted_p50_ms"),
                ("accepted latency p99 (ms)", "accepted_p99_ms"),
                ("health checks", "health_checks"),
                ("slowest health check (ms)", "health_max_ms"),
                ("50 writes after the load (s)", "recovery_50_writes_s"),
                ("events verified", "events_verified"),
                ("losses", "losses"),
                ("stored after a 503", "stored_after_503"),
            ],
        )
    }

**Limit: the queue is the only overload signal.** §1.7 also asks for 5002 when "a commit waits too long";
tracktion has no such timer: a request waits for its commit however long that takes. A commit that
stalls — a PostgreSQL lock wait, a hung disk, or one request carrying 100,000 new param names (see the
hostile bodies: {_get(figures, "hostile", "sqlite", "params_100k_ms")} ms of writer time on SQLite and
{_get(figures, "hostile", "postgres", "params_100k_ms")} ms on PostgreSQL, where the definitions' params
are upserted by one `executemany` row by row) — makes every queued request wait with it, and 503 5002
only starts once the queue is full. A PostgreSQL connection that stops answering without being closed is
detected by TCP keepalives (about a minute).

## 3. Storage faults — `test_storage_faults.py`

**Disk full (SQLite).** The data directory is a {_get(figures, "disk_full", None, "tmpfs")} tmpfs
(`mount -t tmpfs`; the test skips with the reason if it cannot mount, and fails under `CI`). After 100
writes a filler file takes every free byte; writes continue until the WAL has to grow. Proven: each such
write is answered 503, code 5001, `Retry-After: 1`, and leaves nothing; `/-/health` answers 200 and
`/-/ready` 503; once the filler is deleted `/-/ready` is 200 again before any write and writes are
accepted by the same process; every 202 is there, also after a restart, and `PRAGMA integrity_check`
is `ok`.

{
        _single(
            figures,
            "disk_full",
            [
                ("writes during the fault", "writes_during_fault"),
                ("refused with 503 5001", "refused_503_5001"),
                ("accepted during the fault", "accepted_during_fault"),
                ("first accepted write after freeing space (s)", "recovery_seconds"),
                ("events verified", "events_verified"),
                ("losses", "losses"),
                ("stored after a 503", "stored_after_503"),
            ],
        )
    }

**Database gone (PostgreSQL).** tracktion reaches PostgreSQL through a loopback TCP proxy
(`tests/support/pgproxy.py`). Four clients write; mid-traffic the proxy drops every connection and
refuses new ones, as if the database had stopped. Proven: writes in flight and after the cut are
answered 503 5001 (none hangs, none is half-stored); every write sent after the cut stores nothing; health
stays 200, ready 503; when the proxy accepts again `/-/ready` is 200 before any write, the next write is
accepted, and every 202 — before, around and after the cut — is stored, also after a restart. A write sent
before the cut and answered 503 is *in doubt*: its COMMIT may have reached PostgreSQL just before the
connection broke, and tracktion cannot tell (docs/deploying.md, "Commit outcome unknown"); the test checks
that each such write is stored whole or not at all, and counts how many were stored.

{
        _single(
            figures,
            "database_gone",
            [
                ("writes around the cut", "writes_around_cut"),
                ("refused with 503 5001", "refused_503_5001"),
                ("first accepted write after the database is back (s)", "recovery_seconds"),
                ("requests acknowledged", "acknowledged_requests"),
                ("events verified", "events_verified"),
                ("losses", "losses"),
                ("stored after a 503 (sent after the cut)", "stored_after_503"),
                ("answered 503 while in doubt (sent before the cut)", "in_doubt"),
                ("of those, stored whole", "in_doubt_stored"),
            ],
        )
    }

## 4. Slow and hostile clients — `test_hostile.py`

**Slow clients.** 64 connections announce a body and send it one byte every 100 ms, 16 more send headers
that never end; meanwhile one client alternates writes and health checks for 3 s. Proven: none of its
requests waits for the slow ones (the body is read without blocking the event loop), and the slow clients
that finish their body are answered 202.

{
        _table(
            figures,
            "slowloris",
            [
                ("normal requests next to the slow clients", "fast_requests"),
                ("median latency (ms)", "fast_p50_ms"),
                ("slowest (ms)", "fast_max_ms"),
            ],
        )
    }

**Slow large bodies.** Bodies over 64 KiB (or of unknown length) are processed at most
`TRACKTION_MAX_LARGE_REQUESTS` (4) at a time. 16 connections without credentials send a chunked body to
the login endpoint one byte every 100 ms while a client posts 250 KB batches. Proven: the batches are
accepted without waiting for the slow bodies.

{
        _table(
            figures,
            "slow_large_bodies",
            [
                ("slow chunked connections", "slow_connections"),
                ("large batches sent next to them", "large_requests"),
                ("slowest large batch (ms)", "large_max_ms"),
            ],
        )
    }

**Hostile bodies.** Each body below is sent to a live server; the expected status and code are the
contract's (§1.3, §12), every 4xx carries the Synerise error body (§1.6, `rejectedValue` ≤ 256 chars),
and none is a 500. The gzip bomb is sent first: the server's peak RSS after it shows it was never
inflated (decompression stops at 1 MiB + 1 byte). Then 8 connections send the 100,000-key body twice
each at once. Peak RSS is read from `/proc/<pid>/status` (VmHWM).

| Body | SQLite | PostgreSQL |
|---|---|---|
{hostile_rows}

{
        _table(
            figures,
            "hostile",
            [
                ("idle RSS (MiB)", "idle_rss_mib"),
                ("RSS after the run (MiB)", "rss_after_mib"),
                ("peak RSS (MiB)", "peak_rss_mib"),
                ("slowest answer (ms)", "worst_ms"),
            ],
        )
    }

Note: an error answer can be larger than its request — a transaction with 10,000 invalid products gets
20,000 error entries (about 2 MB), all recorded in the quarantine as §1.6 and §11 ask.

## 5. OpenAPI and schemathesis — `test_openapi_fuzz.py`

`GET /-/openapi.json` (public) is an OpenAPI 3.1 document generated by `tracktion/http/openapi.py` from
the route table (`Router.routes()`: paths, methods, authentication, permission, body, write), the
catalog rows (`catalog.json`: action, required and typed params, money objects) and the validators'
constants (identifier, time, action and currency patterns, enums, ranges, body and batch limits,
`Api-Version`, `X-Request-Id`). Every 4xx/5xx is described with the one error body.
`test_document_describes_every_route` checks that the document names exactly the routes of the route
table. schemathesis then runs against the live server with a workspace bearer token (the admin routes with
the admin token), a fixed seed and a fixed number of examples per operation, and checks every answer:
no 5xx, a documented status, content type and headers, a body matching its schema. The event stream is
described but not fuzzed (its answer never ends).

{
        _table(
            figures,
            "schemathesis",
            [
                ("phases", "phases"),
                ("examples per operation", "examples_per_operation"),
                ("seed", "seed"),
                ("operations tested", "operations_tested"),
                ("test cases", "test_cases"),
                ("duration (s)", "seconds"),
            ],
        )
    }

## 6. Property tests — `test_properties.py`

hypothesis (derandomized, so every run draws the same examples) feeds arbitrary JSON, and JSON shaped
like the real bodies with any value in any place, to the decoder (`decode_json`, `gunzip_limited`), to the
validator of every catalog row and of transactions, and through the in-process app to the write
endpoints (single, dedicated, ai-compat, batches atomic and partial, transactions). Proven: the outcome is
always a value or the contract's error (`MalformedJson`, `PayloadTooLarge`, `ValidationFailed`), and on
the wire a 202/207 or a 4xx with the Synerise body — never another exception, never a 500.

## What is not covered

* Power loss or a kernel crash (only the process is killed; `synchronous=FULL` and PostgreSQL's
  durable commit are what make a 202 survive those, and they are not exercised here).
* A PostgreSQL server that stalls without closing connections (see the overload limit above).
* Per-key rate limits (phase 2): a single authenticated client can use the whole write queue.

## Lab notebook

### Bugs found and fixed

* **`POST /v4/transactions` answered 500 for a `source` that is an array or object** (`source not in
  SOURCES` on an unhashable value raised `TypeError`). Found by the property tests; now 400, code 1007
  (`tracktion/schemas/transaction.py`), and a case of the hostile-body table.
* **Four slow clients could stall every large request, without credentials.** The bound on concurrent
  large bodies (commit aee58fa) took its slot before reading the body, so a client dripping a body of
  unknown length to a login path held a slot indefinitely; with four such connections every batch over
  64 KiB waited forever. The body is now read (at the client's pace, at most 1 MiB + 1 byte) before the
  slot is taken, which still bounds the decoded objects (`tracktion/http/asgi.py`, 2 lines).
* **SQLite `/-/ready` stayed 503 after a disk-full until a write succeeded.** A load balancer that routes
  by readiness never sends that write, so the node never came back by itself. `SQLiteStore.ready()` now,
  after a failed commit, reports ready once the disk has at least 1 MiB free and a probe commit (one
  page rewritten with its own value) succeeds — the counterpart of PostgreSQL's `SELECT 1` probe.
* **The test proxy for PostgreSQL outages leaked a connection across a cut** (a connection accepted just
  before `cut()` was registered after it, so the "stopped" database kept answering, and the outage test
  flaked) and **added 40 ms per round trip** (Nagle's algorithm against delayed ACKs). Both fixed in
  `tests/support/pgproxy.py`; the PostgreSQL outage tests run about 4× faster.
"""


if __name__ == "__main__":
    raise SystemExit(main())
