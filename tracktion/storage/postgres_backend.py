"""The PostgreSQL database as tracktion's nodes connect to it: connection settings, migrations, the writer's
`Backend` (the transaction around `PostgresTx`, reconnecting when the connection died) and the pool of read
connections. `postgres.PostgresStore` puts them together."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Sequence
from typing import Any

import psycopg
from psycopg.conninfo import conninfo_to_dict, make_conninfo

from tracktion.domain.models import WriteRequest
from tracktion.errors import StorageUnavailable
from tracktion.storage.postgres_schema import LEDGER_DDL, MIGRATIONS
from tracktion.storage.postgres_tx import PostgresTx, RequestJob
from tracktion.storage.writer import LazySavepoints

log = logging.getLogger("tracktion.storage")

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
            for step in statements:
                if callable(step):  # a data migration (e.g. 0005_trim_identifiers), same transaction
                    step(conn)
                else:
                    conn.execute(step)
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
# row is final (see `postgres.PostgresStore._horizon`).
_BEGIN = (
    "BEGIN; SELECT pg_advisory_xact_lock_shared(nextval('tracktion_event_seq')),"
    " pg_advisory_xact_lock_shared(-nextval('tracktion_quarantine_seq'))"
)


def _is_connection_error(exc: BaseException) -> bool:
    return isinstance(exc, psycopg.OperationalError | psycopg.InterfaceError)


class PostgresBackend(LazySavepoints):
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
            self.tx.write_counts()
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


class ReadPool:
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
