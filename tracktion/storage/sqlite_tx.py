"""The SQLite write transaction as the domain sees it (`tracktion.domain.ports.WriteTx`)."""

from __future__ import annotations

import json
import sqlite3
import uuid as uuidlib
from collections.abc import Callable
from typing import Any

import msgspec

from tracktion.domain.definitions import DefinitionDelta, PendingDefinitions
from tracktion.domain.event_ids import uuid_bytes
from tracktion.domain.ingest import apply_write
from tracktion.domain.models import EventRow, Profile, QuarantineRecord, WriteRequest, WriteResult
from tracktion.storage import counters
from tracktion.storage.counters import SQLITE_RECEIVED_MINUTE, PendingCounts
from tracktion.storage.event_params import NO_ORIGIN, compact_ip, endpoint_code, kind_code, origin_columns

FIRST_CLIENT_ID = 7_000_000_001
JOB_SAVEPOINT = "job"  # opened around a writer job, lazily: at the job's first statement that writes
IDENTITY_CACHE_MAX = 200_000  # identifier → profile entries kept between commits
# OR FAIL, not the default OR ABORT: an ABORT-able statement that writes many rows makes SQLite copy every page
# it touches into a statement journal first (a temp file beyond 64 KiB), so that it can undo itself alone.
# Queued rows cannot break a constraint (v4 and derived UUIDs never collide, salted ones are looked up before
# they are queued). If one ever did, its rows stay queued and the commit fails as a whole: nothing half-stored.
# Measured on 384-row commits into 300k rows: 49-50 -> 30-34 us of CPU per row (no journal, no temp file).
_EVENT_INSERT = (
    "INSERT OR FAIL INTO events (workspace_id, uuid, client_id, action, label, time_ms, params, endpoint, kind,"
    " created_ms, ip, modified_by, client_uuid, sent_time) VALUES "
)
_EVENT_WIDTH = 14  # values per row (`SQLiteTx.upsert_event`); the §7.2 origin columns are `event_params`'s
# The seq an overwritten event moves to: past every seq ever given (AUTOINCREMENT's mark) and every row.
_NEXT_EVENT_SEQ = (
    "SELECT MAX(COALESCE((SELECT seq FROM sqlite_sequence WHERE name = 'events'), 0),"
    " COALESCE((SELECT MAX(seq) FROM events), 0)) + 1"
)
# Rows go in as multi-row INSERTs of these sizes (powers of two: few distinct statements, all cached). The
# sqlite3 module releases the GIL around every statement step: one row per step means one GIL hand-over per
# row, and with the event loop busy each hand-over can wait a whole switch interval (measured: 1000 rows took
# 4.6 s next to a busy thread by executemany, 0.3 s as two 500-row statements).
_CHUNKS = (256, 64, 16, 4, 1)
_ROW_MARKS = "(" + ", ".join(["?"] * _EVENT_WIDTH) + ")"
_INSERT_MANY = {n: _EVENT_INSERT + ", ".join([_ROW_MARKS] * n) for n in _CHUNKS}


def insert_events(conn: sqlite3.Connection, rows: list[tuple[Any, ...]]) -> None:
    at = 0
    for size in _CHUNKS:
        count = (len(rows) - at) // size
        if count:
            end = at + count * size
            flat = [value for row in rows[at:end] for value in row]
            width = size * _EVENT_WIDTH
            conn.executemany(_INSERT_MANY[size], [flat[i : i + width] for i in range(0, len(flat), width)])
            at = end


_encode = msgspec.json.encode
_decode = msgspec.json.decode


def encode_json(value: Any) -> bytes:
    """JSON bytes of a value as sent. The body decoder accepts escaped lone surrogates (`"\\ud800"`, so that
    identifiers carrying them get 1008) and msgspec cannot encode those: such values are kept escaped."""
    try:
        return _encode(value)
    except UnicodeEncodeError:
        return json.dumps(value, ensure_ascii=True, separators=(",", ":")).encode()


def decode_json(data: bytes | str) -> Any:
    """Inverse of `encode_json` (msgspec refuses the escaped lone surrogates it may have written)."""
    try:
        return _decode(data)
    except msgspec.DecodeError:
        return json.loads(data)


