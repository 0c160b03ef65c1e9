"""Crash durability (docs/api.md §1.5): SIGKILL the server at random moments under concurrent writes.

Each cycle starts `tracktion serve` on the same store, lets several clients send single events, salted
events (and re-sends of earlier ones), atomic batches (some with one invalid item), and transactions with
products, then kills the process with SIGKILL after a random delay, mid-traffic. After the last cycle the
server is started once more and every stored event is compared with the answers the clients got
(`tests.reliability.load.verify`): each 202 is stored exactly once, nothing refused or unanswered is
half-stored, and nothing is stored that no one sent.
"""

from __future__ import annotations

import asyncio
import os
import random
import time
from collections.abc import Callable
from typing import Any

import pytest

from tests.reliability.load import SEED, Logical, Mix, verify
from tests.reliability.wire import Conn, json_headers
from tests.support.reliability import ServeProcess

pytestmark = pytest.mark.e2e

CYCLES = int(os.environ.get("TRACKTION_RELIABILITY_CYCLES", "20"))
CLIENTS = 6
KILL_AFTER = (0.05, 0.9)  # seconds of traffic before the SIGKILL, uniform


async def _cycle(server: ServeProcess, mix: Mix, token: str, delay: float) -> None:
    stop = asyncio.Event()
    headers = json_headers(token)

    async def client() -> None:
        conn = Conn("127.0.0.1", server.port, timeout=20)
        try:
            while not stop.is_set():
                logical: Logical = mix.next()
                reply = await conn.request("POST", logical.path, logical.body, headers)
                logical.outcomes.append("none" if reply is None else str(reply.status))
                if reply is None and not stop.is_set():
                    await asyncio.sleep(0.005)
        finally:
            await conn.close()

    tasks = [asyncio.create_task(client()) for _ in range(CLIENTS)]
    await asyncio.sleep(delay)
    server.kill()  # SIGKILL while the clients are mid-request
    stop.set()
    await asyncio.gather(*tasks)


def test_sigkill_under_concurrent_writes_loses_nothing(
    serve_factory: Callable[..., ServeProcess], figures: Callable[..., None], store_backend: str
) -> None:
    started = time.monotonic()
    rng = random.Random(f"{SEED}-crash-{store_backend}")
    mix = Mix(rng, prefix="crash")
    server = serve_factory()
    server.start()
    token = server.token()  # the signing key lives in the data dir: the token outlives restarts
    for _cycle_no in range(CYCLES):
        if not server.alive():
            server.start()
        asyncio.run(_cycle(server, mix, token, rng.uniform(*KILL_AFTER)))
    server.start()
    events = server.all_events()
    verdict = verify(mix.ledger, events)
    statuses: dict[str, int] = {}
    for logical in mix.ledger:
        for outcome in logical.outcomes:
            statuses[outcome] = statuses.get(outcome, 0) + 1
    figures(
        "crash",
        cycles=CYCLES,
        clients=CLIENTS,
        **verdict.figures(),
        statuses=dict(sorted(statuses.items())),
        restart_seconds_max=round(max(server.start_seconds), 2),
        seconds=round(time.monotonic() - started, 1),
    )
    assert not verdict.problems, verdict.problems
    assert verdict.acknowledged_requests > CYCLES, "too little traffic to mean anything"
    assert verdict.unanswered_sends >= CYCLES // 2, "the kills should have cut requests short"
    unexpected = {s for s in statuses if s not in ("202", "400", "none")}
    assert not unexpected, f"unexpected statuses under crash: {statuses}"
    server.stop()


def _rids(events: list[dict[str, Any]]) -> set[str]:
    return {str(e["params"].get("rid")) for e in events}
