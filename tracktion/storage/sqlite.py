"""The embedded SQLite backend: WAL, `synchronous=FULL`, one writer thread with group commit, reads on a
small pool of read-only connections."""

from __future__ import annotations

import asyncio
import os
import sqlite3
import threading
import uuid as uuidlib
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, TypeVar

import msgspec

from tracktion.domain.definitions import Definition
from tracktion.domain.event_ids import uuid_text
from tracktion.domain.models import (
    ApiKey,
    EventRow,
    Profile,
    QuarantineRecord,
    Workspace,
    WriteRequest,
    WriteResult,
)
from tracktion.domain.ports import (
    EventQuery,
    ProfileDetails,
    QuarantineQuery,
    StoredEvent,
    TimelineEvent,
    WriteTx,
)
from tracktion.errors import ErrorEntry, TracktionError
from tracktion.storage.filters import (
    definition_filters,
    definitions_from_rows,
    event_page,
    profile_filters,
    quarantine_filters,
)
from tracktion.storage.sqlite_backend import SQLiteBackend, connect
from tracktion.storage.sqlite_checkpoint import Checkpointer
from tracktion.storage.sqlite_tx import SQLiteTx, apply_request, decode_json, text_read
from tracktion.storage.sqlite_writer_process import WriterProcess
from tracktion.storage.writer import GroupCommitWriter

T = TypeVar("T")
_encode = msgspec.json.encode
_decode = msgspec.json.decode
_MAX_INT64 = 2**63 - 1
_READY_MIN_FREE = 1_048_576  # free bytes below which a store whose last commit failed is not ready


_EVENT_COLS = (
    "e.seq, e.workspace_id, e.uuid, e.client_id, e.action, e.label, e.time_ms, e.params, e.endpoint,"
    " e.kind, p.custom_id, p.email"
)
_EVENT_FROM = (
    " FROM events e JOIN profiles p ON p.workspace_id = e.workspace_id AND p.client_id = e.client_id"
)
_QUARANTINE_COLS = (
    "seq, workspace_id, id, received_ms, request_id, method, endpoint, item_index, reason, status,"
    " errors, credential, item, body, body_truncated"
)
_KEY_COLS = "id, workspace_id, kind, name, permissions, created_ms, revoked_ms"
_PROFILE_BY_ID = (
    "SELECT workspace_id, client_id, primary_uuid, custom_id, email FROM profiles"
    " WHERE workspace_id = ? AND client_id = ?"
)


def _stored_event(r: tuple[Any, ...]) -> StoredEvent:
    row = EventRow(
        workspace_id=r[1],
        uuid=uuid_text(r[2]),
        client_id=r[3],
        action=r[4],
        label=text_read(r[5]),
        time_ms=r[6],
        params=decode_json(r[7]),
        endpoint=r[8],
        kind=r[9],
        seq=r[0],
    )
    return StoredEvent(row, r[10], r[11])


def _in_list(column: str, values: Sequence[Any], sql_type: str) -> tuple[str, list[Any]]:
    return f"{column} IN ({','.join('?' * len(values))})", list(values)


def _event_page(query: EventQuery) -> tuple[str, list[Any]]:
    return event_page(query, "?", _in_list)


def _quarantine(r: tuple[Any, ...]) -> QuarantineRecord:
    return QuarantineRecord(
        id=r[2],
        workspace_id=r[1],
        received_ms=r[3],
        request_id=r[4],
        method=r[5],
        endpoint=r[6],
        item_index=r[7],
        reason=r[8],
        status=r[9],
        errors=[
            ErrorEntry(e["code"], e["field"], e["message"], e["rejectedValue"]) for e in decode_json(r[10])
        ],
        credential=_decode(r[11]),
        item=decode_json(r[12]) if r[12] is not None else None,
        has_item=r[12] is not None,
        body=r[13],
        body_truncated=bool(r[14]),
    )


def _api_key(r: tuple[Any, ...] | None) -> ApiKey | None:
    if r is None:
        return None
    return ApiKey(
        id=r[0],
        workspace_id=r[1],
        kind=r[2],
        name=r[3],
        permissions=tuple(_decode(r[4])),
        created_ms=r[5],
        revoked_ms=r[6],
    )


