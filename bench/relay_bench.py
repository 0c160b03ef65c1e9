"""The relay's and the data lifecycle's performance targets (issues 17 and 18), as same-run ratios on one
`tracktion serve` (SQLite, writer process: the production setting):

* `ingest`: ingestion with two healthy destinations (a webhook to a local receiver, NATS JetStream) against
  none, single events and 1000-item batches. The two destinations are paused in the "none" rounds and
  running in the others, rounds alternated on the same server and store (target ≥ 0.8×).
* `throughput`: delivery to a local webhook receiver, batches of 500: a preload, then a destination with
  `start: beginning` drains it; events/s from its `delivered` count (target ≥ 20,000 events/s).
* `lag`: `lagSeconds` of a webhook destination sampled each second under a steady 2,000 events/s ingest
  (20 batches of 100 per second), its p99 (target < 2 s).
* `dead`: the healthy destination's lag under the same steady ingest while a dead one (connection refused)
  is running, against while it is paused, alternated (target: no measurable difference).
* `deletion`: live single-event ingestion p99 while the background deletion of many expired events runs
  (retention set to 1 day over events of 2020), against while it does not (retention unset), rounds
  alternated (target ≤ 2×).

    python -m bench.relay_bench [--only ingest,throughput,lag,dead,deletion] [--seconds 10] [--rounds 2]
        [--deletion-events 500000] [--chunk-rows R] [--step-ms MS] [--database-url URL (deletion only)]

The receiver is a separate process (asyncio, answers 204 to every POST). Everything shares the machine's
cores (the load generator too): read ratios within one run, not absolute numbers across runs.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import secrets
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench import workloads
from bench.loadgen import LoadSpec, run_python
from bench.servers import HOST, TracktionServer, free_port, http_request

NATS_URL = "nats://127.0.0.1:4222"
ADMIN = "bench-admin-" + secrets.token_hex(8)


# -- the local webhook receiver (a process of its own) ---------------------------------------------------
async def _receiver(port: int) -> None:
    count = 0

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        nonlocal count
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = 0
                for line in head.split(b"\r\n"):
                    if line[:15].lower() == b"content-length:":
                        length = int(line[15:])
                if length:
                    await reader.readexactly(length)
                count += 1
                writer.write(b"HTTP/1.1 204 No Content\r\ncontent-length: 0\r\n\r\n")
        except (asyncio.IncompleteReadError, ConnectionError):
            writer.close()

    server = await asyncio.start_server(handle, HOST, port)
    async with server:
        await server.serve_forever()


RECEIVERS: dict[str, int] = {}  # url -> pid, for the CPU accounting


@contextlib.contextmanager
def receiver() -> Iterator[str]:
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "bench.relay_bench", "--receiver", str(port)],
        env=os.environ | {"PYTHONPATH": str(Path(__file__).resolve().parent.parent)},
    )
    try:
        deadline = time.monotonic() + 10
        while True:
            with contextlib.suppress(OSError):
                socket.create_connection((HOST, port), timeout=1).close()
                break
            if time.monotonic() > deadline:
                raise RuntimeError("the receiver did not start")
            time.sleep(0.05)
        RECEIVERS[f"http://{HOST}:{port}/hook"] = proc.pid
        yield f"http://{HOST}:{port}/hook"
    finally:
        proc.terminate()
        proc.wait(10)


# -- the server and its API ---------------------------------------------------------------------------
class Api:
    def __init__(self, server: TracktionServer) -> None:
        self.server = server
        self.token = server.login()

    def call(self, method: str, path: str, body: Any = None, admin: bool = False) -> Any:
        data = None if body is None else json.dumps(body).encode()
        if admin:
            import http.client

            conn = http.client.HTTPConnection(HOST, self.server.port, timeout=60)
            conn.request(
                method,
                path,
                body=data,
                headers={"Authorization": f"Bearer {ADMIN}", "Content-Type": "application/json"},
            )
            resp = conn.getresponse()
            status, raw = resp.status, resp.read()
            conn.close()
        else:
            reply = http_request(self.server.port, method, path, data, self.token, timeout=60)
            status, raw = reply.status, reply.body
        if status >= 300:
            raise RuntimeError(f"{method} {path}: HTTP {status} {raw[:300]!r}")
        return json.loads(raw) if raw else None

    def destination(self, name: str, type_: str, config: dict[str, Any], start: str = "now") -> str:
        made = self.call(
            "POST", "/-/api/destinations", {"name": name, "type": type_, "config": config, "start": start}
        )
        return str(made["id"])

    def pause(self, dest: str, paused: bool) -> None:
        self.call("POST", f"/-/api/destinations/{dest}/{'pause' if paused else 'resume'}")

    def status(self, dest: str) -> dict[str, Any]:
        found: dict[str, Any] = self.call("GET", f"/-/api/destinations/{dest}/status")
        return found


def start_server(
    scratch: Path, name: str, env: dict[str, str] | None = None, database_url: str | None = None
) -> TracktionServer:
    server = TracktionServer(scratch / name, scratch / f"{name}.log", database_url=database_url)
    server.env["TRACKTION_ADMIN_TOKEN"] = ADMIN
    server.env.update(env or {})
    server.start_server()
    return server


def _now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"


def load(
    server: TracktionServer, token: str, batch: bool, seconds: float, connections: int
) -> dict[str, Any]:
    """Closed-loop ingestion for `seconds`: events/s and latency percentiles."""
    wl = workloads.build(pool=1000)["batch1000" if batch else "custom"]
    spec = LoadSpec(HOST, server.port, wl.method, wl.path, token, wl.template, 1000, connections, seconds)
    result = run_python(spec)
    return {
        "events_per_s": round(result.ok_requests * wl.events_per_request / result.duration_s, 1),
        "p50_ms": result.latency_ms.get("p50_ms"),
        "p99_ms": result.latency_ms.get("p99_ms"),
        "non_2xx": result.non_2xx,
        "errors": result.socket_errors,
    }


def preload(api: Api, events: int, time_text: str | None = None) -> float:
    """`events` stored through 1000-item batches on 4 connections; returns seconds."""
    when = time_text or _now()
    body = workloads.batch_body(1000, when, 1000).replace("@N@", "p").replace("@K@", "0")
    items = json.loads(body)
    for n, item in enumerate(items):
        item["client"] = {"customId": f"bench-{n % 1000}"}
    raw = json.dumps(items).encode()
    started = time.monotonic()
    requests = events // 1000

    def worker(share: int) -> None:
        for _ in range(share):
            reply = http_request(api.server.port, "POST", "/v4/events/batch", raw, api.token, timeout=120)
            if reply.status != 202:
                raise RuntimeError(f"preload: HTTP {reply.status}")

    threads = [threading.Thread(target=worker, args=(requests // 4 + (i < requests % 4),)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return time.monotonic() - started


class SteadyIngest:
    """2,000 events/s as 20 batches of 100 per second, paced (open loop), on a thread."""

    def __init__(self, api: Api, per_second: int = 2000, batch: int = 100) -> None:
        self.api = api
        self.batch = batch
        self.interval = batch / per_second
        self.stop = threading.Event()
        self.sent = 0
        self.thread = threading.Thread(target=self._run, daemon=True)

    def _run(self) -> None:
        import http.client

        conn = http.client.HTTPConnection(HOST, self.api.server.port, timeout=60)
        headers = {"Authorization": f"Bearer {self.api.token}", "Content-Type": "application/json"}
        next_at = time.monotonic()
        while not self.stop.is_set():
            items = [
                {
                    "action": "page.visit",
                    "label": "steady",
                    "client": {"customId": f"s-{i % 50}"},
                    "params": {"i": i},
                }
                for i in range(self.batch)
            ]
            conn.request("POST", "/v4/events/batch", body=json.dumps(items).encode(), headers=headers)
            resp = conn.getresponse()
            resp.read()
            self.sent += self.batch
            next_at += self.interval
            delay = next_at - time.monotonic()
            if delay > 0:
                time.sleep(delay)
        conn.close()

    def __enter__(self) -> SteadyIngest:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join()


def sample_lag(api: Api, dest: str, seconds: float) -> list[float]:
    samples = []
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        samples.append(float(api.status(dest)["lagSeconds"]))
        time.sleep(1.0)
    return samples


def p99(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(0.99 * (len(ordered) - 1)))]


# -- NATS stream --------------------------------------------------------------------------------------
@contextlib.contextmanager
def nats_stream() -> Iterator[str | None]:
    try:
        socket.create_connection(("127.0.0.1", 4222), timeout=1).close()
    except OSError:
        yield None
        return
    import nats
    from nats.js.api import StreamConfig

    name = "BENCH" + secrets.token_hex(4).upper()

    async def run(create: bool) -> None:
        nc = await nats.connect(NATS_URL)
        js = nc.jetstream()
        if create:
            await js.add_stream(StreamConfig(name=name, subjects=[f"{name}.>"], max_msgs=2_000_000))
        else:
            await js.delete_stream(name)
        await nc.close()

    asyncio.run(run(True))
    try:
        yield name
    finally:
        asyncio.run(run(False))


# -- CPU accounting -----------------------------------------------------------------------------------
def _nats_server_pid() -> int | None:
    for pid in os.listdir("/proc"):
        if pid.isdigit():
            with contextlib.suppress(OSError):
                if Path(f"/proc/{pid}/comm").read_text().strip() == "nats-server":
                    return int(pid)
    return None


def cpu_seconds(server: TracktionServer, receiver_pid: int | None) -> dict[str, float]:
    """CPU seconds so far: the serving process, its writer process, the webhook receiver, nats-server (shared
    with whatever else uses it on the machine) and this process's children (the load generator)."""
    from bench.procstat import cpu, own_and_children_cpu_s, process_tree

    out: dict[str, float] = {}
    with contextlib.suppress(OSError):
        out["server"] = cpu(server.pid).total_s
        out["writer"] = sum(cpu(p).total_s for p in process_tree(server.pid)[1:])
    for name, pid in (("receiver", receiver_pid), ("nats_server", _nats_server_pid())):
        if pid is not None:
            with contextlib.suppress(OSError):
                out[name] = cpu(pid).total_s
    out["bench_and_loadgen"] = own_and_children_cpu_s()
    return out


