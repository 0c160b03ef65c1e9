"""A single writer thread with group commit, shared by the storage backends.

Requests queue up as jobs (a function run inside the write transaction). The thread takes whatever has
queued, runs each job in its own savepoint, commits once, and only then resolves the callers' futures: so
many concurrent requests share one fsync, and nobody is answered before their rows are durable. There is
no timer: the next commit starts as soon as the previous one ends (leader/follower), so latency tracks
the fsync instead of a window.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import queue
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


class Backend:
    """What a backend provides to the writer: begin/savepoint/commit on its own connection."""

    def open(self) -> None: ...
    def begin(self) -> Any: ...  # returns the transaction object passed to jobs
    def savepoint(self) -> None: ...
    def release(self) -> None: ...
    def rollback_savepoint(self) -> None: ...
    def commit(self) -> None: ...
    def rollback(self) -> None: ...
    def close(self) -> None: ...


_STOP = object()


class GroupCommitWriter:
    def __init__(
        self,
        backend: Backend,
        *,
        queue_size: int = 10_000,
        max_commit_weight: int = 20_000,
        name: str = "tracktion-writer",
    ) -> None:
        self._backend = backend
        self._queue: queue.Queue[Any] = queue.Queue(maxsize=queue_size)
        self._max_weight = max_commit_weight
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._opened = threading.Event()
        self._open_error: BaseException | None = None
        self.healthy = True  # False after a failed commit, until one succeeds again
        self.commits = 0
        self.last_commit_seconds = 0.0
        self.last_commit_jobs = 0

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

    async def submit(self, work: Callable[[Any], T], weight: int = 1) -> T:
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        if not self._thread.is_alive():
            raise StorageUnavailable()
        try:
            self._queue.put_nowait(Job(work, future, loop, weight))
        except queue.Full:
            # Honest overload: refuse before anything is written rather than accept and drop.
            raise Overloaded() from None
        # Shield: if the client goes away the job still commits; the result is just not awaited.
        return await asyncio.shield(future)

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
                first = self._queue.get()
                if first is _STOP:
                    break
                jobs, stop = self._drain(first)
                self._commit(jobs)
                if stop:
                    break
        finally:
            self._backend.close()

    def _drain(self, first: Job[Any]) -> tuple[list[Job[Any]], bool]:
        jobs = [first]
        weight = first.weight
        while weight < self._max_weight:
            try:
                job = self._queue.get_nowait()
            except queue.Empty:
                break
            if job is _STOP:
                return jobs, True
            jobs.append(job)
            weight += job.weight
        return jobs, False

    def _commit(self, jobs: list[Job[Any]]) -> None:
        started = time.perf_counter()
        results: list[tuple[bool, Any]] = []
        backend = self._backend
        try:
            tx = backend.begin()
            for job in jobs:
                backend.savepoint()
                try:
                    results.append((True, job.work(tx)))
                    backend.release()
                except TracktionError as exc:
                    backend.rollback_savepoint()
                    results.append((False, exc))
                except Exception as exc:
                    if _is_storage_fault(exc):
                        raise
                    log.exception("write job failed")
                    backend.rollback_savepoint()
                    results.append((False, InternalError()))
            backend.commit()
        except Exception as exc:
            # Disk full, I/O error, database gone: nothing of this group is stored; say so honestly.
            log.error("commit failed: %s", exc)
            try:
                backend.rollback()
            except Exception:
                log.exception("rollback after failed commit failed")
            self.healthy = False
            for job in jobs:
                _resolve(job, False, StorageUnavailable())
            return
        self.healthy = True
        self.commits += 1
        self.last_commit_seconds = time.perf_counter() - started
        self.last_commit_jobs = len(jobs)
        for job, (ok, value) in zip(jobs, results, strict=True):
            _resolve(job, ok, value)


def _is_storage_fault(exc: Exception) -> bool:
    # Backends raise their driver's OperationalError for I/O faults; treat those as commit failures
    # (503, retry) rather than as a bug in one job (500).
    return type(exc).__name__ in {"OperationalError", "DiskFull", "AdminShutdown", "InterfaceError"}


def _resolve(job: Job[Any], ok: bool, value: Any) -> None:
    def settle() -> None:
        if job.future.done():
            return
        if ok:
            job.future.set_result(value)
        else:
            job.future.set_exception(value)

    # A closed loop (shutdown) means nobody is waiting any more.
    with contextlib.suppress(RuntimeError):
        job.loop.call_soon_threadsafe(settle)
