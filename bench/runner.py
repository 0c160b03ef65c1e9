"""One benchmark run for one backend: ceilings, then each workload at each concurrency against a fresh
`tracktion serve`, each point followed by the bare ASGI app under the same load."""

from __future__ import annotations

import http.client
import math
import os
import shutil
import tempfile
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench import machine, procstat, profiling, workloads
from bench.loadgen import LoadGenerator, LoadResult, LoadSpec, render
from bench.preload import drop_database, fresh_database_url, preload_postgres, preload_sqlite
from bench.report import evaluate_targets, runq_wait
from bench.servers import HOST, BareServer, ServerProcess, ServerStartError, TracktionServer, http_request
from bench.stats import median_index, ratio
from bench.storage_ceiling import Ceiling, postgres_ceilings, postgres_info, sqlite_ceilings

ROOT = Path(__file__).resolve().parent.parent
SCHEMA_VERSION = 1


@dataclass
class Options:
    backend: str = "sqlite"
    database_url: str | None = None
    workloads: list[str] = field(default_factory=lambda: list(workloads.ALL))
    concurrency: list[int] = field(default_factory=lambda: [1, 16, 32, 64])
    duration_s: float = 10.0
    warmup_s: float = 2.0
    repeat: int = 1
    quick: bool = False
    preload_events: int = 1_000_000
    read_limit: int = 100
    pool: int = 1_000
    ceiling_s: float = 5.0
    ceiling_preload: int = 0  # SQLite: rows stored before the ceilings are measured (issue 23: 1,000,000)
    load_generator: str = "auto"
    bare: bool = True
    out_dir: Path = ROOT / "bench" / "results"
    work_dir: Path | None = None
    keep_work_dir: bool = False
    profile: list[str] = field(default_factory=list)  # "workload@connections"
    profile_gil: bool = False
    sqlite_writer: str = "process"  # TRACKTION_SQLITE_WRITER of the server under test

    def as_json(self) -> dict[str, Any]:
        return {
            "backend": self.backend,
            "database_url_given": bool(self.database_url),
            "workloads": self.workloads,
            "concurrency": self.concurrency,
            "duration_s": self.duration_s,
            "warmup_s": self.warmup_s,
            "repeat": self.repeat,
            "quick": self.quick,
            "preload_events": self.preload_events,
            "read_limit": self.read_limit,
            "pool": self.pool,
            "ceiling_s": self.ceiling_s,
            "ceiling_preload": self.ceiling_preload,
            "load_generator": self.load_generator,
            "bare": self.bare,
            "profile": self.profile,
            "profile_gil": self.profile_gil,
            "sqlite_writer": self.sqlite_writer,
        }


def log(message: str) -> None:
    print(f"[bench {datetime.now():%H:%M:%S}] {message}", flush=True)


# -- one measurement --------------------------------------------------------------------------------------
def measure(
    server: ServerProcess, gen: LoadGenerator, spec: LoadSpec, events_per_request: int
) -> dict[str, Any]:
    pid = server.pid
    reset = all([procstat.reset_peak_rss(p) for p in procstat.process_tree(pid)])
    machine_before = procstat.machine_cpu()
    gen_before = procstat.own_and_children_cpu_s()
    threads_before = procstat.threads(pid)
    before = procstat.tree_cpu(pid)
    result = gen.run(spec)
    after = procstat.tree_cpu(pid)
    threads_after = procstat.threads(pid)
    gen_cpu = procstat.own_and_children_cpu_s() - gen_before
    machine_after = procstat.machine_cpu()
    server_cpu = after.total_s - before.total_s
    out = summarize(result, server_cpu, procstat.tree_peak_rss_mb(pid), reset, events_per_request)
    # Which thread the CPU went to (event loop, writer, readers), and how long each waited for a CPU.
    out["threads"] = procstat.thread_deltas(threads_before, threads_after, result.duration_s)
    out["cpu_us_per_event_by_process"] = per_process_us(
        out["threads"], result.duration_s, result.ok_requests * events_per_request
    )
    out["loadgen_cpu_cores"] = round(gen_cpu / result.duration_s, 3) if result.duration_s > 0 else None
    if machine_before is not None and machine_after is not None and result.duration_s > 0:
        # Whatever else ran on the machine meanwhile (other processes, the hypervisor): noise to report.
        busy = machine_after.busy_s - machine_before.busy_s
        out["other_cpu_cores"] = round(max(0.0, busy - server_cpu - gen_cpu) / result.duration_s, 3)
        out["steal_cpu_cores"] = round(
            (machine_after.steal_s - machine_before.steal_s) / result.duration_s, 3
        )
    return out


