"""The PostgreSQL write transaction as the domain sees it (`tracktion.domain.ports.WriteTx`).

Many tracktion nodes write to one database at once, each with its own group-commit writer. What keeps
that correct:

* **Identity races** (two nodes creating a profile for the same new e-mail, taking the same uuid, setting
  the same customId). Unique keys decide: profile and uuid inserts are `INSERT … ON CONFLICT DO NOTHING`,
  identifier updates are guarded (`WHERE custom_id IS NULL`) and may hit a unique violation. Whenever one
  of them finds that another transaction got there first (`_Conflict`), `run_unit` rolls the job back
  to its savepoint and runs the whole unit of work again, inside the same transaction. The winner has
  committed by then (PostgreSQL makes the loser wait for it), and READ COMMITTED lets the re-run see it,
  so the domain re-plans exactly as if the request had arrived after the winner: the event lands on the
  winner's profile and only identifiers nobody owns are attached (§9.2–§9.4). Retrying the unit of work
  keeps all identity rules in `tracktion.domain.identity`; the store never second-guesses them.
* **Salted upserts** are one `INSERT … ON CONFLICT (workspace_id, uuid) DO NOTHING RETURNING seq` (a new
  event: one round trip); on a conflict, which waits for a concurrent inserter to commit, one `UPDATE` locks
  and overwrites the stored row: whoever commits second overwrites, and exactly one of them counts as the
  insert.
* **Definition counters** are `ON CONFLICT DO UPDATE SET event_count = definitions.event_count +
  excluded.event_count`, and param types are merged in SQL (array union), so no read-modify-write is lost.
  They are applied once per commit, after every job of the group, in (workspace, action, name) order: every
  node locks definition rows in the same order and only at the very end of its transaction, so these hot
  rows cannot take part in a deadlock and are held for the shortest time.
* **Deadlocks** between two nodes' group transactions (e.g. identifiers of the same profiles changed in
  opposite orders) are detected by PostgreSQL; the writer rolls the group back and runs its requests
  again, each in its own transaction (`postgres_backend.PostgresBackend.retryable`, `writer.run_group`).
"""

from __future__ import annotations

import json
import logging
import uuid as uuidlib
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

import msgspec
import psycopg
from psycopg import errors as pgerrors

from tracktion.domain.definitions import DefinitionDelta, PendingDefinitions
from tracktion.domain.ingest import Applied, apply_write
from tracktion.domain.models import EventRow, Profile, QuarantineRecord, WriteRequest, WriteResult
from tracktion.storage import counters
from tracktion.storage.counters import POSTGRES_RECEIVED_MINUTE, PendingCounts
from tracktion.storage.event_params import endpoint_code, kind_code, origin_columns

_encode = msgspec.json.encode
_decode = msgspec.json.decode
T = TypeVar("T")

log = logging.getLogger("tracktion.storage")
JOB_SAVEPOINT = "job"
# Re-runs of one unit of work after losing an identity race. Each re-run follows a commit by another
# node that touched the same identifiers, so this is only reached under extreme contention; past it the
# job fails like any other bug (500) rather than spin.
MAX_ATTEMPTS = 8

_PROFILE_COLS = "workspace_id, client_id, primary_uuid::text, custom_id, email"
_EVENT_COLS = (
    "workspace_id, uuid, client_id, action, label, time_ms, params, endpoint, kind,"
    " created_ms, ip, modified_by, client_uuid, sent_time"  # the §7.2 origin: `storage.event_params`
)
_INSERT_SALTED = (
    f"INSERT INTO events ({_EVENT_COLS}) VALUES ({', '.join(['%s'] * 14)})"
    " ON CONFLICT (workspace_id, uuid) DO NOTHING RETURNING seq"
)
# (workspace_id, uuid, label, params, endpoint, the five origin columns) -> the stored row's receive minute.
_OVERWRITE_SALTED = (
    f"WITH old AS (SELECT workspace_id, seq, {POSTGRES_RECEIVED_MINUTE} AS minute FROM events"
    " WHERE workspace_id = %s AND uuid = %s FOR UPDATE)"
    " UPDATE events e SET seq = nextval('tracktion_event_seq'), label = %s, params = %s, endpoint = %s,"
    " created_ms = %s, ip = %s, modified_by = %s, client_uuid = %s, sent_time = %s"
    " FROM old WHERE e.workspace_id = old.workspace_id AND e.seq = old.seq RETURNING old.minute"
)
_QUARANTINE_COLS = (
    "workspace_id, id, received_ms, request_id, method, endpoint, item_index, reason, status, errors,"
    " credential, item, body, body_truncated"
)


