"""The benchmark harness's pure pieces (no servers, no timing assertions), so `make bench` cannot rot."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from bench import workloads
from bench.loadgen import parse_wrk_output, parse_wrk_text, render
from bench.procstat import CLOCK_TICKS, parse_proc_stat, parse_stat, parse_status_kb
from bench.profiling import summarize_collapsed
from bench.report import (
    FAIL,
    NOT_MEASURED,
    PASS,
    by_process,
    evaluate_targets,
    render_markdown,
    results_table,
)
from bench.runner import per_process_us
from bench.stats import latency_summary, median_index, percentile

WRK_TEXT = """\
Running 10s test @ http://127.0.0.1:8080/v4/events/custom
  2 threads and 32 connections
  Thread Stats   Avg      Stdev     Max   +/- Stdev
    Latency     9.81ms    1.88ms  27.06ms   85.30%
    Req/Sec     1.64k   184.34     2.10k    68.00%
  Latency Distribution
     50%    9.67ms
     75%   10.51ms
     90%   11.33ms
     99%   16.05ms
  32680 requests in 10.00s, 4.14MB read
  Socket errors: connect 0, read 2, write 0, timeout 1
  Non-2xx or 3xx responses: 5
Requests/sec:   3267.93
Transfer/sec:    424.11KB
"""


def test_percentile_nearest_rank() -> None:
    values = [float(v) for v in range(1, 101)]  # 1..100
    assert percentile(values, 50) == 50.0
    assert percentile(values, 99) == 99.0
    assert percentile(values, 100) == 100.0
    assert percentile(values, 0) == 1.0
    assert percentile([7.0], 99.9) == 7.0
    assert math.isnan(percentile([], 50))
    with pytest.raises(ValueError):
        percentile(values, 101)


def test_latency_summary_in_ms_and_median_index() -> None:
    s = latency_summary([1000.0, 3000.0, 2000.0, 10_000.0])  # µs, unsorted
    assert s["p50_ms"] == 2.0
    assert s["max_ms"] == 10.0
    assert s["mean_ms"] == 4.0
    assert median_index([30.0, 10.0, 20.0]) == 2
    assert median_index([5.0, 1.0, 3.0, 2.0]) == 3  # lower median of 1, 2, 3, 5 is 2 (index 3)


def test_wrk_text_parsing() -> None:
    parsed = parse_wrk_text(WRK_TEXT)
    assert parsed["requests"] == 32680
    assert parsed["duration_us"] == 10_000_000
    assert parsed["latency_us"]["p99"] == 16050
    assert parsed["latency_us"]["max"] == 27060
    assert parsed["errors"] == {"connect": 0, "read": 2, "write": 0, "timeout": 1, "status": 5}
    result = parse_wrk_output(WRK_TEXT)
    assert result.generator == "wrk"
    assert result.non_2xx == 5 and result.socket_errors == 3
    assert result.ok_requests == 32675
    assert result.latency_ms["p50_ms"] == pytest.approx(9.67)
    assert result.requests_per_s == pytest.approx(3268.0)


def test_wrk_lua_summary_line_wins_over_text() -> None:
    line = {
        "requests": 1000,
        "duration_us": 2_000_000,
        "bytes": 1,
        "errors": {"connect": 0, "read": 0, "write": 0, "status": 0, "timeout": 0},
        "latency_us": {
            "min": 100,
            "max": 9000,
            "mean": 500.0,
            "stdev": 1.0,
            "p50": 400,
            "p75": 500,
            "p90": 700,
            "p99": 2500,
            "p999": 8000,
        },
    }
    result = parse_wrk_output(WRK_TEXT + "BENCH_JSON " + json.dumps(line) + "\n")
    assert result.requests == 1000
    assert result.requests_per_s == 500.0
    assert result.latency_ms["p99_ms"] == 2.5
    assert result.latency_ms["p999_ms"] == 8.0
    assert result.raw["source"] == "lua"
    with pytest.raises(ValueError):
        parse_wrk_output("garbage")


def test_proc_parsing() -> None:
    stat = "1234 (python3 (x) y) S 1 2 3 4 5 6 7 8 9 10 250 50 0 0 20 0 3 0"
    sample = parse_stat(stat)
    assert sample.user_s == 250 / CLOCK_TICKS and sample.system_s == 50 / CLOCK_TICKS
    assert parse_status_kb("Name:\tx\nVmHWM:\t  51200 kB\nVmRSS:\t 1024 kB\n", "VmHWM") == 51200
    assert parse_status_kb("Name:\tx\n", "VmHWM") is None
    cpu = parse_proc_stat("cpu  100 0 50 1000 7 0 0 3 0 0\ncpu0 1 2 3\n")
    assert cpu.busy_s > 0 and cpu.iowait_s > 0


def test_server_figures_cover_its_child_processes() -> None:
    """On SQLite the server writes in a child process: its CPU, memory and threads are the server's too."""
    import os
    import subprocess
    import sys
    import time

    from bench import procstat

    # The child burns 0.3 s of CPU, then holds 600 MiB (more than this test process) and sleeps.
    code = (
        "import time\nend = time.process_time() + 0.3\nwhile time.process_time() < end: pass\n"
        "held = b'x' * (600 << 20)\ntime.sleep(30)"
    )
    child = subprocess.Popen([sys.executable, "-c", code])
    try:
        deadline = time.monotonic() + 10
        while (procstat.rss_mb(child.pid) or 0) < 600 and time.monotonic() < deadline:
            time.sleep(0.05)
        me = os.getpid()
        assert child.pid in procstat.process_tree(me)
        assert procstat.tree_cpu(me).total_s >= procstat.cpu(me).total_s + 0.25
        assert "child process" in procstat.threads(me)
        assert (procstat.peak_rss_mb(me) or 0) < 600 <= (procstat.tree_peak_rss_mb(me) or 0)
    finally:
        child.kill()
        child.wait()


