"""Results as data: the targets of issue 7 checked against a run, and the Markdown rendering of a run.

A run is a plain JSON-ready dict (see `bench.runner`); everything here is pure so it can be tested.
"""

from __future__ import annotations

import math
from typing import Any

PASS, FAIL, NOT_MEASURED = "pass", "FAIL", "not measured"
HEADLINE_CONCURRENCY = 32
TARGET_FULL_PRELOAD = 1_000_000

# The targets table of issue 7 (2-core machine, load generator on the same machine, production durability).
TARGETS: list[dict[str, Any]] = [
    {
        "id": "custom",
        "target": "single custom events, 32 connections: ≥ 15,000 events/s, p99 ≤ 10 ms, ≥ 0.30 × bare ASGI",
        "min_events_per_s": 15_000,
        "max_p99_ms": 10.0,
        "min_x_bare": 0.30,
    },
    {
        "id": "batch1000",
        "target": "1000-item batches: ≥ 100,000 events/s, ≥ 0.50 × raw storage ceiling",
        "min_events_per_s": 100_000,
        "min_x_storage": 0.50,
    },
    {
        "id": "transaction",
        "target": "transactions with 5 products: ≥ 3,000 transactions/s (18,000 events/s)",
        "min_requests_per_s": 3_000,
    },
    {
        "id": "read",
        "target": "read 100 events of one profile, 1M stored: p99 ≤ 5 ms",
        "max_p99_ms": 5.0,
    },
    {"id": "memory", "target": "peak RSS ≤ 250 MB per process, any workload", "max_rss_mb": 250.0},
]


# -- formatting -------------------------------------------------------------------------------------------
def _bad(x: float | None) -> bool:
    return x is None or (isinstance(x, float) and math.isnan(x))


def fmt_int(x: float | None) -> str:
    return "–" if _bad(x) else f"{x:,.0f}"


def fmt_ms(x: float | None) -> str:
    if _bad(x):
        return "–"
    assert x is not None
    return f"{x:.2f}" if x < 100 else f"{x:,.0f}"


def fmt_ratio(x: float | None) -> str:
    return "–" if _bad(x) else f"{x:.2f}×"


def fmt_float(x: float | None, digits: int = 1) -> str:
    return "–" if _bad(x) else f"{x:,.{digits}f}"


# -- targets ----------------------------------------------------------------------------------------------
def _workload(run: dict[str, Any], name: str) -> dict[str, Any] | None:
    for w in run.get("workloads", []):
        if w["name"] == name:
            return w
    return None


def _measured_points(w: dict[str, Any] | None) -> list[dict[str, Any]]:
    if w is None or w.get("status") != "ok":
        return []
    return [p for p in w.get("points", []) if p.get("tracktion")]


def _why_not(w: dict[str, Any] | None, name: str) -> str:
    if w is None:
        return f"workload {name} not selected"
    if w.get("status") != "ok":
        return f"{w.get('status')}: {w.get('note', '')}".strip().rstrip(":")
    return "no measurement"


def evaluate_targets(run: dict[str, Any]) -> list[dict[str, Any]]:
    out: list[dict[str, Any]] = []
    for t in TARGETS:
        status, measured = _evaluate(run, t)
        out.append({"id": t["id"], "target": t["target"], "measured": measured, "status": status})
    return out


