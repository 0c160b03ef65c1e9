"""The relay's CPU per delivered event, per destination type (issue 17: every µs of delivery CPU is taken
from ingestion on a small machine).

One process: a tracktion app (SQLite, writer process: the production setting) started in it, a backlog of
`--events` stored through the batch endpoint, then, for each case, destinations created with
`start: beginning` that drain it while nothing else runs in the process. The figure is the process's CPU
(user + system, every thread: the event loop and the read pool; the writer process and the targets are
not counted) from the creation until every destination of the case has delivered the backlog, divided by
the events delivered. The webhook receiver is `relay_bench`'s (a process of its own, 204 to every POST);
NATS is the local JetStream server.

    python -m bench.relay_cpu [--events 100000] [--cases webhook,nats,both] [--rounds 2]

With `--py-spy PATH` the drains of the cases run under `py-spy record` (raw collapsed stacks to PATH.<case>).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import resource
import subprocess
import sys
import tempfile
import threading
import time
import uuid as uuidlib
from pathlib import Path
from typing import Any

import httpx

from bench import workloads
from bench.relay_bench import NATS_URL, nats_stream, receiver
from tracktion.app import create_app
from tracktion.domain.relay import Destination, relay_store
from tracktion.settings import Settings

API_KEY = "tk_bench_relay_cpu_0123456789abcdef"


def _threads() -> dict[str, float]:
    """CPU seconds of this process's threads, by Python thread name (/proc: Linux only; empty elsewhere)."""
    names = {t.native_id: t.name.rstrip("_0123456789") for t in threading.enumerate()}
    out: dict[str, float] = {}
    tick = os.sysconf("SC_CLK_TCK")
    with contextlib.suppress(OSError):
        for tid in os.listdir("/proc/self/task"):
            with contextlib.suppress(OSError):
                stat = Path(f"/proc/self/task/{tid}/stat").read_text()
                fields = stat[stat.rindex(")") + 2 :].split()
                name = names.get(int(tid), "other")
                out[name] = out.get(name, 0.0) + (int(fields[11]) + int(fields[12])) / tick
    return out


def _cpu() -> float:
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


async def _preload(client: httpx.AsyncClient, token: str, events: int) -> float:
    body = (
        workloads.batch_body(1000, "2026-12-06T00:00:00.000Z", 1000).replace("@N@", "p").replace("@K@", "0")
    )
    items = json.loads(body)
    for n, item in enumerate(items):
        item["client"] = {"customId": f"bench-{n % 1000}"}
    headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    started = time.monotonic()
    for _ in range(events // 1000):
        r = await client.post("/v4/events/batch", content=json.dumps(items).encode(), headers=headers)
        if r.status_code != 202:
            raise RuntimeError(f"preload: HTTP {r.status_code} {r.text[:200]}")
    return time.monotonic() - started


async def run(args: argparse.Namespace, url: str, stream: str | None) -> dict[str, Any]:
    out: dict[str, Any] = {"events": args.events, "cases": {}}
    with tempfile.TemporaryDirectory(prefix="relay-cpu-") as tmp:
        settings = Settings.load({"data_dir": Path(tmp), "bootstrap_api_key": API_KEY}, env={})
        app = create_app(settings)
        await app.startup()
        try:
            transport = httpx.ASGITransport(app=app, client=("127.0.0.1", 1))  # type: ignore[arg-type]
            async with httpx.AsyncClient(transport=transport, base_url="http://bench", timeout=120) as client:
                r = await client.post("/uauth/v2/auth/login/profile", json={"apiKey": API_KEY})
                token = r.json()["token"]
                took = await _preload(client, token, args.events)
                print(f"preloaded {args.events} in {took:.1f} s", flush=True)
            store = relay_store(app.ctx.store)
            relay = app.ctx.relay
            assert relay is not None
            configs: dict[str, tuple[str, dict[str, Any]]] = {
                "webhook": ("webhook", {"url": url, "batchSize": 500, "timeoutSeconds": 10}),
                "nats": ("nats", {"servers": [NATS_URL], "subject": f"{stream}.{{kind}}"}),
            }
            cases = args.cases.split(",")
            for r_ in range(args.rounds):
                for case in cases if r_ % 2 == 0 else list(reversed(cases)):
                    kinds = ["webhook", "nats"] if case == "both" else [case]
                    if "nats" in kinds and stream is None:
                        print("no NATS server: skipping", case)
                        continue
                    await asyncio.sleep(0.5)
                    spy = None
                    if args.py_spy:
                        spy = subprocess.Popen(
                            [
                                args.py_spy_bin,
                                "record",
                                "--format",
                                "raw",
                                "--rate",
                                "250",
                                "--threads",
                                "-o",
                                f"{args.py_spy}.{case}",
                                "--pid",
                                str(os.getpid()),
                            ],
                            stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL,
                        )
                        await asyncio.sleep(1.0)
                    ids = []
                    cpu0, wall0, threads0 = _cpu(), time.monotonic(), _threads()
                    for kind in kinds:
                        type_, config = configs[kind]
                        d = Destination(
                            workspace_id=1,
                            id=str(uuidlib.uuid4()),
                            name=f"{case}-{kind}-{r_}",
                            type=type_,
                            config=config,
                            filter={},
                            paused=False,
                            created_ms=int(time.time() * 1000),
                            cursor=0,
                        )
                        await store.create_destination(d)
                        ids.append(d.id)
                    relay.poke()
                    while True:
                        found = [await store.destination(1, i) for i in ids]
                        if all(f is not None and f.delivered >= args.events for f in found):
                            break
                        await asyncio.sleep(0.05)
                    cpu, wall = _cpu() - cpu0, time.monotonic() - wall0
                    threads = {k: v - threads0.get(k, 0.0) for k, v in _threads().items()}
                    if spy is not None:
                        spy.send_signal(2)
                        spy.wait(30)
                    delivered = args.events * len(kinds)
                    row = {
                        "cpu_s": round(cpu, 2),
                        "wall_s": round(wall, 2),
                        "cpu_us_per_delivered_event": round(cpu / delivered * 1e6, 1),
                        "events_per_s": round(args.events / wall),
                        "us_per_event_by_thread": {
                            k: round(v / delivered * 1e6, 1) for k, v in sorted(threads.items()) if v > 0
                        },
                    }
                    print(f"round {r_} {case}: {row}", flush=True)
                    out["cases"].setdefault(case, []).append(row)
                    for i in ids:
                        await store.delete_destination(1, i)
                    relay.poke()
                    await asyncio.sleep(0.5)
        finally:
            await app.shutdown()
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--events", type=int, default=100_000)
    parser.add_argument("--cases", default="webhook,nats,both")
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--py-spy", help="record each case's drain with py-spy to PATH.<case>")
    parser.add_argument("--py-spy-bin", default="py-spy")
    args = parser.parse_args(argv)
    with receiver() as url, nats_stream() as stream:
        try:
            import uvloop

            result = uvloop.run(run(args, url, stream))
        except ImportError:  # pragma: no cover
            result = asyncio.run(run(args, url, stream))
    print(json.dumps(result, indent=2))
    sys.stdout.flush()


if __name__ == "__main__":
    main()
