"""The embedded SQLite backend: WAL, `synchronous=FULL`, one writer thread with group commit, reads on a
small pool of read-only connections. The reads and admin statements are `sql_store.SQLStore`'s, in this
module's `Dialect`; the file's connection settings, migrations and writer backend are `sqlite_backend`."""

from __future__ import annotations

import asyncio
import logging
import os
import sqlite3
import threading
import time
import uuid as uuidlib
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

import msgspec

from tracktion.domain.event_ids import uuid_text
from tracktion.domain.models import Profile, WriteRequest, WriteResult
from tracktion.domain.ports import EventQuery, TimelineEvent, WriteTx
from tracktion.errors import TracktionError
from tracktion.storage.counters import SQLITE_RECEIVED_MINUTE, PendingCounts
from tracktion.storage.dialect import Dialect, as_is
from tracktion.storage.event_params import SQLITE_ORIGIN_COLS, full_params_json
from tracktion.storage.filters import event_page
from tracktion.storage.sql_store import SQLStore
from tracktion.storage.sqlite_backend import SQLiteBackend, connect
from tracktion.storage.sqlite_checkpoint import Checkpointer
from tracktion.storage.sqlite_tx import SQLiteTx, apply_request, decode_json, text_read
from tracktion.storage.sqlite_writer_process import WriterProcess
from tracktion.storage.writer import GroupCommitWriter

T = TypeVar("T")
log = logging.getLogger("tracktion.storage")
_decode = msgspec.json.decode
_READY_MIN_FREE = 1_048_576  # free bytes below which a store whose last commit failed is not ready


def _in_list(column: str, values: Sequence[Any], sql_type: str) -> tuple[str, list[Any]]:
    return f"{column} IN ({','.join('?' * len(values))})", list(values)


def _text_list_param(values: list[str]) -> str:
    return msgspec.json.encode(values).decode()


# SQLite stores event uuids as 16 bytes, profile uuids as their lower-case text, JSON and string lists as
# JSON text, and free text and param names as TEXT, or as BLOBs where they hold lone surrogates (`text_value`).
_DIALECT = Dialect(
    mark="?",
    one_of=_in_list,
    action_prefix="substr(action, 1, ?)",
    as_text=as_is,
    seq_walk_workspace="+e.workspace_id",
    origin_cols=SQLITE_ORIGIN_COLS,
    received_minute=SQLITE_RECEIVED_MINUTE,
    bytewise="",  # BINARY, SQLite's default collation, is bytewise
    event_uuid=lambda text: uuidlib.UUID(text).bytes,
    event_uuid_text=uuid_text,
    profile_uuid=str.lower,
    json=decode_json,
    free_text=text_read,
    param_name=text_read,
    text_list=_decode,
    text_list_param=_text_list_param,
    seq_walk=lambda column: f"+{column}",
)


