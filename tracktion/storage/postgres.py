"""The PostgreSQL backend: many tracktion nodes (processes, hosts) on one database.

* Writes: the shared `GroupCommitWriter` thread with one synchronous psycopg connection. Each group of
  queued requests is one transaction, prepared by one identity query for all of them; a request gets a
  savepoint only when it sends statements of its own (events of known profiles send none: their rows go
  in with the group's COPY); the domain's `apply_write` runs through `PostgresTx`. Cross-node races are
  settled by unique keys (see `postgres_tx`).
* Reads: a small pool of async psycopg connections (autocommit, one statement per read), so reads never
  queue behind the writer. The statements are `sql_store.SQLStore`'s, in this module's `Dialect`.
* Faults: a lost connection or a stopped database fails the current group (503, code 5001, nothing
  stored); the next group reconnects by itself. A connection that died while idle (server restart,
  idle timeout in a proxy) is replaced before the group starts, so that case costs no error at all.

The connection side (settings, migrations, the writer's backend, the read pool) is `postgres_backend`.
"""

from __future__ import annotations

import asyncio
import time
import uuid as uuidlib
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import psycopg

from tracktion.domain.models import Profile, QuarantineRecord, WriteRequest, WriteResult
from tracktion.domain.ports import EventQuery, StoredEvent, TimelineEvent, WriteTx
from tracktion.errors import StorageUnavailable
from tracktion.storage.counters import POSTGRES_RECEIVED_MINUTE, PendingCounts
from tracktion.storage.dialect import Dialect, as_is
from tracktion.storage.event_params import ORIGIN_COLS, full_params_json
from tracktion.storage.filters import event_page
from tracktion.storage.postgres_backend import MAX_COMMIT_JOBS, PostgresBackend, ReadPool, conninfo
from tracktion.storage.postgres_tx import PostgresTx, RequestJob, json_value, run_unit
from tracktion.storage.sql_store import EVENT_FROM, SQLStore
from tracktion.storage.writer import GroupCommitWriter

T = TypeVar("T")

_HORIZON_TTL = 0.05  # seconds a stream horizon is shared (see PostgresStore._horizon)
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
    seq_walk_workspace="e.workspace_id",
    origin_cols=ORIGIN_COLS,
    received_minute=POSTGRES_RECEIVED_MINUTE,
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
            PostgresBackend(conninfo(url, "tracktion-writer")),
            queue_size=queue_size,
            max_commit_jobs=MAX_COMMIT_JOBS,
        )
        self._reads = ReadPool(conninfo(url, "tracktion-read"), read_connections)
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

    # -- data lifecycle hooks (see lifecycle_sql) ---------------------------------------------------
    def _counts(self, tx: PostgresTx) -> PendingCounts:
        return tx.counts

    def _forget_identities(self, tx: PostgresTx) -> None:
        tx.forget_identities()

    def _storable(self, value: Any) -> bool:
        return not _unmatchable([value])

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
        page, params = event_page(await self.visible(query), _DIALECT)
        # The events with their profile's columns, in one round trip; only an empty answer needs a second
        # query, to tell a profile without events from no profile. (An outer join of the profile to its events
        # was tried: its extra sort of the wide rows made it slower than this.)
        sql = (
            "SELECT e.uuid::text, e.time_ms, e.action, e.label::text, e.params::text, p.workspace_id,"
            f" p.client_id, p.primary_uuid::text, p.custom_id, p.email, {ORIGIN_COLS}{EVENT_FROM}{page}"
        )
        rows = await self._read(sql, params)
        if not rows:
            found = await self.profile(query.workspace_id, query.client_ids[0])
            return (found, []) if found is not None else None
        profile = Profile(*rows[0][5:10])
        ws, cid, primary = profile.workspace_id, profile.client_id, profile.primary_uuid
        return profile, [
            (r[0], r[1], r[2], json_value(r[3]), full_params_json(r[4], r[0], r[1], cid, ws, primary, r[10:]))
            for r in rows
        ]

    async def _horizon(self) -> tuple[int, int]:
        """The highest event and quarantine seq below which every row is final.

        Seqs are drawn when rows are inserted, and transactions of different processes commit in any
        order, so seq 100 may become visible after 101; a reader that moved past 101 would never see 100.
        Each writer transaction holds an advisory lock keyed by a seq drawn before any of its rows
        (`postgres_backend._BEGIN`). Read the sequences first, then those floors: a transaction that drew a seq before the
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
        floor = await self._floor_bound(workspace_id)  # §15.2
        rows = await self._read(
            f"SELECT {self._event_cols}{EVENT_FROM} WHERE e.workspace_id = %s AND e.seq > %s AND e.seq <= %s"
            " AND e.time_ms >= %s ORDER BY e.seq LIMIT %s",
            (workspace_id, after_seq, horizon, floor, limit),
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

    async def relay_horizon(self) -> int:
        """The relay's cursor stops at the same horizon as the live stream (docs/api.md §14.2)."""
        return (await self._horizon())[0]

    async def latest_seqs(self) -> tuple[int, int]:
        """Where a live stream starts: the horizons (rows above them are delivered later, none skipped)."""
        return await self._horizon()

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

            await self._unit(record)
        rows = await self._read("SELECT kid FROM tracktion_signing_key")
        return str(rows[0][0]) if rows else None


# Any constant works; it only has to be the same in every node (and differ from the migration lock).
_BOOTSTRAP_LOCK = 0x747261636B01
