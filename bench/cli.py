"""Command line of the harness: `python -m bench [--quick] [--backend sqlite|postgres|both] ...`."""

from __future__ import annotations

import argparse
import json
import os
import shutil
from collections.abc import Sequence
from pathlib import Path

from bench import workloads
from bench.loadgen import LoadGenerator
from bench.report import render_markdown
from bench.runner import BackendRun, Options, log, make_scratch

QUICK = {
    "duration_s": 1.0,
    "warmup_s": 1.0,
    "concurrency": [1, 32],
    "preload_events": 20_000,
    "ceiling_s": 1.0,
}


def _ints(text: str) -> list[int]:
    try:
        values = [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a comma-separated list of integers: {text!r}") from None
    if not values or any(v < 1 for v in values):
        raise argparse.ArgumentTypeError("connection counts must be ≥ 1")
    return values


def _workloads(text: str) -> list[str]:
    try:
        return workloads.parse_names(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m bench",
        description="Benchmark tracktion against the HTTP ceiling (bare ASGI app) and the storage ceiling "
        "(raw inserts), all measured in the same run. Results go to bench/results/.",
    )
    p.add_argument(
        "--quick", action="store_true", help="short smoke run: 1 s points, connections 1,32, 20k preload"
    )
    p.add_argument("--backend", choices=["sqlite", "postgres", "both"], default="sqlite")
    p.add_argument("--database-url", help="PostgreSQL URL (default: $TRACKTION_DATABASE_URL)")
    p.add_argument(
        "--workloads",
        type=_workloads,
        default=list(workloads.ALL),
        help=f"comma-separated, or 'all' (default): {','.join(workloads.ALL)}",
    )
    p.add_argument("--concurrency", type=_ints, help="connection counts (default 1,16,32,64; quick: 1,32)")
    p.add_argument("--duration", type=float, help="seconds per measured point (default 10; quick: 1)")
    p.add_argument(
        "--warmup", type=float, help="seconds of unrecorded load before each point (default 2; quick: 1)"
    )
    p.add_argument("--repeat", type=int, default=1, help="runs per point; the median (by events/s) is kept")
    p.add_argument(
        "--preload-events", type=int, help="events stored before the read workload (default 1,000,000)"
    )
    p.add_argument(
        "--ceiling-seconds", type=float, help="seconds per raw storage ceiling (default 5; quick: 1)"
    )
    p.add_argument(
        "--ceiling-preload",
        type=int,
        default=0,
        help="SQLite: rows stored before each storage ceiling, with time-ordered UUIDs (issue 23: 1000000)",
    )
    p.add_argument(
        "--pool", type=int, default=1_000, help="profiles the write workloads cycle through (created first)"
    )
    p.add_argument("--load-generator", choices=["auto", "wrk", "python"], default="auto")
    p.add_argument("--no-bare", action="store_true", help="skip the bare ASGI (HTTP ceiling) measurements")
    p.add_argument(
        "--profile",
        action="append",
        default=[],
        metavar="WORKLOAD@CONNS",
        help="also record a py-spy profile of the server at this point, e.g. custom@32 (repeatable)",
    )
    p.add_argument("--profile-gil", action="store_true", help="py-spy: sample only threads holding the GIL")
    p.add_argument("--out-dir", type=Path, help="where results are written (default bench/results)")
    p.add_argument(
        "--work-dir", type=Path, help="parent of the temporary data dirs (default: the system temp dir)"
    )
    p.add_argument("--keep-work-dir", action="store_true", help="keep data dirs and server logs")
    p.add_argument(
        "--sqlite-writer",
        choices=["process", "thread"],
        default="process",
        help="SQLite: the server's TRACKTION_SQLITE_WRITER (default process, as `tracktion serve`)",
    )
    return p


def options(args: argparse.Namespace) -> Options:
    opts = Options()
    if args.quick:
        for name, value in QUICK.items():
            setattr(opts, name, value)
    opts.quick = args.quick
    opts.backend = args.backend
    opts.database_url = args.database_url or os.environ.get("TRACKTION_DATABASE_URL") or None
    opts.workloads = args.workloads
    for name, value in (
        ("concurrency", args.concurrency),
        ("duration_s", args.duration),
        ("warmup_s", args.warmup),
        ("preload_events", args.preload_events),
        ("ceiling_s", args.ceiling_seconds),
        ("out_dir", args.out_dir),
        ("work_dir", args.work_dir),
    ):
        if value is not None:
            setattr(opts, name, value)
    opts.repeat = max(1, args.repeat)
    opts.ceiling_preload = max(0, args.ceiling_preload)
    opts.pool = max(1, args.pool)
    opts.load_generator = args.load_generator
    opts.bare = not args.no_bare
    opts.keep_work_dir = args.keep_work_dir
    opts.profile = args.profile
    opts.profile_gil = args.profile_gil
    opts.sqlite_writer = args.sqlite_writer
    return opts


def output_stem(started_stamp: str, backend: str, quick: bool, sqlite_writer: str = "process") -> str:
    writer = "-thread" if backend == "sqlite" and sqlite_writer == "thread" else ""
    return f"{started_stamp}-{backend}{writer}" + ("-quick" if quick else "")


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    opts = options(args)
    backends = ["sqlite", "postgres"] if opts.backend == "both" else [opts.backend]
    skipped: list[str] = []
    if "postgres" in backends and not opts.database_url:
        backends.remove("postgres")
        skipped.append("postgres skipped: give --database-url or set TRACKTION_DATABASE_URL")
        log(skipped[-1])
    if not backends:
        return 0
    written: list[Path] = []
    for backend in backends:
        scratch = make_scratch(opts, backend)
        try:
            gen = LoadGenerator(opts.load_generator, scratch)
            log(f"{backend}: load generator {gen.name} ({gen.version}); scratch {scratch}")
            run = BackendRun(opts, backend, gen, scratch)
            result = run.run()
            result["notes"] = skipped + result["notes"]
        finally:
            if not opts.keep_work_dir:
                shutil.rmtree(scratch, ignore_errors=True)
        opts.out_dir.mkdir(parents=True, exist_ok=True)
        stem = output_stem(run.stamp, backend, opts.quick, opts.sqlite_writer)
        json_path = opts.out_dir / f"{stem}.json"
        md_path = opts.out_dir / f"{stem}.md"
        json_path.write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n", "utf-8")
        md_path.write_text(render_markdown(result), "utf-8")
        written += [json_path, md_path]
        for t in result["targets"]:
            log(f"target: {t['target']} → {t['status']} ({t['measured']})")
    for path in written:
        log(f"wrote {path}")
    return 0