# -- the benchmarks -----------------------------------------------------------------------------------
def bench_ingest(
    scratch: Path, seconds: float, rounds: int, modes: tuple[str, ...] = ("single", "batch1000")
) -> dict[str, Any]:
    out: dict[str, Any] = {}
    with receiver() as url, nats_stream() as stream:
        server = start_server(scratch, "ingest")
        try:
            api = Api(server)
            dests = [api.destination("hook", "webhook", {"url": url, "batchSize": 500})]
            if stream is not None:
                dests.append(
                    api.destination("bus", "nats", {"servers": [NATS_URL], "subject": f"{stream}.{{kind}}"})
                )
            out["destinations"] = ["webhook"] + (["nats"] if stream else [])
            for name in modes:
                batch = name == "batch1000"
                results: dict[str, list[float]] = {"none": [], "two": []}
                for r in range(rounds):
                    for mode in ("none", "two") if r % 2 == 0 else ("two", "none"):
                        for d in dests:
                            api.pause(d, mode == "none")
                        if mode == "two":
                            # Healthy destinations keep up: let them deliver what the paused round left
                            # before measuring, or the round pays for the previous one's catch-up too.
                            deadline = time.monotonic() + 120
                            while time.monotonic() < deadline and any(
                                api.status(d)["lagEvents"] for d in dests
                            ):
                                time.sleep(0.5)
                        time.sleep(1.0)
                        before = cpu_seconds(server, RECEIVERS.get(url))
                        got = load(server, api.token, batch, seconds, 8 if not batch else 2)
                        after = cpu_seconds(server, RECEIVERS.get(url))
                        events = got["events_per_s"] * seconds
                        got["cpu_us_per_event"] = {
                            k: round((after[k] - before[k]) / events * 1e6, 1)
                            for k in after
                            if k in before and events
                        }
                        results[mode].append(got["events_per_s"])
                        print(f"ingest {name} round {r} {mode}: {got}", flush=True)
                for d in dests:
                    api.pause(d, False)
                out[name] = {
                    "none_events_per_s": results["none"],
                    "two_destinations_events_per_s": results["two"],
                    "ratio": round(statistics.median(results["two"]) / statistics.median(results["none"]), 3),
                }
            # Every event arrived: the destinations catch up.
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline and any(api.status(d)["lagEvents"] for d in dests):
                time.sleep(1)
            out["caught_up"] = {d: api.status(d)["lagEvents"] == 0 for d in dests}
        finally:
            server.stop()
    return out


