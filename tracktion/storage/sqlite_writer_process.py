"""SQLite's writer in a process of its own: what `tracktion serve` runs (`TRACKTION_SQLITE_WRITER=process`).

Why a process: in one process the event loop and the writer thread share one GIL. The writer releases it
around every SQLite call (BEGIN, the INSERT, COMMIT's fsync) and must win it back from a busy event loop
each time; measured on 2 cores, a 16-request commit spent ~1.5 ms of its ~2.7 ms waiting for the GIL and
the server never used more than one core. Here the writer has its own interpreter: request handling and
writing run in parallel, and nothing else changes — same group commit (`writer.run_group`), same
transaction code (`apply_request` on a `SQLiteBackend`), answers only after COMMIT.

Wire: a Unix socket pair, frames of a 4-byte length and a message encoded by `writer_wire` (both ends are
this package, same version; the socket is private to the two processes).
  parent → child  (request id, lane, weight, WriteRequest)
  child → parent  ("ready",) or ("failed", message) once at start; then one ("done", [(request id, ok,
                  WriteResult | TracktionError), …], healthy, seconds) per commit group.
The child exits when the socket reaches end of file (the parent closed it or died, e.g. SIGKILL) after
the group in hand; it ignores SIGINT/SIGTERM so a Ctrl-C or a service stop never cuts a commit short.
Only `Store.write` (every HTTP write) goes there; the rare other writes (logins, admin, keys) stay on the
parent's writer thread and take turns with the child through the writer lock, as `--workers N` do.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
import pickle
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from tracktion.domain.models import WriteRequest, WriteResult
from tracktion.errors import InternalError, Overloaded, StorageUnavailable
from tracktion.storage import writer_wire
from tracktion.storage.lanes import BULK, LIVE, Lanes, lane_of
from tracktion.storage.sqlite_backend import SQLiteBackend
from tracktion.storage.sqlite_tx import apply_request
from tracktion.storage.writer import run_group

log = logging.getLogger("tracktion.storage")
_HEADER = 4
_SOCKET_BUFFER = 4 << 20  # a few 1000-item batches in flight without blocking either side
_MAX_COMMIT_WEIGHT = 20_000  # as GroupCommitWriter: bounds one commit's rows
_RESPAWN_INTERVAL = 1.0  # seconds between attempts to restart a writer process that died
_START_TIMEOUT = 60.0


def _frame(obj: Any) -> bytes:
    data = writer_wire.encode(obj)
    return len(data).to_bytes(_HEADER, "big") + data


def _frames(buf: bytearray) -> list[Any]:
    """Complete frames at the start of `buf` (removed from it); a partial one stays."""
    out = []
    pos = 0
    while len(buf) - pos >= _HEADER:
        size = int.from_bytes(buf[pos : pos + _HEADER], "big")
        if len(buf) - pos - _HEADER < size:
            break
        out.append(writer_wire.decode(buf[pos + _HEADER : pos + _HEADER + size]))
        pos += _HEADER + size
    del buf[:pos]
    return out


# -- the parent's side --------------------------------------------------------------------------------
class WriterProcess:
    """Runs `tracktion.storage.sqlite_writer_process` on `path` and sends it write requests.

    Same surface as `GroupCommitWriter` where the app uses it (`depth`, `alive`, `healthy`, `commits`,
    `on_commit`); overload is decided here: more than `queue_size` requests in flight (per lane) → 503."""

    def __init__(self, path: Path, *, queue_size: int = 10_000, quarantine_max_rows: int = 0) -> None:
        self.path = Path(path)
        self.queue_size = queue_size
        self.quarantine_max_rows = quarantine_max_rows
        self.healthy = True
        self.commits = 0
        self.on_commit: Callable[[float, int], None] | None = None
        self._proc: subprocess.Popen[bytes] | None = None
        self._transport: asyncio.Transport | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._pending: dict[int, tuple[asyncio.Future[WriteResult], str]] = {}
        self._in_flight = {LIVE: 0, BULK: 0}
        self._next_id = 0
        self._outbox: list[bytes] = []
        self._stopping = False
        self._last_spawn = 0.0
        self._respawn: asyncio.Task[None] | None = None

    @property
    def depth(self) -> int:
        return len(self._pending)

    @property
    def alive(self) -> bool:
        # No waitpid per request: the process's death closes the socket, which clears the transport.
        return self._transport is not None and self._proc is not None and self._proc.returncode is None

    @property
    def pid(self) -> int | None:
        return self._proc.pid if self._proc is not None else None

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        self._last_spawn = time.monotonic()
        parent, child = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
        for s in (parent, child):
            s.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, _SOCKET_BUFFER)
            s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, _SOCKET_BUFFER)
        try:
            argv = [sys.executable, "-m", __name__, str(child.fileno()), str(self.path)]
            argv.append(str(self.quarantine_max_rows))
            self._proc = subprocess.Popen(
                argv, pass_fds=(child.fileno(),), stdin=subprocess.DEVNULL, start_new_session=True
            )
        finally:
            child.close()
        try:
            first = await loop.run_in_executor(None, _read_one, parent, _START_TIMEOUT)
            if first != ("ready",):
                raise RuntimeError(f"the SQLite writer process did not start: {first!r}")
        except BaseException:
            parent.close()
            self._kill()
            raise
        parent.setblocking(False)
        self._transport, _ = await loop.create_unix_connection(lambda: _Replies(self), sock=parent)
        self._loop = loop

    async def stop(self) -> None:
        self._stopping = True
        if self._respawn is not None:
            self._respawn.cancel()
        self._flush()
        transport, self._transport = self._transport, None
        if transport is not None and not transport.is_closing():
            # End of file: the child commits what it has, answers it, and exits.
            with contextlib.suppress(OSError, RuntimeError):
                transport.write_eof()
        proc = self._proc
        if proc is not None:
            try:
                await asyncio.get_running_loop().run_in_executor(None, proc.wait, _START_TIMEOUT)
            except subprocess.TimeoutExpired:
                log.error("the SQLite writer process did not exit; killing it")
                self._kill()
        if transport is not None:
            transport.close()
        self._fail_pending()

    async def submit(self, request: WriteRequest, weight: int = 1, lane: str = "live") -> WriteResult:
        if not self.alive:
            self._schedule_respawn()
            raise StorageUnavailable()
        lane = lane_of(lane)
        if self._in_flight[lane] >= self.queue_size:
            raise Overloaded()  # honest overload: nothing was sent, nothing will be stored
        assert self._transport is not None
        self._next_id += 1
        rid = self._next_id
        # The loop `start` ran in: `asyncio.get_running_loop()` costs a getpid() syscall per call (issue 23).
        loop = self._loop
        assert loop is not None
        future: asyncio.Future[WriteResult] = loop.create_future()
        # One socket write per loop iteration for all the requests it produced, not one syscall each.
        if not self._outbox:
            loop.call_soon(self._flush)
        self._outbox.append(_frame((rid, lane, weight, request)))
        self._pending[rid] = (future, lane)
        self._in_flight[lane] += 1
        return await future

    def _flush(self) -> None:
        frames, self._outbox = self._outbox, []
        if self._transport is not None:
            self._transport.write(b"".join(frames))

    # -- replies, death, restart --
    def _on_frame(self, frame: Any) -> None:
        if frame[0] != "done":
            return
        _, outcomes, healthy, seconds = frame
        self.healthy = healthy
        if healthy:
            self.commits += 1
            if self.on_commit is not None:
                self.on_commit(seconds, len(outcomes))
        for rid, ok, value in outcomes:
            entry = self._pending.pop(rid, None)
            if entry is None:
                continue
            future, lane = entry
            self._in_flight[lane] -= 1
            if future.done():  # the caller went away; the write stands
                continue
            if ok:
                future.set_result(value)
            else:
                future.set_exception(value)

    def _on_lost(self) -> None:
        self._transport = None
        self._fail_pending()
        if not self._stopping:
            log.error("the SQLite writer process exited; writes answer 503 until it is restarted")
            self._kill()
            self._schedule_respawn()

    def _fail_pending(self) -> None:
        # Nobody can tell whether these committed: answer 503 (a retry may store a duplicate, never a loss).
        # Frames not yet written must never reach a new writer process: their callers were answered 503.
        self._outbox = []
        pending, self._pending = self._pending, {}
        self._in_flight = {LIVE: 0, BULK: 0}
        for future, _ in pending.values():
            if not future.done():
                future.set_exception(StorageUnavailable())

    def _schedule_respawn(self) -> None:
        if self._stopping or (self._respawn is not None and not self._respawn.done()):
            return
        self._respawn = asyncio.get_running_loop().create_task(self._respawn_later())

    async def _respawn_later(self) -> None:
        await asyncio.sleep(max(0.0, self._last_spawn + _RESPAWN_INTERVAL - time.monotonic()))
        if self._stopping or self.alive:
            return
        self._kill()
        try:
            await self.start()
            log.warning("the SQLite writer process was restarted (pid %s)", self.pid)
        except Exception as exc:
            log.error("restarting the SQLite writer process failed: %s", exc)

    def _kill(self) -> None:
        proc = self._proc
        if proc is not None and proc.poll() is None:
            proc.kill()
            proc.wait()


class _Replies(asyncio.Protocol):
    def __init__(self, owner: WriterProcess) -> None:
        self.owner = owner
        self.buf = bytearray()

    def data_received(self, data: bytes) -> None:
        self.buf += data
        for frame in _frames(self.buf):
            self.owner._on_frame(frame)

    def eof_received(self) -> bool | None:
        return None  # close our side too: `connection_lost` follows

    def connection_lost(self, exc: Exception | None) -> None:
        self.owner._on_lost()


def _read_one(sock: socket.socket, timeout: float) -> Any:
    sock.settimeout(timeout)
    buf = bytearray()
    while True:
        data = sock.recv(65536)
        if not data:
            return ("failed", "exited during start-up")
        buf += data
        frames = _frames(buf)
        if frames:
            return frames[0]


# -- the child ----------------------------------------------------------------------------------------
class _Requests(Lanes[tuple[int, int, WriteRequest]]):
    """Frames from the parent, (request id, weight, request) queued by lane: `Lanes.take` picks each
    commit's requests as the writer thread's lanes do."""

    def __init__(self, sock: socket.socket) -> None:
        super().__init__(_request_weight, max_weight=_MAX_COMMIT_WEIGHT)
        self.sock = sock
        self.buf = bytearray()
        self.eof = False

    def read(self, block: bool) -> None:
        """Everything the parent has sent so far; waits for something first when `block`."""
        self.sock.setblocking(block)
        while not self.eof:
            try:
                data = self.sock.recv(1 << 20)
            except BlockingIOError:
                break
            if not data:
                self.eof = True
                break
            self.buf += data
            self.sock.setblocking(False)
        for rid, lane, weight, request in _frames(self.buf):
            self.put(lane, (rid, weight, request))


def _request_weight(item: tuple[int, int, WriteRequest]) -> int:
    return item[1]


def _child(fd: int, path: Path, quarantine_max_rows: int) -> int:
    sock = socket.socket(fileno=fd)
    backend = SQLiteBackend(path)
    try:
        backend.open()
    except Exception as exc:
        with contextlib.suppress(OSError):
            sock.sendall(_frame(("failed", f"{type(exc).__name__}: {exc}")))
        return 1
    gc.freeze()  # start-up's objects stay for the process's life: the collector's full passes skip them
    sock.sendall(_frame(("ready",)))
    requests = _Requests(sock)
    try:
        while True:
            requests.read(block=not requests.pending())
            group = requests.take()
            if not group:
                if requests.eof:
                    return 0
                continue
            started = time.perf_counter()
            works = [_job(apply_request, request, quarantine_max_rows) for _, _, request in group]
            results, healthy = run_group(backend, works)
            outcomes = [(rid, ok, value) for (rid, _, _), (ok, value) in zip(group, results, strict=True)]
            try:
                try:
                    frame = _frame(("done", outcomes, healthy, time.perf_counter() - started))
                except (pickle.PicklingError, TypeError, AttributeError):
                    log.exception("a write result could not be sent back")
                    frame = _frame(("done", _picklable(outcomes), healthy, 0.0))
                sock.sendall(frame)
            except OSError:
                return 0  # the parent is gone; what committed is durable, nobody is waiting
    finally:
        backend.close()


def _job(apply: Callable[..., Any], request: WriteRequest, quarantine_max_rows: int) -> Callable[[Any], Any]:
    return lambda tx: apply(tx, request, quarantine_max_rows)


def _picklable(outcomes: list[tuple[int, bool, Any]]) -> list[tuple[int, bool, Any]]:
    out = []
    for rid, ok, value in outcomes:
        try:
            pickle.dumps(value)
            out.append((rid, ok, value))
        except Exception:
            out.append((rid, False, InternalError()))
    return out


def main(argv: list[str]) -> int:
    # Ctrl-C reaches the whole foreground process group and a service stop may signal every process: the
    # child finishes its group and leaves when the parent closes the socket, never half-way.
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    logging.basicConfig(level=logging.WARNING, format="tracktion writer process: %(levelname)s %(message)s")
    fd, path, quarantine_max_rows = int(argv[0]), Path(argv[1]), int(argv[2])
    return _child(fd, path, quarantine_max_rows)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
