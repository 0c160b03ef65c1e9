"""A single writer thread with group commit, shared by the storage backends.

Requests queue up as jobs (a function run inside the write transaction). The thread takes whatever has
queued, runs each job in its own savepoint, commits once, and only then resolves the callers' futures: so
many concurrent requests share one fsync, and nobody is answered before their rows are durable. There is
no timer: the next commit starts as soon as the previous one ends (leader/follower), so latency tracks
the fsync instead of a window.

Two lanes: live requests, and bulk jobs (`tracktion import`, header `X-Tracktion-Lane: bulk`) in a queue of
their own. Pending live jobs always commit first, in a commit of their own; a bulk job is taken only when no
live job is waiting, and alone (at most `max_bulk_per_commit`), so a live request never queues behind an
import's backlog nor shares a commit with it: at worst it waits for the one bulk job being written.

A backend may report an error as a transient conflict with another writer (`Backend.retryable`, e.g. a
PostgreSQL deadlock between two nodes): the group is rolled back and its jobs run again one per
transaction, before anyone is answered.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import queue
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from tracktion.errors import InternalError, Overloaded, StorageUnavailable, TracktionError

log = logging.getLogger("tracktion.storage")
T = TypeVar("T")


@dataclass(slots=True)
class Job(Generic[T]):
    work: Callable[[Any], T]  # runs on the writer thread with the backend's transaction object
    future: asyncio.Future[T]
    loop: asyncio.AbstractEventLoop
    weight: int = 1  # roughly the number of rows, to bound one commit's size
    lane: str = "live"  # or "bulk": the lower-priority queue


class Backend:
    """What a backend provides to the writer: begin/savepoint/commit on its own connection."""

    def open(self) -> None: ...
    def prepare(self, works: list[Callable[[Any], Any]]) -> None:
        """Before `begin`: a look at the group's jobs (PostgreSQL prefetches their identities at once)."""

    def begin(self) -> Any: ...  # returns the transaction object passed to jobs
    def savepoint(self) -> None: ...
    def release(self) -> None: ...
    def rollback_savepoint(self) -> None: ...
    def commit(self) -> None: ...
    def rollback(self) -> None: ...
    def close(self) -> None: ...

    def is_fault(self, exc: Exception) -> bool:
        """A storage fault (I/O error, connection lost) fails the whole group (503), not just one job."""
        return _is_storage_fault(exc)

    def retryable(self, exc: Exception) -> bool:
        """A transient conflict with another writer (e.g. a PostgreSQL deadlock between two nodes): the
        group is rolled back and run again instead of failing."""
        return False


_STOP = object()
_WAKE = object()  # put in the live queue when a bulk job arrives, to wake a writer blocked on it
_GROUP_ATTEMPTS = 5  # runs of a one-job commit when the backend reports a transient conflict


class GroupCommitWriter:
    def __init__(
        self,
        backend: Backend,
        *,
        queue_size: int = 10_000,
        max_commit_weight: int = 20_000,
        max_commit_jobs: int | None = None,
        max_bulk_per_commit: int = 1,
        name: str = "tracktion-writer",
    ) -> None:
        self._backend = backend
        self._queue: queue.Queue[Any] = queue.Queue(maxsize=queue_size)
        self._bulk: queue.Queue[Job[Any]] = queue.Queue(maxsize=queue_size)
        self._max_bulk = max_bulk_per_commit
        self._max_weight = max_commit_weight
        self._max_jobs = max_commit_jobs or queue_size + 1
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._opened = threading.Event()
        self._open_error: BaseException | None = None
        self.healthy = True  # False after a failed commit, until one succeeds again
        self.commits = 0
        self.last_commit_seconds = 0.0
        self.last_commit_jobs = 0
        # Called on the writer thread after each successful commit (seconds, jobs): metrics.
        self.on_commit: Callable[[float, int], None] | None = None

    def start(self) -> None:
        self._thread.start()
        self._opened.wait()
        if self._open_error is not None:
            raise self._open_error

    def stop(self) -> None:
        if self._thread.is_alive():
            self._queue.put(_STOP)
            self._thread.join()

    @property
    def depth(self) -> int:
        return self._queue.qsize()

    @property
    def alive(self) -> bool:
        return self._thread.is_alive()

    async def submit(self, work: Callable[[Any], T], weight: int = 1, lane: str = "live") -> T:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        if not self._thread.is_alive():
            raise StorageUnavailable()
        try:
            if lane == "bulk":
                self._bulk.put_nowait(Job(work, future, loop, weight, "bulk"))
                with contextlib.suppress(queue.Full):  # a full live queue keeps the writer busy anyway
                    self._queue.put_nowait(_WAKE)
            else:
                self._queue.put_nowait(Job(work, future, loop, weight))
        except queue.Full:
            # Honest overload: refuse before anything is written rather than accept and drop.
            raise Overloaded() from None
        # No shield needed: the job is queued and commits whatever happens to this coroutine; a cancelled
        # future only means nobody is waiting for the answer (`_settle` skips it).
        return await future

    def _run(self) -> None:
        try:
            self._backend.open()
        except BaseException as exc:  # surfaced to start()
            self._open_error = exc
            self._opened.set()
            return
        self._opened.set()
        try:
            while True:
                first = self._next()
                if first is _STOP:
                    break
                jobs, stop = self._drain(first)
                if jobs:
                    self._commit(jobs)
                if stop:
                    break
            while not self._bulk.empty():  # bulk jobs accepted before the stop still commit
                self._commit([self._bulk.get_nowait()])
        finally:
            self._backend.close()

    def _next(self) -> Any:
        """The next live job, else the next bulk job, else wait for either (a bulk job's `_WAKE`)."""
        try:
            return self._queue.get_nowait()
        except queue.Empty:
            pass
        try:
            return self._bulk.get_nowait()
        except queue.Empty:
            return self._queue.get()

    def _drain(self, first: Any) -> tuple[list[Job[Any]], bool]:
        """Every pending live job (up to the commit bounds); if there is none, up to `max_bulk_per_commit`
        bulk jobs instead (`first` is a bulk job only when no live job was pending)."""
        if isinstance(first, Job) and first.lane == "bulk":
            jobs = [first]
            while len(jobs) < self._max_bulk and self._queue.empty():
                try:
                    jobs.append(self._bulk.get_nowait())
                except queue.Empty:
                    break
            return jobs, False
        jobs = []
        weight = 0
        item = first
        while True:
            if item is _STOP:
                return jobs, True
            if item is not _WAKE:
                jobs.append(item)
                weight += item.weight
            if weight >= self._max_weight or len(jobs) >= self._max_jobs:
                break
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                break
        return jobs, False

    def _commit(self, jobs: list[Job[Any]]) -> None:
        started = time.perf_counter()
        results, healthy = run_group(self._backend, [job.work for job in jobs])
        self.healthy = healthy
        if healthy:
            self.commits += 1
            self.last_commit_seconds = time.perf_counter() - started
            self.last_commit_jobs = len(jobs)
            if self.on_commit is not None:
                self.on_commit(self.last_commit_seconds, len(jobs))
        _resolve([(job, ok, value) for job, (ok, value) in zip(jobs, results, strict=True)])