def text_value(value: str) -> str | bytes:
    """A str SQLite can bind. Labels and param names may carry escaped lone surrogates (see `encode_json`),
    which are not UTF-8: such a value is kept as its `surrogatepass` bytes (a BLOB) and turned back by
    `text_read`."""
    if value.isascii():
        return value
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:
        return value.encode("utf-8", "surrogatepass")
    return value


def text_read(value: str | bytes) -> str:
    return value.decode("utf-8", "surrogatepass") if isinstance(value, bytes) else value


_PROFILE_COLS = "workspace_id, client_id, primary_uuid, custom_id, email"


def _profile(row: tuple[Any, ...] | None) -> Profile | None:
    return Profile(*row) if row else None


class IdentityCache:
    """Identifier → profile, kept across commits by the writer so that an event of a known profile costs no
    lookup. Correct because a profile's identifiers are only ever added, never moved (§9), and because the
    cache is emptied whenever that is not enough: when another connection changed identifiers (checked once
    per commit: `PRAGMA data_version` says whether anyone else committed, and then the `identity_changes`
    count, kept by triggers (migration 0013), says whether identifiers changed), and when this writer changes
    a profile's customId or e-mail. Other commits (events, relay cursors, deletions of events) keep it.
    What a transaction looked up enters the cache only once it commits (a job's own lookups only once the
    job is released): a profile created by a rolled-back job is never remembered."""

    def __init__(self) -> None:
        self.committed: dict[tuple[Any, ...], Profile] = {}
        self.data_version: int | None = None
        self.identity_changes: int | None = None

    def begin(self, data_version: int, identity_changes: Callable[[], int]) -> None:
        if data_version != self.data_version:  # another connection committed: did identifiers change?
            self.data_version = data_version
            changes = identity_changes()
            if changes != self.identity_changes:
                self.committed.clear()
                self.identity_changes = changes

    def commit(self, staged: dict[tuple[Any, ...], Profile]) -> None:
        if len(self.committed) + len(staged) > IDENTITY_CACHE_MAX:
            self.committed.clear()
        self.committed.update(staged)


