"""Per-bucket counters for `GET /-/api/stats` (docs/api.md §13.6a), written once for SQLite and PostgreSQL.

Two tables, keyed by workspace first:
- `event_counts (workspace_id, width, bucket_ms, action, kind, n)`: stored events by their receive time (the
  `eventCreateTime` of §7.2: the receive time of the event's latest write);
- `quarantine_counts (workspace_id, width, bucket_ms, reason, n)`: quarantine records by `receivedAt`.

`width` is the bucket's length in ms: every change is written at three grains, minute, hour and day (UTC),
in the same commit as the rows it counts. Reads take the grain of the answer, so 30 days by hour reads at
most 720 rows per action and never the events. The minute rows serve `bucket=minute` (at most 10,000
buckets per answer, about a week); the day rows keep long ranges by day as cheap as a month by hour.

Writes are aggregated per commit: the writer's transaction keeps the deltas in a `PendingCounts` (scoped by
job, like the definitions: a rolled-back job's counts go with it) and upserts one row per (bucket, key) and
grain when it commits, never one per event. Deltas may be negative (deletions, an overwrite moving an event
to its new receive minute); a row whose count reaches 0 stays, and reads skip it.

Invariant, checked by tests/storage/test_stats_counters.py: the counters equal a `GROUP BY` over the stored
rows, the one `backfill_sql` runs when the migration builds them for an existing store.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from tracktion.domain.stats import DAY_MS, HOUR_MS, MINUTE_MS
from tracktion.storage.event_params import KIND_CODES

WIDTHS = (MINUTE_MS, HOUR_MS, DAY_MS)

EventKey = tuple[int, int, str, str]  # (workspace_id, minute start ms, action, kind)
RecordKey = tuple[int, int, str]  # (workspace_id, minute start ms, reason)


def minute_of(ms: int) -> int:
    return ms - ms % MINUTE_MS


def _add(into: dict[Any, int], key: Any, n: int) -> None:
    into[key] = into.get(key, 0) + n


class PendingCounts:
    """The counter deltas of one commit: the released jobs' and the running job's."""

    __slots__ = ("events", "job_events", "job_records", "records")

    def __init__(self) -> None:
        self.events: dict[EventKey, int] = {}
        self.records: dict[RecordKey, int] = {}
        self.job_events: dict[EventKey, int] = {}
        self.job_records: dict[RecordKey, int] = {}

    def event(self, workspace_id: int, received_ms: int, action: str, kind: str, n: int = 1) -> None:
        key = (workspace_id, received_ms - received_ms % MINUTE_MS, action, kind)
        job = self.job_events
        job[key] = job.get(key, 0) + n

    def record(self, workspace_id: int, received_ms: int, reason: str, n: int = 1) -> None:
        _add(self.job_records, (workspace_id, minute_of(received_ms), reason), n)

    def release_job(self) -> None:
        _merge(self.job_events, self.events)
        _merge(self.job_records, self.records)

    def discard_job(self) -> None:
        self.job_events.clear()
        self.job_records.clear()

    def take(self) -> tuple[list[tuple[Any, ...]], list[tuple[Any, ...]]]:
        """The released deltas as upsert rows at every grain, sorted (PostgreSQL nodes lock counter rows in
        one order), zero deltas left out; the pending deltas are cleared."""
        events: dict[tuple[Any, ...], int] = {}
        for (ws, minute, action, kind), n in self.events.items():
            for width in WIDTHS:
                _add(events, (ws, width, minute - minute % width, action, kind), n)
        records: dict[tuple[Any, ...], int] = {}
        for (ws, minute, reason), n in self.records.items():
            for width in WIDTHS:
                _add(records, (ws, width, minute - minute % width, reason), n)
        self.events.clear()
        self.records.clear()
        return _rows(events), _rows(records)


def _merge(source: dict[Any, int], target: dict[Any, int]) -> None:
    if not source:
        return
    if target:
        for key, n in source.items():
            target[key] = target.get(key, 0) + n
    else:
        target.update(source)
    source.clear()


def _rows(deltas: dict[tuple[Any, ...], int]) -> list[tuple[Any, ...]]:
    return [(*key, n) for key, n in sorted(deltas.items()) if n]


_EVENT_COLS = "workspace_id, width, bucket_ms, action, kind, n"
_RECORD_COLS = "workspace_id, width, bucket_ms, reason, n"
# Rows per statement: a commit's deltas go in as one multi-row upsert (each statement step hands the GIL
# over, see `sqlite_tx`), chunked far below SQLite's 32,766 parameters.
_CHUNK = 256


def upsert_events_sql(mark: str, rows: int = 1) -> str:
    values = ", ".join([f"({', '.join([mark] * 6)})"] * rows)
    return (
        f"INSERT INTO event_counts ({_EVENT_COLS}) VALUES {values}"
        " ON CONFLICT (workspace_id, width, bucket_ms, action, kind) DO UPDATE SET n = event_counts.n + excluded.n"
    )


def upsert_records_sql(mark: str, rows: int = 1) -> str:
    values = ", ".join([f"({', '.join([mark] * 5)})"] * rows)
    return (
        f"INSERT INTO quarantine_counts ({_RECORD_COLS}) VALUES {values}"
        " ON CONFLICT (workspace_id, width, bucket_ms, reason) DO UPDATE SET n = quarantine_counts.n + excluded.n"
    )


# A row's kind by name: stored as its one-letter code since 0011 (`event_params.KIND_CODES`), as the name
# before; counters count by name.
KIND_NAME = (
    "CASE kind "
    + " ".join(f"WHEN '{code}' THEN '{name}'" for name, code in KIND_CODES.items())
    + " ELSE kind END"
)


def deleted_events_sql(received_minute: str, condition: str) -> str:
    """The counts of the events a deletion with `condition` (over `events`) is about to remove."""
    return (
        f"SELECT workspace_id, {received_minute}, action, {KIND_NAME}, COUNT(*) FROM events"
        f" WHERE {condition} GROUP BY 1, 2, 3, 4"
    )


def deleted_records_sql(condition: str) -> str:
    return (
        f"SELECT workspace_id, received_ms / {MINUTE_MS} * {MINUTE_MS}, reason, COUNT(*) FROM quarantine"
        f" WHERE {condition} GROUP BY 1, 2, 3"
    )


def subtract(pending: PendingCounts, table: str, rows: Iterable[tuple[Any, ...]]) -> None:
    """Count the rows a deletion removes (from `deleted_*_sql`) as negative deltas of the running job."""
    if table == "events":
        for ws, minute, action, kind, n in rows:
            pending.event(ws, minute, action, kind, -n)
    else:
        for ws, minute, reason, n in rows:
            pending.record(ws, minute, reason, -n)


def write(pending: PendingCounts, execute: Any, mark: str) -> None:
    """Upsert the commit's counter deltas (`execute(sql, params)`): one statement per table for up to
    `_CHUNK` rows. Rows are sorted and unique, so no statement updates a row twice."""
    events, records = pending.take()
    for rows, sql in ((events, upsert_events_sql), (records, upsert_records_sql)):
        for at in range(0, len(rows), _CHUNK):
            chunk = rows[at : at + _CHUNK]
            execute(sql(mark, len(chunk)), [v for row in chunk for v in row])


def backfill_sql(received_minute: str) -> list[str]:
    """The migration's statements: the counters of every stored row, at every grain."""
    out = []
    for width in WIDTHS:
        out.append(
            "INSERT INTO event_counts (workspace_id, width, bucket_ms, action, kind, n)"
            f" SELECT workspace_id, {width}, m / {width} * {width}, action, kind, COUNT(*) FROM"
            f" (SELECT workspace_id, {received_minute} AS m, action, {KIND_NAME} AS kind FROM events) AS e"
            f" GROUP BY workspace_id, m / {width} * {width}, action, kind"
        )
        out.append(
            "INSERT INTO quarantine_counts (workspace_id, width, bucket_ms, reason, n)"
            f" SELECT workspace_id, {width}, received_ms / {width} * {width}, reason, COUNT(*)"
            f" FROM quarantine GROUP BY workspace_id, received_ms / {width} * {width}, reason"
        )
    return out


