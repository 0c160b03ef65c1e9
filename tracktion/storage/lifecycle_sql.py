"""The data lifecycle's statements (docs/api.md §15), written once for SQLite and PostgreSQL: erasure,
suppressions, retention. `SQLStore` inherits them; they use its primitives (`_read`, `_unit`, `_execute`)
and its `Dialect`, plus three hooks a backend may fill (`_secure_delete`, `_forget_identities`,
`_after_erasure`).

Every deletion is a writer job of its own touching at most `chunk_rows` rows, chosen by a read first (so an
idle store costs reads only, never a commit): live requests queue behind one chunk at most.
"""

from __future__ import annotations

import secrets
import time
import uuid as uuidlib
from collections.abc import Callable, Sequence
from typing import Any, Generic, TypeVar

import msgspec

from tracktion.domain.lifecycle import (
    DAY_MS,
    Erasure,
    Suppression,
    digest,
    identifier_keys,
    names_identifier,
)
from tracktion.domain.models import Workspace
from tracktion.storage import counters
from tracktion.storage.counters import PendingCounts
from tracktion.storage.dialect import Dialect

T = TypeVar("T")
TxT = TypeVar("TxT")

_RETENTION_TTL = 1.0  # seconds a process trusts its copy of the workspaces' retention (see `_floor`)
_ERASURE_COLS = (
    "id, workspace_id, client_id, state, requested_ms, completed_ms, deleted_events, deleted_quarantine,"
    " suppress, {identifiers}, quarantine_after, quarantine_until, deleted_relay_failures"
)


def _wall_ms() -> int:
    return time.time_ns() // 1_000_000


