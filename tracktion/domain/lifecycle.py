"""Data lifecycle (docs/api.md §15): erasure of a person, suppression of their identifiers, retention.

What lives here is pure: the records, the suppression digests, and the loop (`LifecycleWorker`) that drives
the store's bounded deletion steps. The store does the SQL (`tracktion.storage.sql_store`).

How an erasure stays invisible from its commit: the request's own transaction deletes the profile row, its
uuids and its data, and records the erasure. Every read of events joins `profiles` (or, for a profile's
timeline, looks the profile up first), so the profile's events drop out of every answer in that same commit,
while the event rows themselves are deleted afterwards, in chunks, by the worker. Identifiers are freed at
once, so a later write naming them (when not suppressed) makes a new profile with a new clientId, never the
erased one's.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol

from tracktion.domain.models import ClientRef, WriteRequest

log = logging.getLogger("tracktion.lifecycle")

SUPPRESSED = "suppressed"  # the quarantine reason of a write naming a suppressed identifier (§15.1)
ERASE_BY = ("clientId", "customId", "email", "uuid")  # the body keys of `POST /-/api/erasures`
CHUNK_ROWS = 1_000  # most rows per deletion transaction (the contract's bound is 10,000, §15.1)
STEP_SECONDS = 0.005  # what a background step aims to take: see `LifecycleWorker.step_seconds`
MIN_STEP_ROWS = 10
DAY_MS = 86_400_000


@dataclass(slots=True)
class Erasure:
    """The receipt of one erasure (§15.1). `identifiers` is the work list the background deletion and the
    destinations need (every identifier of the profile, in clear); it is emptied when the erasure is done,
    and no answer shows it."""

    id: str
    workspace_id: int
    client_id: int
    state: str  # pending | running | done
    requested_ms: int
    completed_ms: int | None = None
    deleted_events: int = 0
    deleted_quarantine: int = 0
    deleted_relay_failures: int = 0
    suppress: bool = True
    identifiers: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Suppression:
    id: str
    workspace_id: int
    created_ms: int
    erasure_id: str | None


def identifier_keys(identifiers: dict[str, Any]) -> list[str]:
    """The normalised `kind:value` keys of a profile's identifiers: clientId, customId (exact), e-mail
    (case-insensitive, §9.1), every uuid (lower case)."""
    keys: list[str] = []
    if identifiers.get("clientId") is not None:
        keys.append(f"id:{identifiers['clientId']}")
    if identifiers.get("customId") is not None:
        keys.append(f"customId:{identifiers['customId']}")
    if identifiers.get("email") is not None:
        keys.append(f"email:{str(identifiers['email']).lower()}")
    keys.extend(f"uuid:{u.lower()}" for u in identifiers.get("uuids", ()))
    return keys


def client_keys(client: ClientRef) -> list[str]:
    """The same keys for the identifiers one write names."""
    keys: list[str] = []
    if client.id is not None:
        keys.append(f"id:{client.id}")
    if client.custom_id is not None:
        keys.append(f"customId:{client.custom_id}")
    if client.email is not None:
        keys.append(f"email:{client.email.lower()}")
    if client.uuid is not None:
        keys.append(f"uuid:{client.uuid.lower()}")
    return keys


def digest(secret: bytes, key: str) -> str:
    """HMAC-SHA256 of one identifier key under the workspace's secret (§15.1), hex. Without the secret (kept
    in the database, never shown) the digests cannot be tested against guessed e-mails offline."""
    # surrogatepass: an identifier may carry a lone surrogate escaped in JSON; it must still hash.
    return hmac.new(secret, key.encode("utf-8", "surrogatepass"), hashlib.sha256).hexdigest()


def names_identifier(value: Any, identifiers: dict[str, Any]) -> bool:
    """Whether a quarantined item (decoded JSON) or body excerpt (text) names one of the erased profile's
    identifiers: any string equal to one (e-mail and uuid case-insensitively), the clientId as a number, or,
    in a text excerpt, any of them as a substring (the body may not even parse)."""
    strings = {str(identifiers["clientId"])} if identifiers.get("clientId") is not None else set()
    if identifiers.get("customId") is not None:
        strings.add(identifiers["customId"])
    folded = {u.lower() for u in identifiers.get("uuids", ())}
    if identifiers.get("email") is not None:
        folded.add(str(identifiers["email"]).lower())
    if isinstance(value, str):
        lowered = value.lower()
        return any(s in value for s in strings) or any(f in lowered for f in folded)
    return _walk(value, strings, folded, identifiers.get("clientId"))


def _walk(value: Any, strings: set[str], folded: set[str], client_id: int | None) -> bool:
    if isinstance(value, str):
        return value in strings or value.lower() in folded
    if isinstance(value, bool):
        return False
    if isinstance(value, int):
        return value == client_id
    if isinstance(value, dict):
        return any(
            _walk(k, strings, folded, client_id) or _walk(v, strings, folded, client_id)
            for k, v in value.items()
        )
    if isinstance(value, list):
        return any(_walk(v, strings, folded, client_id) for v in value)
    return False


class SuppressionSource(Protocol):
    async def suppression_digests(self, workspace_id: int) -> tuple[bytes | None, frozenset[str]]: ...


class SuppressionCache:
    """The write path's view of the suppressions (§15.1): per workspace, its secret and the set of
    suppressed digests, read from the store at most once per `ttl` seconds (and at once after a change made
    through this process, `forget`). A workspace without suppressions costs a dict lookup per request; one
    with some, an HMAC per identifier of each item. A change made elsewhere (another process, the CLI) is
    seen within `ttl`."""

    def __init__(
        self, store: SuppressionSource, ttl: float = 5.0, monotonic: Callable[[], float] = time.monotonic
    ) -> None:
        self._store = store
        self.ttl = ttl
        self._monotonic = monotonic
        self._entries: dict[int, tuple[float, bytes | None, frozenset[str]]] = {}

    def forget(self, workspace_id: int | None = None) -> None:
        if workspace_id is None:
            self._entries.clear()
        else:
            self._entries.pop(workspace_id, None)

    async def _digests(self, workspace_id: int) -> tuple[bytes | None, frozenset[str]]:
        now = self._monotonic()
        entry = self._entries.get(workspace_id)
        if entry is None or now - entry[0] > self.ttl:
            secret, digests = await self._store.suppression_digests(workspace_id)
            entry = self._entries[workspace_id] = (now, secret, digests)
        return entry[1], entry[2]

    async def mark(self, request: WriteRequest) -> None:
        """Flag the items that name a suppressed identifier; the ingest quarantines them (`SUPPRESSED`)."""
        if not request.items:
            return
        secret, digests = await self._digests(request.workspace_id)
        if secret is None or not digests:
            return
        for item in request.items:
            if item.error is None and any(digest(secret, k) in digests for k in client_keys(item.client)):
                item.suppressed = True

    async def names_suppressed(self, workspace_id: int, client: ClientRef) -> bool:
        """Whether `client` names a suppressed identifier (the anonymous login's uuid, §15.1)."""
        secret, digests = await self._digests(workspace_id)
        if secret is None or not digests:
            return False
        return any(digest(secret, k) in digests for k in client_keys(client))


class LifecycleStore(Protocol):
    """The part of `tracktion.domain.ports.Store` the worker drives."""

    async def erasure_step(self, chunk_rows: int, now_ms: int) -> bool: ...
    async def retention_step(self, chunk_rows: int, now_ms: int, quarantine_retention_days: int) -> int: ...


class LifecycleWorker:
    """Runs the background deletions: erasures first (a person asked), then expired events and quarantine
    records. Each step is one transaction of at most `chunk_rows` rows, queued on the writer like any other
    job, so live writes wait for at most one chunk; its rows are sized so that it takes about `step_seconds`,
    and after it the loop rests (see `duty`) so the writer serves the requests that queued meanwhile.
    Everything it does is recorded in the store (erasure state and counts), so a restart simply resumes:
    nothing is kept in memory between steps.

    Several processes or nodes may run one each: their steps delete disjoint rows (a row deleted by one is
    not counted by the other), so they only share the work."""

    def __init__(
        self,
        store: LifecycleStore,
        clock_ms: Callable[[], int],
        *,
        quarantine_retention_days: int = 30,
        chunk_rows: int = CHUNK_ROWS,
        idle_seconds: float = 60.0,
        pause: float = 0.01,
        start_delay: float = 2.0,
        duty: float = 0.5,
        step_seconds: float = STEP_SECONDS,
    ) -> None:
        self.store = store
        self.clock_ms = clock_ms
        self.quarantine_retention_days = quarantine_retention_days
        self.chunk_rows = chunk_rows
        self.idle_seconds = idle_seconds
        self.pause = pause
        # The first step waits this long (unless woken): the process is still starting, and a test that
        # installs its own clock right after startup must not race a step run on the wall clock.
        self.start_delay = start_delay
        # The share of the time the deletion may hold the writer: after a step of t seconds it rests
        # t·(1 − duty)/duty (at least `pause`). On SQLite the steps commit through a writer of their own, and
        # the request writer waits for the file's lock meanwhile: back to back, the steps starved live writes.
        self.duty = duty
        # How long a background step should take (0: always `chunk_rows`). Live writes queue behind the step
        # being committed, so its length is what they may wait: the rows of the next step are scaled from the
        # last one's duration towards this (at most doubling, between MIN_STEP_ROWS and `chunk_rows`). A
        # 1,000-row chunk of events took ~50 ms on SQLite (most of it the commit of ~5 MB of WAL: each row
        # leaves a page of two indexes dirty) and raised live ingestion's p99 ×4.8; at 10 ms ×1.7-2.3, at 5 ms
        # ×1.24-1.35 (bench/results/2026-12-06-deletion.txt). The duration includes the waits for the writer,
        # so a busy writer also gets smaller steps.
        self.step_seconds = step_seconds
        self.step_rows = chunk_rows if step_seconds <= 0 else min(chunk_rows, 100)
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None

    def wake(self) -> None:
        """New work (an erasure, a retention change): start now instead of at the next idle tick."""
        self._wake.set()

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.get_running_loop().create_task(self._run(), name="tracktion-lifecycle")

    async def stop(self) -> None:
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task

    async def run_once(self, rows: int | None = None) -> bool:
        """One step of at most `rows` rows (default `chunk_rows`): True if it did work (and more may remain)."""
        rows = self.chunk_rows if rows is None else rows
        if await self.store.erasure_step(rows, self.clock_ms()):
            return True
        deleted = await self.store.retention_step(rows, self.clock_ms(), self.quarantine_retention_days)
        return deleted > 0

    async def run_until_idle(self) -> None:
        """Every step back to back, of `chunk_rows` each (tests, `tracktion erase`: nobody else is waiting)."""
        while await self.run_once():
            pass

    def next_rows(self, took: float) -> int:
        """The rows of the step after one of `step_rows` rows that took `took` seconds."""
        if self.step_seconds <= 0:
            return self.chunk_rows
        scaled = self.step_rows * self.step_seconds / max(took, 1e-6)
        return min(self.chunk_rows, max(MIN_STEP_ROWS, min(2 * self.step_rows, int(scaled))))

    async def _run(self) -> None:
        # `asyncio.timeout`, not `wait_for`: on Python 3.11 `wait_for` drops a cancellation that arrives as
        # the event is set, and `stop()` would then wait forever for a loop that goes on.
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(self.start_delay):
                await self._wake.wait()
        while True:
            started = time.monotonic()
            try:
                busy = await self.run_once(self.step_rows)
            except asyncio.CancelledError:
                raise
            except Exception:  # a failed step (store unavailable) is retried at the next tick
                log.exception("lifecycle step failed")
                busy = False
            if busy:
                took = time.monotonic() - started
                self.step_rows = self.next_rows(took)
                await asyncio.sleep(max(self.pause, took * (1 - self.duty) / self.duty))
                continue
            self._wake.clear()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self.idle_seconds):
                    await self._wake.wait()
