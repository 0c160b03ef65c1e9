"""The PostgreSQL backend: many tracktion nodes (processes, hosts) on one database.

* Writes: the shared `GroupCommitWriter` thread with one synchronous psycopg connection. Each group of
  queued requests is one transaction, prepared by one identity query for all of them; a request gets a
  savepoint only when it sends statements of its own (events of known profiles send none: their rows go
  in with the group's COPY); the domain's `apply_write` runs through `PostgresTx`. Cross-node races are
  settled by unique keys (see `postgres_tx`).
* Reads: a small pool of async psycopg connections (autocommit, one statement per read), so reads never
  queue behind the writer.
* Faults: a lost connection or a stopped database fails the current group (503, code 5001, nothing
  stored); the next group reconnects by itself. A connection that died while idle (server restart,
  idle timeout in a proxy) is replaced before the group starts, so that case costs no error at all.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
import uuid as uuidlib
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import psycopg
from psycopg.conninfo import conninfo_to_dict, make_conninfo

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
from tracktion.errors import ErrorEntry, StorageUnavailable
from tracktion.storage.filters import (
    definition_filters,
    definitions_json,
    event_page,
    profile_filters,
    quarantine_filters,
)
from tracktion.storage.postgres_schema import LEDGER_DDL, MIGRATIONS
from tracktion.storage.postgres_tx import PostgresTx, RequestJob, json_value, run_unit
from tracktion.storage.writer import Backend, GroupCommitWriter

log = logging.getLogger("tracktion.storage")
T = TypeVar("T")

# Savepoints are subtransactions; PostgreSQL caches 64 subtransaction ids per transaction, and a
# transaction with more makes every other session's snapshot checks slower (pg_subtrans lookups) for as
# long as it runs. One request = at most one savepoint (more after a lost race), so a commit takes at most this
# many requests; 48 requests per commit already amortise the commit cost almost completely.
MAX_COMMIT_JOBS = 48
# Defaults for settings the URL does not give: fail fast when the server is unreachable, notice a dead
# peer within about a minute, and name the sessions for pg_stat_activity.
_CONNECT_DEFAULTS = {
    "connect_timeout": "10",
    "keepalives_idle": "30",
    "keepalives_interval": "10",
    "keepalives_count": "3",
}
# A node that vanishes mid-transaction (network partition) must not hold row locks for long: the server
# ends a writer session idle inside a transaction after this long (only if the URL sets nothing).
_WRITER_IDLE_IN_TX_TIMEOUT = "60s"
# serialization_failure, deadlock_detected (psycopg's classes for them do not share a base to test)
_RETRYABLE_SQLSTATES = frozenset({"40001", "40P01"})
_HORIZON_TTL = 0.05  # seconds a stream horizon is shared (see PostgresStore._horizon)


def conninfo(url: str, application_name: str) -> str:
    given = conninfo_to_dict(url)
    extra = {k: v for k, v in _CONNECT_DEFAULTS.items() if k not in given}
    if "application_name" not in given:
        extra["application_name"] = application_name
    return make_conninfo(url, **extra)


def _lock_key(conn: psycopg.Connection[Any]) -> None:
    # Two-int advisory lock: (constant, schema), so databases holding several tracktion schemas (tests,
    # staging) do not wait for each other.
    conn.execute("SELECT pg_advisory_xact_lock(hashtext('tracktion.migrate'), hashtext(current_schema()))")


def migrate(conn: psycopg.Connection[Any]) -> list[str]:
    """Apply the named migrations not yet recorded, each in its own transaction. Returns those applied.

    Safe to run from N processes at once: each transaction takes the same advisory lock first and checks
    the ledger under it, so a migration runs exactly once and the others skip it.
    """
    assert conn.autocommit, "migrate() manages its own transactions"
    with conn.transaction():
        _lock_key(conn)
        conn.execute(LEDGER_DDL)
        done = {r[0] for r in conn.execute("SELECT name FROM tracktion_migrations")}
    applied: list[str] = []
    for name, statements in MIGRATIONS:
        if name in done:
            continue
        with conn.transaction():
            _lock_key(conn)
            if conn.execute("SELECT 1 FROM tracktion_migrations WHERE name = %s", (name,)).fetchone():
                continue  # another node got there first
            for sql in statements:
                conn.execute(sql)
            conn.execute(
                "INSERT INTO tracktion_migrations (name, applied_ms) VALUES (%s, %s)",
                (name, int(time.time() * 1000)),
            )
        applied.append(name)
        log.info("applied migration %s", name)
    return applied


# Every writer transaction starts by drawing one value from each sequence and holding a shared advisory
# lock keyed by it until it ends: events use the key `floor`, quarantine records `-floor`. Everything the
# transaction then inserts has a higher seq, so readers can tell, from `pg_locks`, below which seq every
# row is final (see `PostgresStore._horizon`).
_BEGIN = (
    "BEGIN; SELECT pg_advisory_xact_lock_shared(nextval('tracktion_event_seq')),"
    " pg_advisory_xact_lock_shared(-nextval('tracktion_quarantine_seq'))"
)


def _is_connection_error(exc: BaseException) -> bool:
    return isinstance(exc, psycopg.OperationalError | psycopg.InterfaceError)


class _PostgresBackend(Backend):
    """The writer thread's side: one connection, explicit BEGIN/SAVEPOINT/COMMIT (autocommit mode)."""

    def __init__(self, conninfo: str) -> None:
        self.conninfo = conninfo
        self.conn: psycopg.Connection[Any] | None = None
        self.tx: PostgresTx | None = None
        self._group_requests: list[WriteRequest] = []

    def _connect(self) -> psycopg.Connection[Any]:
        conn = psycopg.connect(self.conninfo, autocommit=True)
        try:
            (current,) = conn.execute("SHOW idle_in_transaction_session_timeout").fetchone() or ("0",)
            if current in ("0", "0ms"):
                conn.execute(f"SET idle_in_transaction_session_timeout = '{_WRITER_IDLE_IN_TX_TIMEOUT}'")
        except BaseException:
            conn.close()
            raise
        return conn

    def _drop(self) -> None:
        if self.conn is not None:
            with contextlib.suppress(Exception):
                self.conn.close()
        self.conn = None
        self.tx = None

    def open(self) -> None:
        self.conn = self._connect()
        migrate(self.conn)

    def prepare(self, works: list[Callable[[Any], Any]]) -> None:
        self._group_requests = [w.request for w in works if isinstance(w, RequestJob)]

    def begin(self) -> PostgresTx:
        requests, self._group_requests = self._group_requests, []
        if self.conn is None or self.conn.closed or self.conn.broken:
            self._drop()
            self.conn = self._connect()
        tx = PostgresTx(self.conn)
        if requests:
            # Every identifier of the group in one query, before BEGIN (a group of one too: its job then needs
            # neither a savepoint nor a query of its own): outside the transaction a failing
            # query aborts nothing (the jobs then look up for themselves), and on a dead connection the
            # reconnect below applies as for BEGIN.
            try:
                tx.prefetch_group(requests)
            except psycopg.Error as exc:
                if not _is_connection_error(exc):
                    log.warning("group identity prefetch failed, jobs look up one by one: %s", exc)
        try:
            self.conn.execute(_BEGIN)
        except psycopg.Error as exc:
            if not _is_connection_error(exc):
                raise
            # Died while idle (server restart, proxy timeout): nothing of this group has been sent yet,
            # so starting over on a fresh connection is safe. If that fails too, the group fails (503).
            log.warning("writer connection lost while idle (%s); reconnecting", exc)
            self._drop()
            self.conn = self._connect()
            self.conn.execute(_BEGIN)
            tx = PostgresTx(self.conn)  # the group's prefetch, if any, was lost with the old connection
        self.tx = tx
        return self.tx

    # A job's savepoint is opened by the transaction at the job's first statement (`PostgresTx.cur`),
    # together with the previous job's RELEASE: events of known profiles send none of their own.
    def savepoint(self) -> None:
        assert self.tx is not None
        self.tx.start_job()

    def release(self) -> None:
        assert self.tx is not None
        self.tx.release_job()

    def rollback_savepoint(self) -> None:
        assert self.tx is not None
        self.tx.discard_job()

    def commit(self) -> None:
        assert self.conn is not None and self.tx is not None
        self.tx.write_rows(copy_only=True)  # a COPY needs the connection to itself
        # A single row's INSERT, the definitions' upserts and COMMIT in one round trip instead of up to four
        # (the writer waits on round trips most of its time). An error in any of them raises when the pipeline
        # ends, the transaction aborted and COMMIT not run: `run_group` rolls the group back as before.
        with self.conn.pipeline():
            self.tx.write_rows()
            self.tx.write_definitions()
            cur = self.conn.execute("COMMIT")
        self.tx = None
        # COMMIT of a transaction that failed answers ROLLBACK without raising: never report success then.
        if cur.statusmessage != "COMMIT":
            raise psycopg.OperationalError(f"transaction not committed ({cur.statusmessage})")

    def rollback(self) -> None:
        self.tx = None
        conn = self.conn
        if conn is None:
            return
        if conn.closed or conn.broken:
            self._drop()
            return
        try:
            conn.execute("ROLLBACK")
        except psycopg.Error:
            self._drop()

    def close(self) -> None:
        self._drop()

    def is_fault(self, exc: Exception) -> bool:
        return _is_connection_error(exc) or (self.conn is not None and self.conn.broken)

    def retryable(self, exc: Exception) -> bool:
        # Deadlock with another node's group (40P01) or a serialization failure (40001): the whole group
        # was rolled back by the server; run it again.
        return isinstance(exc, psycopg.Error) and exc.sqlstate in _RETRYABLE_SQLSTATES