def per_process_us(threads: dict[str, dict[str, float]], seconds: float, events: int) -> dict[str, float]:
    """CPU µs per stored event of each process (issue 23): `http` = the server process (event loop, reads,
    executors; the writer thread too with `--sqlite-writer thread`), `writer` = the SQLite writer process."""
    if not events or seconds <= 0:
        return {}
    writer = threads.get("writer process", {}).get("cpu_cores", 0.0)
    total = sum(t.get("cpu_cores", 0.0) for t in threads.values())
    out = {"http": round((total - writer) * seconds / events * 1e6, 2)}
    if "writer process" in threads:
        out["writer"] = round(writer * seconds / events * 1e6, 2)
    return out


def summarize(
    result: LoadResult, cpu_s: float, peak_rss: float | None, rss_reset: bool, events_per_request: int
) -> dict[str, Any]:
    events = result.ok_requests * events_per_request
    duration = result.duration_s
    return {
        "generator": result.generator,
        "requests": result.requests,
        "ok_requests": result.ok_requests,
        "non_2xx": result.non_2xx,
        "socket_errors": result.socket_errors,
        "statuses": result.statuses,
        "duration_s": round(duration, 3),
        "requests_per_s": round(result.requests_per_s, 1),
        "events_per_s": round(events / duration, 1) if duration > 0 else 0.0,
        "latency_ms": {k: round(v, 3) for k, v in result.latency_ms.items() if not math.isnan(v)},
        "cpu_s": round(cpu_s, 3),
        "cpu_us_per_event": round(cpu_s / events * 1e6, 2) if events else None,
        "cpu_cores": round(cpu_s / duration, 3) if duration > 0 else None,
        "peak_rss_mb": round(peak_rss, 1) if peak_rss is not None else None,
        "peak_rss_scope": "this point" if rss_reset else "since server start",
    }


def measure_repeated(
    server: ServerProcess, gen: LoadGenerator, spec: LoadSpec, epr: int, repeat: int
) -> dict[str, Any]:
    runs = [measure(server, gen, spec, epr) for _ in range(max(1, repeat))]
    best = runs[median_index([r["events_per_s"] for r in runs])]
    if len(runs) > 1:
        best["repeats_events_per_s"] = [r["events_per_s"] for r in runs]
    return best


# -- probing ----------------------------------------------------------------------------------------------
def probe(port: int, wl: workloads.Workload, token: str) -> tuple[str, str, int]:
    """One real request of the workload → (status, note, events per request). 404/405: not available."""
    body = render(wl.template, "probe", "0") if wl.template is not None else None
    reply = http_request(port, wl.method, wl.path, body, token)
    if reply.status in (404, 405) and wl.method == "POST":
        return "not available", f"{wl.method} {wl.path.split('?')[0]} answers {reply.status}", 0
    if not 200 <= reply.status < 300:
        excerpt = reply.body[:300].decode("utf-8", errors="replace")
        return "error", f"probe answered HTTP {reply.status}: {excerpt}", 0
    if wl.method == "GET":
        try:
            count = len(reply.json())
        except ValueError:
            return "error", "probe answer is not JSON", 0
        if count == 0:
            return "error", "probe read returned no events", 0
        return "ok", "", count
    return "ok", "", wl.events_per_request


def request_seconds(port: int, wl: workloads.Workload, token: str, tries: int = 3) -> float:
    """Best-of-3 time of one request alone: the service time, to size points where requests are slow."""
    best = float("inf")
    for i in range(tries):
        body = render(wl.template, f"timing-{i}", "0") if wl.template is not None else None
        started = time.perf_counter()
        http_request(port, wl.method, wl.path, body, token)
        best = min(best, time.perf_counter() - started)
    return best


def point_seconds(duration_s: float, connections: int, service_s: float) -> float:
    """A closed loop of N connections on a serial server answers each request after ~N service times;
    stretch the point (up to 4× --duration) so every connection completes a few requests, or the point
    would measure only the first wave (1000-item batches at 64 connections)."""
    wanted = 4 * connections * service_s
    return round(min(max(duration_s, wanted), 4 * duration_s), 1)


def prime(port: int, wl: workloads.Workload, token: str, pool: int) -> int:
    """Send one request per pool key so every profile the workload cycles through exists before the first
    measured point: the points then measure steady-state ingestion, not profile creation."""
    assert wl.template is not None
    conn = http.client.HTTPConnection(HOST, port, timeout=30)
    headers = {"Content-Type": "application/json", "Authorization": f"Bearer {token}"}
    ok = 0
    try:
        for k in range(pool):
            conn.request(wl.method, wl.path, render(wl.template, f"prime-{k}", str(k)), headers)
            reply = conn.getresponse()
            reply.read()
            ok += 200 <= reply.status < 300
    finally:
        conn.close()
    return ok