class SQLiteTx:
    """The domain's view of one write transaction (`tracktion.domain.ports.WriteTx`).

    Writer jobs cost as few statements as possible, because each one releases and retakes the GIL that the
    event loop needs: a job's savepoint is opened only when the job first writes something directly, its
    new event rows wait in memory and go in as a few multi-row INSERTs per commit, and profile lookups are
    served from the `IdentityCache`."""

    def __init__(
        self,
        conn: sqlite3.Connection,
        cache: IdentityCache | None = None,
        key_numbers: dict[bytes, int | bytes] | None = None,
    ) -> None:
        self.conn = conn
        # Event rows not yet inserted, written at commit (`insert_events`); None: replaced by a later row.
        self._pending: list[tuple[Any, ...] | None] = []
        self._pending_salted: dict[bytes, int] = {}  # salted rows among them: uuid → index
        self._job_start = 0  # rows of `_pending` from this index on belong to the running job
        self._savepoint_open = False
        self.definitions = PendingDefinitions()
        # §13.6a counters of this commit; `received_ms` is the running request's (set by `apply_request`).
        self.counts = PendingCounts()
        self.received_ms = 0
        self.cache = cache or IdentityCache()
        self._staged: dict[tuple[Any, ...], Profile] = {}  # lookups of released jobs (this transaction)
        self._job_staged: dict[tuple[Any, ...], Profile] = {}  # lookups of the running job
        # A workspace key's id (16 bytes) → its number (`api_keys.number`, set when the key is created and
        # never changed), the stored form of `modifiedBy` (docs/api.md §7.2, issue 23). The backend passes the
        # same dict to every transaction, so a key is looked up once per writer, not once per commit; a key
        # found without a number keeps its 16 bytes, which read the same.
        self._key_numbers: dict[bytes, int | bytes] = {} if key_numbers is None else key_numbers

    # -- job scope (called by the backend) --------------------------------------------------------
    def start_job(self) -> None:
        self._savepoint_open = False
        self._job_start = len(self._pending)

    def savepoint(self) -> None:
        """Open the running job's savepoint if it is not open yet; every direct write calls this first."""
        if self._savepoint_open:
            return
        if self._job_start:
            # Earlier jobs' rows go in before the savepoint: undoing this job must not undo them.
            self._write_pending(self._job_start)
            self._job_start = 0
        self.conn.execute(f"SAVEPOINT {JOB_SAVEPOINT}")
        self._savepoint_open = True

    def rollback_job_writes(self) -> None:
        """Undo what the running job wrote; the job goes on (e.g. to write its quarantine records)."""
        if self._savepoint_open:
            self.conn.execute(f"ROLLBACK TO {JOB_SAVEPOINT}")
        del self._pending[self._job_start :]
        if self._pending_salted:
            self._pending_salted = {k: i for k, i in self._pending_salted.items() if i < self._job_start}
        self._job_staged.clear()
        self.counts.discard_job()

    def release_job(self) -> None:
        if self._savepoint_open:
            self.conn.execute(f"RELEASE {JOB_SAVEPOINT}")
            self._savepoint_open = False
        self._job_start = len(self._pending)
        self.definitions.release_job()
        self.counts.release_job()
        if self._job_staged:
            self._staged.update(self._job_staged)
            self._job_staged.clear()

    def discard_job(self) -> None:
        self.rollback_job_writes()
        if self._savepoint_open:
            self.conn.execute(f"RELEASE {JOB_SAVEPOINT}")
            self._savepoint_open = False
        self.definitions.discard_job()

    def finish(self) -> None:
        """Before COMMIT: the pending rows and the commit's definitions."""
        self._write_pending()
        self._job_start = 0
        self.write_definitions()
        counters.write(self.counts, self.conn.execute, "?")

    def committed(self) -> None:
        self.cache.commit(self._staged)

    # -- profiles --------------------------------------------------------------------------------
    def _lookup(self, key: tuple[Any, ...], sql: str, params: tuple[Any, ...]) -> Profile | None:
        found = self.cache.committed.get(key) or self._staged.get(key) or self._job_staged.get(key)
        if found is not None:
            return found
        found = _profile(self.conn.execute(sql, params).fetchone())
        if found is not None:  # misses are not remembered: the profile may be created any moment
            self._job_staged[key] = found
        return found

    def forget_identities(self) -> None:
        """A profile was deleted (erasure, docs/api.md §15.1): no cached answer may name it any more."""
        self._profile_changed()

    def _profile_changed(self) -> None:
        # A cached Profile of this client now has a stale customId or e-mail; such changes are rare (the
        # first time a profile gains an identifier), so everything is dropped rather than tracked.
        self.cache.committed.clear()
        self._staged.clear()
        self._job_staged.clear()

    def profile_by_id(self, workspace_id: int, client_id: int) -> Profile | None:
        return self._lookup(
            ("id", workspace_id, client_id),
            f"SELECT {_PROFILE_COLS} FROM profiles WHERE workspace_id = ? AND client_id = ?",
            (workspace_id, client_id),
        )

    def profile_by_custom_id(self, workspace_id: int, custom_id: str) -> Profile | None:
        return self._lookup(
            ("customId", workspace_id, custom_id),
            f"SELECT {_PROFILE_COLS} FROM profiles WHERE workspace_id = ? AND custom_id = ?",
            (workspace_id, custom_id),
        )

    def profile_by_email(self, workspace_id: int, email: str) -> Profile | None:
        lower = email.lower()
        return self._lookup(
            ("email", workspace_id, lower),
            f"SELECT {_PROFILE_COLS} FROM profiles WHERE workspace_id = ? AND email_lower = ?",
            (workspace_id, lower),
        )

    def profile_by_uuid(self, workspace_id: int, uuid: str) -> Profile | None:
        return self._lookup(
            ("uuid", workspace_id, uuid),
            "SELECT p.workspace_id, p.client_id, p.primary_uuid, p.custom_id, p.email FROM profile_uuids u"
            " JOIN profiles p ON p.workspace_id = u.workspace_id AND p.client_id = u.client_id"
            " WHERE u.workspace_id = ? AND u.uuid = ?",
            (workspace_id, uuid),
        )

    def uuid_taken(self, workspace_id: int, uuid: str) -> bool:
        return (
            self.conn.execute(
                "SELECT 1 FROM profile_uuids WHERE workspace_id = ? AND uuid = ?", (workspace_id, uuid)
            ).fetchone()
            is not None
        )

    def create_profile(
        self, workspace_id: int, *, uuid: str, custom_id: str | None, email: str | None, now_ms: int
    ) -> Profile:
        self.savepoint()
        # Never reused (§9.1), not even an erased profile's (whose rows may still be being deleted).
        (last,) = self.conn.execute(
            "SELECT MAX(m) FROM (SELECT MAX(client_id) AS m FROM profiles"
            " UNION ALL SELECT MAX(client_id) FROM erasures)"
        ).fetchone()
        client_id = FIRST_CLIENT_ID if last is None else last + 1
        self.conn.execute(
            "INSERT INTO profiles VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
            (
                workspace_id,
                client_id,
                uuid,
                custom_id,
                email,
                email.lower() if email else None,
                now_ms,
                now_ms,
            ),
        )
        self.conn.execute(
            "INSERT INTO profile_uuids VALUES (?, ?, ?, ?)", (workspace_id, uuid, client_id, now_ms)
        )
        return Profile(workspace_id, client_id, uuid, custom_id, email)

    def attach_uuid(self, profile: Profile, uuid: str, now_ms: int) -> None:
        self.savepoint()
        self.conn.execute(
            "INSERT INTO profile_uuids VALUES (?, ?, ?, ?)",
            (profile.workspace_id, uuid, profile.client_id, now_ms),
        )
        self._touch(profile, now_ms)

    def set_custom_id(self, profile: Profile, custom_id: str, now_ms: int) -> Profile:
        self.savepoint()
        self._profile_changed()
        self.conn.execute(
            "UPDATE profiles SET custom_id = ?, updated_ms = ? WHERE workspace_id = ? AND client_id = ?",
            (custom_id, now_ms, profile.workspace_id, profile.client_id),
        )
        return Profile(
            profile.workspace_id, profile.client_id, profile.primary_uuid, custom_id, profile.email
        )

    def set_email(self, profile: Profile, email: str, now_ms: int) -> Profile:
        self.savepoint()
        self._profile_changed()
        self.conn.execute(
            "UPDATE profiles SET email = ?, email_lower = ?, updated_ms = ? WHERE workspace_id = ? AND client_id = ?",
            (email, email.lower(), now_ms, profile.workspace_id, profile.client_id),
        )
        return Profile(
            profile.workspace_id, profile.client_id, profile.primary_uuid, profile.custom_id, email
        )

    def profile_data(self, profile: Profile) -> dict[str, Any]:
        row = self.conn.execute(
            "SELECT data FROM profile_data WHERE workspace_id = ? AND client_id = ?",
            (profile.workspace_id, profile.client_id),
        ).fetchone()
        return decode_json(row[0]) if row else {}

    def set_profile_data(self, profile: Profile, data: dict[str, Any], now_ms: int) -> None:
        self.savepoint()
        self.conn.execute(
            "INSERT INTO profile_data VALUES (?, ?, ?) ON CONFLICT (workspace_id, client_id)"
            " DO UPDATE SET data = excluded.data",
            (profile.workspace_id, profile.client_id, encode_json(data)),
        )
        self._touch(profile, now_ms)

    def _touch(self, profile: Profile, now_ms: int) -> None:
        self.savepoint()
        self.conn.execute(
            "UPDATE profiles SET updated_ms = ? WHERE workspace_id = ? AND client_id = ?",
            (now_ms, profile.workspace_id, profile.client_id),
        )

    # -- events ----------------------------------------------------------------------------------
    def upsert_event(self, row: EventRow, salted: bool) -> bool:
        values = (
            row.workspace_id,
            uuid_bytes(row.uuid),
            row.client_id,
            row.action,
            text_value(row.label),
            row.time_ms,
            encode_json(row.params),
            endpoint_code(row.endpoint),
            kind_code(row.kind),
            *self._origin(row),
        )
        if not salted:
            # v4 UUIDs never collide: no lookup, and the insert waits for the commit's executemany.
            self._pending.append(values)
            self.counts.event(row.workspace_id, self.received_ms, row.action, row.kind)
            return True
        key = values[1]
        at = self._pending_salted.get(key)
        if at is not None and at >= self._job_start:
            # Sent twice in this request: the later one wins and takes the newer place (§3.7).
            self._pending[at] = None
            self._pending_salted[key] = len(self._pending)
            self._pending.append(values)
            return False  # counted when first sent: same request, same receive time
        if at is None:
            found = self.conn.execute(
                "SELECT seq FROM events WHERE workspace_id = ? AND uuid = ?", (values[0], key)
            ).fetchone()
            if found is None:
                self._pending_salted[key] = len(self._pending)
                self._pending.append(values)
                self.counts.event(row.workspace_id, self.received_ms, row.action, row.kind)
                return True
        # Overwriting a stored row (or one of an earlier job of this commit, which this job must be able to
        # undo): rows go in in order first, so the overwritten row's new seq follows everything sent before.
        self.flush()
        (seq, old_minute) = self.conn.execute(
            f"SELECT seq, {SQLITE_RECEIVED_MINUTE} FROM events WHERE workspace_id = ? AND uuid = ?",
            (values[0], key),
        ).fetchone()
        # The stored row moves to this write's receive minute (§7.2 `eventCreateTime` is replaced): one
        # event still, counted where its receive time now is (docs/api.md §13.6a).
        self.counts.event(row.workspace_id, old_minute, row.action, row.kind, -1)
        self.counts.event(row.workspace_id, self.received_ms, row.action, row.kind)
        # Overwrite in place (§3.7): label, params and their origin replaced, a new seq; uuid, action, client
        # and time stay.
        # The new seq follows the highest ever used, deleted rows included, and becomes that mark: an UPDATE
        # does not move `sqlite_sequence` by itself (migration 0008_seq_never_reused).
        (new_seq,) = self.conn.execute(_NEXT_EVENT_SEQ).fetchone()
        self.conn.execute(
            "UPDATE events SET seq = ?, label = ?, params = ?, endpoint = ?, created_ms = ?, ip = ?,"
            " modified_by = ?, client_uuid = ?, sent_time = ? WHERE seq = ?",
            (new_seq, values[4], values[6], values[7], *values[9:], seq),
        )
        self.conn.execute("UPDATE sqlite_sequence SET seq = ? WHERE name = 'events'", (new_seq,))
        return False

    def _origin(self, row: EventRow) -> tuple[Any, ...]:
        """The five origin columns (`storage.event_params`) in SQLite's compact forms: an IPv4 address as
        its 4 bytes, a workspace key as its number."""
        created_ms, ip, modified_by, client_uuid, sent = origin_columns(row)
        if created_ms is None or ip is None or modified_by is None:
            return NO_ORIGIN
        stored_by: int | bytes = self._key_number(modified_by) if len(modified_by) == 16 else modified_by
        return created_ms, compact_ip(ip), stored_by, client_uuid, sent

    def _key_number(self, key_id: bytes) -> int | bytes:
        number = self._key_numbers.get(key_id)
        if number is None:
            found = self.conn.execute(
                "SELECT number FROM api_keys WHERE id = ?", (str(uuidlib.UUID(bytes=key_id)),)
            ).fetchone()
            # A key is numbered when created (migration 0014 numbered the older ones); without a number the
            # id's 16 bytes are stored, which read the same.
            number = key_id if found is None or found[0] is None else found[0]
            self._key_numbers[key_id] = number
        return number

    def _write_pending(self, upto: int | None = None) -> None:
        rows = self._pending if upto is None else self._pending[:upto]
        if rows:
            insert_events(self.conn, [r for r in rows if r is not None])
        if upto is None:
            self._pending.clear()
            self._pending_salted.clear()
        else:
            del self._pending[:upto]
            self._pending_salted = {k: i - upto for k, i in self._pending_salted.items() if i >= upto}

    def flush(self) -> None:
        """Write the pending rows now (inside the running job's savepoint)."""
        self.savepoint()
        self._write_pending()
        self._job_start = 0

    def merge_definitions(self, workspace_id: int, delta: DefinitionDelta) -> None:
        """Deferred: kept with the job, folded into the commit's delta when the job is released and written
        once at commit. A commit of 100 single events then costs one upsert per action and param, not 100."""
        self.definitions.add(workspace_id, delta)

    def write_definitions(self) -> None:
        defs: list[tuple[Any, ...]] = []
        params: list[tuple[Any, ...]] = []
        for workspace_id, delta in self.definitions.take().items():
            for action, d in delta.actions.items():
                defs.append((workspace_id, action, d.kind, d.first_ms or d.last_ms, d.last_ms, d.inserted))
                for name, (types, p_first, p_last) in d.params.items():
                    params.append(
                        (
                            workspace_id,
                            action,
                            text_value(name),
                            _encode(sorted(types)).decode(),
                            p_first,
                            p_last,
                        )
                    )
        if defs:
            self.conn.executemany(
                "INSERT INTO definitions VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (workspace_id, action) DO UPDATE SET"
                " last_seen_ms = MAX(last_seen_ms, excluded.last_seen_ms),"
                " event_count = event_count + excluded.event_count",
                defs,
            )
        if params:
            # The union of the stored and the new types is computed in SQL: another process may have added
            # types since this one last looked, so no cached copy may overwrite them.
            self.conn.executemany(
                "INSERT INTO definition_params VALUES (?, ?, ?, ?, ?, ?) ON CONFLICT (workspace_id, action, name)"
                " DO UPDATE SET types = (SELECT json_group_array(value) FROM (SELECT value FROM"
                " json_each(definition_params.types) UNION SELECT value FROM json_each(excluded.types)"
                " ORDER BY value)), last_seen_ms = MAX(last_seen_ms, excluded.last_seen_ms)",
                params,
            )

    def evict_quarantine(self, workspace_id: int, keep: int) -> int:
        """Delete the workspace's oldest quarantine records beyond the newest `keep`; how many went."""
        self.savepoint()
        row = self.conn.execute(
            "SELECT seq FROM quarantine WHERE workspace_id = ? ORDER BY seq DESC LIMIT 1 OFFSET ?",
            (workspace_id, keep),
        ).fetchone()
        if row is None:
            return 0
        doomed = "workspace_id = ? AND seq <= ?"
        counters.subtract(
            self.counts,
            "quarantine",
            self.conn.execute(counters.deleted_records_sql(doomed), (workspace_id, row[0])),
        )
        return self.conn.execute(f"DELETE FROM quarantine WHERE {doomed}", (workspace_id, row[0])).rowcount

    def add_quarantine(self, records: list[QuarantineRecord]) -> None:
        self.savepoint()
        for r in records:
            self.counts.record(r.workspace_id, r.received_ms, r.reason)
        self.conn.executemany(
            "INSERT INTO quarantine (workspace_id, id, received_ms, request_id, method, endpoint, item_index,"
            " reason, status, errors, credential, item, body, body_truncated)"
            " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
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
                    encode_json([e.as_json() for e in r.errors]),
                    _encode(r.credential),
                    encode_json(r.item) if r.has_item else None,
                    r.body,
                    int(r.body_truncated),
                )
                for r in records
            ],
        )


def apply_request(tx: SQLiteTx, request: WriteRequest, quarantine_cap: int = 0) -> WriteResult:
    """One request as one writer job (its savepoint, if it wrote anything directly, is the job's): a refused
    atomic request rolls its data back and keeps only its quarantine records."""
    tx.received_ms = request.received_ms
    applied = apply_write(tx, request)
    if applied.rollback:
        tx.rollback_job_writes()
    elif applied.definitions:
        tx.merge_definitions(request.workspace_id, applied.definitions)
    if applied.quarantine:
        tx.add_quarantine(applied.quarantine)
        if quarantine_cap > 0 and applied.result.stats is not None:
            applied.result.stats.quarantine_evicted = tx.evict_quarantine(
                request.workspace_id, quarantine_cap
            )
    return applied.result