def bench_throughput(scratch: Path, events: int, rounds: int) -> dict[str, Any]:
    with receiver() as url:
        server = start_server(scratch, "throughput")
        try:
            api = Api(server)
            took = preload(api, events)
            out: dict[str, Any] = {"preloaded": events, "preload_s": round(took, 1), "events_per_s": []}
            for r in range(rounds):
                dest = api.destination(
                    f"drain{r}", "webhook", {"url": url, "batchSize": 500}, start="beginning"
                )
                started = time.monotonic()
                while api.status(dest)["delivered"] < events:
                    time.sleep(0.2)
                elapsed = time.monotonic() - started
                rate = events / elapsed
                out["events_per_s"].append(round(rate))
                print(f"throughput round {r}: {events} in {elapsed:.1f} s = {rate:.0f} events/s", flush=True)
                api.call("DELETE", f"/-/api/destinations/{dest}")
            return out
        finally:
            server.stop()


def bench_lag(scratch: Path, seconds: float, dead_rounds: int) -> dict[str, Any]:
    with receiver() as url:
        server = start_server(scratch, "lag")
        try:
            api = Api(server)
            healthy = api.destination("healthy", "webhook", {"url": url, "batchSize": 500})
            dead = api.destination("dead", "webhook", {"url": f"http://{HOST}:{free_port()}/nothing"})
            api.pause(dead, True)
            out: dict[str, Any] = {}
            with SteadyIngest(api) as ingest:
                time.sleep(2)
                samples = sample_lag(api, healthy, seconds)
                out["lag"] = {"samples": len(samples), "p99_s": p99(samples), "max_s": max(samples)}
                print(
                    f"lag at 2000 events/s: p99 {p99(samples):.2f} s over {len(samples)} samples", flush=True
                )
                runs: dict[str, list[float]] = {"dead_paused": [], "dead_running": []}
                dead_state = None
                for r in range(dead_rounds):
                    for mode in (
                        ("dead_paused", "dead_running") if r % 2 == 0 else ("dead_running", "dead_paused")
                    ):
                        api.pause(dead, mode == "dead_paused")
                        got = sample_lag(api, healthy, seconds)
                        runs[mode] += got
                        if mode == "dead_running":
                            dead_state = api.status(dead)["state"]
                        print(f"dead round {r} {mode}: lag p99 {p99(got):.2f} s", flush=True)
                out["dead"] = {
                    mode: {"p99_s": p99(v), "mean_s": round(statistics.mean(v), 3)}
                    for mode, v in runs.items()
                }
                if dead_rounds:
                    out["dead"]["dead_state_while_running"] = dead_state
                out["ingested"] = ingest.sent
            return out
        finally:
            server.stop()