class _Conflict(Exception):
    """Another transaction committed an identifier this job planned to take: re-run the job."""


def _profile(row: tuple[Any, ...] | None) -> Profile | None:
    return Profile(*row) if row else None


def json_text(value: Any) -> str:
    """A value as JSON text for a `json` column. NUL-safe (U+0000 becomes the escape `\\u0000`); escaped lone
    surrogates the body decoder let through (msgspec cannot write them as UTF-8) stay escaped, which the
    `json` type accepts, as SQLite's `encode_json` does."""
    try:
        return _encode(value).decode()
    except UnicodeEncodeError:
        return json.dumps(value, ensure_ascii=True, separators=(",", ":"))


def param_name(name: str) -> bytes:
    """A definition param name as stored (bytea): UTF-8, lone surrogates kept (`surrogatepass`)."""
    return name.encode("utf-8", "surrogatepass")


def json_value(text: str) -> Any:
    """Inverse of `json_text`."""
    try:
        return _decode(text)
    except msgspec.DecodeError:
        return json.loads(text)


class PostgresTx:
    """The domain's view of one write transaction on the writer's connection."""

    def __init__(self, conn: psycopg.Connection[Any]) -> None:
        self.conn = conn
        # Statements of the group (prefetch, the final COPY, definitions) go through `_raw`; a job's own go
        # through `cur`, which opens the job's savepoint first. A job that sends nothing (events of known
        # profiles: rows wait for the group's COPY) needs no savepoint and costs no round trip.
        self._raw = conn.cursor()
        self.cur: Any = _JobCursor(self._raw, self)
        self._job_open = False  # the running job has sent its SAVEPOINT
        self._release_pending = False  # a released job's savepoint is still open on the server
        # Identity lookups for every request of the group (one query before BEGIN, see `prefetch_group`),
        # plus what released jobs learnt or changed; None = off (each job prefetches for itself).
        self._group_known: dict[tuple[str, int, Any], Profile | None] | None = None
        self._pending: list[tuple[Any, ...]] = []  # unsalted inserts of the current job
        # Unsalted inserts of the jobs already released, written in one COPY at commit (`finish`): one round
        # trip per job fewer, the writer's main cost on this backend (it waits on the network, not the CPU).
        self._group_rows: list[tuple[Any, ...]] = []
        # Definition deltas: of the running job, and of the jobs already released in this group.
        self.definitions = PendingDefinitions()
        # §13.6a counters, job-scoped like the definitions and written with them; `received_ms` is the
        # running request's (set by `apply_request`).
        self.counts = PendingCounts()
        self.received_ms = 0
        # Identity lookups of the running job, prefetched in one query (see `prefetch`); None = off.
        self._known: dict[tuple[str, int, Any], Profile | None] | None = None

    def execute(self, sql: str, params: Sequence[Any] | None = None) -> psycopg.Cursor[Any]:
        return self.cur.execute(sql, params)

    # -- profiles --------------------------------------------------------------------------------
    def prefetch(self, request: WriteRequest) -> None:
        """Look up every identifier of the request in one round trip, for the domain's plan to read.

        The plan asks for each item's identifiers one at a time; over a network that is 1–4 round trips
        per item (400 for a 100-item batch). Answers stay valid for the job: an owned identifier never
        changes owner (no merges in this version; revisit this cache when merges arrive), and the job's
        own writes update the cache. An "unowned" answer can
        go stale when another node takes the identifier meanwhile, exactly like a direct read a moment
        earlier; whatever the job then writes on that basis meets the unique keys and re-runs the job.
        When the group's prefetch already answered every identifier, no query is sent at all.
        """
        keys = _identity_keys(request)
        group = self._group_known
        if group is not None and all(k in group for k in keys):
            self._known = {k: group[k] for k in keys}
            return
        self._known = _fetch_identities(self.cur, keys)

    def prefetch_group(self, requests: list[WriteRequest]) -> None:
        """The identifiers of every request of the group in one query, sent by the backend before BEGIN
        (outside the transaction, so a failing query cannot abort the group). Jobs then read from it; a
        released job adds what it learnt and created, so the next job of the group sees its profiles."""
        keys: set[tuple[str, int, Any]] = set()
        for request in requests:
            keys.update(_identity_keys(request))
        self._group_known = _fetch_identities(self._raw, keys) if keys else None

    def _lookup(
        self, kind: str, workspace_id: int, value: Any, sql: str, params: tuple[Any, ...]
    ) -> Profile | None:
        key = (kind, workspace_id, value)
        if self._known is not None and key in self._known:
            return self._known[key]
        return _profile(self.cur.execute(sql, params).fetchone())

    def _remember(self, profile: Profile, *keys: tuple[str, Any]) -> None:
        """The job changed `profile`: cache its new state under `keys` and wherever it was cached."""
        if self._known is None:
            return
        for key, cached in self._known.items():
            if (
                cached is not None
                and cached.workspace_id == profile.workspace_id
                and cached.client_id == profile.client_id
            ):
                self._known[key] = profile
        for kind, value in keys:
            self._known[(kind, profile.workspace_id, value)] = profile

    def profile_by_id(self, workspace_id: int, client_id: int) -> Profile | None:
        return self._lookup(
            "id",
            workspace_id,
            client_id,
            f"SELECT {_PROFILE_COLS} FROM profiles WHERE workspace_id = %s AND client_id = %s",
            (workspace_id, client_id),
        )

    def profile_by_custom_id(self, workspace_id: int, custom_id: str) -> Profile | None:
        return self._lookup(
            "custom_id",
            workspace_id,
            custom_id,
            f"SELECT {_PROFILE_COLS} FROM profiles WHERE workspace_id = %s AND custom_id = %s",
            (workspace_id, custom_id),
        )

    def profile_by_email(self, workspace_id: int, email: str) -> Profile | None:
        return self._lookup(
            "email",
            workspace_id,
            email.lower(),
            f"SELECT {_PROFILE_COLS} FROM profiles WHERE workspace_id = %s AND email_lower = %s",
            (workspace_id, email.lower()),
        )

    def profile_by_uuid(self, workspace_id: int, uuid: str) -> Profile | None:
        return self._lookup(
            "uuid",
            workspace_id,
            uuid,
            "SELECT p.workspace_id, p.client_id, p.primary_uuid::text, p.custom_id, p.email"
            " FROM profile_uuids u JOIN profiles p"
            " ON p.workspace_id = u.workspace_id AND p.client_id = u.client_id"
            " WHERE u.workspace_id = %s AND u.uuid = %s",
            (workspace_id, uuidlib.UUID(uuid)),
        )

    def uuid_taken(self, workspace_id: int, uuid: str) -> bool:
        if self._known is not None and ("uuid", workspace_id, uuid) in self._known:
            return self._known[("uuid", workspace_id, uuid)] is not None
        row = self.cur.execute(
            "SELECT 1 FROM profile_uuids WHERE workspace_id = %s AND uuid = %s",
            (workspace_id, uuidlib.UUID(uuid)),
        ).fetchone()
        return row is not None

    def create_profile(
        self, workspace_id: int, *, uuid: str, custom_id: str | None, email: str | None, now_ms: int
    ) -> Profile:
        # One round trip: the profile and its first uuid. A conflict on any unique key (customId, e-mail,
        # uuid) inserts nothing visible to the caller and re-runs the job, which then finds the winner.
        row = self.cur.execute(
            "WITH p AS (INSERT INTO profiles (workspace_id, client_id, primary_uuid, custom_id, email,"
            " email_lower, created_ms, updated_ms)"
            " VALUES (%(ws)s, nextval('tracktion_client_id_seq'), %(uuid)s, %(cid)s, %(email)s, %(lower)s,"
            " %(now)s, %(now)s) ON CONFLICT DO NOTHING RETURNING client_id)"
            " INSERT INTO profile_uuids (workspace_id, uuid, client_id, added_ms)"
            " SELECT %(ws)s, %(uuid)s, client_id, %(now)s FROM p ON CONFLICT DO NOTHING RETURNING client_id",
            {
                "ws": workspace_id,
                "uuid": uuidlib.UUID(uuid),
                "cid": custom_id,
                "email": email,
                "lower": email.lower() if email is not None else None,
                "now": now_ms,
            },
        ).fetchone()
        if row is None:
            raise _Conflict("profile identifiers taken by a concurrent transaction")
        profile = Profile(workspace_id, row[0], uuid, custom_id, email)
        keys: list[tuple[str, Any]] = [("id", profile.client_id), ("uuid", uuid)]
        if custom_id is not None:
            keys.append(("custom_id", custom_id))
        if email is not None:
            keys.append(("email", email.lower()))
        self._remember(profile, *keys)
        return profile

    def attach_uuid(self, profile: Profile, uuid: str, now_ms: int) -> None:
        row = self.cur.execute(
            "WITH u AS (INSERT INTO profile_uuids (workspace_id, uuid, client_id, added_ms)"
            " VALUES (%(ws)s, %(uuid)s, %(client)s, %(now)s) ON CONFLICT DO NOTHING RETURNING 1)"
            " UPDATE profiles SET updated_ms = %(now)s"
            " WHERE workspace_id = %(ws)s AND client_id = %(client)s AND EXISTS (SELECT 1 FROM u)"
            " RETURNING 1",
            {
                "ws": profile.workspace_id,
                "uuid": uuidlib.UUID(uuid),
                "client": profile.client_id,
                "now": now_ms,
            },
        ).fetchone()
        if row is None:
            raise _Conflict("uuid taken by a concurrent transaction")
        self._remember(profile, ("uuid", uuid))

    def set_custom_id(self, profile: Profile, custom_id: str, now_ms: int) -> Profile:
        # §9.4: set only if the profile has none (another node may have set one since the plan).
        self._guarded_update(
            "UPDATE profiles SET custom_id = %s, updated_ms = %s"
            " WHERE workspace_id = %s AND client_id = %s AND custom_id IS NULL",
            (custom_id, now_ms, profile.workspace_id, profile.client_id),
        )
        changed = Profile(
            profile.workspace_id, profile.client_id, profile.primary_uuid, custom_id, profile.email
        )
        self._remember(changed, ("custom_id", custom_id))
        return changed

    def set_email(self, profile: Profile, email: str, now_ms: int) -> Profile:
        self._guarded_update(
            "UPDATE profiles SET email = %s, email_lower = %s, updated_ms = %s"
            " WHERE workspace_id = %s AND client_id = %s AND email IS NULL",
            (email, email.lower(), now_ms, profile.workspace_id, profile.client_id),
        )
        changed = Profile(
            profile.workspace_id, profile.client_id, profile.primary_uuid, profile.custom_id, email
        )
        self._remember(changed, ("email", email.lower()))
        return changed

    def profile_data(self, profile: Profile) -> dict[str, Any]:
        # FOR UPDATE OF p: the profile row stays locked until commit, so two nodes merging into the same
        # profile's data serialise instead of one overwriting the other's merge.
        row = self.cur.execute(
            "SELECT d.data::text FROM profiles p LEFT JOIN profile_data d"
            " ON d.workspace_id = p.workspace_id AND d.client_id = p.client_id"
            " WHERE p.workspace_id = %s AND p.client_id = %s FOR UPDATE OF p",
            (profile.workspace_id, profile.client_id),
        ).fetchone()
        return json_value(row[0]) if row and row[0] is not None else {}

    def set_profile_data(self, profile: Profile, data: dict[str, Any], now_ms: int) -> None:
        self.cur.execute(
            "WITH d AS (INSERT INTO profile_data (workspace_id, client_id, data) VALUES (%(ws)s, %(client)s,"
            " %(data)s) ON CONFLICT (workspace_id, client_id) DO UPDATE SET data = excluded.data)"
            " UPDATE profiles SET updated_ms = %(now)s WHERE workspace_id = %(ws)s AND client_id = %(client)s",
            {"ws": profile.workspace_id, "client": profile.client_id, "data": json_text(data), "now": now_ms},
        )

    def _guarded_update(self, sql: str, params: tuple[Any, ...]) -> None:
        try:
            cur = self.cur.execute(sql, params)
        except pgerrors.UniqueViolation as exc:  # the identifier went to another profile meanwhile
            raise _Conflict(str(exc)) from exc
        if cur.rowcount != 1:
            raise _Conflict("profile changed by a concurrent transaction")

    # -- events ----------------------------------------------------------------------------------
    def upsert_event(self, row: EventRow, salted: bool) -> bool:
        values = (
            row.workspace_id,
            uuidlib.UUID(row.uuid),
            row.client_id,
            row.action,
            json_text(row.label),
            row.time_ms,
            json_text(row.params),
            endpoint_code(row.endpoint),
            kind_code(row.kind),
            *origin_columns(row),
        )
        if not salted:
            # v4 UUIDs never collide: no lookup; the job's rows go out in one COPY at the end.
            self._pending.append(values)
            self.counts.event(row.workspace_id, self.received_ms, row.action, row.kind)
            return True
        self.flush()  # keep seq in item order within the request
        # A new event (nearly always: an import salts every line) costs this one round trip; a unique
        # violation waits for a concurrent inserter to finish, then does nothing, and the row is overwritten
        # below like any stored one.
        fresh = self.cur.execute(_INSERT_SALTED, values).fetchone()
        if fresh is not None:
            self.counts.event(row.workspace_id, self.received_ms, row.action, row.kind)
            return True
        # Overwrite in place (§3.7): label, params (with their origin) and endpoint replaced, a new seq; uuid,
        # action, client and time stay. The stored row is locked first (the CTE), and its receive minute is
        # where it was counted (docs/api.md §13.6a). Planned for its values (`prepare=False`): a generic
        # plan made while `events` was small and not analyzed walked `events_by_time` over all of the
        # workspace's rows to find the uuid (auto_explain: ~5 ms per salted event at 30,000 events, growing).
        old = self.cur.execute(
            _OVERWRITE_SALTED, (*values[:2], values[4], values[6], values[7], *values[9:]), prepare=False
        ).fetchone()
        if old is None:  # deleted by a concurrent transaction (an erasure) since the insert saw it
            raise _Conflict("event deleted by a concurrent transaction")
        self.counts.event(row.workspace_id, old[0], row.action, row.kind, -1)
        self.counts.event(row.workspace_id, self.received_ms, row.action, row.kind)
        return False

    def flush(self) -> None:
        if self._pending:
            self.insert_rows("events", _EVENT_COLS, self._pending)
            self._pending.clear()

    def insert_rows(self, table: str, cols: str, rows: list[tuple[Any, ...]], cur: Any = None) -> None:
        """One row: a plain INSERT. More: COPY (measured ~2.5× faster than a pipelined executemany)."""
        cur = self.cur if cur is None else cur
        if len(rows) == 1:
            marks = ", ".join(["%s"] * len(rows[0]))
            cur.execute(f"INSERT INTO {table} ({cols}) VALUES ({marks})", rows[0])
            return
        with cur.copy(f"COPY {table} ({cols}) FROM STDIN") as copy:
            for r in rows:
                copy.write_row(r)

    def merge_definitions(self, workspace_id: int, delta: DefinitionDelta) -> None:
        """Deferred: merged into the group's delta when the job is released, written at commit."""
        self.definitions.add(workspace_id, delta)

    def start_job(self) -> None:
        self._job_open = False

    def open_job_savepoint(self) -> None:
        """Before the job's first statement: its savepoint (with the previous job's RELEASE, one trip)."""
        if self._job_open:
            return
        sql = f"SAVEPOINT {JOB_SAVEPOINT}"
        if self._release_pending:
            sql = f"RELEASE SAVEPOINT {JOB_SAVEPOINT}; {sql}"
        self._raw.execute(sql)
        self._release_pending = False
        self._job_open = True

    def release_job(self) -> None:
        self.definitions.release_job()
        self.counts.release_job()
        self._group_rows.extend(self._pending)
        self._pending.clear()
        if self._group_known is not None and self._known is not None:
            self._group_known.update(self._known)  # what this job read and wrote, now part of the group
        self._known = None
        if self._job_open:
            self._release_pending = True  # sent with the next SAVEPOINT; COMMIT releases it anyway
            self._job_open = False

    def write_rows(self, copy_only: bool = False) -> None:
        """Before COMMIT: the released jobs' rows (one COPY, or one INSERT for a single row). No job savepoint
        matters any more: every job of the group has been released. `copy_only`: leave a single row for the
        backend's commit pipeline, which a COPY cannot join."""
        rows = self._group_rows
        if not rows or (copy_only and len(rows) == 1):
            return
        self.insert_rows("events", _EVENT_COLS, rows, cur=self._raw)
        rows.clear()

    def forget_identities(self) -> None:
        """A profile was deleted (erasure, docs/api.md §15.1): the group's prefetched answers may name it, so
        the jobs after this one look their identifiers up again (inside the transaction, which sees it)."""
        self._group_known = None
        self._known = None

    def discard_job(self) -> None:
        """The job failed: forget what it kept in memory and undo what it sent."""
        self._clear_job()
        if self._job_open:
            self._raw.execute(f"ROLLBACK TO SAVEPOINT {JOB_SAVEPOINT}; RELEASE SAVEPOINT {JOB_SAVEPOINT}")
            self._job_open = False

    def _clear_job(self) -> None:
        self.definitions.discard_job()
        self.counts.discard_job()
        self._pending.clear()
        self._known = None

    def write_definitions(self) -> None:
        """All definition changes of the group, in one sorted pass (see the module docstring)."""
        defs: list[tuple[Any, ...]] = []
        params: list[tuple[Any, ...]] = []
        group = self.definitions.take()
        for workspace_id in sorted(group):
            delta = group[workspace_id]
            for action in sorted(delta.actions):
                d = delta.actions[action]
                defs.append((workspace_id, action, d.kind, d.first_ms or d.last_ms, d.last_ms, d.inserted))
                for name, (types, p_first, p_last) in sorted((param_name(n), v) for n, v in d.params.items()):
                    params.append((workspace_id, action, name, sorted(types), p_first, p_last))
        if defs:
            self._raw.executemany(
                "INSERT INTO definitions (workspace_id, action, kind, first_seen_ms, last_seen_ms, event_count)"
                " VALUES (%s, %s, %s, %s, %s, %s) ON CONFLICT (workspace_id, action) DO UPDATE SET"
                " last_seen_ms = GREATEST(definitions.last_seen_ms, excluded.last_seen_ms),"
                " event_count = definitions.event_count + excluded.event_count",
                defs,
            )
        if params:
            self._raw.executemany(
                "INSERT INTO definition_params (workspace_id, action, name, types, first_seen_ms, last_seen_ms)"
                " VALUES (%s, %s, %s, %s::text[], %s, %s) ON CONFLICT (workspace_id, action, name) DO UPDATE SET"
                ' types = ARRAY(SELECT DISTINCT t COLLATE "C"'
                " FROM unnest(definition_params.types || excluded.types) AS t ORDER BY 1),"
                " last_seen_ms = GREATEST(definition_params.last_seen_ms, excluded.last_seen_ms)",
                params,
            )

    def write_counts(self) -> None:
        """The group's counter deltas (`storage.counters`), after the definitions and in sorted order for
        the same reason: hot rows, locked last and in one order by every node."""
        counters.write(self.counts, self._raw.execute, "%s")

    def evict_quarantine(self, workspace_id: int, keep: int) -> int:
        """Delete the workspace's oldest quarantine records beyond the newest `keep`; how many went."""
        row = self.cur.execute(
            "SELECT seq FROM quarantine WHERE workspace_id = %s ORDER BY seq DESC LIMIT 1 OFFSET %s",
            (workspace_id, keep),
        ).fetchone()
        if row is None:
            return 0
        doomed = "workspace_id = %s AND seq <= %s"
        found = self.cur.execute(counters.deleted_records_sql(doomed), (workspace_id, row[0])).fetchall()
        counters.subtract(self.counts, "quarantine", found)
        self.cur.execute(f"DELETE FROM quarantine WHERE {doomed}", (workspace_id, row[0]))
        return self.cur.rowcount

    def add_quarantine(self, records: list[QuarantineRecord]) -> None:
        for r in records:
            self.counts.record(r.workspace_id, r.received_ms, r.reason)
        self.insert_rows(
            "quarantine",
            _QUARANTINE_COLS,
            [
                (
                    r.workspace_id,
                    r.id,
                    r.received_ms,
                    r.request_id,
                    r.method,
                    r.endpoint,
                    r.item_index,
                    r.reason,
                    r.status,
                    json_text([e.as_json() for e in r.errors]),
                    json_text(r.credential),
                    json_text(r.item) if r.has_item else None,
                    json_text(r.body) if r.body is not None else None,
                    r.body_truncated,
                )
                for r in records
            ],
        )

    # -- job-level rollback ------------------------------------------------------------------------
    def rollback_job(self) -> None:
        """Undo everything the running job wrote (its savepoint stays, so the job can run again)."""
        if self._job_open:
            self._raw.execute(f"ROLLBACK TO SAVEPOINT {JOB_SAVEPOINT}")
        self._clear_job()
        # A lost identity race means another node changed identities: jobs after this one look them up
        # themselves instead of trusting the group's answers.
        self._group_known = None