def test_point_duration_stretches_for_slow_requests() -> None:
    from bench.runner import point_seconds

    assert point_seconds(10.0, 32, 0.0005) == 10.0  # fast requests: --duration as given
    assert point_seconds(10.0, 16, 0.25) == 16.0  # 4 requests per connection
    assert point_seconds(10.0, 64, 0.5) == 40.0  # capped at 4 × --duration


def test_templates_and_workload_catalog() -> None:
    assert render(b'{"id":"@N@","k":"bench-@K@"}', "1-7", "42") == b'{"id":"1-7","k":"bench-42"}'
    catalog = workloads.build(pool=10)
    assert list(catalog) == list(workloads.ALL)
    for wl in catalog.values():
        if wl.template is not None:
            json.loads(render(wl.template, "0-1", "3"))  # every body is valid JSON once filled in
    assert len(json.loads(catalog["batch1000"].template or b"")) == 1000
    assert len(json.loads(catalog["transaction"].template or b"")["products"]) == 5
    assert workloads.parse_names("read,custom") == ["custom", "read"]
    with pytest.raises(ValueError):
        workloads.parse_names("nope")


def _run() -> dict:
    def point(
        c: int, eps: float, p99: float, x_bare: float | None = None, x_storage: float | None = None
    ) -> dict:
        return {
            "concurrency": c,
            "tracktion": {
                "events_per_s": eps,
                "requests_per_s": eps,
                "requests": 100,
                "latency_ms": {"p50_ms": p99 / 2, "p99_ms": p99, "max_ms": p99 * 2},
                "peak_rss_mb": 80.0,
                "cpu_us_per_event": 50.0,
                "cpu_cores": 0.9,
            },
            "bare": {"requests_per_s": 40_000.0},
            "x_bare": x_bare,
            "x_storage": x_storage,
        }

    return {
        "backend": "sqlite",
        "started_at": "2026-01-01 00:00 UTC",
        "options": {"quick": False, "duration_s": 10, "warmup_s": 2, "repeat": 1},
        "workloads": [
            {"name": "custom", "status": "ok", "points": [point(1, 2000, 1.0), point(32, 16_000, 8.0, 0.4)]},
            {
                "name": "batch1000",
                "status": "not available",
                "note": "POST /v4/events/batch answers 404",
                "points": [],
            },
            {
                "name": "read",
                "status": "ok",
                "preload": {"events": 1_000_000},
                "points": [point(1, 50_000, 7.5)],
            },
        ],
        "storage_ceilings": [
            {
                "backend": "sqlite",
                "kind": "single",
                "method": "INSERT",
                "rows_per_txn": 1,
                "rows_per_s": 6000.0,
            }
        ],
    }


def test_targets_pass_fail_and_not_measured() -> None:
    by_id = {t["id"]: t for t in evaluate_targets(_run())}
    assert by_id["custom"]["status"] == PASS
    assert by_id["batch1000"]["status"] == NOT_MEASURED
    assert "404" in by_id["batch1000"]["measured"]
    assert by_id["transaction"]["status"] == NOT_MEASURED
    assert by_id["read"]["status"] == FAIL
    assert by_id["memory"]["status"] == PASS


