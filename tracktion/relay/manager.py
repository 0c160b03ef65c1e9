"""Which destinations this node delivers (docs/api.md §14.4), inside `tracktion serve`.

Every `scan` seconds the node reads the destinations, takes the lease of each one that is not paused and
whose lease is free or expired, renews the leases it holds, and starts or stops a `Worker` to match. With
several nodes on one database exactly one holds a destination's lease at a time; when it dies, its leases
expire and another node takes them over at its next scan: within lease + scan seconds (20 + 5 by default),
from the stored cursor, so nothing is skipped. A node that shuts down releases its leases at once.

Lease times are compared on each node's own clock: nodes sharing a database are expected to run NTP; a skew
of s seconds shortens or lengthens a takeover by s (never two holders: moves of the cursor are fenced by
the owner's name, not by time).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
import time
import uuid as uuidlib
from collections.abc import Callable

from tracktion.domain.relay import Destination, RelayStore
from tracktion.live.changes import Changes
from tracktion.observability.metrics import Metrics
from tracktion.relay.feed import Feed
from tracktion.relay.worker import LeaseLost, Timing, Worker

log = logging.getLogger("tracktion.relay")


class Relay:
    def __init__(
        self,
        store: RelayStore,
        metrics: Metrics,
        changes: Changes,
        *,
        enabled: bool = True,
        lease_seconds: float = 20.0,
        timing: Timing | None = None,
        clock_ms: Callable[[], int] | None = None,
    ) -> None:
        self.store = store
        self.metrics = metrics
        self.changes = changes
        self.enabled = enabled
        self.lease_ms = int(lease_seconds * 1000)
        self.scan_seconds = min(5.0, max(0.05, lease_seconds / 4))
        self.timing = timing or Timing()
        self.clock_ms = clock_ms or (lambda: int(time.time() * 1000))
        self.owner = f"{socket.gethostname()}:{os.getpid()}:{uuidlib.uuid4().hex[:8]}"
        self._workers: dict[tuple[int, str], tuple[Worker, asyncio.Task[None], int]] = {}
        self._renewed: dict[tuple[int, str], int] = {}
        self._task: asyncio.Task[None] | None = None
        self._poke = asyncio.Event()
        self.feed = Feed(store)  # one read and one rendering per event for all of a workspace's destinations

    async def start(self) -> None:
        if self.enabled and self._task is None:
            self._task = asyncio.create_task(self._loop())

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
        for key in list(self._workers):
            await self._stop_worker(key, release=True)

    def poke(
        self, workspace_id: int | None = None, destination_id: str | None = None, replays: bool = False
    ) -> None:
        """A destination changed on this node: look again now (and start its replays)."""
        if replays and workspace_id is not None and destination_id is not None:
            running = self._workers.get((workspace_id, destination_id))
            if running is not None:
                running[0].replays_wanted.set()
        self._poke.set()

    def erased(self, workspace_id: int) -> None:
        """An erasure was recorded on this node: the workspace's destinations delivered here send its
        notices now (those delivered elsewhere, at their node's next scan)."""
        self.feed.forget(workspace_id)  # no page read before the erasure is delivered after it
        for (ws, _), (worker, _, _) in self._workers.items():
            if ws == workspace_id:
                worker.notices_wanted.set()

    def delivering(self) -> list[tuple[int, str]]:
        return [k for k, (_, task, _) in self._workers.items() if not task.done()]

    async def _loop(self) -> None:
        while True:
            try:
                await self.scan()
            except asyncio.CancelledError:
                raise
            except Exception:  # the store is unreachable, say: the next scan tries again
                log.exception("relay: scan failed")
            # `asyncio.timeout`, not `wait_for`: on Python 3.11 `wait_for` drops a cancellation that arrives
            # as the event is set (it returns the result instead), and `stop()` would then wait forever.
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.scan_seconds):
                    await self._poke.wait()
            self._poke.clear()

    async def scan(self) -> None:
        found = {(d.workspace_id, d.id): d for d in await self.store.destinations()}
        now = self.clock_ms()
        for key, (worker, task, version) in list(self._workers.items()):
            d = found.get(key)
            if d is None or d.paused or d.version != version or task.done():
                # Deleted, paused, changed (a new worker reads the new config) or ended by a lost lease
                # or an error: stop it; the lease is kept only if it will be taken again right away.
                await self._stop_worker(key, release=d is not None and d.paused)
            else:
                worker.replays_wanted.set()  # replays and erasures asked for on other nodes
                worker.notices_wanted.set()
        for key, d in found.items():
            if d.paused:
                continue
            if key in self._workers:
                if now - self._renewed.get(key, 0) < self.lease_ms / 3:
                    continue
            elif d.lease_owner not in (None, self.owner) and (d.lease_until_ms or 0) >= now:
                continue  # another node's
            if not await self.store.take_lease(d.workspace_id, d.id, self.owner, now, now + self.lease_ms):
                if key in self._workers:
                    await self._stop_worker(key, release=False)
                continue
            self._renewed[key] = now
            if key not in self._workers:
                self._start_worker(d)

    def _start_worker(self, d: Destination) -> None:
        worker = Worker(
            self.store, d, self.owner, self.metrics, self.changes, self.timing, self.clock_ms, self.feed
        )
        key = (d.workspace_id, d.id)

        async def run() -> None:
            try:
                await worker.run()
            except LeaseLost:
                log.info("relay: destination %s is no longer delivered here", d.id)
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("relay: destination %s stopped on an error; restarting", d.id)
                await asyncio.sleep(1)  # no hot loop: the next scan starts it again

        self._workers[key] = (worker, asyncio.create_task(run()), d.version)

    async def _stop_worker(self, key: tuple[int, str], release: bool) -> None:
        entry = self._workers.pop(key, None)
        self._renewed.pop(key, None)
        if entry is None:
            return
        _, task, _ = entry
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        if release:
            with contextlib.suppress(Exception):
                await self.store.release_lease(key[0], key[1], self.owner)