def bench_deletion(
    scratch: Path,
    events: int,
    seconds: float,
    rounds: int,
    chunk_rows: int | None,
    step_ms: int | None,
    database_url: str | None = None,
) -> dict[str, Any]:
    """Rounds alternated on one server: `off` (no retention: nothing to delete) and `on` (retention 1 day,
    the background deletion running), in the order off, on, on, off, … so that a drift of the shared
    machine's load weighs on both alike. The deletion resumes where it stopped at each `on` round."""
    env = {"TRACKTION_LIFECYCLE_CHUNK_ROWS": str(chunk_rows)} if chunk_rows else {}
    if step_ms is not None:
        env["TRACKTION_LIFECYCLE_STEP_MS"] = str(step_ms)
    url = None
    if database_url:
        from bench.preload import fresh_database_url

        url = fresh_database_url(database_url, f"tracktion_relay_bench_deletion_{os.getpid()}")
    server = start_server(scratch, "deletion", env, url)
    try:
        api = Api(server)
        took = preload(api, events, "2020-01-01T00:00:00.000Z")
        print(f"deletion: preloaded {events} expired events in {took:.0f} s", flush=True)
        out: dict[str, Any] = {"preloaded": events, "preload_s": round(took, 1), "env": env}
        time.sleep(2)
        runs: dict[str, list[dict[str, Any]]] = {"off": [], "on": []}
        for r in range(rounds):
            for mode in ("off", "on") if r % 2 == 0 else ("on", "off"):
                days = 1 if mode == "on" else None
                api.call("PATCH", "/-/admin/workspaces/1", {"retentionDays": days}, admin=True)
                got = load(server, api.token, False, seconds, 2)
                got["expired_left"] = _expired_left(server, url)
                runs[mode].append(got)
                print(f"deletion round {r} {mode}: {got}", flush=True)
        p99s = {mode: [g["p99_ms"] for g in v] for mode, v in runs.items()}
        out |= {
            "rounds": runs,
            "p99_ms": p99s,
            # Same-run ratio of the medians; the target is <= 2.
            "p99_ratio": round(statistics.median(p99s["on"]) / statistics.median(p99s["off"]), 3),
            "deleted_while_on": events - (runs["on"][-1]["expired_left"] or 0) if runs["on"] else 0,
        }
        print(f"deletion: p99 ratio on/off {out['p99_ratio']}", flush=True)
        return out
    finally:
        server.stop()
        if url and database_url:
            from bench.preload import drop_database

            drop_database(database_url, url.rsplit("/", 1)[1])


