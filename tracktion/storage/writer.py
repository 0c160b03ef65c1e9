"""A single writer thread with group commit, shared by the storage backends.

Requests queue up as jobs (a function run inside the write transaction). The thread takes whatever has
queued, runs each job in its own savepoint, commits once, and only then resolves the callers' futures: so
many concurrent requests share one fsync, and nobody is answered before their rows are durable. There is
no timer: the next commit starts as soon as the previous one ends (leader/follower), so latency tracks
the fsync instead of a window.

Two lanes: live requests, and bulk jobs (`tracktion import`, header `X-Tracktion-Lane: bulk`) in a queue of
their own; `lanes.Lanes` decides which jobs each commit takes (every pending live job, else a bulk job
alone), the same policy as the SQLite writer process's.

A backend may report an error as a transient conflict with another writer (`Backend.retryable`, e.g. a
PostgreSQL deadlock between two nodes): the group is rolled back and its jobs run again one per
transaction, before anyone is answered.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, Protocol, TypeVar

from tracktion.errors import InternalError, Overloaded, StorageUnavailable, TracktionError
from tracktion.storage.lanes import Lanes

log = logging.getLogger("tracktion.storage")
T = TypeVar("T")


@dataclass(slots=True)
class Job(Generic[T]):
    work: Callable[[Any], T]  # runs on the writer thread with the backend's transaction object
    future: asyncio.Future[T]
    loop: asyncio.AbstractEventLoop
    weight: int = 1  # roughly the number of rows, to bound one commit's size


def _job_weight(job: Job[Any]) -> int:
    return job.weight


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


class JobScoped(Protocol):
    """A transaction object that scopes writer jobs itself (`LazySavepoints`)."""

    def start_job(self) -> None: ...
    def release_job(self) -> None: ...
    def discard_job(self) -> None: ...


class LazySavepoints(Backend):
    """For a backend whose transaction object (`tx`, set by `begin`) opens each job's savepoint itself, at the
    job's first statement that needs one: most jobs (events of known profiles) need none, and a savepoint
    costs a statement. The writer's savepoint calls then only tell the transaction where jobs begin and end.
    """

    tx: JobScoped | None = None

    def savepoint(self) -> None:
        assert self.tx is not None
        self.tx.start_job()

    def release(self) -> None:
        assert self.tx is not None
        self.tx.release_job()

    def rollback_savepoint(self) -> None:
        assert self.tx is not None
        self.tx.discard_job()


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
        self._queue_size = queue_size  # per lane; 0 = unbounded
        self._lanes: Lanes[Job[Any]] = Lanes(
            _job_weight,
            max_weight=max_commit_weight,
            max_jobs=max_commit_jobs,
            max_bulk=max_bulk_per_commit,
        )
        # Guards the lanes and `_stopping`; the writer thread waits on it for work.
        self._work = threading.Condition(threading.Lock())
        self._stopping = False
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
        """Commit every job accepted so far (live ones first, as always), then close the backend."""
        if self._thread.is_alive():
            with self._work:
                self._stopping = True
                self._work.notify()
            self._thread.join()

    @property
    def depth(self) -> int:
        return len(self._lanes.live)

    @property
    def alive(self) -> bool:
        return self._thread.is_alive()

    async def submit(self, work: Callable[[Any], T], weight: int = 1, lane: str = "live") -> T:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        if not self._thread.is_alive():
            raise StorageUnavailable()
        with self._work:
            if self._stopping:
                raise StorageUnavailable()  # the writer is closing: nothing new would be written
            waiting = self._lanes.queue(lane)
            if 0 < self._queue_size <= len(waiting):
                # Honest overload: refuse before anything is written rather than accept and drop.
                raise Overloaded()
            waiting.append(Job(work, future, loop, weight))
            self._work.notify()
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
                with self._work:
                    while not self._lanes.pending() and not self._stopping:
                        self._work.wait()
                    jobs = self._lanes.take()
                if not jobs:  # stopping, and every accepted job is committed
                    break
                self._commit(jobs)
        finally:
            self._backend.close()

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