class _ReadPool:
    """A few autocommit AsyncConnections, created on demand, replaced when broken."""

    def __init__(self, conninfo: str, size: int) -> None:
        self.conninfo = conninfo
        self.size = size
        self._idle: list[psycopg.AsyncConnection[Any]] = []
        self._sem: asyncio.Semaphore | None = None
        self._closing: set[asyncio.Task[None]] = set()

    async def fetch(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        if self._sem is None:
            self._sem = asyncio.Semaphore(self.size)
        async with self._sem:
            for _attempt in range(2):
                conn = self._idle.pop() if self._idle else None
                fresh = conn is None
                try:
                    if conn is None:
                        conn = await psycopg.AsyncConnection.connect(self.conninfo, autocommit=True)
                    cur = await conn.execute(sql, params)
                    rows = await cur.fetchall()
                except psycopg.Error as exc:
                    if conn is not None and not conn.broken and not _is_connection_error(exc):
                        self._idle.append(conn)  # a query error; the connection is fine
                        raise
                    self._discard(conn)
                    if fresh:
                        log.error("read failed: %s", exc)
                        raise StorageUnavailable() from exc
                    # A pooled connection died while idle (server restart?): its siblings most likely
                    # did too. Drop them all and try once more on a new connection.
                    idle, self._idle = self._idle, []
                    for other in idle:
                        self._discard(other)
                    continue
                except BaseException:
                    self._discard(conn)  # cancelled mid-query: the connection's state is unknown
                    raise
                self._idle.append(conn)
                return rows
        raise AssertionError("unreachable")

    def _discard(self, conn: psycopg.AsyncConnection[Any] | None) -> None:
        if conn is None:
            return
        task = asyncio.get_running_loop().create_task(self._close(conn))
        self._closing.add(task)
        task.add_done_callback(self._closing.discard)

    @staticmethod
    async def _close(conn: psycopg.AsyncConnection[Any]) -> None:
        with contextlib.suppress(Exception):
            await conn.close()

    async def close(self) -> None:
        idle, self._idle = self._idle, []
        for conn in idle:
            await self._close(conn)
        if self._closing:
            await asyncio.gather(*self._closing, return_exceptions=True)


_EVENT_COLS = (
    "e.seq, e.workspace_id, e.uuid::text, e.client_id, e.action, e.label::text, e.time_ms, e.params::text,"
    " e.endpoint, e.kind, p.custom_id, p.email"
)
_EVENT_FROM = (
    " FROM events e JOIN profiles p ON p.workspace_id = e.workspace_id AND p.client_id = e.client_id"
)
_QUARANTINE_COLS = (
    "seq, workspace_id, id, received_ms, request_id, method, endpoint, item_index, reason, status,"
    " errors::text, credential::text, item::text, body::text, body_truncated"
)
_KEY_COLS = "id, workspace_id, kind, name, permissions, created_ms, revoked_ms"
_WORKSPACE_COLS = "id, guid, name, created_ms"
_CANONICAL_UUID = "0123456789abcdef-"
_MAX_INT64 = 2**63 - 1


def _stored_event(r: tuple[Any, ...]) -> StoredEvent:
    row = EventRow(
        workspace_id=r[1],
        uuid=r[2],
        client_id=r[3],
        action=r[4],
        label=json_value(r[5]),
        time_ms=r[6],
        params=json_value(r[7]),
        endpoint=r[8],
        kind=r[9],
        seq=r[0],
    )
    return StoredEvent(row, r[10], r[11])


def _any_of(column: str, values: Sequence[Any], sql_type: str) -> tuple[str, list[Any]]:
    if len(values) == 1:
        # Not `= ANY(array)`, even of one element: with it the planner cannot walk `events_by_client` in order
        # and stop at the limit; it fetched all of the profile's events and sorted them (3 ms for 500 events).
        return f"{column} = %s", [values[0]]
    return f"{column} = ANY(%s::{sql_type}[])", [list(values)]


def _event_page(query: EventQuery) -> tuple[str, list[Any]]:
    return event_page(query, "%s", _any_of)


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
            ErrorEntry(e["code"], e["field"], e["message"], e["rejectedValue"]) for e in json_value(r[10])
        ],
        credential=json_value(r[11]),
        item=json_value(r[12]) if r[12] is not None else None,
        has_item=r[12] is not None,
        body=json_value(r[13]) if r[13] is not None else None,
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
        permissions=tuple(r[4]),
        created_ms=r[5],
        revoked_ms=r[6],
    )


