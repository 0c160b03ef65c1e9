"""The relay's tables (docs/api.md §14), written once for SQLite and PostgreSQL: `SQLStore` inherits this.

JSON (config, filter, last error) is stored as text on both backends; nothing queries inside it. Every change
the delivering node makes to a destination row names the lease owner in its WHERE clause, so a node that
lost its lease (paused for longer than the lease, partitioned) can never move the cursor again: its
`record_progress` changes no row and it stops.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Sequence
from typing import Any, Generic, TypeVar

import msgspec

from tracktion.domain.ports import StoredEvent
from tracktion.domain.relay import Destination, ErasureNotice, Failure, Progress, RelayEvent, RelayRow, Replay
from tracktion.storage.dialect import Dialect
from tracktion.storage.event_params import endpoint_value, full_params_json, kind_value

T = TypeVar("T")
TxT = TypeVar("TxT")

_encode = msgspec.json.encode
_decode = msgspec.json.decode
_DEST_COLS = (
    "workspace_id, id, name, type, config, filters, paused, created_ms, cursor_seq, delivered, failed, state,"
    " next_attempt_ms, last_success_ms, last_error, lease_owner, lease_until_ms, version"
)
_FAILURE_COLS = "id, event_uuid, seq, failed_ms, attempts, status, response"
_REPLAY_COLS = (
    "workspace_id, destination_id, id, from_ms, to_ms, actions, only_failed, upto, created_ms, state,"
    " position, matched, delivered, failed"
)
_JOIN = " FROM events e JOIN profiles p ON p.workspace_id = e.workspace_id AND p.client_id = e.client_id"


def _text(value: Any) -> str:
    return _encode(value).decode()


def _json(value: Any) -> Any:
    return None if value is None else _decode(value)


class RelaySQL(ABC, Generic[TxT]):
    """`tracktion.domain.relay.RelayStore` on the primitives `SQLStore` declares (and documents)."""

    _d: Dialect
    _event_cols: str

    @abstractmethod
    async def _read(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]: ...

    @abstractmethod
    async def _unit(self, work: Callable[[TxT], T]) -> T: ...

    @abstractmethod
    def _execute(self, tx: TxT, sql: str, params: Sequence[Any] | None = None) -> Any: ...

    @abstractmethod
    def _stored_event(self, r: tuple[Any, ...]) -> StoredEvent: ...

    @abstractmethod
    def _secure_delete(self, tx: TxT) -> None: ...

    @abstractmethod
    async def _floor_bound(self, workspace_id: int) -> int:
        """The oldest event `time` the workspace's retention still shows (§15.2), as a bound (`LifecycleSQL`)."""

    # -- destinations ----------------------------------------------------------------------------
    @staticmethod
    def _destination(r: tuple[Any, ...]) -> Destination:
        return Destination(
            workspace_id=r[0],
            id=r[1],
            name=r[2],
            type=r[3],
            config=_decode(r[4]),
            filter=_decode(r[5]),
            paused=bool(r[6]),
            created_ms=r[7],
            cursor=r[8],
            delivered=r[9],
            failed=r[10],
            state=r[11],
            next_attempt_ms=r[12],
            last_success_ms=r[13],
            last_error=_json(r[14]),
            lease_owner=r[15],
            lease_until_ms=r[16],
            version=r[17],
        )

    async def create_destination(self, destination: Destination) -> bool:
        m = self._d.mark
        d = destination

        def work(tx: TxT) -> bool:
            taken = self._execute(
                tx,
                f"SELECT 1 FROM destinations WHERE workspace_id = {m} AND name = {m}",
                (d.workspace_id, d.name),
            ).fetchone()
            if taken is not None:
                return False
            self._execute(
                tx,
                f"INSERT INTO destinations ({_DEST_COLS}) VALUES ({', '.join([m] * 18)})",
                (
                    d.workspace_id,
                    d.id,
                    d.name,
                    d.type,
                    _text(d.config),
                    _text(d.filter),
                    d.paused,
                    d.created_ms,
                    d.cursor,
                    0,
                    0,
                    d.state,
                    None,
                    None,
                    None,
                    None,
                    None,
                    1,
                ),
            )
            return True

        return await self._unit(work)

    async def destinations(self, workspace_id: int | None = None) -> list[Destination]:
        if workspace_id is None:
            rows = await self._read(
                f"SELECT {_DEST_COLS} FROM destinations ORDER BY workspace_id, created_ms, id"
            )
        else:
            rows = await self._read(
                f"SELECT {_DEST_COLS} FROM destinations WHERE workspace_id = {self._d.mark} ORDER BY created_ms, id",
                (workspace_id,),
            )
        return [self._destination(r) for r in rows]

    async def destination(self, workspace_id: int, destination_id: str) -> Destination | None:
        m = self._d.mark
        rows = await self._read(
            f"SELECT {_DEST_COLS} FROM destinations WHERE workspace_id = {m} AND id = {m}",
            (workspace_id, destination_id),
        )
        return self._destination(rows[0]) if rows else None

    async def update_destination(self, destination: Destination) -> bool | None:
        m = self._d.mark
        d = destination

        def work(tx: TxT) -> bool | None:
            taken = self._execute(
                tx,
                f"SELECT 1 FROM destinations WHERE workspace_id = {m} AND name = {m} AND id <> {m}",
                (d.workspace_id, d.name, d.id),
            ).fetchone()
            if taken is not None:
                return False
            changed = self._execute(
                tx,
                f"UPDATE destinations SET name = {m}, config = {m}, filters = {m}, paused = {m},"
                f" version = version + 1 WHERE workspace_id = {m} AND id = {m}",
                (d.name, _text(d.config), _text(d.filter), d.paused, d.workspace_id, d.id),
            ).rowcount
            return True if changed else None

        return await self._unit(work)

    async def delete_destination(self, workspace_id: int, destination_id: str) -> bool:
        m = self._d.mark
        key = (workspace_id, destination_id)

        def work(tx: TxT) -> bool:
            self._execute(
                tx, f"DELETE FROM relay_failures WHERE workspace_id = {m} AND destination_id = {m}", key
            )
            self._execute(
                tx, f"DELETE FROM relay_replays WHERE workspace_id = {m} AND destination_id = {m}", key
            )
            # Its erasure notices go with it: there is no one left to tell (and their identifiers in clear
            # must not outlive their use, §15.1).
            self._secure_delete(tx)
            self._execute(
                tx,
                f"DELETE FROM relay_erasure_notices WHERE workspace_id = {m} AND destination_id = {m}",
                key,
            )
            return bool(
                self._execute(
                    tx, f"DELETE FROM destinations WHERE workspace_id = {m} AND id = {m}", key
                ).rowcount
            )

        return await self._unit(work)

    # -- leases and progress ---------------------------------------------------------------------
    async def take_lease(
        self, workspace_id: int, destination_id: str, owner: str, now_ms: int, until_ms: int
    ) -> bool:
        m = self._d.mark
        sql = (
            f"UPDATE destinations SET lease_owner = {m}, lease_until_ms = {m} WHERE workspace_id = {m} AND id = {m}"
            f" AND (lease_owner IS NULL OR lease_owner = {m} OR lease_until_ms < {m})"
        )
        params = (owner, until_ms, workspace_id, destination_id, owner, now_ms)
        return bool(await self._unit(lambda tx: self._execute(tx, sql, params).rowcount))

    async def release_lease(self, workspace_id: int, destination_id: str, owner: str) -> None:
        m = self._d.mark
        sql = (
            "UPDATE destinations SET lease_owner = NULL, lease_until_ms = NULL"
            f" WHERE workspace_id = {m} AND id = {m} AND lease_owner = {m}"
        )
        await self._unit(lambda tx: self._execute(tx, sql, (workspace_id, destination_id, owner)))

    def _progress_sql(
        self, workspace_id: int, destination_id: str, owner: str, sets: list[str], params: list[Any]
    ) -> tuple[str, list[Any]]:
        m = self._d.mark
        sql = f"UPDATE destinations SET {', '.join(sets)} WHERE workspace_id = {m} AND id = {m} AND lease_owner = {m}"
        return sql, [*params, workspace_id, destination_id, owner]

    def _progress_sets(self, p: Progress) -> tuple[list[str], list[Any]]:
        m = self._d.mark
        sets = [f"delivered = delivered + {m}", f"failed = failed + {m}"]
        params: list[Any] = [p.delivered, p.failed]
        if p.cursor is not None:
            # Never backwards, whatever the caller: the cursor is a promise that everything below is done.
            sets.append(f"cursor_seq = CASE WHEN cursor_seq < {m} THEN {m} ELSE cursor_seq END")
            params += [p.cursor, p.cursor]
        if p.state is not None:
            sets += [f"state = {m}", f"next_attempt_ms = {m}"]
            params += [p.state, p.next_attempt_ms]
        if p.last_success_ms is not None:
            sets.append(f"last_success_ms = {m}")
            params.append(p.last_success_ms)
        if p.last_error is not None:
            sets.append(f"last_error = {m}")
            params.append(_text(p.last_error))
        elif p.clear_error:
            sets.append("last_error = NULL")
        return sets, params

    async def record_progress(
        self, workspace_id: int, destination_id: str, owner: str, progress: Progress
    ) -> bool:
        m = self._d.mark
        p = progress
        sets, params = self._progress_sets(p)
        sql, params = self._progress_sql(workspace_id, destination_id, owner, sets, params)
        upsert = (
            f"INSERT INTO relay_failures (workspace_id, destination_id, {_FAILURE_COLS})"
            f" VALUES ({', '.join([m] * 9)}) ON CONFLICT (workspace_id, destination_id, event_uuid) DO UPDATE"
            " SET seq = excluded.seq, failed_ms = excluded.failed_ms,"
            " attempts = relay_failures.attempts + excluded.attempts, status = excluded.status,"
            " response = excluded.response"
        )
        resolve = f"DELETE FROM relay_failures WHERE workspace_id = {m} AND destination_id = {m}"

        def work(tx: TxT) -> bool:
            if not self._execute(tx, sql, params).rowcount:
                return False  # the lease is someone else's now: change nothing
            for f in p.failures:
                self._execute(
                    tx,
                    upsert,
                    (
                        workspace_id,
                        destination_id,
                        f.id,
                        f.event_uuid,
                        f.seq,
                        f.failed_ms,
                        f.attempts,
                        f.status,
                        f.response,
                    ),
                )
            if p.resolved:
                condition, values = self._d.one_of("event_uuid", p.resolved, "text")
                self._execute(tx, f"{resolve} AND {condition}", (workspace_id, destination_id, *values))
            return True

        return await self._unit(work)

    # -- erasure notices (§15.1) -----------------------------------------------------------------
    async def erasure_notices(
        self, workspace_id: int, destination_id: str, limit: int
    ) -> list[ErasureNotice]:
        m = self._d.mark
        rows = await self._read(
            "SELECT workspace_id, destination_id, erasure_id, identifiers, created_ms FROM relay_erasure_notices"
            f" WHERE workspace_id = {m} AND destination_id = {m} ORDER BY created_ms, erasure_id LIMIT {m}",
            (workspace_id, destination_id, limit),
        )
        return [ErasureNotice(r[0], r[1], r[2], _decode(r[3]), r[4]) for r in rows]

    async def ack_erasure_notice(
        self, workspace_id: int, destination_id: str, erasure_id: str, owner: str, progress: Progress
    ) -> bool:
        m = self._d.mark
        sets, params = self._progress_sets(progress)
        sql, params = self._progress_sql(workspace_id, destination_id, owner, sets, params)
        delete = (
            f"DELETE FROM relay_erasure_notices WHERE workspace_id = {m} AND destination_id = {m}"
            f" AND erasure_id = {m}"
        )

        def work(tx: TxT) -> bool:
            if not self._execute(tx, sql, params).rowcount:
                return False
            self._secure_delete(tx)  # the identifiers in clear leave nothing in the free pages
            self._execute(tx, delete, (workspace_id, destination_id, erasure_id))
            return True

        return await self._unit(work)

    def _relay_event(self, r: tuple[Any, ...]) -> RelayEvent:
        e = self._stored_event(r)
        return RelayEvent(e.row, e.custom_id, e.email, r[-1])  # text on both backends

    # -- what is delivered -----------------------------------------------------------------------
    async def relay_horizon(self) -> int:
        """Where writers commit one at a time (SQLite), every seq up to the newest is final. PostgreSQL
        overrides this with its horizon."""
        rows = await self._read("SELECT COALESCE(MAX(seq), 0) FROM events")
        return int(rows[0][0])

    async def relay_events(
        self, workspace_id: int, after_seq: int, upto_seq: int, limit: int
    ) -> list[RelayEvent]:
        rows = await self._relay_range(workspace_id, after_seq, upto_seq, limit)
        return [self._relay_event(r) for r in rows]

    async def _relay_range(
        self, workspace_id: int, after_seq: int, upto_seq: int, limit: int
    ) -> list[tuple[Any, ...]]:
        """The workspace's writes with after_seq < seq <= upto_seq, in seq order (`seq_walk`: the seq range,
        not the workspace index, which would read and sort all of the workspace's events)."""
        m = self._d.mark
        # Events past the workspace's retention are gone from every read at once (§15.2), the relay's too,
        # though the background deletion has not reached them yet.
        floor = await self._floor_bound(workspace_id)
        return await self._read(
            f"SELECT {self._event_cols}, {self._d.as_text('p.primary_uuid')}{_JOIN}"
            f" WHERE {self._d.seq_walk('e.workspace_id')} = {m} AND e.seq > {m} AND e.seq <= {m}"
            f" AND e.time_ms >= {m} ORDER BY e.seq LIMIT {m}",
            (workspace_id, after_seq, upto_seq, floor, limit),
        )

    async def relay_rows(
        self, workspace_id: int, after_seq: int, upto_seq: int, limit: int
    ) -> list[RelayRow]:
        rows = await self._relay_range(workspace_id, after_seq, upto_seq, limit)
        uuid_text, free_text = self._d.event_uuid_text, self._d.free_text
        out = []
        for r in rows:
            uuid = uuid_text(r[2])
            # The params as read (§7.2): the stored caller's params with the system params spliced in, and
            # endpoint and kind by name (`storage.event_params`), as `_stored_event` reads them.
            params = full_params_json(r[7], uuid, r[6], r[3], r[1], r[12], r[13:18])
            out.append(
                RelayRow(
                    r[0], r[1], uuid, r[3], r[4], free_text(r[5]), r[6], params,
                    endpoint_value(r[8]), kind_value(r[9]), r[10], r[11], r[12],
                )
            )  # fmt: skip
        return out

    async def relay_lag(self, workspace_id: int, after_seq: int) -> tuple[int, int | None, int | None]:
        m = self._d.mark
        rows = await self._read(
            f"SELECT COUNT(*), MIN(seq), MAX(seq) FROM events WHERE {self._d.seq_walk('workspace_id')} = {m}"
            f" AND seq > {m}",
            (workspace_id, after_seq),
        )
        return int(rows[0][0]), rows[0][1], rows[0][2]

    # -- failures --------------------------------------------------------------------------------
    async def failures(
        self, workspace_id: int, destination_id: str, after_seq: int, limit: int
    ) -> list[Failure]:
        m = self._d.mark
        rows = await self._read(
            f"SELECT {_FAILURE_COLS} FROM relay_failures WHERE workspace_id = {m} AND destination_id = {m}"
            f" AND seq > {m} ORDER BY seq LIMIT {m}",
            (workspace_id, destination_id, after_seq, limit),
        )
        return [Failure(*r) for r in rows]

    async def failed_events(
        self, workspace_id: int, destination_id: str, after_seq: int, upto_seq: int, limit: int
    ) -> list[RelayEvent]:
        m = self._d.mark
        floor = await self._floor_bound(workspace_id)  # §15.2, as `_relay_range`
        rows = await self._read(
            f"SELECT {self._event_cols}, {self._d.as_text('p.primary_uuid')}{_JOIN} JOIN relay_failures f ON f.workspace_id = e.workspace_id"
            f" AND f.destination_id = {m} AND f.seq = e.seq"
            f" WHERE e.workspace_id = {m} AND e.seq > {m} AND e.seq <= {m} AND e.time_ms >= {m}"
            f" ORDER BY e.seq LIMIT {m}",
            (destination_id, workspace_id, after_seq, upto_seq, floor, limit),
        )
        return [self._relay_event(r) for r in rows]

    # -- replays ---------------------------------------------------------------------------------
    @staticmethod
    def _replay(r: tuple[Any, ...]) -> Replay:
        return Replay(
            workspace_id=r[0],
            destination_id=r[1],
            id=r[2],
            from_ms=r[3],
            to_ms=r[4],
            actions=tuple(_decode(r[5])),
            only_failed=bool(r[6]),
            upto=r[7],
            created_ms=r[8],
            state=r[9],
            position=r[10],
            matched=r[11],
            delivered=r[12],
            failed=r[13],
        )

    async def create_replay(self, replay: Replay) -> None:
        m = self._d.mark
        r = replay
        sql = f"INSERT INTO relay_replays ({_REPLAY_COLS}) VALUES ({', '.join([m] * 14)})"
        params = (
            r.workspace_id,
            r.destination_id,
            r.id,
            r.from_ms,
            r.to_ms,
            _text(list(r.actions)),
            r.only_failed,
            r.upto,
            r.created_ms,
            r.state,
            r.position,
            r.matched,
            r.delivered,
            r.failed,
        )
        await self._unit(lambda tx: self._execute(tx, sql, params))

    async def replay(self, workspace_id: int, destination_id: str, replay_id: str) -> Replay | None:
        m = self._d.mark
        rows = await self._read(
            f"SELECT {_REPLAY_COLS} FROM relay_replays WHERE workspace_id = {m} AND destination_id = {m} AND id = {m}",
            (workspace_id, destination_id, replay_id),
        )
        return self._replay(rows[0]) if rows else None

    async def open_replays(self, workspace_id: int, destination_id: str) -> list[Replay]:
        m = self._d.mark
        rows = await self._read(
            f"SELECT {_REPLAY_COLS} FROM relay_replays WHERE workspace_id = {m} AND destination_id = {m}"
            " AND state <> 'done' ORDER BY created_ms, id",
            (workspace_id, destination_id),
        )
        return [self._replay(r) for r in rows]

    async def update_replay(self, replay: Replay) -> None:
        m = self._d.mark
        r = replay
        sql = (
            f"UPDATE relay_replays SET state = {m}, position = {m}, matched = {m}, delivered = {m}, failed = {m}"
            f" WHERE workspace_id = {m} AND destination_id = {m} AND id = {m}"
        )
        params = (
            r.state,
            r.position,
            r.matched,
            r.delivered,
            r.failed,
            r.workspace_id,
            r.destination_id,
            r.id,
        )
        await self._unit(lambda tx: self._execute(tx, sql, params))
