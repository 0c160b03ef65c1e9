"""No event is skipped across commits that finish out of order (docs/api.md §14.2), and a dead node's
destinations are taken over (§14.4).

* In process, on both backends: many concurrent writers while a destination delivers.
* PostgreSQL: three `tracktion serve` nodes on one database, writers on all three, one destination; the node
  holding its lease is SIGKILLed mid-delivery and another takes over within 30 s; the receiver ends with
  every stored event.
"""

from __future__ import annotations

import asyncio
import shutil
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.api import Api
from tests.support.postgres import fresh_schema, require_test_database
from tests.support.relay import SECRET, WebhookReceiver, batch_of, create_destination, eventually, status
from tests.support.serve_process import ServeProcess
from tracktion.auth.jwt import KEY_FILE, SigningKey

KEY = "tk_relay-cluster-key-0123456789abcdef"


async def test_concurrent_writers_lose_nothing(rapi: Api, receiver: WebhookReceiver) -> None:
    d = await create_destination(
        rapi, name="hook", type="webhook", config={"url": receiver.url, "batchSize": 50}
    )

    async def writer(w: int) -> None:
        for i in range(10):
            r = await rapi.post("/v4/events/batch", batch_of(5, start=w * 1000 + i * 5))
            assert r.status_code == 202

    await asyncio.gather(*(writer(w) for w in range(8)))
    stored = sorted(await rapi.events(limit=1000), key=lambda e: e["seq"])
    assert len(stored) == 400

    async def caught_up() -> bool:
        s = await status(rapi, d["id"])
        return bool(s["lagEvents"] == 0 and s["delivered"] == 400)

    await eventually(caught_up)
    assert receiver.uuids() == [e["uuid"] for e in stored]


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[list[ServeProcess]]:
    with fresh_schema(require_test_database()) as url:
        env = {
            "TRACKTION_RELAY_LEASE_SECONDS": "3",
            "TRACKTION_RELAY_BACKOFF_BASE_SECONDS": "0.05",
            "TRACKTION_RELAY_BACKOFF_CAP_SECONDS": "0.5",
        }
        nodes = [
            ServeProcess(tmp_path / f"n{i}", url, env, api_key=KEY, log_path=tmp_path / f"n{i}.log")
            for i in range(3)
        ]
        # Nodes of one database sign with one key (docs/deploying.md, "The signing key"): n0's, copied.
        SigningKey.load_or_create(tmp_path / "n0")
        for i in (1, 2):
            (tmp_path / f"n{i}").mkdir(parents=True, exist_ok=True)
            shutil.copy2(tmp_path / "n0" / KEY_FILE, tmp_path / f"n{i}" / KEY_FILE)
        for n in nodes:
            n.start()
        try:
            yield nodes
        finally:
            for n in nodes:
                n.stop()


def _holder(nodes: list[ServeProcess], dest_id: str) -> ServeProcess | None:
    import psycopg

    assert nodes[0].database_url is not None
    with psycopg.connect(nodes[0].database_url) as conn:
        row = conn.execute("SELECT lease_owner FROM destinations WHERE id = %s", (dest_id,)).fetchone()
    owner = row[0] if row else None
    for n in nodes:
        if n.alive() and owner is not None and f":{n.pid}:" in owner:
            return n
    return None


@pytest.mark.postgres
@pytest.mark.e2e
def test_three_nodes_writers_and_a_takeover(cluster: list[ServeProcess], receiver: WebhookReceiver) -> None:
    nodes = cluster
    # Slow answers, so the SIGKILL below lands while batches are in flight.
    receiver.respond = lambda items: (time.sleep(0.05), (200, {}))[1]
    r = nodes[0].post(
        "/-/api/destinations",
        {
            "name": "hook",
            "type": "webhook",
            "config": {"url": receiver.url, "secret": SECRET, "batchSize": 100},
        },
    )
    assert r.status_code == 201, r.text
    dest_id = r.json()["id"]
    stop = threading.Event()
    errors: list[str] = []

    def write(node: ServeProcess, w: int) -> None:
        i = 0
        with httpx.Client(
            base_url=node.url, headers={"Authorization": f"Bearer {node.token()}"}, timeout=30
        ) as c:
            while not stop.is_set():
                try:
                    r = c.post("/v4/events/batch", json=batch_of(10, start=w * 100_000 + i * 10))
                except httpx.TransportError:
                    return  # its node was killed
                if r.status_code != 202:
                    errors.append(r.text)
                i += 1

    writers = [threading.Thread(target=write, args=(n, w)) for w, n in enumerate(nodes * 2)]
    for t in writers:
        t.start()
    time.sleep(3)
    holder = wait_until(lambda: _holder(nodes, dest_id))
    holder.kill()
    killed_at = time.monotonic()
    survivors = [n for n in nodes if n is not holder]
    new_holder = wait_until(lambda: _holder(survivors, dest_id), timeout=30)
    assert time.monotonic() - killed_at < 30
    assert new_holder is not holder
    time.sleep(2)
    stop.set()
    for t in writers:
        t.join()
    assert not errors, errors[:3]
    n = survivors[0]

    def caught_up() -> bool:
        s: dict[str, Any] = n.get(f"/-/api/destinations/{dest_id}/status")
        return bool(s["lagEvents"] == 0)

    wait_until(caught_up, timeout=60)
    stored = n.all_events()
    got = receiver.uuids()
    assert {e["uuid"] for e in stored} == set(got)  # nothing skipped (duplicates allowed: at least once)
    assert receiver.bad_signatures == 0
    # In seq order: the first time each event arrives, the seqs increase.
    seen: set[str] = set()
    firsts = []
    for item in receiver.accepted:
        if item["uuid"] not in seen:
            seen.add(item["uuid"])
            firsts.append(item["seq"])
    assert firsts == sorted(firsts)


def wait_until(check: Any, timeout: float = 30.0) -> Any:
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        assert time.monotonic() < deadline, f"timed out: {value!r}"
        time.sleep(0.1)
