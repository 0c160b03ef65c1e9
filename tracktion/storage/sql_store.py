"""The reads and admin writes of `tracktion.domain.ports.Store`, written once for SQLite and PostgreSQL.

A backend subclasses `SQLStore` with its `Dialect` and provides the primitives: `_read` (one statement on
its read connections), `_unit` (a job on its writer), `_execute` and `_insert_id` (a statement inside such
a job), plus the few hooks whose SQL really differs. The write path (`write`, `transact`, the transactions
in `sqlite_tx` / `postgres_tx`), the lifecycle and readiness stay in the backends; where a backend overrides
a method of this class, it says why.
"""

from __future__ import annotations

import dataclasses
import uuid as uuidlib
from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from typing import Any, Generic, Protocol, TypeVar

from tracktion.domain.definitions import Definition, DefinitionParam
from tracktion.domain.models import ApiKey, EventRow, Profile, QuarantineRecord, Workspace
from tracktion.domain.ports import (
    EventQuery,
    ProfileDetails,
    QuarantineQuery,
    StoredEvent,
)
from tracktion.errors import ErrorEntry
from tracktion.storage import counters
from tracktion.storage.dialect import Dialect
from tracktion.storage.event_params import endpoint_value, full_params, kind_value
from tracktion.storage.explore_sql import ExploreSQL
from tracktion.storage.filters import definition_filters, event_page, profile_filters, quarantine_filters
from tracktion.storage.lifecycle_sql import LifecycleSQL
from tracktion.storage.relay_store import RelaySQL

T = TypeVar("T")
TxT = TypeVar("TxT")  # the backend's write transaction, as its writer jobs receive it

_MAX_INT64 = 2**63 - 1
# Events with their profile's current identifiers (§8.1); PostgreSQL's `profile_events` selects from it too.
EVENT_FROM = " FROM events e JOIN profiles p ON p.workspace_id = e.workspace_id AND p.client_id = e.client_id"
_KEY_COLS = "id, workspace_id, kind, name, permissions, created_ms, revoked_ms"
_WORKSPACE_COLS = "id, guid, name, created_ms, retention_days"


class Cursor(Protocol):
    """What the shared admin writes use of a driver's cursor (sqlite3 and psycopg both have it)."""

    @property
    def rowcount(self) -> int: ...
    def fetchone(self) -> Any: ...
    def fetchall(self) -> Any: ...