class SQLiteStore:
    """`tracktion.domain.ports.Store` on one SQLite file."""

    def __init__(
        self,
        path: Path,
        *,
        queue_size: int = 10_000,
        read_threads: int = 2,
        quarantine_max_rows: int = 0,
        writer_process: bool = False,
    ) -> None:
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
        if self._writer.healthy and (process is None or process.healthy):
            return True
        # The last commit failed (disk full, I/O error). Once the disk has room and a commit succeeds, the
        # store accepts writes again: check, or a load balancer routing by readiness would never send the
        # write that proves it.
        disk = os.statvfs(self.path.parent)
        if disk.f_bavail * disk.f_frsize < _READY_MIN_FREE:
            return False
        try:
            await self._unit(_probe_commit)
        except TracktionError:
            return False
        return self._writer.healthy

    # -- plumbing --------------------------------------------------------------------------------
    def _conn(self) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = connect(self.path)
            conn.execute("PRAGMA query_only = 1")
            self._local.conn = conn
            with self._lock:
                self._read_conns.append(conn)
        return conn

    async def _read(self, sql: str, params: tuple[Any, ...] | list[Any] = ()) -> list[tuple[Any, ...]]:
        def run() -> list[tuple[Any, ...]]:
            return self._conn().execute(sql, params).fetchall()

        return await asyncio.get_running_loop().run_in_executor(self._read_pool, run)

    # -- writes ----------------------------------------------------------------------------------
    async def write(self, request: WriteRequest) -> WriteResult:
        if self._process is not None:
            return await self._process.submit(request, max(1, len(request.items)), request.lane)
        return await self._writer.submit(
            lambda tx: apply_request(tx, request, self.quarantine_max_rows),
            weight=max(1, len(request.items)),
            lane=request.lane,
        )

    async def _unit(self, work: Callable[[SQLiteTx], T]) -> T:
        """A writer job other than a request's: it may write directly through the connection and fail half
        way, so its savepoint is opened before it runs."""

        def run(tx: SQLiteTx) -> T:
            tx.savepoint()
            return work(tx)

        return await self._writer.submit(run)

    async def transact(self, work: Callable[[WriteTx], T]) -> T:
        """Run domain code (written against `WriteTx`) as its own unit of work in the writer."""
        return await self._unit(work)

    async def profile_details(self, workspace_id: int, client_id: int) -> ProfileDetails | None:
        rows = await self._read(
            "SELECT p.client_id, p.primary_uuid, p.custom_id, p.email, p.created_ms, p.updated_ms, d.data"
            " FROM profiles p LEFT JOIN profile_data d"
            " ON d.workspace_id = p.workspace_id AND d.client_id = p.client_id"
            " WHERE p.workspace_id = ? AND p.client_id = ?",
            (workspace_id, client_id),
        )
        if not rows:
            return None
        uuids = await self._read(
            "SELECT uuid FROM profile_uuids WHERE workspace_id = ? AND client_id = ? ORDER BY added_ms, uuid",
            (workspace_id, client_id),
        )
        return ProfileDetails.from_rows(rows[0], uuids, decode_json)

    # -- reads -----------------------------------------------------------------------------------
    async def events(self, query: EventQuery) -> list[StoredEvent]:
        if query.client_ids == ():
            return []
        page, params = _event_page(query)
        rows = await self._read(f"SELECT {_EVENT_COLS}{_EVENT_FROM}{page}", params)
        return [_stored_event(r) for r in rows]

    async def profile_events(self, query: EventQuery) -> tuple[Profile, list[TimelineEvent]] | None:
        assert query.client_ids is not None and len(query.client_ids) == 1
        page, params = _event_page(query)
        # No join: every event has the profile's customId and email, read once by the first statement. Plan
        # (EXPLAIN QUERY PLAN): SEARCH e USING INDEX events_by_client (workspace_id=? AND client_id=? AND
        # time_ms<?), no temp B-tree: the index is walked newest first and the scan stops at the limit.
        sql = f"SELECT e.uuid, e.time_ms, e.action, e.label, e.params FROM events e{page}"
        key = (query.workspace_id, query.client_ids[0])

        def run() -> tuple[Profile, list[TimelineEvent]] | None:
            # Both statements in one trip to the read pool; each row is converted here, off the event loop.
            conn = self._conn()
            found = conn.execute(_PROFILE_BY_ID, key).fetchone()
            if found is None:
                return None
            rows = conn.execute(sql, params).fetchall()
            return Profile(*found), [(uuid_text(u), t, a, text_read(lb), p) for u, t, a, lb, p in rows]

        return await asyncio.get_running_loop().run_in_executor(self._read_pool, run)

    async def event(self, workspace_id: int, uuid: str) -> StoredEvent | None:
        rows = await self._read(
            f"SELECT {_EVENT_COLS}{_EVENT_FROM} WHERE e.workspace_id = ? AND e.uuid = ?",
            (workspace_id, uuidlib.UUID(uuid).bytes),
        )
        return _stored_event(rows[0]) if rows else None

    async def profile(self, workspace_id: int, client_id: int) -> Profile | None:
        rows = await self._read(_PROFILE_BY_ID, (workspace_id, client_id))
        return Profile(*rows[0]) if rows else None

    async def find_client_ids(
        self,
        workspace_id: int,
        *,
        client_id: int | None = None,
        uuid: str | None = None,
        custom_id: str | None = None,
        email: str | None = None,
    ) -> tuple[int, ...]:
        """Owners of every given identifier (all must match the same profile); no creation."""
        where, params = profile_filters(
            workspace_id,
            "?",
            client_id=client_id,
            custom_id=custom_id,
            email=email,
            uuid=uuid.lower() if uuid is not None else None,
        )
        rows = await self._read(f"SELECT client_id FROM profiles WHERE {where}", params)
        return tuple(r[0] for r in rows)

    async def definitions(
        self, workspace_id: int, kind: str | None = None, prefix: str | None = None, action: str | None = None
    ) -> list[Definition]:
        where, params = definition_filters(
            workspace_id, "?", "substr(action, 1, ?)", kind=kind, prefix=prefix, action=action
        )
        defs = await self._read(
            "SELECT action, kind, first_seen_ms, last_seen_ms, event_count FROM definitions"
            f" WHERE {where} ORDER BY action",
            params,
        )
        if not defs:
            return []
        params_rows = await self._read(
            "SELECT action, name, types, first_seen_ms, last_seen_ms FROM definition_params WHERE workspace_id = ?"
            " ORDER BY action, CAST(name AS BLOB)",  # names with lone surrogates are BLOBs (`text_value`)
            (workspace_id,),
        )
        return definitions_from_rows(defs, params_rows, text_read, _decode)

    async def quarantine(self, query: QuarantineQuery) -> list[tuple[int, QuarantineRecord]]:
        where, params = quarantine_filters(query, "?")
        rows = await self._read(
            f"SELECT {_QUARANTINE_COLS} FROM quarantine WHERE {where}"
            " ORDER BY received_ms DESC, seq DESC LIMIT ?",
            [*params, query.limit],
        )
        return [(r[0], _quarantine(r)) for r in rows]

    async def events_since(self, workspace_id: int, after_seq: int, limit: int) -> list[StoredEvent]:
        """Writes after `after_seq`, oldest first (the live stream, §13.5)."""
        rows = await self._read(
            f"SELECT {_EVENT_COLS}{_EVENT_FROM} WHERE e.seq > ? AND e.workspace_id = ? ORDER BY e.seq LIMIT ?",
            (after_seq, workspace_id, limit),
        )
        return [_stored_event(r) for r in rows]

    async def quarantine_since(
        self, workspace_id: int, after_seq: int, limit: int
    ) -> list[tuple[int, QuarantineRecord]]:
        rows = await self._read(
            f"SELECT {_QUARANTINE_COLS} FROM quarantine WHERE seq > ? AND workspace_id = ? ORDER BY seq LIMIT ?",
            (after_seq, workspace_id, limit),
        )
        return [(r[0], _quarantine(r)) for r in rows]

    async def latest_seqs(self) -> tuple[int, int]:
        """The newest event and quarantine sequence numbers (0 when empty): where a live stream starts."""
        rows = await self._read(
            "SELECT (SELECT COALESCE(MAX(seq), 0) FROM events), (SELECT COALESCE(MAX(seq), 0) FROM quarantine)"
        )
        return rows[0][0], rows[0][1]

    async def quarantine_record(self, workspace_id: int, record_id: str) -> QuarantineRecord | None:
        rows = await self._read(
            f"SELECT {_QUARANTINE_COLS} FROM quarantine WHERE workspace_id = ? AND id = ?",
            (workspace_id, record_id),
        )
        return _quarantine(rows[0]) if rows else None

    async def delete_quarantine(self, workspace_id: int, record_id: str) -> bool:
        def work(tx: SQLiteTx) -> bool:
            cur = tx.conn.execute(
                "DELETE FROM quarantine WHERE workspace_id = ? AND id = ?", (workspace_id, record_id)
            )
            return cur.rowcount > 0

        return await self._unit(work)

    # -- workspaces and keys ---------------------------------------------------------------------
    async def create_workspace(self, name: str, now_ms: int) -> Workspace:
        return await self._unit(lambda tx: _insert_workspace(tx, name, now_ms))

    async def create_first_workspace(
        self, name: str, now_ms: int, make_key: Callable[[int], tuple[ApiKey, str]]
    ) -> tuple[Workspace, ApiKey] | None:
        """The first workspace and its key, atomically. The write transaction is BEGIN IMMEDIATE, which
        serialises every process on this file, so the check and the inserts cannot interleave."""

        def work(tx: SQLiteTx) -> tuple[Workspace, ApiKey] | None:
            if tx.conn.execute("SELECT 1 FROM workspaces LIMIT 1").fetchone() is not None:
                return None
            workspace = _insert_workspace(tx, name, now_ms)
            key, secret_hash = make_key(workspace.id)
            _insert_api_key(tx, key, secret_hash)
            return workspace, key

        return await self._unit(work)

    async def workspaces(self) -> list[Workspace]:
        return [
            Workspace(*r)
            for r in await self._read("SELECT id, guid, name, created_ms FROM workspaces ORDER BY id")
        ]

    async def workspace(self, ident: str | int) -> Workspace | None:
        # ASCII digits only (`"¹".isdigit()` is true, `int("¹")` fails); ids beyond int64 exist nowhere.
        if isinstance(ident, int) or (isinstance(ident, str) and ident.isascii() and ident.isdigit()):
            if not 0 < int(ident) <= _MAX_INT64:
                return None
            rows = await self._read(
                "SELECT id, guid, name, created_ms FROM workspaces WHERE id = ?", (int(ident),)
            )
        else:
            rows = await self._read(
                "SELECT id, guid, name, created_ms FROM workspaces WHERE guid = ?", (ident,)
            )
        return Workspace(*rows[0]) if rows else None

    async def create_api_key(self, key: ApiKey, secret_hash: str) -> None:
        await self._unit(lambda tx: _insert_api_key(tx, key, secret_hash))

    async def api_keys(self, workspace_id: int) -> list[ApiKey]:
        rows = await self._read(
            f"SELECT {_KEY_COLS} FROM api_keys WHERE workspace_id = ? ORDER BY created_ms, id",
            (workspace_id,),
        )
        return [k for k in map(_api_key, rows) if k is not None]

    async def api_key(self, key_id: str) -> ApiKey | None:
        rows = await self._read(f"SELECT {_KEY_COLS} FROM api_keys WHERE id = ?", (key_id,))
        return _api_key(rows[0]) if rows else None

    async def api_key_by_hash(self, secret_hash: str) -> ApiKey | None:
        rows = await self._read(f"SELECT {_KEY_COLS} FROM api_keys WHERE secret_hash = ?", (secret_hash,))
        return _api_key(rows[0]) if rows else None

    async def revoke_api_key(self, key_id: str, now_ms: int) -> bool:
        def work(tx: SQLiteTx) -> bool:
            cur = tx.conn.execute(
                "UPDATE api_keys SET revoked_ms = ? WHERE id = ? AND revoked_ms IS NULL", (now_ms, key_id)
            )
            return cur.rowcount > 0

        return await self._unit(work)


def _probe_commit(tx: SQLiteTx) -> None:
    """A commit that writes a page (a WAL frame and its fsync) and changes no value: readiness's test."""
    tx.conn.execute("UPDATE tracktion_migrations SET applied_ms = applied_ms + 1")
    tx.conn.execute("UPDATE tracktion_migrations SET applied_ms = applied_ms - 1")


def _insert_workspace(tx: SQLiteTx, name: str, now_ms: int) -> Workspace:
    guid = str(uuidlib.uuid4())
    cur = tx.conn.execute(
        "INSERT INTO workspaces (guid, name, created_ms) VALUES (?, ?, ?)", (guid, name, now_ms)
    )
    assert cur.lastrowid is not None
    return Workspace(cur.lastrowid, guid, name, now_ms)


def _insert_api_key(tx: SQLiteTx, key: ApiKey, secret_hash: str) -> None:
    tx.conn.execute(
        "INSERT INTO api_keys VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        (
            key.workspace_id,
            key.id,
            secret_hash,
            key.kind,
            key.name,
            _encode(list(key.permissions)).decode(),
            key.created_ms,
            key.revoked_ms,
        ),
    )