def run_unit(tx: PostgresTx, work: Callable[[PostgresTx], T]) -> T:
    """Run domain code as one unit of work; after losing an identity race, undo it and run it again."""
    for attempt in range(MAX_ATTEMPTS):
        try:
            # The unit's unsalted rows stay pending: they join the group's COPY when the job is released.
            return work(tx)
        except (_Conflict, pgerrors.UniqueViolation) as exc:
            tx.rollback_job()
            if attempt == MAX_ATTEMPTS - 1:
                raise
            log.debug("lost an identity race (%s); running the unit of work again", exc)
    raise AssertionError("unreachable")


def apply_request(tx: PostgresTx, request: WriteRequest, quarantine_cap: int = 0) -> WriteResult:
    """One write request as one unit of work (§1.5: events, profiles, definitions, quarantine together)."""

    tx.received_ms = request.received_ms

    def attempt(t: PostgresTx) -> Applied:
        t.prefetch(request)
        return apply_write(t, request)

    applied = run_unit(tx, attempt)
    if applied.rollback:
        tx.rollback_job()  # §5.3: nothing of a refused atomic request; its quarantine records stay
    elif applied.definitions:
        tx.merge_definitions(request.workspace_id, applied.definitions)
    if applied.quarantine:
        tx.add_quarantine(applied.quarantine)
        if quarantine_cap > 0 and applied.result.stats is not None:
            applied.result.stats.quarantine_evicted = tx.evict_quarantine(
                request.workspace_id, quarantine_cap
            )
    return applied.result


