"""What the §13.6a counters cost the write path: `python -m bench.counters_ab [--rounds N] [--preload N]`.

One process, one SQLite store (production durability: WAL, synchronous=FULL; the thread writer, the same
`SQLiteTx` and commit code the writer process runs), driven through `Store.write` with the requests the HTTP
layer would make: 32 concurrent single custom events, and 1000-item batches (10 actions). Rounds alternate A
(counters off: `PendingCounts.event` and `counters.write` replaced by no-ops, in this process only) and B (the
code as shipped), so the machine's drift hits both alike. Reported per round and as medians: the process's CPU
µs per event (`time.process_time`, every thread: the event loop and the writer) and events/s. Since that
ratio is at the mercy of a shared machine, the counters' own cost is also measured directly: the writer
thread's CPU inside `counters.write` per event, and one `PendingCounts.event` call in a tight loop.

The HTTP process's work (parsing, validation) is the same with or without counters, so the ratio here, which
leaves it out, is an upper bound of the end-to-end one.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from tracktion.domain.models import ClientRef, Credential, EventIn, WriteItem, WriteRequest
from tracktion.storage import counters
from tracktion.storage.sqlite import SQLiteStore

CRED = Credential("workspace", 1, "bench-key")
PARAMS = {
    "url": "https://shop.example.org/products/1",
    "title": "Blue ceramic mug, 350 ml",
    "campaign": "spring-sale",
    "cartValue": 42.5,
}


def _request(n: int, seq: int, pool: int = 1000) -> WriteRequest:
    items = [
        WriteItem(
            i if n > 1 else None,
            None,
            f"[{i}]" if n > 1 else "",
            event=EventIn(
                ClientRef(custom_id=f"bench-{(seq + i) % pool}"),
                f"page.action{i % 10}" if n > 1 else "page.visit",
                "Page visited",
                int(time.time() * 1000) - 60_000,
                None,
                None,
                dict(PARAMS),
                "custom",
            ),
        )
        for i in range(n)
    ]
    return WriteRequest(
        workspace_id=1,
        credential=CRED,
        request_id=f"r{seq}",
        method="POST",
        endpoint="/v4/events/batch" if n > 1 else "/v4/events/custom",
        received_ms=int(time.time() * 1000),
        ip="127.0.0.1",
        items=items,
    )


async def _singles(store: SQLiteStore, events: int, conns: int = 32) -> None:
    async def client(k: int) -> None:
        for j in range(events // conns):
            await store.write(_request(1, k * 1_000_000 + j))

    await asyncio.gather(*(client(k) for k in range(conns)))


async def _batches(store: SQLiteStore, events: int) -> None:
    for j in range(events // 1000):
        await store.write(_request(1000, j * 1000))


class Switch:
    """Counters on (as shipped) or off (no-ops), in this process. When on, the time spent inside
    `counters.write` (the commit's upserts, on the writer thread) is added up in `write_s`."""

    def __init__(self) -> None:
        self.event = counters.PendingCounts.event
        self.write = counters.write
        self.write_s = 0.0

    def timed_write(self, pending: counters.PendingCounts, execute: Any, mark: str) -> None:
        t0 = time.thread_time()
        self.write(pending, execute, mark)
        self.write_s += time.thread_time() - t0

    def set(self, on: bool) -> None:
        noop_event: Callable[..., None] = lambda *a, **k: None  # noqa: E731
        noop_write: Callable[..., None] = lambda *a, **k: None  # noqa: E731
        counters.PendingCounts.event = self.event if on else noop_event  # type: ignore[method-assign]
        counters.write = self.timed_write if on else noop_write


def event_call_us(calls: int = 200_000) -> float:
    """CPU µs of one `PendingCounts.event` (what every stored event costs the transaction)."""
    pending = counters.PendingCounts()
    t0 = time.process_time()
    for i in range(calls):
        pending.event(1, 1_700_000_000_000 + i, "page.visit", "custom")
    return (time.process_time() - t0) / calls * 1e6


async def run(rounds: int, preload: int, single_events: int, batch_events: int) -> dict[str, Any]:
    switch = Switch()
    out: dict[str, Any] = {}
    with tempfile.TemporaryDirectory(prefix="tracktion-counters-ab-") as tmp:
        store = SQLiteStore(Path(tmp) / "ab.db")
        await store.start()
        try:
            await store.create_workspace("bench", 0)
            await _batches(store, preload)  # profiles exist, the table is not empty
            for name, work, events in (
                ("custom@32", _singles, single_events),
                ("batch1000", _batches, batch_events),
            ):
                samples: dict[str, list[tuple[float, float]]] = {"off": [], "on": []}
                switch.write_s = 0.0
                for r in range(rounds):
                    for side in ("off", "on") if r % 2 == 0 else ("on", "off"):
                        switch.set(side == "on")
                        c0, w0 = time.process_time(), time.perf_counter()
                        await work(store, events)
                        cpu, wall = time.process_time() - c0, time.perf_counter() - w0
                        samples[side].append((cpu / events * 1e6, events / wall))
                switch.set(True)
                med = {
                    s: (statistics.median(c for c, _ in v), statistics.median(e for _, e in v))
                    for s, v in samples.items()
                }
                out[name] = {
                    "cpu_us_per_event": {s: [round(c, 1) for c, _ in v] for s, v in samples.items()},
                    "events_per_s": {s: [round(e) for _, e in v] for s, v in samples.items()},
                    "median_cpu_us_per_event": {s: round(m[0], 2) for s, m in med.items()},
                    "median_events_per_s": {s: round(m[1]) for s, m in med.items()},
                    "cpu_ratio_on_off": round(med["on"][0] / med["off"][0], 3),
                    "throughput_ratio_on_off": round(med["on"][1] / med["off"][1], 3),
                    "counters_write_us_per_event": round(switch.write_s / (events * rounds) * 1e6, 2),
                }
        finally:
            await store.close()
    return out


def main(argv: Sequence[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m bench.counters_ab", description=__doc__.split("\n\n")[0])
    p.add_argument("--rounds", type=int, default=6, help="rounds per side (default 6), alternated")
    p.add_argument("--preload", type=int, default=100_000, help="events stored before measuring")
    p.add_argument("--single-events", type=int, default=3_200, help="events per single-event round")
    p.add_argument("--batch-events", type=int, default=20_000, help="events per batch round")
    args = p.parse_args(argv)
    result = asyncio.run(run(args.rounds, args.preload, args.single_events, args.batch_events))
    result["pending_counts_event_us"] = round(event_call_us(), 3)
    print(json.dumps(result, indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
