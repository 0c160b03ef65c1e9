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

from tracktion.domain.models import Profile, QuarantineRecord, WriteRequest, WriteResult
from tracktion.domain.ports import EventQuery, StoredEvent, TimelineEvent, WriteTx
from tracktion.errors import StorageUnavailable
from tracktion.storage.dialect import Dialect, as_is
from tracktion.storage.filters import event_page
from tracktion.storage.postgres_schema import LEDGER_DDL, MIGRATIONS
from tracktion.storage.postgres_tx import PostgresTx, RequestJob, json_value, run_unit
from tracktion.storage.sql_store import EVENT_FROM, SQLStore
from tracktion.storage.writer import GroupCommitWriter, LazySavepoints

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


class _PostgresBackend(LazySavepoints):
    """The writer thread's side: one connection, explicit BEGIN/SAVEPOINT/COMMIT (autocommit mode). A job's
    savepoint is opened by the transaction at the job's first statement (`PostgresTx.cur`), together with
    the previous job's RELEASE: events of known profiles send none of their own."""

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


_CANONICAL_UUID = "0123456789abcdef-"


def _any_of(column: str, values: Sequence[Any], sql_type: str) -> tuple[str, list[Any]]:
    if len(values) == 1:
        # Not `= ANY(array)`, even of one element: with it the planner cannot walk `events_by_client` in order
        # and stop at the limit; it fetched all of the profile's events and sorted them (3 ms for 500 events).
        return f"{column} = %s", [values[0]]
    return f"{column} = ANY(%s::{sql_type}[])", [list(values)]


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


def _uuid_or_none(value: str) -> uuidlib.UUID | None:
    try:
        return uuidlib.UUID(value)
    except ValueError:
        return None


def _param_name(name: bytes | memoryview) -> str:
    return bytes(name).decode("utf-8", "surrogatepass")


def _cast_text(column: str) -> str:
    # psycopg would decode uuid and json columns itself (into UUID objects, and with json.loads); as text
    # they come back as the lower-case form and are decoded by `json_value`, like SQLite's.
    return f"{column}::text"


# PostgreSQL stores uuids as `uuid`, JSON and caller free text (label, quarantine body: NUL-safe) as `json`,
# param names as `bytea` and string lists as `text[]` (see `postgres_schema`).
_DIALECT = Dialect(
    mark="%s",
    one_of=_any_of,
    action_prefix="left(action, %s)",
    as_text=_cast_text,
    bytewise=' COLLATE "C"',  # whatever the database's default collation
    event_uuid=_uuid_or_none,
    event_uuid_text=as_is,  # selected as text
    profile_uuid=_canonical_uuid,
    json=json_value,
    free_text=json_value,
    param_name=_param_name,
    text_list=list,
    text_list_param=list,
)


class PostgresStore(SQLStore[PostgresTx]):
    """`tracktion.domain.ports.Store` on PostgreSQL (or Citus); the reads and admin writes are `SQLStore`'s."""

    def __init__(
        self, url: str, *, queue_size: int = 10_000, read_connections: int = 4, quarantine_max_rows: int = 0
    ) -> None:
        super().__init__(_DIALECT)
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

    # -- what SQLStore builds on -----------------------------------------------------------------
    async def _read(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        if _unmatchable(params):
            return []
        return await self._reads.fetch(sql, params)

    async def _write(self, sql: str, params: Sequence[Any]) -> int:
        # The same guard as `_read`: a value PostgreSQL cannot hold changes no row (and must not fail).
        if _unmatchable(params):
            return 0
        return await super()._write(sql, params)

    async def _unit(self, work: Callable[[PostgresTx], T]) -> T:
        # No savepoint up front: `PostgresTx.execute` opens the job's at its first statement.
        return await self._writer.submit(work)

    def _execute(self, tx: PostgresTx, sql: str, params: Sequence[Any] | None = None) -> psycopg.Cursor[Any]:
        return tx.execute(sql, params)

    def _insert_id(self, tx: PostgresTx, sql: str, params: Sequence[Any]) -> int:
        row = self._execute(tx, sql + " RETURNING id", params).fetchone()
        assert row is not None
        return int(row[0])

    def _lock_first_workspace(self, tx: PostgresTx) -> None:
        # Nodes starting together on an empty database serialise on an advisory lock held to the end of
        # the transaction; all but the first then find the workspace there.
        tx.execute("SELECT pg_advisory_xact_lock(%s)", (_BOOTSTRAP_LOCK,))

    async def _definition_params(self, workspace_id: int, actions: list[str]) -> list[tuple[Any, ...]]:
        return await self._read(
            "SELECT action, name, types, first_seen_ms, last_seen_ms FROM definition_params"
            " WHERE workspace_id = %s AND action = ANY(%s::text[])"
            ' ORDER BY action COLLATE "C", name',
            (workspace_id, actions),
        )

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

    # -- reads of its own: the timeline, and the live stream up to the horizon -------------------
    async def profile_events(self, query: EventQuery) -> tuple[Profile, list[TimelineEvent]] | None:
        assert query.client_ids is not None and len(query.client_ids) == 1
        page, params = event_page(query, _DIALECT)
        # The events with their profile's columns, in one round trip; only an empty answer needs a second
        # query, to tell a profile without events from no profile. (An outer join of the profile to its events
        # was tried: its extra sort of the wide rows made it slower than this.)
        sql = (
            "SELECT e.uuid::text, e.time_ms, e.action, e.label::text, e.params::text, p.workspace_id,"
            f" p.client_id, p.primary_uuid::text, p.custom_id, p.email{EVENT_FROM}{page}"
        )
        rows = await self._read(sql, params)
        if not rows:
            found = await self.profile(query.workspace_id, query.client_ids[0])
            return (found, []) if found is not None else None
        return Profile(*rows[0][5:]), [(r[0], r[1], r[2], json_value(r[3]), r[4]) for r in rows]

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

    # The live stream reads only up to the horizon: SQLStore's versions trust every seq below the newest,
    # which holds only where transactions commit in seq order.
    async def events_since(self, workspace_id: int, after_seq: int, limit: int) -> list[StoredEvent]:
        """Writes after `after_seq`, oldest first (the live stream, §13.5), up to the horizon."""
        horizon, _ = await self._horizon()
        if horizon <= after_seq:
            return []
        rows = await self._read(
            f"SELECT {self._event_cols}{EVENT_FROM} WHERE e.workspace_id = %s AND e.seq > %s AND e.seq <= %s"
            " ORDER BY e.seq LIMIT %s",
            (workspace_id, after_seq, horizon, limit),
        )
        return [self._stored_event(r) for r in rows]

    async def quarantine_since(
        self, workspace_id: int, after_seq: int, limit: int
    ) -> list[tuple[int, QuarantineRecord]]:
        _, horizon = await self._horizon()
        if horizon <= after_seq:
            return []
        rows = await self._read(
            f"SELECT {self._quarantine_cols} FROM quarantine WHERE workspace_id = %s AND seq > %s AND seq <= %s"
            " ORDER BY seq LIMIT %s",
            (workspace_id, after_seq, horizon, limit),
        )
        return [(r[0], self._quarantine(r)) for r in rows]

    async def latest_seqs(self) -> tuple[int, int]:
        """Where a live stream starts: the horizons (rows above them are delivered later, none skipped)."""
        return await self._horizon()


# Any constant works; it only has to be the same in every node (and differ from the migration lock).
_BOOTSTRAP_LOCK = 0x747261636B01