def _evaluate(run: dict[str, Any], t: dict[str, Any]) -> tuple[str, str]:
    tid = t["id"]
    if tid == "memory":
        peaks = [
            p["tracktion"]["peak_rss_mb"]
            for w in run.get("workloads", [])
            for p in _measured_points(w)
            if p["tracktion"].get("peak_rss_mb") is not None
        ]
        if not peaks:
            return NOT_MEASURED, "no measurement"
        worst = max(peaks)
        return (PASS if worst <= t["max_rss_mb"] else FAIL), f"max {worst:.0f} MB"
    w = _workload(run, tid)
    points = _measured_points(w)
    if not points:
        return NOT_MEASURED, _why_not(w, tid)
    if tid == "custom":
        at = [p for p in points if p["concurrency"] == HEADLINE_CONCURRENCY]
        if not at:
            return NOT_MEASURED, f"no run at {HEADLINE_CONCURRENCY} connections (add it to --concurrency)"
        p = at[0]
        m = p["tracktion"]
        ok = (
            m["events_per_s"] >= t["min_events_per_s"]
            and m["latency_ms"].get("p99_ms", math.inf) <= t["max_p99_ms"]
            and (p.get("x_bare") or 0.0) >= t["min_x_bare"]
        )
        text = (
            f"{fmt_int(m['events_per_s'])} events/s, p99 {fmt_ms(m['latency_ms'].get('p99_ms'))} ms, "
            f"{fmt_ratio(p.get('x_bare'))} bare"
        )
        return (PASS if ok else FAIL), text
    if tid == "batch1000":
        p = max(points, key=lambda p: p["tracktion"]["events_per_s"])
        m = p["tracktion"]
        ok = m["events_per_s"] >= t["min_events_per_s"] and (p.get("x_storage") or 0.0) >= t["min_x_storage"]
        text = (
            f"{fmt_int(m['events_per_s'])} events/s at {p['concurrency']} conns, "
            f"{fmt_ratio(p.get('x_storage'))} storage"
        )
        return (PASS if ok else FAIL), text
    if tid == "transaction":
        p = max(points, key=lambda p: p["tracktion"]["requests_per_s"])
        m = p["tracktion"]
        ok = m["requests_per_s"] >= t["min_requests_per_s"]
        text = f"{fmt_int(m['requests_per_s'])} transactions/s at {p['concurrency']} conns"
        return (PASS if ok else FAIL), text
    if tid == "read":
        # A latency target per request: judged at the lowest measured concurrency (1 by default); at N
        # connections a single process queues requests, so p99 grows with N (shown in the results table).
        p = min(points, key=lambda p: p["concurrency"])
        p99 = p["tracktion"]["latency_ms"].get("p99_ms", math.inf)
        stored = (w or {}).get("preload", {}).get("events", 0)
        text = f"p99 {fmt_ms(p99)} ms at {p['concurrency']} conn, {fmt_int(stored)} events stored"
        if stored < TARGET_FULL_PRELOAD:
            text += " (fewer than 1M: indicative only)"
        return (PASS if p99 <= t["max_p99_ms"] else FAIL), text
    raise ValueError(tid)


# -- Markdown ---------------------------------------------------------------------------------------------
RESULT_COLUMNS = (
    "workload",
    "conns",
    "events/s",
    "req/s",
    "p50 ms",
    "p99 ms",
    "max ms",
    "CPU µs/event",
    "µs/event http / writer",
    "server CPU (cores)",
    "peak RSS MB",
    "bare req/s",
    "× bare",
    "× storage",
    "other CPU",
    "CPU wait",
)


def runq_wait(m: dict[str, Any]) -> float | None:
    """Cores' worth of time the server's threads were runnable but waiting for a CPU."""
    threads = m.get("threads")
    if not threads:
        return None
    return float(sum(t.get("runq_wait_cores", 0.0) for t in threads.values()))


def by_process(m: dict[str, Any]) -> str:
    """`http / writer` CPU µs per event (the writer only with the SQLite writer process)."""
    split = m.get("cpu_us_per_event_by_process") or {}
    if "http" not in split:
        return "–"
    http = fmt_float(split["http"])
    return f"{http} / {fmt_float(split['writer'])}" if "writer" in split else http


def _row(cells: list[str]) -> str:
    return "| " + " | ".join(cells) + " |"


def results_table(run: dict[str, Any]) -> str:
    lines = [_row(list(RESULT_COLUMNS)), _row(["---"] * 2 + ["---:"] * (len(RESULT_COLUMNS) - 2))]
    for w in run.get("workloads", []):
        if w.get("status") != "ok":
            note = w.get("note", "")
            lines.append(
                _row([w["name"], "–", f"**{w.get('status')}**{': ' + note if note else ''}"] + [""] * 13)
            )
            continue
        for p in w.get("points", []):
            m = p.get("tracktion") or {}
            b = p.get("bare") or {}
            lat = m.get("latency_ms", {})
            err = ""
            if m.get("non_2xx") or m.get("socket_errors"):
                err = f" ⚠ {m.get('non_2xx', 0)} non-2xx, {m.get('socket_errors', 0)} socket errors"
            elif m.get("requests") == 0:
                err = " (no response completed within the run)"
            lines.append(
                _row(
                    [
                        w["name"],
                        str(p["concurrency"]),
                        fmt_int(m.get("events_per_s")) + err,
                        fmt_int(m.get("requests_per_s")),
                        fmt_ms(lat.get("p50_ms")),
                        fmt_ms(lat.get("p99_ms")),
                        fmt_ms(lat.get("max_ms")),
                        fmt_float(m.get("cpu_us_per_event")),
                        by_process(m),
                        fmt_float(m.get("cpu_cores"), 2),
                        fmt_float(m.get("peak_rss_mb"), 0),
                        fmt_int(b.get("requests_per_s")),
                        fmt_ratio(p.get("x_bare")),
                        fmt_ratio(p.get("x_storage")),
                        fmt_float(m.get("other_cpu_cores"), 2),
                        fmt_float(runq_wait(m), 2),
                    ]
                )
            )
    return "\n".join(lines)