_EXPIRED = "SELECT count(*) FROM events WHERE time_ms < 1600000000000"


def _expired_left(server: TracktionServer, url: str | None) -> int | None:
    """How many expired events are still stored (read beside the server, read-only)."""
    with contextlib.suppress(Exception):
        if url:
            import psycopg

            with psycopg.connect(url) as pg:
                found = pg.execute(_EXPIRED).fetchone()
                return int(found[0]) if found else None
        import sqlite3

        conn = sqlite3.connect(f"file:{server.sqlite_path}?mode=ro", uri=True, timeout=30)
        try:
            (left,) = conn.execute(_EXPIRED).fetchone()
            return int(left)
        finally:
            conn.close()
    return None


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--only", default="ingest,throughput,lag,dead,deletion")
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--ingest-modes", default="single,batch1000")
    parser.add_argument("--throughput-events", type=int, default=200_000)
    parser.add_argument("--deletion-events", type=int, default=500_000)
    parser.add_argument("--chunk-rows", type=int, help="TRACKTION_LIFECYCLE_CHUNK_ROWS of the deletion run")
    parser.add_argument("--step-ms", type=int, help="TRACKTION_LIFECYCLE_STEP_MS of the deletion run")
    parser.add_argument(
        "--database-url", help="the deletion run on PostgreSQL: a server URL allowing CREATE DATABASE"
    )
    parser.add_argument("--receiver", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.receiver:
        try:
            import uvloop

            uvloop.run(_receiver(args.receiver))
        except ImportError:  # pragma: no cover
            asyncio.run(_receiver(args.receiver))
        return
    only = set(args.only.split(","))
    results: dict[str, Any] = {"cpus": os.cpu_count(), "started": _now()}
    with tempfile.TemporaryDirectory(prefix="relay-bench-") as tmp:
        scratch = Path(tmp)
        if "ingest" in only:
            results["ingest"] = bench_ingest(
                scratch, args.seconds, args.rounds, tuple(args.ingest_modes.split(","))
            )
        if "throughput" in only:
            results["throughput"] = bench_throughput(scratch, args.throughput_events, args.rounds)
        if "lag" in only or "dead" in only:
            results["lag"] = bench_lag(scratch, max(args.seconds, 30.0), args.rounds if "dead" in only else 0)
        if "deletion" in only:
            results["deletion"] = bench_deletion(
                scratch,
                args.deletion_events,
                args.seconds,
                args.rounds,
                args.chunk_rows,
                args.step_ms,
                args.database_url,
            )
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