def test_markdown_rendering() -> None:
    run = _run()
    run["targets"] = evaluate_targets(run)
    table = results_table(run)
    header, rule, *rows = table.splitlines()
    assert header.count("|") == rule.count("|")
    assert all(row.count("|") == header.count("|") for row in rows)
    assert "| custom | 32 | 16,000 |" in table
    assert "**not available**: POST /v4/events/batch answers 404" in table
    md = render_markdown(run)
    assert "## Targets" in md and "**FAIL**" in md


def test_profile_summary() -> None:
    text = "thread (1): MainThread;main;handle;decode 3\nthread (2): writer;run;commit 5\nbad line\n"
    s = summarize_collapsed(text)
    assert s["samples"] == 8
    assert s["threads"] == {"writer": 5, "MainThread": 3}
    assert s["self"][0] == {"function": "commit", "samples": 5, "percent": 62.5}
    assert {"function": "main", "samples": 3, "percent": 37.5} in s["total"]


@pytest.mark.e2e
def test_smoke_run(tmp_path: Path) -> None:
    """A few seconds of the real thing: tracktion and the bare app started, ceilings measured, files written.
    Asserts only that the harness produced complete output, never how fast anything was."""
    from bench.cli import main

    out = tmp_path / "results"
    argv = [
        "--quick",
        "--workloads",
        "custom",
        "--concurrency",
        "1",
        "--warmup",
        "0",
        "--ceiling-seconds",
        "0.2",
    ]
    assert main([*argv, "--pool", "5", "--out-dir", str(out), "--work-dir", str(tmp_path)]) == 0
    (json_file,) = out.glob("*-sqlite-quick.json")
    run = json.loads(json_file.read_text())
    assert run["load_generator"]["name"] in ("wrk", "python-asyncio")
    (custom,) = run["workloads"]
    assert custom["status"] == "ok", custom["note"]
    point = custom["points"][0]
    assert point["tracktion"]["requests"] > 0 and point["bare"]["requests"] > 0
    assert {t["id"] for t in run["targets"]} == {"custom", "batch1000", "transaction", "read", "memory"}
    assert (out / json_file.name.replace(".json", ".md")).read_text().startswith("# tracktion benchmark")


def test_cpu_per_event_is_split_by_process() -> None:
    threads = {
        "main": {"cpu_cores": 0.5, "runq_wait_cores": 0.1},
        "other threads": {"cpu_cores": 0.1, "runq_wait_cores": 0.0},
        "writer process": {"cpu_cores": 0.4, "runq_wait_cores": 0.0},
    }
    split = per_process_us(threads, 10.0, 100_000)  # 10 s, 100k events: 1 core = 100 µs per event
    assert split == {"http": 60.0, "writer": 40.0}
    assert per_process_us({"main": {"cpu_cores": 0.5}}, 10.0, 100_000) == {"http": 50.0}
    assert per_process_us(threads, 10.0, 0) == {}
    assert by_process({"cpu_us_per_event_by_process": split}) == "60.0 / 40.0"
    assert by_process({}) == "–"


def test_sqlite_ceiling_with_preloaded_rows(tmp_path: Path) -> None:
    from bench.storage_ceiling import sqlite_ceilings

    plain = sqlite_ceilings(tmp_path, 0.05)
    preloaded = sqlite_ceilings(tmp_path, 0.05, preload_rows=3_000)
    assert [c.kind for c in preloaded] == ["single", "batch"] and all(c.rows > 0 for c in preloaded)
    assert all("3,000 rows preloaded, UUIDv7" in c.method for c in preloaded)
    assert not any("preloaded" in c.method for c in plain)
    assert not list(tmp_path.iterdir())  # the ceiling's file is gone


def test_the_server_runs_the_code_pythonpath_names_even_when_started_from_a_checkout(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """An A/B runs `PYTHONPATH=<tree> python -m bench` from the repository: `python -m` puts the working
    directory first on sys.path, so a server started there imported the checkout, not the tree."""
    from bench.servers import TracktionServer

    tree = tmp_path / "tree"
    (tree / "tracktion").mkdir(parents=True)
    (tree / "tracktion" / "__init__.py").write_text("")
    scratch = tmp_path / "scratch"
    scratch.mkdir()
    monkeypatch.chdir(Path(__file__).resolve().parents[2])  # the checkout, as the documented commands run
    monkeypatch.setenv("PYTHONPATH", str(tree))
    server = TracktionServer(scratch / "data", scratch / "server.log")
    assert server.cwd == scratch
    assert server.code_path() == str(tree / "tracktion")