def ceilings_table(run: dict[str, Any]) -> str:
    lines = [
        _row(["storage ceiling", "method", "rows/txn", "measured at", "rows/s"]),
        _row(["---", "---", "---:", "---", "---:"]),
    ]
    for c in run.get("storage_ceilings", []):
        cells = [f"{c['backend']} {c['kind']}", c["method"], str(c["rows_per_txn"]), c.get("when") or ""]
        lines.append(_row([*cells, fmt_int(c["rows_per_s"])]))
    return "\n".join(lines)


def targets_table(targets: list[dict[str, Any]]) -> str:
    lines = [_row(["target (issue 7)", "measured", "result"]), _row(["---", "---", "---"])]
    for t in targets:
        result = f"**{t['status']}**" if t["status"] == FAIL else t["status"]
        lines.append(_row([t["target"], t["measured"], result]))
    return "\n".join(lines)


def render_markdown(run: dict[str, Any]) -> str:
    m = run.get("machine", {})
    v = run.get("versions", {})
    lg = run.get("load_generator", {})
    opts = run.get("options", {})
    pg = run.get("postgresql") or {}
    head = [
        f"# tracktion benchmark — {run.get('backend')} — {run.get('started_at', '')}",
        "",
        "quick run (short, indicative only)" if opts.get("quick") else "full run",
        "",
        f"- machine: {m.get('cores')} cores ({m.get('cores_available')} available), {m.get('cpu_model')}, "
        f"{m.get('memory_gib')} GiB, Linux {m.get('kernel')}; data on {m.get('work_dir_filesystem')}",
        f"- versions: Python {v.get('python')}, tracktion {v.get('tracktion')} (git {v.get('tracktion_git')}), "
        f"uvicorn {v.get('uvicorn')} (httptools {v.get('httptools')}, uvloop {v.get('uvloop')}), "
        f"msgspec {v.get('msgspec')}, SQLite {v.get('sqlite')}, "
        + (
            f"PostgreSQL {pg.get('server_version')} (fsync={pg.get('fsync')}, "
            f"synchronous_commit={pg.get('synchronous_commit')}), psycopg {pg.get('psycopg')}"
            if pg
            else "PostgreSQL not used"
        ),
        f"- load generator: {lg.get('name')} ({lg.get('version')}), on the same machine; "
        f"{opts.get('duration_s')} s per point after {opts.get('warmup_s')} s warm-up, "
        f"median of {opts.get('repeat')} run(s); profile pool {opts.get('pool')}",
        f"- durability: {run.get('durability')}",
        "",
        "## Results",
        "",
        results_table(run),
        "",
        "events/s counts stored events (a transaction stores 6; a read returns its events). × bare = tracktion "
        "req/s ÷ bare ASGI req/s with the same body and connections. × storage = tracktion events/s ÷ the raw "
        "insert rate of the matching storage ceiling (1 row/txn for single requests, 1000 rows/txn for batches). "
        "CPU µs/event = server CPU (user + system, all threads of the server and its SQLite writer process) ÷ events, and split by process (http = the server process: event loop, reads, executors; writer = the SQLite writer process), from the per-thread /proc figures; server CPU = cores the server "
        "used on average; other CPU = cores used meanwhile by anything but the server and the load generator "
        "(other processes, steal); CPU wait = cores' worth of time the server's threads were runnable but waiting "
        "for a CPU (schedstat). Other CPU above ~0.25 or CPU wait above ~0.2: the point is disturbed.",
        "",
        "## Storage ceilings",
        "",
        ceilings_table(run),
        "",
        "## Targets",
        "",
        targets_table(run.get("targets", [])),
        "",
    ]
    if run.get("notes"):
        head += ["## Notes", ""] + [f"- {n}" for n in run["notes"]] + [""]
    return "\n".join(head)