class _JobCursor:
    """The running job's cursor: its first statement opens the job's savepoint (`open_job_savepoint`)."""

    def __init__(self, raw: psycopg.Cursor[Any], tx: PostgresTx) -> None:
        self._raw = raw
        self._tx = tx

    def execute(self, sql: Any, params: Any = None, *, prepare: bool | None = None) -> psycopg.Cursor[Any]:
        self._tx.open_job_savepoint()
        return self._raw.execute(sql, params, prepare=prepare)

    def executemany(self, sql: Any, params: Any) -> None:
        self._tx.open_job_savepoint()
        self._raw.executemany(sql, params)

    def copy(self, sql: Any) -> Any:
        self._tx.open_job_savepoint()
        return self._raw.copy(sql)

    @property
    def rowcount(self) -> int:
        return self._raw.rowcount


class RequestJob:
    """A write request as a writer job; the backend reads `request` to prefetch the whole group's
    identities at once (`PostgresBackend.prepare`)."""

    __slots__ = ("quarantine_cap", "request")

    def __init__(self, request: WriteRequest, quarantine_cap: int) -> None:
        self.request = request
        self.quarantine_cap = quarantine_cap

    def __call__(self, tx: PostgresTx) -> WriteResult:
        return apply_request(tx, self.request, self.quarantine_cap)


