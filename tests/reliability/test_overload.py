"""Overload (docs/api.md §1.7): a saturated write path answers 503 (code 5002) with `Retry-After`, at once.

The server runs with a write queue of 2 (`TRACKTION_WRITE_QUEUE_SIZE`) and gets far more concurrent writers
than one commit can take. The test checks that the excess is refused quickly and honestly (nothing answered
503 is stored, nothing answered 202 is missing), that `/-/health` keeps answering throughout, and that once
the load drops every write is accepted again without a restart.
"""

from __future__ import annotations

import asyncio
import random
import statistics
import time
from collections.abc import Callable

import pytest

from tests.reliability.load import SEED, Mix, verify
from tests.reliability.wire import Conn, Reply, json_headers
from tests.support.reliability import ServeProcess

pytestmark = pytest.mark.e2e

QUEUE_SIZE = 2
WRITERS = 48
LOAD_SECONDS = 3.0
HEALTH_EVERY = 0.05


def _quantile(values: list[float], q: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


async def _overload(server: ServeProcess, mix: Mix, token: str) -> dict[str, list[Reply | None]]:
    headers = json_headers(token)
    deadline = asyncio.get_running_loop().time() + LOAD_SECONDS
    replies: dict[str, list[Reply | None]] = {"write": [], "health": []}

    async def writer() -> None:
        conn = Conn("127.0.0.1", server.port, timeout=30)
        while asyncio.get_running_loop().time() < deadline:
            logical = mix.next()
            reply = await conn.request("POST", logical.path, logical.body, headers)
            logical.outcomes.append("none" if reply is None else str(reply.status))
            replies["write"].append(reply)
        await conn.close()

    async def health() -> None:
        conn = Conn("127.0.0.1", server.port, timeout=30)
        while asyncio.get_running_loop().time() < deadline:
            replies["health"].append(await conn.request("GET", "/-/health"))
            await asyncio.sleep(HEALTH_EVERY)
        await conn.close()

    await asyncio.gather(health(), *(writer() for _ in range(WRITERS)))
    return replies


async def _calm(server: ServeProcess, mix: Mix, token: str, count: int) -> list[tuple[str, str]]:
    """Sequential writes after the load: (kind, status) of each."""
    conn = Conn("127.0.0.1", server.port, timeout=30)
    out = []
    for _ in range(count):
        logical = mix.next()
        reply = await conn.request("POST", logical.path, logical.body, json_headers(token))
        logical.outcomes.append("none" if reply is None else str(reply.status))
        out.append((logical.kind, logical.outcomes[-1]))
    await conn.close()
    return out


def test_excess_load_is_refused_with_503_5002_and_recovers(
    serve_factory: Callable[..., ServeProcess], figures: Callable[..., None], store_backend: str
) -> None:
    started = time.monotonic()
    server = serve_factory(env={"TRACKTION_WRITE_QUEUE_SIZE": str(QUEUE_SIZE)})
    server.start()
    token = server.token()
    mix = Mix(random.Random(f"{SEED}-overload-{store_backend}"), prefix="overload", clients=8)
    replies = asyncio.run(_overload(server, mix, token))

    writes = replies["write"]
    assert all(r is not None for r in writes), "a write got no answer under load"
    answered = [r for r in writes if r is not None]
    refused = [r for r in answered if r.status == 503]
    accepted = [r for r in answered if r.status == 202]
    assert refused, "the load never saturated the write queue: nothing to test"
    assert accepted, "nothing was accepted under load"
    for r in refused:
        body = r.json()
        assert body["errors"][0]["code"] == 5002, body
        assert body["status"] == 503 and body["error"] == "Service Unavailable"
        assert r.headers.get("retry-after", "").isdigit(), r.headers
    statuses = sorted({r.status for r in answered})
    assert set(statuses) <= {202, 400, 503}, statuses

    health = replies["health"]
    assert health and all(r is not None and r.status == 200 for r in health), "health stopped answering"
    health_seconds = [r.seconds for r in health if r is not None]
    refused_seconds = [r.seconds for r in refused]
    accepted_seconds = [r.seconds for r in accepted]

    # The load is gone: the very next writes are accepted, without a restart.
    recovery_started = time.monotonic()
    calm = asyncio.run(_calm(server, mix, token, 50))
    recovery_seconds = time.monotonic() - recovery_started
    # every write accepted again (the batches with an invalid item are refused with 400, as always)
    assert all(status == ("400" if kind == "poisoned" else "202") for kind, status in calm), calm

    verdict = verify(mix.ledger, server.all_events())
    figures(
        "overload",
        queue_size=QUEUE_SIZE,
        writers=WRITERS,
        load_seconds=LOAD_SECONDS,
        writes=len(answered),
        accepted=len(accepted),
        refused_503=len(refused),
        refused_share=round(len(refused) / len(answered), 3),
        refused_p50_ms=round(statistics.median(refused_seconds) * 1000, 1),
        refused_p99_ms=round(_quantile(refused_seconds, 0.99) * 1000, 1),
        accepted_p50_ms=round(statistics.median(accepted_seconds) * 1000, 1),
        accepted_p99_ms=round(_quantile(accepted_seconds, 0.99) * 1000, 1),
        health_checks=len(health),
        health_max_ms=round(max(health_seconds) * 1000, 1),
        recovery_50_writes_s=round(recovery_seconds, 2),
        events_verified=verdict.events_verified,
        losses=len(verdict.losses),
        stored_after_503=len(verdict.stored_after_error),
        seconds=round(time.monotonic() - started, 1),
    )
    assert not verdict.problems, verdict.problems
    # "Quickly": a refusal costs no commit wait; generous bounds for a loaded 2-core CI machine.
    assert _quantile(refused_seconds, 0.99) < 1.0, refused_seconds
    assert max(health_seconds) < 2.0, health_seconds
    server.stop()