class SQLiteStore(SQLStore[SQLiteTx]):
    """`tracktion.domain.ports.Store` on one SQLite file; the reads and admin writes are `SQLStore`'s."""

    def __init__(
        self,
        path: Path,
        *,
        queue_size: int = 10_000,
        read_threads: int = 2,
        quarantine_max_rows: int = 0,
        writer_process: bool = False,
    ) -> None:
        super().__init__(_DIALECT)
        self.path = Path(path)
        self.quarantine_max_rows = quarantine_max_rows  # per workspace; 0 = unlimited
        self._writer = GroupCommitWriter(SQLiteBackend(self.path), queue_size=queue_size)
        # HTTP writes in a process of their own (see sqlite_writer_process); other writes stay on the thread.
        self._process = (
            WriterProcess(self.path, queue_size=queue_size, quarantine_max_rows=quarantine_max_rows)
            if writer_process
            else None
        )
        self._checkpointer = Checkpointer(lambda: connect(self.path))
        self._read_pool = ThreadPoolExecutor(max_workers=read_threads, thread_name_prefix="tracktion-read")
        self._local = threading.local()
        self._read_conns: list[sqlite3.Connection] = []
        self._lock = threading.Lock()

    @property
    def writer(self) -> GroupCommitWriter | WriterProcess:
        """The writer of HTTP writes (its commits are the ones the metrics count)."""
        return self._process or self._writer

    async def start(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        # The thread's writer opens first: it applies the migrations before the process opens the file.
        await asyncio.get_running_loop().run_in_executor(None, self._writer.start)
        self._checkpointer.start()
        if self._process is not None:
            await self._process.start()

    async def close(self) -> None:
        if self._process is not None:
            await self._process.stop()
        await asyncio.get_running_loop().run_in_executor(None, self._writer.stop)
        await asyncio.get_running_loop().run_in_executor(None, self._checkpointer.stop)
        self._read_pool.shutdown(wait=True)
        with self._lock:
            for conn in self._read_conns:
                conn.close()
            self._read_conns.clear()

    async def ready(self) -> bool:
        process = self._process
        if not self._writer.alive or (process is not None and not process.alive):
            return False
        # A nearly full disk is not ready even when the last commit succeeded: on a full filesystem a small
        # commit can still fit in a WAL page already allocated, so "the last commit worked" flips back and
        # forth while most writes fail. One statvfs per readiness poll; never on the write path.
        disk = os.statvfs(self.path.parent)
        if disk.f_bavail * disk.f_frsize < _READY_MIN_FREE:
            return False
        if self._writer.healthy and (process is None or process.healthy):
            return True
        # The last commit failed (disk full, I/O error). Once the disk has room and a commit succeeds, the
        # store accepts writes again: check, or a load balancer routing by readiness would never send the
        # write that proves it.
        try:
            await self._unit(_probe_commit)
        except TracktionError:
            return False
        return self._writer.healthy

    # -- what SQLStore builds on -----------------------------------------------------------------
    def _conn(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = connect(self.path)
            conn.execute("PRAGMA query_only = 1")
            self._local.conn = conn
            with self._lock:
                self._read_conns.append(conn)
        return conn

    async def _read(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        def run() -> list[tuple[Any, ...]]:
            return self._conn().execute(sql, params).fetchall()

        return await asyncio.get_running_loop().run_in_executor(self._read_pool, run)

    async def _unit(self, work: Callable[[SQLiteTx], T]) -> T:
        """A writer job other than a request's: it may write directly through the connection and fail half
        way, so its savepoint is opened before it runs."""

        def run(tx: SQLiteTx) -> T:
            tx.savepoint()
            return work(tx)

        return await self._writer.submit(run)

    def _execute(self, tx: SQLiteTx, sql: str, params: Sequence[Any] | None = None) -> sqlite3.Cursor:
        return tx.conn.execute(sql, () if params is None else params)

    def _insert_id(self, tx: SQLiteTx, sql: str, params: Sequence[Any]) -> int:
        rowid = self._execute(tx, sql, params).lastrowid
        assert rowid is not None
        return rowid

    def _lock_first_workspace(self, tx: SQLiteTx) -> None:
        """Nothing to take: the write transaction is BEGIN IMMEDIATE under the writer lock, which already
        serialises every process on this file."""

    # -- data lifecycle hooks (see lifecycle_sql) ---------------------------------------------------
    def _secure_delete(self, tx: SQLiteTx) -> None:
        # Deleted cells and freed pages are overwritten with zeros on this (the thread writer's) connection,
        # so erased rows leave nothing in the file's free space. Settable inside a transaction; it stays on
        # for the connection (its other deletions are admin ones: quarantine records, keys).
        tx.conn.execute("PRAGMA secure_delete = ON")

    def _counts(self, tx: SQLiteTx) -> PendingCounts:
        return tx.counts

    def _forget_identities(self, tx: SQLiteTx) -> None:
        tx.forget_identities()

    async def _after_erasure(self) -> None:
        """The WAL still holds the pages as they were before the deletion until it is checkpointed and
        truncated: do it now (TRUNCATE), on a connection of its own with a short busy timeout so that it
        never stalls the writer; if readers keep it busy, the next erasure (or the periodic PASSIVE
        checkpoint, which overwrites the WAL from its start) gets there."""

        def run() -> None:
            conn = connect(self.path)
            try:
                conn.execute("PRAGMA busy_timeout = 200")
                # Busy while the periodic PASSIVE checkpoint copies a large WAL, or a reader holds an old
                # snapshot: wait between tries (writers go on meanwhile), for up to about 20 s.
                for _ in range(50):
                    if conn.execute("PRAGMA wal_checkpoint(TRUNCATE)").fetchone()[0] == 0:
                        return
                    time.sleep(0.2)
                log.warning("erasure: WAL not truncated (busy); the next checkpoints overwrite it")
            except sqlite3.Error as exc:
                log.warning("erasure: WAL checkpoint failed: %s", exc)
            finally:
                conn.close()

        await asyncio.get_running_loop().run_in_executor(None, run)

    async def _definition_params(self, workspace_id: int, actions: list[str]) -> list[tuple[Any, ...]]:
        # All of the workspace's params, those of actions not asked for skipped in Python.
        return await self._read(
            "SELECT action, name, types, first_seen_ms, last_seen_ms FROM definition_params WHERE workspace_id = ?"
            " ORDER BY action, CAST(name AS BLOB)",  # names with lone surrogates are BLOBs (`text_value`)
            (workspace_id,),
        )

    # -- writes ----------------------------------------------------------------------------------
    async def write(self, request: WriteRequest) -> WriteResult:
        if self._process is not None:
            return await self._process.submit(request, max(1, len(request.items)), request.lane)
        return await self._writer.submit(
            lambda tx: apply_request(tx, request, self.quarantine_max_rows),
            weight=max(1, len(request.items)),
            lane=request.lane,
        )

    async def transact(self, work: Callable[[WriteTx], T]) -> T:
        """Run domain code (written against `WriteTx`) as its own unit of work in the writer."""
        return await self._unit(work)

    # -- the one read of SQLite's own ------------------------------------------------------------
    async def profile_events(self, query: EventQuery) -> tuple[Profile, list[TimelineEvent]] | None:
        assert query.client_ids is not None and len(query.client_ids) == 1
        page, params = event_page(await self.visible(query), _DIALECT)
        # No join: every event has the profile's customId and email, read once by the first statement. Plan
        # (EXPLAIN QUERY PLAN): SEARCH e USING INDEX events_by_client (workspace_id=? AND client_id=? AND
        # time_ms<?), no temp B-tree: the index is walked newest first and the scan stops at the limit.
        sql = (
            f"SELECT e.uuid, e.time_ms, e.action, e.label, e.params, {SQLITE_ORIGIN_COLS} FROM events e{page}"
        )
        key = (query.workspace_id, query.client_ids[0])

        def run() -> tuple[Profile, list[TimelineEvent]] | None:
            # Both statements in one trip to the read pool; each row is converted here, off the event loop.
            conn = self._conn()
            found = conn.execute(self._profile_by_id, key).fetchone()
            if found is None:
                return None
            rows = conn.execute(sql, params).fetchall()
            profile = Profile(*found)
            ws, cid, primary = profile.workspace_id, profile.client_id, profile.primary_uuid
            events: list[TimelineEvent] = []
            for r in rows:
                uuid, t = uuid_text(r[0]), r[1]
                events.append(
                    (uuid, t, r[2], text_read(r[3]), full_params_json(r[4], uuid, t, cid, ws, primary, r[5:]))
                )
            return profile, events

        return await asyncio.get_running_loop().run_in_executor(self._read_pool, run)


def _probe_commit(tx: SQLiteTx) -> None:
    """A commit that writes a page (a WAL frame and its fsync) and changes no value: readiness's test."""
    tx.conn.execute("UPDATE tracktion_migrations SET applied_ms = applied_ms + 1")
    tx.conn.execute("UPDATE tracktion_migrations SET applied_ms = applied_ms - 1")