class LifecycleSQL(Generic[TxT]):
    _d: Dialect
    # The clock of the retention floors; the app sets it to its own (tests inject theirs).
    clock_ms: Callable[[], int] = staticmethod(_wall_ms)
    # TRACKTION_QUARANTINE_RETENTION_DAYS as the app configured it; 0 = keep forever (the store's default,
    # so a store opened by a tool hides nothing).
    quarantine_retention_days: int = 0
    _retention_cache: tuple[float, dict[int, int]] | None = None

    # -- the primitives SQLStore provides --------------------------------------------------------------
    async def _read(self, sql: str, params: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        raise NotImplementedError

    async def _unit(self, work: Callable[[TxT], T]) -> T:
        raise NotImplementedError

    def _execute(self, tx: TxT, sql: str, params: Sequence[Any] | None = None) -> Any:
        raise NotImplementedError

    def _counts(self, tx: TxT) -> PendingCounts:
        """The transaction's §13.6a counter deltas (`storage.counters`)."""
        raise NotImplementedError

    # -- backend hooks ---------------------------------------------------------------------------------
    def _secure_delete(self, tx: TxT) -> None:
        """Inside a job about to delete personal data: make the deleted bytes unrecoverable from the files.
        SQLite zeroes freed cells and pages (`PRAGMA secure_delete`); PostgreSQL's VACUUM reclaims them."""

    def _forget_identities(self, tx: TxT) -> None:
        """Inside the erasure's job: drop the writer's cached identifier → profile answers."""

    async def _after_erasure(self) -> None:
        """After an erasure is done: remove what the backend still keeps of the deleted rows elsewhere (the
        SQLite WAL)."""

    def _storable(self, value: Any) -> bool:
        """Whether the database can hold `value` at all (PostgreSQL text cannot hold U+0000); one it cannot
        hold matches no row."""
        return True

    # -- retention floors (reads) ----------------------------------------------------------------------
    async def _floor(self, workspace_id: int) -> int | None:
        """The oldest event `time` a read of this workspace may show (§15.2), or None. The retention of
        every workspace is read at most once per `_RETENTION_TTL` per process (a change made here is seen at
        once: `set_retention` drops the copy), so the hot reads pay a dict lookup."""
        now = time.monotonic()
        cached = self._retention_cache
        if cached is None or now - cached[0] > _RETENTION_TTL:
            rows = await self._read(
                "SELECT id, retention_days FROM workspaces WHERE retention_days IS NOT NULL"
            )
            cached = self._retention_cache = (now, {r[0]: r[1] for r in rows})
        days = cached[1].get(workspace_id)
        return None if days is None else self.clock_ms() - days * DAY_MS

    async def _floor_bound(self, workspace_id: int) -> int:
        """`_floor` as the bound of a `time_ms >= ?` condition: the lowest int64 when nothing is hidden."""
        floor = await self._floor(workspace_id)
        return -(2**63) if floor is None else floor

    def _quarantine_floor(self) -> int | None:
        days = self.quarantine_retention_days
        return None if days <= 0 else self.clock_ms() - days * DAY_MS

    # -- retention (§15.2) -----------------------------------------------------------------------------
    async def set_retention(self, workspace_id: int, days: int | None) -> Workspace | None:
        m = self._d.mark
        sql = f"UPDATE workspaces SET retention_days = {m} WHERE id = {m}"
        changed = await self._unit(lambda tx: self._execute(tx, sql, (days, workspace_id)).rowcount)
        self._retention_cache = None
        if not changed:
            return None
        rows = await self._read(
            f"SELECT id, guid, name, created_ms, retention_days FROM workspaces WHERE id = {m}",
            (workspace_id,),
        )
        return Workspace(*rows[0])

    async def retention_step(self, chunk_rows: int, now_ms: int, quarantine_retention_days: int) -> int:
        """Delete one chunk of expired events (or, when none is left, of expired quarantine records); the
        number of rows deleted, 0 when there is nothing to do."""
        m = self._d.mark
        for workspace_id, days in await self._read(
            "SELECT id, retention_days FROM workspaces WHERE retention_days IS NOT NULL ORDER BY id"
        ):
            seqs = await self._read(
                f"SELECT seq FROM events WHERE workspace_id = {m} AND time_ms < {m} LIMIT {m}",
                (workspace_id, now_ms - days * DAY_MS, chunk_rows),
            )
            if seqs:
                return await self._delete_seqs("events", workspace_id, [s for (s,) in seqs])
        if quarantine_retention_days > 0:
            cutoff = now_ms - quarantine_retention_days * DAY_MS
            for (workspace_id,) in await self._read("SELECT id FROM workspaces ORDER BY id"):
                seqs = await self._read(
                    f"SELECT seq FROM quarantine WHERE workspace_id = {m} AND received_ms < {m} LIMIT {m}",
                    (workspace_id, cutoff, chunk_rows),
                )
                if seqs:
                    return await self._delete_seqs("quarantine", workspace_id, [s for (s,) in seqs])
        return 0

    async def _delete_seqs(self, table: str, workspace_id: int, seqs: list[int], then: Any = None) -> int:
        condition, params = self._d.one_of("seq", seqs, "bigint")
        # `seq_walk`: on SQLite, `workspace_id = ?` alone let the planner search the workspace's whole
        # `events_by_time` index for the listed seqs (100-400 ms per chunk at 300k events, whatever the
        # chunk's size, inside the write transaction: live writes waited for it) instead of the rowids.
        where = f"{self._d.seq_walk('workspace_id')} = {self._d.mark} AND {condition}"
        sql = f"DELETE FROM {table} WHERE {where}"
        # What goes is subtracted from the §13.6a counters in the same commit.
        counted = (
            counters.deleted_events_sql(self._d.received_minute, where)
            if table == "events"
            else counters.deleted_records_sql(where)
        )

        def work(tx: TxT) -> int:
            self._secure_delete(tx)
            found = self._execute(tx, counted, [workspace_id, *params]).fetchall()
            counters.subtract(self._counts(tx), table, found)
            n: int = self._execute(tx, sql, [workspace_id, *params]).rowcount
            if then is not None:
                then(tx, n)
            return n

        return await self._unit(work)

    # -- erasure (§15.1) -------------------------------------------------------------------------------
    async def erase(
        self, workspace_id: int, by: str, value: Any, *, suppress: bool, now_ms: int, erasure_id: str
    ) -> Erasure | None:
        """In one job: find the profile `by` (`clientId`, `customId`, `email`, `uuid`) names, record the
        erasure (and its suppression), and delete the profile's rows, so that it and its events are gone
        from every read from this commit on. None when no profile of the workspace has that identifier."""
        d, m = self._d, self._d.mark
        if by == "uuid":
            value = d.profile_uuid(value) if isinstance(value, str) else None
        if value is None or not self._storable(value):
            return None
        column = {"clientId": "client_id", "customId": "custom_id", "email": "email_lower"}.get(by)
        if column is not None:
            find = f"SELECT client_id FROM profiles WHERE workspace_id = {m} AND {column} = {m}"
            key = value.lower() if by == "email" else value
        else:
            find = f"SELECT client_id FROM profile_uuids WHERE workspace_id = {m} AND uuid = {m}"
            key = value
        t = d.as_text

        def work(tx: TxT) -> Erasure | None:
            found = self._execute(tx, find, (workspace_id, key)).fetchone()
            if found is None:
                return None
            client_id = found[0]
            profile = self._execute(
                tx,
                f"SELECT custom_id, email, {t('primary_uuid')} FROM profiles"
                f" WHERE workspace_id = {m} AND client_id = {m}",
                (workspace_id, client_id),
            ).fetchone()
            if profile is None:  # a uuid row without its profile: not a profile of this workspace
                return None
            uuids = self._execute(
                tx,
                f"SELECT {t('uuid')} FROM profile_uuids WHERE workspace_id = {m} AND client_id = {m}"
                " ORDER BY added_ms, uuid",
                (workspace_id, client_id),
            ).fetchall()
            identifiers = {
                "clientId": client_id,
                "customId": profile[0],
                "email": profile[1],
                "uuids": [str(u) for (u,) in uuids],
            }
            # Quarantine records up to here are searched for the identifiers; later ones cannot name them
            # (suppressed writes keep no item), or name a new profile (not suppressed: fair game).
            (until,) = self._execute(
                tx, f"SELECT COALESCE(MAX(seq), 0) FROM quarantine WHERE workspace_id = {m}", (workspace_id,)
            ).fetchone()
            self._execute(
                tx,
                "INSERT INTO erasures (id, workspace_id, client_id, state, requested_ms, suppress,"
                f" quarantine_until, identifiers) VALUES ({m}, {m}, {m}, 'pending', {m}, {m}, {m}, {m})",
                (erasure_id, workspace_id, client_id, now_ms, suppress, until, _json(identifiers)),
            )
            # §15.1: every destination of the workspace is told, durably: a notice each, carrying what the
            # destination needs to find the person on its side (the primary uuid too, which the synerise
            # type sent with each event). The relay deletes a notice when its destination acknowledged it.
            notice = {**identifiers, "uuid": str(profile[2]) if profile[2] is not None else None}
            self._execute(
                tx,
                "INSERT INTO relay_erasure_notices (workspace_id, destination_id, erasure_id, identifiers,"
                f" created_ms) SELECT workspace_id, id, {m}, {m}, {m} FROM destinations WHERE workspace_id = {m}",
                (erasure_id, _json(notice), now_ms, workspace_id),
            )
            if suppress:
                secret = self._workspace_secret(tx, workspace_id)
                digests = sorted(digest(secret, k) for k in identifier_keys(identifiers))
                self._execute(
                    tx,
                    "INSERT INTO suppressions (workspace_id, id, digests, created_ms, erasure_id)"
                    f" VALUES ({m}, {m}, {m}, {m}, {m})",
                    (workspace_id, str(uuidlib.uuid4()), _json(digests), now_ms, erasure_id),
                )
            self._secure_delete(tx)
            for table in ("profile_uuids", "profile_data", "profiles"):
                self._execute(
                    tx,
                    f"DELETE FROM {table} WHERE workspace_id = {m} AND client_id = {m}",
                    (workspace_id, client_id),
                )
            self._forget_identities(tx)
            return Erasure(
                erasure_id,
                workspace_id,
                client_id,
                "pending",
                now_ms,
                suppress=suppress,
                identifiers=identifiers,
            )

        return await self._unit(work)

    def _delete_relay_failures(
        self, tx: TxT, workspace_id: int, destinations: list[str], uuids: list[str]
    ) -> int:
        """Delete the failure records (§14.3) of these events at every destination; how many were."""
        if not destinations or not uuids:
            return 0
        condition, params = self._d.one_of("event_uuid", uuids, "text")
        sql = (
            f"DELETE FROM relay_failures WHERE workspace_id = {self._d.mark} AND destination_id = {self._d.mark}"
            f" AND {condition}"
        )
        return sum(int(self._execute(tx, sql, [workspace_id, d, *params]).rowcount) for d in destinations)

    def _workspace_secret(self, tx: TxT, workspace_id: int) -> bytes:
        m = self._d.mark
        self._execute(
            tx,
            f"INSERT INTO workspace_secrets (workspace_id, secret) VALUES ({m}, {m}) ON CONFLICT DO NOTHING",
            (workspace_id, secrets.token_bytes(32)),
        )
        row = self._execute(
            tx, f"SELECT secret FROM workspace_secrets WHERE workspace_id = {m}", (workspace_id,)
        ).fetchone()
        return bytes(row[0])

    def _erasure(self, r: tuple[Any, ...]) -> Erasure:
        return Erasure(
            id=r[0],
            workspace_id=r[1],
            client_id=r[2],
            state=r[3],
            requested_ms=r[4],
            completed_ms=r[5],
            deleted_events=r[6],
            deleted_quarantine=r[7],
            suppress=bool(r[8]),
            identifiers=self._d.json(r[9]) if r[9] is not None else {},
            deleted_relay_failures=r[12],
        )

    def _erasure_cols(self) -> str:
        return _ERASURE_COLS.format(identifiers=self._d.as_text("identifiers"))

    async def erasure(self, workspace_id: int, erasure_id: str) -> Erasure | None:
        if not self._storable(erasure_id):
            return None
        m = self._d.mark
        rows = await self._read(
            f"SELECT {self._erasure_cols()} FROM erasures WHERE workspace_id = {m} AND id = {m}",
            (workspace_id, erasure_id),
        )
        return self._erasure(rows[0]) if rows else None

    async def erasures(self, workspace_id: int) -> list[Erasure]:
        rows = await self._read(
            f"SELECT {self._erasure_cols()} FROM erasures WHERE workspace_id = {self._d.mark}"
            f" ORDER BY requested_ms DESC, id{self._d.bytewise}",
            (workspace_id,),
        )
        return [self._erasure(r) for r in rows]

    async def erasure_step(self, chunk_rows: int, now_ms: int) -> bool:
        """One chunk of the oldest unfinished erasure: its events first, then the quarantine records that
        name its identifiers, then it is marked done (and its identifiers forgotten). False when no erasure
        is waiting. Progress is in the erasure's row, so a restart resumes where the last commit left off."""
        rows = await self._read(
            f"SELECT {self._erasure_cols()} FROM erasures WHERE state <> 'done' ORDER BY requested_ms, id LIMIT 1"
        )
        if not rows:
            return False
        r = rows[0]
        erasure = self._erasure(r)
        ws, m = erasure.workspace_id, self._d.mark
        after, until = r[10], r[11]
        progress = f"UPDATE erasures SET state = 'running', {{column}} = {{column}} + {m} WHERE workspace_id = {m} AND id = {m}"
        seqs = await self._read(
            f"SELECT seq, uuid FROM events WHERE workspace_id = {m} AND client_id = {m} LIMIT {m}",
            (ws, erasure.client_id, chunk_rows),
        )
        if seqs:
            sql = progress.format(column="deleted_events")
            failures_sql = progress.format(column="deleted_relay_failures")
            uuids = [str(self._d.event_uuid_text(u)) for (_, u) in seqs]
            destinations = [
                d for (d,) in await self._read(f"SELECT id FROM destinations WHERE workspace_id = {m}", (ws,))
            ]

            def then(tx: TxT, n: int) -> None:
                self._execute(tx, sql, (n, ws, erasure.id))
                # The relay failures of these events, in the same commit (§15.1), counted on the receipt.
                gone = self._delete_relay_failures(tx, ws, destinations, uuids)
                if gone:
                    self._execute(tx, failures_sql, (gone, ws, erasure.id))

            await self._delete_seqs("events", ws, [s for (s, _) in seqs], then=then)
            return True
        if after < until:
            t = self._d.as_text
            found = await self._read(
                f"SELECT seq, {t('item')}, {t('body')} FROM quarantine WHERE workspace_id = {m} AND seq > {m}"
                f" AND seq <= {m} ORDER BY seq LIMIT {m}",
                (ws, after, until, chunk_rows),
            )
            last = found[-1][0] if found else until
            doomed = [
                seq
                for seq, item, body in found
                if (item is not None and names_identifier(self._d.json(item), erasure.identifiers))
                or (body is not None and names_identifier(self._d.free_text(body), erasure.identifiers))
            ]
            sql = progress.format(column="deleted_quarantine")
            advance = f"UPDATE erasures SET state = 'running', quarantine_after = {m} WHERE workspace_id = {m} AND id = {m}"

            def then(tx: TxT, n: int) -> None:
                self._execute(tx, sql, (n, ws, erasure.id))
                self._execute(tx, advance, (last, ws, erasure.id))

            if doomed:
                await self._delete_seqs("quarantine", ws, doomed, then=then)
            else:
                await self._unit(lambda tx: then(tx, 0))
            return True
        # Done. The identifiers are kept until here because the quarantine search needs them; the receipt
        # keeps only the clientId. Destinations (§15.1) are told from their own notices
        # (`relay_erasure_notices`, written with the erasure), each deleted when acknowledged.
        done = (
            f"UPDATE erasures SET state = 'done', completed_ms = {m}, identifiers = NULL"
            f" WHERE workspace_id = {m} AND id = {m}"
        )

        def finish(tx: TxT) -> None:
            self._secure_delete(tx)
            self._execute(tx, done, (now_ms, ws, erasure.id))

        await self._unit(finish)
        await self._after_erasure()
        return True

    # -- suppressions (§15.1) --------------------------------------------------------------------------
    async def suppression_digests(self, workspace_id: int) -> tuple[bytes | None, frozenset[str]]:
        """The workspace's secret and every suppressed digest (what a write is checked against)."""
        m = self._d.mark
        rows = await self._read(
            f"SELECT {self._d.as_text('digests')} FROM suppressions WHERE workspace_id = {m}", (workspace_id,)
        )
        if not rows:
            return None, frozenset()
        found = await self._read(
            f"SELECT secret FROM workspace_secrets WHERE workspace_id = {m}", (workspace_id,)
        )
        out: set[str] = set()
        for (digests,) in rows:
            out.update(self._d.json(digests))
        return (bytes(found[0][0]) if found else None), frozenset(out)

    async def suppressions(self, workspace_id: int) -> list[Suppression]:
        rows = await self._read(
            f"SELECT id, workspace_id, created_ms, erasure_id FROM suppressions WHERE workspace_id = {self._d.mark}"
            f" ORDER BY created_ms DESC, id{self._d.bytewise}",
            (workspace_id,),
        )
        return [Suppression(*r) for r in rows]

    async def delete_suppression(self, workspace_id: int, suppression_id: str) -> bool:
        if not self._storable(suppression_id):
            return False
        m = self._d.mark
        sql = f"DELETE FROM suppressions WHERE workspace_id = {m} AND id = {m}"
        return bool(
            await self._unit(lambda tx: self._execute(tx, sql, (workspace_id, suppression_id)).rowcount)
        )


def _json(value: Any) -> str:
    return msgspec.json.encode(value).decode()