def _identity_keys(request: WriteRequest) -> set[tuple[str, int, Any]]:
    ws = request.workspace_id
    keys: set[tuple[str, int, Any]] = set()
    if request.credential.client_id is not None:
        keys.add(("id", ws, request.credential.client_id))
    for item in request.items:
        if item.error is not None or (item.event is None and item.transaction is None):
            continue
        client = item.client
        if client.id is not None:
            keys.add(("id", ws, client.id))
        if client.custom_id is not None:
            keys.add(("custom_id", ws, client.custom_id))
        if client.email is not None:
            keys.add(("email", ws, client.email.lower()))
        if client.uuid is not None:
            keys.add(("uuid", ws, client.uuid))
    return keys


def _fetch_identities(
    cur: Any, keys: set[tuple[str, int, Any]]
) -> dict[tuple[str, int, Any], Profile | None]:
    """Every key → its owner (None = unowned), in one query (keys may span workspaces)."""
    known: dict[tuple[str, int, Any], Profile | None] = dict.fromkeys(keys)
    by_ws: dict[int, dict[str, list[Any]]] = {}
    for kind, ws, value in keys:
        by_ws.setdefault(ws, {"id": [], "custom_id": [], "email": [], "uuid": []})[kind].append(value)
    for ws, wanted in by_ws.items():
        rows = cur.execute(
            f"SELECT 'id', client_id::text, {_PROFILE_COLS} FROM profiles"
            " WHERE workspace_id = %(ws)s AND client_id = ANY(%(ids)s::bigint[])"
            f" UNION ALL SELECT 'custom_id', custom_id, {_PROFILE_COLS} FROM profiles"
            " WHERE workspace_id = %(ws)s AND custom_id = ANY(%(custom_ids)s::text[])"
            f" UNION ALL SELECT 'email', email_lower, {_PROFILE_COLS} FROM profiles"
            " WHERE workspace_id = %(ws)s AND email_lower = ANY(%(emails)s::text[])"
            " UNION ALL SELECT 'uuid', u.uuid::text, p.workspace_id, p.client_id, p.primary_uuid::text,"
            " p.custom_id, p.email FROM profile_uuids u JOIN profiles p"
            " ON p.workspace_id = u.workspace_id AND p.client_id = u.client_id"
            " WHERE u.workspace_id = %(ws)s AND u.uuid = ANY(%(uuids)s::uuid[])",
            {
                "ws": ws,
                "ids": wanted["id"],
                "custom_ids": wanted["custom_id"],
                "emails": wanted["email"],
                "uuids": [uuidlib.UUID(u) for u in wanted["uuid"]],
            },
        ).fetchall()
        for kind, value, *profile in rows:
            known[(kind, ws, int(value) if kind == "id" else value)] = Profile(*profile)
    return known