Outcome = tuple[bool, Any]  # (True, the job's result) or (False, the TracktionError to answer)


def run_group(backend: Backend, works: list[Callable[[Any], Any]]) -> tuple[list[Outcome], bool]:
    """Run jobs in one transaction, each in its own savepoint, and commit once. Returns each job's outcome
    and whether the storage is healthy (False: the commit failed and nothing of the group is stored). Also
    the core of the SQLite writer process (`sqlite_writer_process`), which has no threads or futures."""
    attempt = 0
    while True:
        results: list[Outcome] = []
        try:
            backend.prepare(works)
            tx = backend.begin()
            for work in works:
                backend.savepoint()
                try:
                    results.append((True, work(tx)))
                    backend.release()
                except TracktionError as exc:
                    backend.rollback_savepoint()
                    results.append((False, exc))
                except Exception as exc:
                    if backend.is_fault(exc) or backend.retryable(exc):
                        raise
                    log.exception("write job failed")
                    backend.rollback_savepoint()
                    results.append((False, InternalError()))
            backend.commit()
        except Exception as exc:
            try:
                backend.rollback()
            except Exception:
                log.exception("rollback after failed commit failed")
            attempt += 1
            if backend.retryable(exc) and len(works) > 1:
                # Nothing was answered yet and jobs are pure functions of the transaction: run them
                # again, each in its own short transaction, so the same pile-up cannot recur.
                log.warning("commit conflict, re-running %d jobs one by one: %s", len(works), exc)
                rerun: list[Outcome] = []
                healthy = True
                for work in works:
                    one, ok = run_group(backend, [work])
                    rerun.extend(one)
                    healthy = healthy and ok
                return rerun, healthy
            if backend.retryable(exc) and attempt < _GROUP_ATTEMPTS:
                log.warning("commit conflict, retrying: %s", exc)
                time.sleep(random.uniform(0.005, 0.02) * attempt)  # so the two sides do not meet again
                continue
            # Disk full, I/O error, database gone: nothing of this group is stored; say so honestly.
            log.error("commit failed: %s", exc)
            return [(False, StorageUnavailable()) for _ in works], False
        return results, True


def _is_storage_fault(exc: Exception) -> bool:
    # Backends raise their driver's OperationalError for I/O faults; treat those as commit failures
    # (503, retry) rather than as a bug in one job (500).
    return type(exc).__name__ in {"OperationalError", "DiskFull", "AdminShutdown", "InterfaceError"}


def _resolve(outcomes: list[tuple[Job[Any], bool, Any]]) -> None:
    """Answer a whole commit group with one wake-up per event loop (not one per job): each
    `call_soon_threadsafe` writes to the loop's self-pipe, and a commit can hold hundreds of jobs."""
    by_loop: dict[asyncio.AbstractEventLoop, list[tuple[Job[Any], bool, Any]]] = {}
    for outcome in outcomes:
        by_loop.setdefault(outcome[0].loop, []).append(outcome)
    for loop, group in by_loop.items():
        # A closed loop (shutdown) means nobody is waiting any more.
        with contextlib.suppress(RuntimeError):
            loop.call_soon_threadsafe(_settle, group)


def _settle(group: list[tuple[Job[Any], bool, Any]]) -> None:
    for job, ok, value in group:
        if job.future.done():
            continue
        if ok:
            job.future.set_result(value)
        else:
            job.future.set_exception(value)
