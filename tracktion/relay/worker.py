"""One destination's delivery (docs/api.md §14.2), run by the node that holds its lease.

The live loop reads the workspace's writes after the cursor and up to the store's horizon (below which every
write is final: SQLite commits one at a time, PostgreSQL proves it from its advisory locks), delivers the
ones the filter selects in `seq` order, and only then moves the cursor, in the store, fenced by the lease.
A batch the target rejects is halved until the rejected events are isolated; each becomes a failure record
in the same statement that moves the cursor past it, so failures never block the cursor. Transient trouble
is retried with the same items after a full-jitter backoff; nothing is skipped and nothing moves meanwhile.

Replays run beside the live loop through the same rules, over the writes the cursor has already passed.
So do erasure notices (§15.1): each is sent until the destination acknowledges it, then deleted.

A failure record leaves the list as soon as its event is delivered, by a replay or by the live loop (an
overwrite of the event comes by again with a new seq, §14.3).
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
import random
import time
import uuid as uuidlib
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace

from tracktion.domain.relay import (
    BACKING_OFF,
    FAILING,
    RUNNING,
    Destination,
    ErasureNotice,
    Failure,
    Progress,
    RelayEvent,
    RelayStore,
    Replay,
)
from tracktion.domain.timefmt import parse_time_ms
from tracktion.live.changes import Changes
from tracktion.observability.metrics import Metrics
from tracktion.relay.config import TYPES, matches
from tracktion.relay.feed import READ_PAGE, Feed, Item
from tracktion.relay.types import DeliveryError, Refused, Rejected, Retry, Sender

log = logging.getLogger("tracktion.relay")

FAILING_AFTER = 10  # consecutive failed attempts (§14.2)
_IDLE_POLL = 0.25  # seconds between looks for other processes' commits when nothing was local
_LAG_EVERY = 2.0  # seconds between lag measurements (a COUNT over the writes after the cursor)
_PERSIST_IDLE_CURSOR = 1.0  # seconds between writes of a cursor moved only past unselected writes
# After a read that was not a full page, the next waits this long: writes arriving one by one are then sent
# tens at a time instead of one request (and one cursor commit, which queues with ingestion's writes) per
# write. It adds at most this to the lag; a backlog (full pages) is read without waiting.
_LINGER = 0.05


class LeaseLost(Exception):
    """Another node holds the destination now (or it was deleted): stop without touching anything."""


@dataclass(frozen=True, slots=True)
class Timing:
    backoff_base: float = 1.0
    backoff_cap: float = 300.0

    def backoff(self, attempt: int, retry_after: float | None) -> float:
        """Full jitter between 0 and min(cap, base·2^(attempt-1)); a longer `Retry-After` wins."""
        delay = random.uniform(0, min(self.backoff_cap, self.backoff_base * 2 ** min(attempt - 1, 30)))
        return max(delay, retry_after) if retry_after is not None else delay


def delivery_id(destination_id: str, chunk: list[Item]) -> str:
    """The same for every retry of the same items (the webhook's `webhook-id`)."""
    h = hashlib.sha256(destination_id.encode())
    h.update("".join([f"|{i.row.uuid}:{i.row.seq}" for i in chunk]).encode())
    return "msg_" + h.hexdigest()[:32]


class Worker:
    def __init__(
        self,
        store: RelayStore,
        destination: Destination,
        owner: str,
        metrics: Metrics,
        changes: Changes,
        timing: Timing,
        clock_ms: Callable[[], int],
        feed: Feed | None = None,
    ) -> None:
        self.store = store
        self.feed = feed or Feed(store)
        self.d = destination
        self.owner = owner
        self.metrics = metrics
        self.changes = changes
        self.timing = timing
        self.clock_ms = clock_ms
        self.sender: Sender = TYPES[destination.type].open(destination.config)
        self.labels = (("destination", destination.id),)
        self.consecutive = 0  # failed attempts in a row, for the state and the backoff
        self.cursor = destination.cursor
        self._lag_at = 0.0
        self._send_lock = asyncio.Lock()  # live and replay batches take turns on the one connection
        self.replays_wanted = asyncio.Event()
        self.replays_wanted.set()
        self.notices_wanted = asyncio.Event()  # erasure notices to send (§15.1)
        self.notices_wanted.set()
        # Whether the destination may have failure records, which a delivery then resolves; checked once
        # at start, so that a destination without failures pays nothing per batch.
        self.has_failures = True

    # -- the loops ---------------------------------------------------------------------------------
    async def run(self) -> None:
        self.has_failures = bool(await self.store.failures(self.d.workspace_id, self.d.id, -1, 1))
        # The three loops never end by themselves: the first to fail (a lost lease, say) ends them all.
        tasks = [asyncio.create_task(loop()) for loop in (self._live, self._replays, self._notices)]
        try:
            done, _ = await asyncio.wait(tasks, return_when=asyncio.FIRST_EXCEPTION)
            for task in done:
                task.result()
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            await self.sender.close()
            self.metrics.relay_lag_events.remove(self.labels)
            self.metrics.relay_lag_seconds.remove(self.labels)

    async def _live(self) -> None:
        d = self.d
        persisted = self.cursor
        persisted_at = time.monotonic()
        full = True
        while True:
            if not full:
                await asyncio.sleep(_LINGER)
            horizon = await self.store.relay_horizon()
            # Pages of `READ_PAGE`, shared with the workspace's other destinations (`feed`); `_deliver`
            # sends them in the sender's batches and the cursor moves once the page is done.
            batch = READ_PAGE
            events = (
                await self.feed.read(d.workspace_id, self.cursor, horizon) if horizon > self.cursor else []
            )
            full = len(events) >= batch
            await self._measure_lag()
            if not events:
                if horizon > self.cursor:
                    # Nothing of this workspace up to the horizon: later reads may start there. Written
                    # lazily (losing it only means reading those seqs again).
                    self.cursor = horizon
                    if time.monotonic() - persisted_at > _PERSIST_IDLE_CURSOR and self.cursor != persisted:
                        await self._record(Progress(cursor=self.cursor))
                        persisted, persisted_at = self.cursor, time.monotonic()
                await self.changes.wait(d.workspace_id, _IDLE_POLL)
                continue
            # Everything read is below the horizon; a short page means every write up to it was read.
            last = events[-1].seq if full else horizon
            selected = (
                [i for i in events if matches(d.filter, i.row.action, i.row.kind)] if d.filter else events
            )
            progress = await self._deliver(selected) if selected else Progress()
            progress.cursor = last
            if selected:
                progress.state, progress.next_attempt_ms = RUNNING, None
                progress.last_success_ms = self.clock_ms() if progress.delivered else None
                progress.clear_error = bool(progress.delivered)
            await self._record(progress)
            self.cursor, persisted, persisted_at = last, last, time.monotonic()

    async def _replays(self) -> None:
        while True:
            await self.replays_wanted.wait()
            self.replays_wanted.clear()
            for replay in await self.store.open_replays(self.d.workspace_id, self.d.id):
                await self._replay(replay)

    async def _replay(self, replay: Replay) -> None:
        r = replace(replay, state="running")
        await self.store.update_replay(r)
        while r.position < r.upto:
            if r.only_failed:
                events = await self.store.failed_events(
                    self.d.workspace_id, self.d.id, r.position, r.upto, 500
                )
            else:
                events = await self.store.relay_events(self.d.workspace_id, r.position, r.upto, 500)
            if not events:
                r = replace(r, position=r.upto)
                break
            position = events[-1].row.seq if len(events) == 500 else r.upto
            selected = [Item.of(e) for e in events if self._replay_matches(r, e)]
            progress = await self._deliver(selected, replay=True) if selected else Progress()
            await self._record(progress)
            r = replace(
                r,
                position=position,
                matched=r.matched + len(selected),
                delivered=r.delivered + progress.delivered,
                failed=r.failed + progress.failed,
            )
            await self.store.update_replay(r)
        await self.store.update_replay(replace(r, state="done"))

    async def _notices(self) -> None:
        """Tell the destination of each erasure (§15.1), oldest first, with §14.2's retries; a notice is
        deleted, with the identifiers it carries, once acknowledged (or refused for good: logged, shown as
        the last error)."""
        while True:
            await self.notices_wanted.wait()
            self.notices_wanted.clear()
            while notices := await self.store.erasure_notices(self.d.workspace_id, self.d.id, 100):
                for notice in notices:
                    await self._notify(notice)

    async def _notify(self, notice: ErasureNotice) -> None:
        ident = "msg_erasure_" + hashlib.sha256(f"{self.d.id}|{notice.erasure_id}".encode()).hexdigest()[:24]
        progress = Progress()
        try:
            await self._send(lambda: self.sender.erase(notice, ident))
        except Rejected as exc:
            log.warning(
                "relay: destination %s (%s) refused the notice of erasure %s: %s",
                self.d.id,
                self.d.type,
                notice.erasure_id,
                _printable(exc.message)[:512],
            )
            progress.last_error = {
                "at": self.clock_ms(),
                "status": exc.status,
                "message": f"erasure notice {notice.erasure_id} rejected by the destination",
            }
        if not await self.store.ack_erasure_notice(
            self.d.workspace_id, self.d.id, notice.erasure_id, self.owner, progress
        ):
            raise LeaseLost()

    def _replay_matches(self, r: Replay, e: RelayEvent) -> bool:
        row = e.row
        if r.from_ms is not None and row.time_ms < r.from_ms:
            return False
        if r.to_ms is not None and row.time_ms > r.to_ms:
            return False
        if r.actions and row.action not in r.actions:
            return False
        # A replay follows the destination's filter too: it re-delivers what the destination takes.
        return r.only_failed or matches(self.d.filter, row.action, row.kind)

    # -- one batch, with its retries and splits ----------------------------------------------------
    async def _deliver(self, events: list[Item], replay: bool = False) -> Progress:
        """Deliver every event or record it as a failure; returns what to record with the cursor."""
        progress = Progress()
        pending = [
            events[i : i + self.sender.batch_size] for i in range(0, len(events), self.sender.batch_size)
        ]
        failed_last = False  # the last batch sent had a rejected event (else the last error is cleared)
        while pending:
            chunk = pending.pop(0)
            try:
                await self._attempt(chunk)
            except Rejected as exc:
                failed_last = True
                if exc.indices:
                    bad = set(exc.indices)
                    for i in sorted(bad):
                        if 0 <= i < len(chunk):
                            progress.failures.append(self._failure(chunk[i], exc))
                    rest = [e for i, e in enumerate(chunk) if i not in bad]
                    if rest:
                        pending.insert(0, rest)
                elif len(chunk) == 1:
                    progress.failures.append(self._failure(chunk[0], exc))
                else:
                    half = len(chunk) // 2
                    pending[0:0] = [chunk[:half], chunk[half:]]
                continue
            failed_last = False
            progress.delivered += len(chunk)
            if replay or self.has_failures:
                progress.resolved.extend(i.row.uuid for i in chunk)
        progress.failed = len(progress.failures)
        if progress.failed:
            self.has_failures = True
        if progress.delivered:
            self.metrics.relay_delivered.inc(self.labels, progress.delivered)
        if progress.failed:
            self.metrics.relay_failed.inc(self.labels, progress.failed)
        if failed_last and progress.failures:
            last = progress.failures[-1]
            progress.last_error = {
                "at": last.failed_ms,
                "status": last.status,
                "message": "event rejected by the destination",
            }
        return progress

    def _failure(self, item: Item, exc: DeliveryError) -> Failure:
        return Failure(
            id=str(uuidlib.uuid4()),
            event_uuid=item.row.uuid,
            seq=item.row.seq,
            failed_ms=self.clock_ms(),
            attempts=1,
            status=exc.status,
            response=_printable(exc.response or exc.message),
        )

    async def _attempt(self, chunk: list[Item]) -> None:
        """Send `chunk` until it is acknowledged or rejected; transient trouble waits and tries again."""
        ident = delivery_id(self.d.id, chunk)
        await self._send(lambda: self.sender.deliver(chunk, ident))

    async def _send(self, send: Callable[[], Awaitable[None]]) -> None:
        """Run `send` until it succeeds or is rejected, with §14.2's backoff and states in between."""
        while True:
            try:
                async with self._send_lock:
                    await send()
            except Rejected:
                self.metrics.relay_attempts.inc((*self.labels, ("outcome", "rejected")))
                self.consecutive = 0  # the target answered: it works, these items are bad
                raise
            except (Retry, Refused) as exc:
                outcome = "retry" if isinstance(exc, Retry) else "refused"
                self.metrics.relay_attempts.inc((*self.labels, ("outcome", outcome)))
                self.consecutive += 1
                failing = isinstance(exc, Refused) or self.consecutive >= FAILING_AFTER
                if failing:
                    # §14.2: retried every 5 minutes (the backoff's cap), or sooner if the target says so.
                    delay = self.timing.backoff_cap
                    if isinstance(exc, Retry) and exc.retry_after is not None:
                        delay = max(delay, exc.retry_after)
                else:
                    delay = self.timing.backoff(
                        self.consecutive, exc.retry_after if isinstance(exc, Retry) else None
                    )
                now = self.clock_ms()
                error = {"at": now, "status": exc.status, "message": _printable(exc.message)[:512]}
                log.warning(
                    "relay: destination %s (%s): %s; next attempt in %.1f s",
                    self.d.id,
                    self.d.type,
                    error["message"],
                    delay,
                )
                await self._record(
                    Progress(
                        state=FAILING if failing else BACKING_OFF,
                        next_attempt_ms=now + int(delay * 1000),
                        last_error=error,
                    )
                )
                await asyncio.sleep(delay)
                continue
            self.metrics.relay_attempts.inc((*self.labels, ("outcome", "ok")))
            self.consecutive = 0
            return

    # -- bookkeeping -------------------------------------------------------------------------------
    async def _record(self, progress: Progress) -> None:
        if not await self.store.record_progress(self.d.workspace_id, self.d.id, self.owner, progress):
            raise LeaseLost()

    async def _measure_lag(self) -> None:
        now = time.monotonic()
        if now - self._lag_at < _LAG_EVERY:
            return
        self._lag_at = now
        count, oldest, _ = await self.store.relay_lag(self.d.workspace_id, self.cursor)
        self.metrics.relay_lag_events.set(self.labels, count)
        seconds = 0.0
        if oldest is not None:
            found = await self.store.relay_events(self.d.workspace_id, oldest - 1, oldest, 1)
            if found:
                seconds = max(0.0, (self.clock_ms() - written_ms(found[0])) / 1000)
        self.metrics.relay_lag_seconds.set(self.labels, seconds)


def written_ms(event: RelayEvent) -> int:
    """When a write was received: its `eventCreateTime` (§7.2), else its occurrence time."""
    created = event.row.params.get("eventCreateTime")
    if isinstance(created, str):
        try:
            return parse_time_ms(created)
        except Exception:  # a stored value is always valid; if not, the event time is good enough
            pass
    return event.row.time_ms


def _printable(text: str) -> str:
    # PostgreSQL text cannot hold NUL; a target's answer may contain anything.
    return text.replace("\x00", "\ufffd")