# The minute of an event's receive time, from the stored row. Rows written since migration 0011 have it in
# `created_ms` (`storage.event_params`); older rows in their params' `eventCreateTime` (§7.2); the
# occurrence time's minute for a row without either. The migration that backfills the counters (0010) runs
# before `created_ms` exists, so it reads the params alone (`*_RECEIVED_MINUTE_IN_PARAMS`).
SQLITE_RECEIVED_MINUTE_IN_PARAMS = (
    "COALESCE(CAST(strftime('%s', substr(json_extract(CAST(params AS TEXT), '$.eventCreateTime'), 1, 16))"
    " AS INTEGER) * 1000, time_ms / 60000 * 60000)"
)
POSTGRES_RECEIVED_MINUTE_IN_PARAMS = (
    "COALESCE((floor(extract(epoch FROM (params->>'eventCreateTime')::timestamptz) / 60) * 60000)::bigint,"
    " time_ms / 60000 * 60000)"
)
SQLITE_RECEIVED_MINUTE = f"COALESCE(created_ms / 60000 * 60000, {SQLITE_RECEIVED_MINUTE_IN_PARAMS})"
POSTGRES_RECEIVED_MINUTE = f"COALESCE(created_ms / 60000 * 60000, {POSTGRES_RECEIVED_MINUTE_IN_PARAMS})"