# -- the run ----------------------------------------------------------------------------------------------
class BackendRun:
    def __init__(self, opts: Options, backend: str, gen: LoadGenerator, scratch: Path) -> None:
        self.opts = opts
        self.backend = backend
        self.gen = gen
        self.scratch = scratch
        self.database_url = opts.database_url if backend == "postgres" else None
        self._code_logged = ""  # the tracktion package directory last logged (`_session`)
        self.bare: BareServer | None = None
        self.ceilings: list[Ceiling] = []
        self.notes: list[str] = []
        self.profiles: dict[str, Any] = {}
        self.stamp = ""

    def run(self) -> dict[str, Any]:
        started = datetime.now(UTC)
        self.stamp = started.strftime("%Y-%m-%dT%H%M")
        result: dict[str, Any] = {
            "schema": SCHEMA_VERSION,
            "backend": self.backend,
            "started_at": started.strftime("%Y-%m-%d %H:%M UTC"),
            "options": self.opts.as_json(),
            "machine": machine.describe(self.scratch),
            "versions": machine.versions(ROOT),
            "load_generator": {"name": self.gen.name, "version": self.gen.version},
        }
        if self.backend == "sqlite":
            result["durability"] = (
                "SQLite WAL, synchronous=FULL (tracktion's production setting; not relaxed);"
                f" writes committed by the writer {self.opts.sqlite_writer}"
            )
        else:
            assert self.database_url is not None
            info = postgres_info(self.database_url)
            result["postgresql"] = info
            result["durability"] = (
                f"PostgreSQL fsync={info['fsync']}, synchronous_commit={info['synchronous_commit']}"
            )
            if info["fsync"] != "on" or info["synchronous_commit"] != "on":
                self.notes.append("PostgreSQL durability is relaxed on this server: ceilings are optimistic")
        result["load_average_start"] = procstat.load_average()
        self._measure_ceilings("start")
        catalog = workloads.build(self.opts.pool, self.opts.read_limit)
        result["workloads"] = []
        if self.opts.bare:
            self.bare = BareServer(self.scratch / "bare.log")
            self.bare.start_server()
        try:
            for name in self.opts.workloads:
                try:
                    entry = self._workload(catalog[name])
                except Exception as exc:  # one broken workload must not lose the others' results
                    log(f"  {name} failed: {exc!r}")
                    wl = catalog[name]
                    entry = {
                        "name": name,
                        "title": wl.title,
                        "status": "error",
                        "note": repr(exc)[:500],
                        "points": [],
                    }
                result["workloads"].append(entry)
        finally:
            if self.bare is not None:
                self.bare.stop()
        self._measure_ceilings("end")
        result["storage_ceilings"] = [c.as_json() for c in self.ceilings]
        for w in result["workloads"]:
            storage = self._ceiling(w.pop("storage_ceiling", None))
            for p in w["points"]:
                p["x_storage"] = _round(ratio(p["tracktion"]["events_per_s"], storage))
        result["load_average_end"] = procstat.load_average()
        measured = [p["tracktion"] for w in result["workloads"] for p in w["points"]]
        other = max((m.get("other_cpu_cores") or 0.0 for m in measured), default=0.0)
        wait = max((runq_wait(m) or 0.0 for m in measured), default=0.0)
        if other > 0.25 or wait > 0.2:
            self.notes.append(
                f"the machine was busy: other processes used up to {other:.2f} cores and the server's threads "
                f"waited up to {wait:.2f} cores' worth for a CPU during measured points; such points "
                "understate tracktion (compare CPU µs/event, which contention distorts less)"
            )
        if not self.opts.bare:
            self.notes.append("bare ASGI ceiling not measured (--no-bare)")
        if self.gen.name != "wrk":
            self.notes.append("wrk not installed: the Python asyncio client ran (it costs more CPU than wrk)")
        result["finished_at"] = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
        result["profiles"] = self.profiles
        result["notes"] = self.notes
        result["targets"] = evaluate_targets(result)
        return result

    def _measure_ceilings(self, when: str) -> None:
        """Measured at the start and at the end of the run: disk latency drifts, the ratio uses the mean."""
        log(f"{self.backend}: storage ceilings at the {when} ({self.opts.ceiling_s:g} s each)")
        if self.backend == "sqlite":
            found = sqlite_ceilings(self.scratch, self.opts.ceiling_s, self.opts.ceiling_preload)
        else:
            assert self.database_url is not None
            name = f"tracktion_bench_{os.getpid()}_ceiling"
            try:
                found = postgres_ceilings(fresh_database_url(self.database_url, name), self.opts.ceiling_s)
            finally:
                drop_database(self.database_url, name)
        for c in found:
            c.when = when
            log(f"  {c.backend} {c.kind} {c.method}: {c.rows_per_s:,.0f} rows/s")
        self.ceilings += found

    def _ceiling(self, kind: str | None) -> float | None:
        """The best method's rate for `kind`, averaged over the start and end measurements."""
        by_method: dict[str, list[float]] = {}
        for c in self.ceilings:
            if c.kind == kind:
                by_method.setdefault(c.method, []).append(c.rows_per_s)
        means = [sum(v) / len(v) for v in by_method.values()]
        return max(means) if means else None

    def _workload(self, wl: workloads.Workload) -> dict[str, Any]:
        entry: dict[str, Any] = {
            "name": wl.name,
            "title": wl.title,
            "method": wl.method,
            "path": wl.path,
            "events_per_request": wl.events_per_request,
            "unit": wl.unit,
            "body_bytes": len(wl.template) if wl.template is not None else 0,
            "status": "ok",
            "note": "",
            "storage_ceiling": wl.storage_ceiling,
            "points": [],
        }
        log(f"{self.backend}: workload {wl.name} ({wl.title})")
        if wl.needs_preload:
            self._session(wl, entry, tuple(self.opts.concurrency), wl.name)
            return entry
        # Write workloads: every point starts from an empty store, as the storage ceilings do. On one store
        # the later (higher-concurrency) points would run against the rows of all earlier ones, and inserts
        # into random-key indexes slow down as tables grow (~49k -> ~18k rows/s over 400k rows, raw SQLite).
        for c in self.opts.concurrency:
            if not self._session(wl, entry, (c,), f"{wl.name}-c{c}"):
                break
        return entry

    def _session(
        self, wl: workloads.Workload, entry: dict[str, Any], concurrency: tuple[int, ...], name: str
    ) -> bool:
        """One tracktion server on a fresh store, measured at the given connection counts; False when the
        workload cannot go on (not available, or the server died)."""
        data_dir = self.scratch / f"data-{name}"
        db_url: str | None = None
        db_name = f"tracktion_bench_{os.getpid()}_{name.replace('-', '_')}"
        if self.database_url is not None:
            # A fresh database per session, as SQLite gets a fresh data dir: tables start empty.
            db_url = fresh_database_url(self.database_url, db_name)
        server = TracktionServer(
            data_dir, self.scratch / f"tracktion-{name}.log", db_url, sqlite_writer=self.opts.sqlite_writer
        )
        # The code under test is whatever the tree holds when this server starts: record it per workload,
        # with the package directory the server imports (an A/B names two of them).
        entry["tracktion_git"] = machine.git_revision(ROOT)
        entry["tracktion_code"] = server.code_path()
        if entry["tracktion_code"] != self._code_logged:
            self._code_logged = entry["tracktion_code"]
            log(f"  serving tracktion from {entry['tracktion_code']}")
        try:
            server.start_server()
        except ServerStartError as exc:
            entry["status"] = "not available"
            entry["note"] = f"tracktion did not start on {self.backend}: {exc}"
            log(f"  {entry['note']}")
            if self.database_url is not None:
                drop_database(self.database_url, db_name)
            return False
        try:
            token = server.login()
            if wl.needs_preload:
                log(f"  preloading {self.opts.preload_events:,} events")
                if db_url is not None:
                    pre = preload_postgres(db_url, self.opts.preload_events)
                else:
                    pre = preload_sqlite(server.sqlite_path, self.opts.preload_events)
                entry["preload"] = pre.as_json()
                log(
                    f"  preloaded in {pre.seconds:.1f} s, hot profile {pre.hot_client_id} ({pre.hot_events} events)"
                )
                wl = wl.with_path(wl.path.format(clientId=pre.hot_client_id))
                entry["path"] = wl.path
            status, note, epr = probe(server.port, wl, token)
            entry["status"], entry["note"] = status, note
            if status != "ok":
                log(f"  {status}: {note}")
                return False
            entry["events_per_request"] = epr
            service_s = request_seconds(server.port, wl, token)
            entry["single_request_ms"] = round(service_s * 1000, 2)
            if wl.template is not None and b"@K@" in wl.template:
                primed = prime(server.port, wl, token, self.opts.pool)
                entry["primed_profiles"] = primed
                log(f"  primed {primed:,} profiles (one request per pool key)")
            for c in concurrency:
                point = self._point(server, wl, c, epr, service_s)
                entry["points"].append(point)
                if not server.alive:
                    entry["status"] = "error"
                    entry["note"] = f"tracktion died during the run: {server.log_tail()}"
                    return False
        finally:
            server.stop()
            if not self.opts.keep_work_dir:
                shutil.rmtree(data_dir, ignore_errors=True)
                if self.database_url is not None:
                    drop_database(self.database_url, db_name)
        return True

    def _spec(
        self, port: int, wl: workloads.Workload, token: str, connections: int, seconds: float
    ) -> LoadSpec:
        return LoadSpec(
            HOST, port, wl.method, wl.path, token, wl.template, self.opts.pool, connections, seconds
        )

    def _point(
        self, server: TracktionServer, wl: workloads.Workload, c: int, epr: int, service_s: float
    ) -> dict[str, Any]:
        token = server.login()  # fresh for every point: a long run must not outlive a token
        spec = self._spec(server.port, wl, token, c, point_seconds(self.opts.duration_s, c, service_s))
        if self.opts.warmup_s > 0:
            self.gen.run(self._spec(server.port, wl, token, c, self.opts.warmup_s))
        m = measure_repeated(server, self.gen, spec, epr, self.opts.repeat)
        point: dict[str, Any] = {
            "concurrency": c,
            "tracktion": m,
            "bare": None,
            "x_bare": None,
            "x_storage": None,
        }
        if f"{wl.name}@{c}" in self.opts.profile:
            self._profile(server, wl, c, spec)
        if self.bare is not None:
            bare_spec = self._spec(self.bare.port, wl, token, c, self.opts.duration_s)
            if self.opts.warmup_s > 0:
                self.gen.run(self._spec(self.bare.port, wl, token, c, self.opts.warmup_s))
            b = measure_repeated(self.bare, self.gen, bare_spec, epr, self.opts.repeat)
            point["bare"] = b
            point["x_bare"] = _round(ratio(m["requests_per_s"], b["requests_per_s"]))
        lat = m["latency_ms"]
        log(
            f"  c={c:<3} {m['events_per_s']:>10,.0f} events/s {m['requests_per_s']:>9,.0f} req/s "
            f"p50 {lat.get('p50_ms', math.nan):6.2f} ms p99 {lat.get('p99_ms', math.nan):7.2f} ms "
            f"cpu {m['cpu_cores'] or 0:.2f} cores rss {m['peak_rss_mb'] or 0:.0f} MB"
            f" other {m.get('other_cpu_cores') or 0:.2f} wait {runq_wait(m) or 0:.2f}"
            + (f" | bare {point['bare']['requests_per_s']:,.0f} req/s" if point["bare"] else "")
            + (
                f" ⚠ {m['non_2xx']} non-2xx, {m['socket_errors']} socket errors"
                if m["non_2xx"] or m["socket_errors"]
                else ""
            )
        )
        return point

    def _profile(self, server: TracktionServer, wl: workloads.Workload, c: int, spec: LoadSpec) -> None:
        """A separate, extra run with py-spy attached (sampling slows the server: not the measured run)."""
        self.opts.out_dir.mkdir(parents=True, exist_ok=True)
        out = self.opts.out_dir / f"{self.stamp}-{self.backend}-profile-{wl.name}-c{c}.txt"
        proc = profiling.start(server.pid, spec.duration_s, out, gil=self.opts.profile_gil)
        if proc is None:
            self.notes.append("py-spy not found: no profile recorded (pip install py-spy)")
            return
        time.sleep(0.5)
        self.gen.run(spec)
        _, err = proc.communicate(timeout=spec.duration_s + 60)
        if proc.returncode != 0 or not out.exists():
            self.notes.append(f"py-spy failed for {wl.name}@{c}: {err.decode(errors='replace')[-300:]}")
            return
        summary = profiling.summarize_collapsed(out.read_text())
        summary["file"] = out.name
        self.profiles[f"{wl.name}@{c}"] = summary
        log(f"  profile saved: {out}")


def _round(x: float | None) -> float | None:
    return None if x is None else round(x, 3)


def make_scratch(opts: Options, backend: str) -> Path:
    base = opts.work_dir
    if base is not None:
        base.mkdir(parents=True, exist_ok=True)
    return Path(tempfile.mkdtemp(prefix=f"tracktion-bench-{backend}-", dir=base))