def _unmatchable(values: Sequence[Any]) -> bool:
    """A filter string PostgreSQL text cannot hold (U+0000, a lone surrogate) matches no stored value;
    answer "no row" (as SQLite's lookup finds none) instead of sending it and failing."""
    for v in values:
        if isinstance(v, str) and ("\x00" in v or (not v.isascii() and not _encodable(v))):
            return True
        if isinstance(v, list | tuple) and _unmatchable(v):
            return True
    return False


def _encodable(value: str) -> bool:
    try:
        value.encode()
    except UnicodeEncodeError:
        return False
    return True


def _canonical_uuid(value: str) -> uuidlib.UUID | None:
    """The lower-cased 8-4-4-4-12 form SQLite stores, or None (which matches nothing there either)."""
    v = value.lower()
    if len(v) != 36 or any(c not in _CANONICAL_UUID for c in v) or v.count("-") != 4:
        return None
    try:
        parsed = uuidlib.UUID(v)
    except ValueError:
        return None
    return parsed if str(parsed) == v else None


class PostgresStore:
    """`tracktion.domain.ports.Store` on PostgreSQL (or Citus)."""

    def __init__(
        self, url: str, *, queue_size: int = 10_000, read_connections: int = 4, quarantine_max_rows: int = 0
    ) -> None:
        self.url = url
        self.quarantine_max_rows = quarantine_max_rows  # per workspace; 0 = unlimited
        self._writer = GroupCommitWriter(
            _PostgresBackend(conninfo(url, "tracktion-writer")),
            queue_size=queue_size,
            max_commit_jobs=MAX_COMMIT_JOBS,
        )
        self._reads = _ReadPool(conninfo(url, "tracktion-read"), read_connections)
        self._horizon_cache: tuple[float, int, tuple[int, int]] | None = None

    @property
    def writer(self) -> GroupCommitWriter:
        return self._writer

    async def start(self) -> None:
        await asyncio.get_running_loop().run_in_executor(None, self._writer.start)

    async def close(self) -> None:
        await asyncio.get_running_loop().run_in_executor(None, self._writer.stop)
        await self._reads.close()

    async def ready(self) -> bool:
        if not self._writer.alive:
            return False
        if self._writer.healthy:
            return True
        # The last commit failed. If the database answers again, the next write reconnects: say ready,
        # or a load balancer would never send the write that proves it.
        try:
            await self._reads.fetch("SELECT 1")
        except StorageUnavailable:
            return False
        return True

    async def _read(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        if _unmatchable(params):
            return []
        return await self._reads.fetch(sql, params)

    # -- writes ----------------------------------------------------------------------------------
    async def write(self, request: WriteRequest) -> WriteResult:
        return await self._writer.submit(
            RequestJob(request, self.quarantine_max_rows),
            weight=max(1, len(request.items)),
            lane=request.lane,
        )

    async def transact(self, work: Callable[[WriteTx], T]) -> T:
        """Run domain code (written against `WriteTx`) as its own unit of work in the writer."""
        return await self._writer.submit(lambda tx: run_unit(tx, work))

    # -- reads -----------------------------------------------------------------------------------
    async def profile_details(self, workspace_id: int, client_id: int) -> ProfileDetails | None:
        rows = await self._read(
            "SELECT p.client_id, p.primary_uuid::text, p.custom_id, p.email, p.created_ms, p.updated_ms,"
            " d.data::text FROM profiles p LEFT JOIN profile_data d"
            " ON d.workspace_id = p.workspace_id AND d.client_id = p.client_id"
            " WHERE p.workspace_id = %s AND p.client_id = %s",
            (workspace_id, client_id),
        )
        if not rows:
            return None
        # uuid order = bytewise = the order of the lower-case text SQLite sorts.
        uuids = await self._read(
            "SELECT uuid::text FROM profile_uuids WHERE workspace_id = %s AND client_id = %s"
            " ORDER BY added_ms, uuid",
            (workspace_id, client_id),
        )
        return ProfileDetails.from_rows(rows[0], uuids, json_value)

    async def events(self, query: EventQuery) -> list[StoredEvent]:
        if query.client_ids == ():
            return []
        page, params = _event_page(query)
        rows = await self._read(f"SELECT {_EVENT_COLS}{_EVENT_FROM}{page}", params)
        return [_stored_event(r) for r in rows]

    async def profile_events(self, query: EventQuery) -> tuple[Profile, list[TimelineEvent]] | None:
        assert query.client_ids is not None and len(query.client_ids) == 1
        page, params = _event_page(query)
        # The events with their profile's columns, in one round trip; only an empty answer needs a second
        # query, to tell a profile without events from no profile. (An outer join of the profile to its events
        # was tried: its extra sort of the wide rows made it slower than this.)
        sql = (
            "SELECT e.uuid::text, e.time_ms, e.action, e.label::text, e.params::text, p.workspace_id,"
            f" p.client_id, p.primary_uuid::text, p.custom_id, p.email{_EVENT_FROM}{page}"
        )
        rows = await self._read(sql, params)
        if not rows:
            found = await self.profile(query.workspace_id, query.client_ids[0])
            return (found, []) if found is not None else None
        return Profile(*rows[0][5:]), [(r[0], r[1], r[2], json_value(r[3]), r[4]) for r in rows]

    async def event(self, workspace_id: int, uuid: str) -> StoredEvent | None:
        try:
            key = uuidlib.UUID(uuid)
        except ValueError:
            return None
        rows = await self._read(
            f"SELECT {_EVENT_COLS}{_EVENT_FROM} WHERE e.workspace_id = %s AND e.uuid = %s",
            (workspace_id, key),
        )
        return _stored_event(rows[0]) if rows else None

    async def profile(self, workspace_id: int, client_id: int) -> Profile | None:
        rows = await self._read(
            "SELECT workspace_id, client_id, primary_uuid::text, custom_id, email FROM profiles"
            " WHERE workspace_id = %s AND client_id = %s",
            (workspace_id, client_id),
        )
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
        key = None
        if uuid is not None:
            key = _canonical_uuid(uuid)
            if key is None:
                return ()
        where, params = profile_filters(
            workspace_id, "%s", client_id=client_id, custom_id=custom_id, email=email, uuid=key
        )
        rows = await self._read(f"SELECT client_id FROM profiles WHERE {where}", params)
        return tuple(r[0] for r in rows)

    async def definitions(
        self, workspace_id: int, kind: str | None = None, prefix: str | None = None, action: str | None = None
    ) -> list[dict[str, Any]]:
        where, params = definition_filters(
            workspace_id, "%s", "left(action, %s)", kind=kind, prefix=prefix, action=action
        )
        defs = await self._read(
            "SELECT action, kind, first_seen_ms, last_seen_ms, event_count FROM definitions"
            f' WHERE {where} ORDER BY action COLLATE "C"',
            params,
        )
        if not defs:
            return []
        wanted = [d[0] for d in defs]
        params_rows = await self._read(
            "SELECT action, name, types, first_seen_ms, last_seen_ms FROM definition_params"
            " WHERE workspace_id = %s AND action = ANY(%s::text[])"
            ' ORDER BY action COLLATE "C", name',
            (workspace_id, wanted),
        )
        return definitions_json(
            defs, params_rows, lambda name: bytes(name).decode("utf-8", "surrogatepass"), list
        )

    async def quarantine(self, query: QuarantineQuery) -> list[tuple[int, QuarantineRecord]]:
        where, params = quarantine_filters(query, "%s")
        rows = await self._read(
            f"SELECT {_QUARANTINE_COLS} FROM quarantine WHERE {where}"
            " ORDER BY received_ms DESC, seq DESC LIMIT %s",
            [*params, query.limit],
        )
        return [(r[0], _quarantine(r)) for r in rows]

    async def _horizon(self) -> tuple[int, int]:
        """The highest event and quarantine seq below which every row is final.

        Seqs are drawn when rows are inserted, and transactions of different processes commit in any
        order, so seq 100 may become visible after 101; a reader that moved past 101 would never see 100.
        Each writer transaction holds an advisory lock keyed by a seq drawn before any of its rows
        (`_BEGIN`). Read the sequences first, then those floors: a transaction that drew a seq before the
        first read still holds its lock at the second, and any seq drawn later exceeds what the first read
        returned. Rows at or below the horizon are therefore committed or never will be. Two statements,
        in this order, and both before the caller's query (which gets a later snapshot).

        An older horizon is still a valid (lower) one, so the streams of this process, all woken by the
        same local commit, share one for up to `_HORIZON_TTL` seconds; a newer local commit (whose rows
        the woken streams want) makes it stale at once.
        """
        now = time.monotonic()
        commits = self._writer.commits
        cached = self._horizon_cache
        if cached is not None and cached[1] == commits and now - cached[0] < _HORIZON_TTL:
            return cached[2]
        ((events_last, quarantine_last),) = await self._reads.fetch(
            "SELECT (SELECT CASE WHEN is_called THEN last_value ELSE 0 END FROM tracktion_event_seq),"
            " (SELECT CASE WHEN is_called THEN last_value ELSE 0 END FROM tracktion_quarantine_seq)"
        )
        ((events_floor, quarantine_floor),) = await self._reads.fetch(
            "SELECT min(k) FILTER (WHERE k > 0), -max(k) FILTER (WHERE k < 0)"
            " FROM (SELECT (classid::bigint << 32) | objid::bigint AS k FROM pg_locks"
            "       WHERE locktype = 'advisory' AND objsubid = 1"
            "       AND database = (SELECT oid FROM pg_database WHERE datname = current_database())) AS keys"
        )
        events = events_last if events_floor is None else min(events_last, events_floor - 1)
        quarantine = (
            quarantine_last if quarantine_floor is None else min(quarantine_last, quarantine_floor - 1)
        )
        self._horizon_cache = (now, commits, (events, quarantine))
        return events, quarantine

    async def events_since(self, workspace_id: int, after_seq: int, limit: int) -> list[StoredEvent]:
        """Writes after `after_seq`, oldest first (the live stream, §13.5), up to the horizon."""
        horizon, _ = await self._horizon()
        if horizon <= after_seq:
            return []
        rows = await self._read(
            f"SELECT {_EVENT_COLS}{_EVENT_FROM} WHERE e.workspace_id = %s AND e.seq > %s AND e.seq <= %s"
            " ORDER BY e.seq LIMIT %s",
            (workspace_id, after_seq, horizon, limit),
        )
        return [_stored_event(r) for r in rows]

    async def quarantine_since(
        self, workspace_id: int, after_seq: int, limit: int
    ) -> list[tuple[int, QuarantineRecord]]:
        _, horizon = await self._horizon()
        if horizon <= after_seq:
            return []
        rows = await self._read(
            f"SELECT {_QUARANTINE_COLS} FROM quarantine WHERE workspace_id = %s AND seq > %s AND seq <= %s"
            " ORDER BY seq LIMIT %s",
            (workspace_id, after_seq, horizon, limit),
        )
        return [(r[0], _quarantine(r)) for r in rows]

    async def latest_seqs(self) -> tuple[int, int]:
        """Where a live stream starts: the horizons (rows above them are delivered later, none skipped)."""
        return await self._horizon()

    async def quarantine_record(self, workspace_id: int, record_id: str) -> QuarantineRecord | None:
        rows = await self._read(
            f"SELECT {_QUARANTINE_COLS} FROM quarantine WHERE workspace_id = %s AND id = %s",
            (workspace_id, record_id),
        )
        return _quarantine(rows[0]) if rows else None

    async def delete_quarantine(self, workspace_id: int, record_id: str) -> bool:
        if _unmatchable([record_id]):
            return False

        def work(tx: PostgresTx) -> bool:
            cur = tx.execute(
                "DELETE FROM quarantine WHERE workspace_id = %s AND id = %s", (workspace_id, record_id)
            )
            return cur.rowcount > 0

        return await self._writer.submit(work)

    # -- workspaces and keys ---------------------------------------------------------------------
    async def create_workspace(self, name: str, now_ms: int) -> Workspace:
        return await self._writer.submit(lambda tx: _insert_workspace(tx, name, now_ms))

    async def create_first_workspace(
        self, name: str, now_ms: int, make_key: Callable[[int], tuple[ApiKey, str]]
    ) -> tuple[Workspace, ApiKey] | None:
        """The first workspace and its key, atomically: nodes starting together on an empty database
        serialise on an advisory lock, and all but the first find the workspace there."""

        def work(tx: PostgresTx) -> tuple[Workspace, ApiKey] | None:
            tx.execute("SELECT pg_advisory_xact_lock(%s)", (_BOOTSTRAP_LOCK,))
            if tx.execute("SELECT 1 FROM workspaces LIMIT 1").fetchone() is not None:
                return None
            workspace = _insert_workspace(tx, name, now_ms)
            key, secret_hash = make_key(workspace.id)
            _insert_api_key(tx, key, secret_hash)
            return workspace, key

        return await self._writer.submit(work)

    async def workspaces(self) -> list[Workspace]:
        return [
            Workspace(*r) for r in await self._read(f"SELECT {_WORKSPACE_COLS} FROM workspaces ORDER BY id")
        ]

    async def workspace(self, ident: str | int) -> Workspace | None:
        # ASCII digits only (`"¹".isdigit()` is true, `int("¹")` fails); ids beyond int64 exist nowhere.
        if isinstance(ident, int) or (isinstance(ident, str) and ident.isascii() and ident.isdigit()):
            if not 0 < int(ident) <= _MAX_INT64:
                return None
            rows = await self._read(f"SELECT {_WORKSPACE_COLS} FROM workspaces WHERE id = %s", (int(ident),))
        else:
            rows = await self._read(f"SELECT {_WORKSPACE_COLS} FROM workspaces WHERE guid = %s", (ident,))
        return Workspace(*rows[0]) if rows else None

    async def create_api_key(self, key: ApiKey, secret_hash: str) -> None:
        await self._writer.submit(lambda tx: _insert_api_key(tx, key, secret_hash))

    async def api_keys(self, workspace_id: int) -> list[ApiKey]:
        rows = await self._read(
            f'SELECT {_KEY_COLS} FROM api_keys WHERE workspace_id = %s ORDER BY created_ms, id COLLATE "C"',
            (workspace_id,),
        )
        return [k for k in map(_api_key, rows) if k is not None]

    async def api_key(self, key_id: str) -> ApiKey | None:
        rows = await self._read(f"SELECT {_KEY_COLS} FROM api_keys WHERE id = %s", (key_id,))
        return _api_key(rows[0]) if rows else None

    async def api_key_by_hash(self, secret_hash: str) -> ApiKey | None:
        rows = await self._read(f"SELECT {_KEY_COLS} FROM api_keys WHERE secret_hash = %s", (secret_hash,))
        return _api_key(rows[0]) if rows else None

    async def revoke_api_key(self, key_id: str, now_ms: int) -> bool:
        if _unmatchable([key_id]):
            return False

        def work(tx: PostgresTx) -> bool:
            cur = tx.execute(
                "UPDATE api_keys SET revoked_ms = %s WHERE id = %s AND revoked_ms IS NULL", (now_ms, key_id)
            )
            return cur.rowcount > 0

        return await self._writer.submit(work)

    # -- the nodes' token signing key (`tracktion.bootstrap.check_signing_key`) ---------------------
    async def signing_key_id(self, kid: str | None) -> str | None:
        """The kid of the key this database's nodes sign tokens with; when none is recorded yet and `kid`
        is given, records `kid` first (nodes racing on an empty database: the first one wins)."""
        if kid is not None:

            def record(tx: PostgresTx) -> None:
                tx.execute(
                    "INSERT INTO tracktion_signing_key (id, kid, recorded_ms) VALUES (1, %s, %s)"
                    " ON CONFLICT (id) DO NOTHING",
                    (kid, int(time.time() * 1000)),
                )

            await self._writer.submit(record)
        rows = await self._read("SELECT kid FROM tracktion_signing_key")
        return str(rows[0][0]) if rows else None


# Any constant works; it only has to be the same in every node (and differ from the migration lock).
_BOOTSTRAP_LOCK = 0x747261636B01


def _insert_workspace(tx: PostgresTx, name: str, now_ms: int) -> Workspace:
    guid = str(uuidlib.uuid4())
    row = tx.execute(
        "INSERT INTO workspaces (guid, name, created_ms) VALUES (%s, %s, %s) RETURNING id",
        (guid, name, now_ms),
    ).fetchone()
    assert row is not None
    return Workspace(row[0], guid, name, now_ms)


def _insert_api_key(tx: PostgresTx, key: ApiKey, secret_hash: str) -> None:
    tx.execute(
        f"INSERT INTO api_keys ({_KEY_COLS}, secret_hash) VALUES (%s, %s, %s, %s, %s, %s, %s, %s)",
        (
            key.id,
            key.workspace_id,
            key.kind,
            key.name,
            list(key.permissions),
            key.created_ms,
            key.revoked_ms,
            secret_hash,
        ),
    )