class SQLStore(LifecycleSQL[TxT], RelaySQL[TxT], ExploreSQL, ABC, Generic[TxT]):
    """The shared part of a `Store`: every read and admin write except `profile_events`, whose fast paths
    differ too much to share (each backend has its own); the relay's tables come with `RelaySQL`."""

    def __init__(self, dialect: Dialect) -> None:
        self._d = dialect
        m, t = dialect.mark, dialect.as_text
        # The shared statements' column lists, spelt once for the dialect.
        self._event_cols = (
            f"e.seq, e.workspace_id, {t('e.uuid')}, e.client_id, e.action, {t('e.label')}, e.time_ms,"
            f" {t('e.params')}, e.endpoint, e.kind, p.custom_id, p.email, {t('p.primary_uuid')},"
            f" {dialect.origin_cols}"
        )
        self._quarantine_cols = (
            "seq, workspace_id, id, received_ms, request_id, method, endpoint, item_index, reason, status,"
            f" {t('errors')}, {t('credential')}, {t('item')}, {t('body')}, body_truncated"
        )
        self._profile_by_id = (
            f"SELECT workspace_id, client_id, {t('primary_uuid')}, custom_id, email FROM profiles"
            f" WHERE workspace_id = {m} AND client_id = {m}"
        )

    # -- what a backend provides -----------------------------------------------------------------
    @abstractmethod
    async def _read(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """The rows of one statement, on a read connection (never queued behind the writer)."""

    @abstractmethod
    async def _unit(self, work: Callable[[TxT], T]) -> T:
        """Run `work` as a job of its own on the writer (committed with its group, or failed alone)."""

    @abstractmethod
    def _execute(self, tx: TxT, sql: str, params: Sequence[Any] | None = None) -> Cursor:
        """One statement inside a writer job."""

    @abstractmethod
    def _insert_id(self, tx: TxT, sql: str, params: Sequence[Any]) -> int:
        """Run an INSERT of one row inside a writer job; the id the database gave it."""

    @abstractmethod
    def _lock_first_workspace(self, tx: TxT) -> None:
        """Inside `create_first_workspace`'s job, before its check: make concurrent callers in other
        processes or nodes take turns, so that the check and the inserts cannot interleave."""

    @abstractmethod
    async def _definition_params(self, workspace_id: int, actions: list[str]) -> list[tuple[Any, ...]]:
        """Rows (action, name, types, first, last) of `definition_params` covering `actions` (it may hold
        others, which are skipped), ordered by action then name, both bytewise."""

    async def _write(self, sql: str, params: Sequence[Any]) -> int:
        """One statement as a writer job of its own; the number of rows it changed."""
        return await self._unit(lambda tx: self._execute(tx, sql, params).rowcount)

    # -- rows ------------------------------------------------------------------------------------
    def _stored_event(self, r: tuple[Any, ...]) -> StoredEvent:
        d = self._d
        uuid = d.event_uuid_text(r[2])
        row = EventRow(
            workspace_id=r[1],
            uuid=uuid,
            client_id=r[3],
            action=r[4],
            label=d.free_text(r[5]),
            time_ms=r[6],
            params=full_params(d.json(r[7]), uuid, r[6], r[3], r[1], r[12], r[13:18]),
            endpoint=endpoint_value(r[8]),
            kind=kind_value(r[9]),
            seq=r[0],
        )
        return StoredEvent(row, r[10], r[11])

    def _quarantine(self, r: tuple[Any, ...]) -> QuarantineRecord:
        json = self._d.json
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
            errors=[ErrorEntry(e["code"], e["field"], e["message"], e["rejectedValue"]) for e in json(r[10])],
            credential=json(r[11]),
            item=json(r[12]) if r[12] is not None else None,
            has_item=r[12] is not None,
            body=self._d.free_text(r[13]) if r[13] is not None else None,
            body_truncated=bool(r[14]),
        )

    def _api_key(self, r: tuple[Any, ...]) -> ApiKey:
        return ApiKey(
            id=r[0],
            workspace_id=r[1],
            kind=r[2],
            name=r[3],
            permissions=tuple(self._d.text_list(r[4])),
            created_ms=r[5],
            revoked_ms=r[6],
        )

    def _definitions(
        self, defs: list[tuple[Any, ...]], params_rows: list[tuple[Any, ...]]
    ) -> list[Definition]:
        """From rows of `definitions` (action, kind, first, last, count) and of `definition_params` (action,
        name, types, first, last), both in answer order; params of actions not in `defs` are skipped."""
        name, types_of = self._d.param_name, self._d.text_list
        by_action: dict[str, list[DefinitionParam]] = {d[0]: [] for d in defs}
        for a, raw_name, types, first, last in params_rows:
            found = by_action.get(a)
            if found is not None:
                found.append(DefinitionParam(name(raw_name), tuple(types_of(types)), first, last))
        return [Definition(a, k, f, last, n, tuple(by_action[a])) for a, k, f, last, n in defs]

    # -- reads -----------------------------------------------------------------------------------
    async def profile_details(self, workspace_id: int, client_id: int) -> ProfileDetails | None:
        m, t = self._d.mark, self._d.as_text
        rows = await self._read(
            f"SELECT p.client_id, {t('p.primary_uuid')}, p.custom_id, p.email, p.created_ms, p.updated_ms,"
            f" {t('d.data')} FROM profiles p LEFT JOIN profile_data d"
            " ON d.workspace_id = p.workspace_id AND d.client_id = p.client_id"
            f" WHERE p.workspace_id = {m} AND p.client_id = {m}",
            (workspace_id, client_id),
        )
        if not rows:
            return None
        # On PostgreSQL uuid order = bytewise = the order of the lower-case text SQLite sorts.
        uuids = await self._read(
            f"SELECT {t('uuid')} FROM profile_uuids WHERE workspace_id = {m} AND client_id = {m}"
            " ORDER BY added_ms, uuid",
            (workspace_id, client_id),
        )
        return ProfileDetails.from_rows(rows[0], uuids, self._d.json)

    async def visible(self, query: EventQuery) -> EventQuery:
        """`query` limited to the events its workspace's retention still shows (§15.2)."""
        floor = await self._floor(query.workspace_id)
        if floor is None or (query.from_ms is not None and query.from_ms >= floor):
            return query
        return dataclasses.replace(query, from_ms=floor)

    async def events(self, query: EventQuery) -> list[StoredEvent]:
        if query.client_ids == ():
            return []
        query = await self.visible(query)
        page, params = event_page(query, self._d)
        rows = await self._read(f"SELECT {self._event_cols}{EVENT_FROM}{page}", params)
        return [self._stored_event(r) for r in rows]

    async def event(self, workspace_id: int, uuid: str) -> StoredEvent | None:
        key = self._d.event_uuid(uuid)
        if key is None:
            return None
        m = self._d.mark
        rows = await self._read(
            f"SELECT {self._event_cols}{EVENT_FROM} WHERE e.workspace_id = {m} AND e.uuid = {m}",
            (workspace_id, key),
        )
        if not rows:
            return None
        floor = await self._floor(workspace_id)  # §15.2: past the retention = gone
        return self._stored_event(rows[0]) if floor is None or rows[0][6] >= floor else None

    async def profile(self, workspace_id: int, client_id: int) -> Profile | None:
        rows = await self._read(self._profile_by_id, (workspace_id, client_id))
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
            key = self._d.profile_uuid(uuid)
            if key is None:
                return ()
        where, params = profile_filters(
            workspace_id, self._d, client_id=client_id, custom_id=custom_id, email=email, uuid=key
        )
        rows = await self._read(f"SELECT client_id FROM profiles WHERE {where}", params)
        return tuple(r[0] for r in rows)

    async def definitions(
        self, workspace_id: int, kind: str | None = None, prefix: str | None = None, action: str | None = None
    ) -> list[Definition]:
        where, params = definition_filters(workspace_id, self._d, kind=kind, prefix=prefix, action=action)
        defs = await self._read(
            "SELECT action, kind, first_seen_ms, last_seen_ms, event_count FROM definitions"
            f" WHERE {where} ORDER BY action{self._d.bytewise}",
            params,
        )
        if not defs:
            return []
        return self._definitions(defs, await self._definition_params(workspace_id, [d[0] for d in defs]))

    async def quarantine(self, query: QuarantineQuery) -> list[tuple[int, QuarantineRecord]]:
        floor = self._quarantine_floor()  # §15.2
        if floor is not None and (query.from_ms is None or query.from_ms < floor):
            query = dataclasses.replace(query, from_ms=floor)
        where, params = quarantine_filters(query, self._d)
        rows = await self._read(
            f"SELECT {self._quarantine_cols} FROM quarantine WHERE {where}"
            f" ORDER BY received_ms DESC, seq DESC LIMIT {self._d.mark}",
            [*params, query.limit],
        )
        return [(r[0], self._quarantine(r)) for r in rows]

    async def quarantine_record(self, workspace_id: int, record_id: str) -> QuarantineRecord | None:
        m = self._d.mark
        rows = await self._read(
            f"SELECT {self._quarantine_cols} FROM quarantine WHERE workspace_id = {m} AND id = {m}",
            (workspace_id, record_id),
        )
        floor = self._quarantine_floor()
        return self._quarantine(rows[0]) if rows and (floor is None or rows[0][3] >= floor) else None

    # The live stream (docs/api.md §13.5) as a store whose writers commit one at a time sees it: every seq
    # below the newest is committed, so reading past it skips nothing. PostgreSQL's nodes commit in any
    # order; it overrides these three with its horizon.
    async def events_since(self, workspace_id: int, after_seq: int, limit: int) -> list[StoredEvent]:
        """Writes after `after_seq`, oldest first (the live stream, §13.5)."""
        m = self._d.mark
        floor = await self._floor_bound(workspace_id)  # §15.2
        rows = await self._read(
            f"SELECT {self._event_cols}{EVENT_FROM} WHERE e.seq > {m} AND e.workspace_id = {m}"
            f" AND e.time_ms >= {m} ORDER BY e.seq LIMIT {m}",
            (after_seq, workspace_id, floor, limit),
        )
        return [self._stored_event(r) for r in rows]

    async def quarantine_since(
        self, workspace_id: int, after_seq: int, limit: int
    ) -> list[tuple[int, QuarantineRecord]]:
        m = self._d.mark
        rows = await self._read(
            f"SELECT {self._quarantine_cols} FROM quarantine WHERE seq > {m} AND workspace_id = {m}"
            f" ORDER BY seq LIMIT {m}",
            (after_seq, workspace_id, limit),
        )
        return [(r[0], self._quarantine(r)) for r in rows]

    async def latest_seqs(self) -> tuple[int, int]:
        """The newest event and quarantine sequence numbers (0 when empty): where a live stream starts."""
        rows = await self._read(
            "SELECT (SELECT COALESCE(MAX(seq), 0) FROM events), (SELECT COALESCE(MAX(seq), 0) FROM quarantine)"
        )
        return rows[0][0], rows[0][1]

    async def delete_quarantine(self, workspace_id: int, record_id: str) -> bool:
        if not self._storable(record_id):
            return False
        m = self._d.mark
        where = f"workspace_id = {m} AND id = {m}"
        counted = counters.deleted_records_sql(where)

        def work(tx: TxT) -> bool:
            found = self._execute(tx, counted, (workspace_id, record_id)).fetchall()
            counters.subtract(self._counts(tx), "quarantine", found)
            return (
                self._execute(tx, f"DELETE FROM quarantine WHERE {where}", (workspace_id, record_id)).rowcount
                > 0
            )

        return await self._unit(work)

    # -- workspaces and keys (§2.1, §13.7) -------------------------------------------------------
    async def create_workspace(self, name: str, now_ms: int) -> Workspace:
        return await self._unit(lambda tx: self._insert_workspace(tx, name, now_ms))

    async def create_first_workspace(
        self, name: str, now_ms: int, make_key: Callable[[int], tuple[ApiKey, str]]
    ) -> tuple[Workspace, ApiKey] | None:
        """The first workspace and its key, atomically: one writer job checks and inserts, after
        `_lock_first_workspace` has made other processes' and nodes' callers wait their turn."""

        def work(tx: TxT) -> tuple[Workspace, ApiKey] | None:
            self._lock_first_workspace(tx)
            if self._execute(tx, "SELECT 1 FROM workspaces LIMIT 1").fetchone() is not None:
                return None
            workspace = self._insert_workspace(tx, name, now_ms)
            key, secret_hash = make_key(workspace.id)
            self._insert_api_key(tx, key, secret_hash)
            return workspace, key

        return await self._unit(work)

    async def workspaces(self) -> list[Workspace]:
        return [
            Workspace(*r) for r in await self._read(f"SELECT {_WORKSPACE_COLS} FROM workspaces ORDER BY id")
        ]

    async def workspace(self, ident: str | int) -> Workspace | None:
        m = self._d.mark
        # ASCII digits only (`"¹".isdigit()` is true, `int("¹")` fails); ids beyond int64 exist nowhere.
        if isinstance(ident, int) or (isinstance(ident, str) and ident.isascii() and ident.isdigit()):
            # Length first: `int()` refuses strings past 4300 digits with a ValueError.
            if (isinstance(ident, str) and len(ident.lstrip("0")) > 19) or not 0 < int(ident) <= _MAX_INT64:
                return None
            rows = await self._read(f"SELECT {_WORKSPACE_COLS} FROM workspaces WHERE id = {m}", (int(ident),))
        else:
            rows = await self._read(f"SELECT {_WORKSPACE_COLS} FROM workspaces WHERE guid = {m}", (ident,))
        return Workspace(*rows[0]) if rows else None

    async def create_api_key(self, key: ApiKey, secret_hash: str) -> None:
        await self._unit(lambda tx: self._insert_api_key(tx, key, secret_hash))

    async def api_keys(self, workspace_id: int) -> list[ApiKey]:
        rows = await self._read(
            f"SELECT {_KEY_COLS} FROM api_keys WHERE workspace_id = {self._d.mark}"
            f" ORDER BY created_ms, id{self._d.bytewise}",
            (workspace_id,),
        )
        return [self._api_key(r) for r in rows]

    async def api_key(self, key_id: str) -> ApiKey | None:
        rows = await self._read(f"SELECT {_KEY_COLS} FROM api_keys WHERE id = {self._d.mark}", (key_id,))
        return self._api_key(rows[0]) if rows else None

    async def api_key_by_hash(self, secret_hash: str) -> ApiKey | None:
        rows = await self._read(
            f"SELECT {_KEY_COLS} FROM api_keys WHERE secret_hash = {self._d.mark}", (secret_hash,)
        )
        return self._api_key(rows[0]) if rows else None

    async def revoke_api_key(self, key_id: str, now_ms: int) -> bool:
        m = self._d.mark
        sql = f"UPDATE api_keys SET revoked_ms = {m} WHERE id = {m} AND revoked_ms IS NULL"
        return await self._write(sql, (now_ms, key_id)) > 0

    def _insert_workspace(self, tx: TxT, name: str, now_ms: int) -> Workspace:
        m = self._d.mark
        guid = str(uuidlib.uuid4())
        workspace_id = self._insert_id(
            tx,
            f"INSERT INTO workspaces (guid, name, created_ms) VALUES ({m}, {m}, {m})",
            (guid, name, now_ms),
        )
        return Workspace(workspace_id, guid, name, now_ms)

    def _insert_api_key(self, tx: TxT, key: ApiKey, secret_hash: str) -> None:
        marks = ", ".join([self._d.mark] * 8)
        self._execute(
            tx,
            f"INSERT INTO api_keys ({_KEY_COLS}, secret_hash) VALUES ({marks})",
            (
                key.id,
                key.workspace_id,
                key.kind,
                key.name,
                self._d.text_list_param(list(key.permissions)),
                key.created_ms,
                key.revoked_ms,
                secret_hash,
            ),
        )
