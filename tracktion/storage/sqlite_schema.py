"""SQLite schema as named migrations, recorded in `tracktion_migrations` (applied in order, each in a
transaction). Every table is keyed by `workspace_id` first so the PostgreSQL twin can be distributed.

Events are clustered by `seq` (INTEGER PRIMARY KEY, time-ordered; AUTOINCREMENT since 0008, so that no seq is
given twice): random-UUID clustering was measured to slow inserts ~3× as the table grows, so the UUID is a
secondary index used only for lookups and upserts.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from tracktion.storage.counters import SQLITE_RECEIVED_MINUTE_IN_PARAMS, backfill_sql
from tracktion.storage.identifier_trim import migration_step

# A step is an SQL statement, or a function of the connection for data migrations SQL alone cannot express.
Step = str | Callable[[Any], None]


def _rebuilt(table: str, columns: str, names: str) -> list[str]:
    """The statements that remake `table` with new column definitions, keeping its rows (and their seq);
    its indexes go with the old table and are made again by the caller."""
    return [
        f"CREATE TABLE {table}_rebuilt ({columns})",
        f"INSERT INTO {table}_rebuilt ({names}) SELECT {names} FROM {table} ORDER BY seq",
        f"DROP TABLE {table}",
        f"ALTER TABLE {table}_rebuilt RENAME TO {table}",
    ]


MIGRATIONS: list[tuple[str, list[Step]]] = [
    (
        "0001_initial",
        [
            """CREATE TABLE workspaces (
                id INTEGER PRIMARY KEY,
                guid TEXT NOT NULL UNIQUE,
                name TEXT NOT NULL,
                created_ms INTEGER NOT NULL)""",
            """CREATE TABLE api_keys (
                workspace_id INTEGER NOT NULL REFERENCES workspaces(id),
                id TEXT NOT NULL,
                secret_hash TEXT NOT NULL,
                kind TEXT NOT NULL CHECK (kind IN ('workspace', 'profile')),
                name TEXT,
                permissions TEXT NOT NULL,
                created_ms INTEGER NOT NULL,
                revoked_ms INTEGER,
                PRIMARY KEY (workspace_id, id))""",
            "CREATE UNIQUE INDEX api_keys_by_id ON api_keys(id)",
            "CREATE UNIQUE INDEX api_keys_by_hash ON api_keys(secret_hash)",
            """CREATE TABLE profiles (
                workspace_id INTEGER NOT NULL,
                client_id INTEGER NOT NULL,
                primary_uuid TEXT NOT NULL,
                custom_id TEXT,
                email TEXT,
                email_lower TEXT,
                created_ms INTEGER NOT NULL,
                updated_ms INTEGER NOT NULL,
                PRIMARY KEY (workspace_id, client_id))""",
            "CREATE UNIQUE INDEX profiles_by_client_id ON profiles(client_id)",
            "CREATE UNIQUE INDEX profiles_by_custom_id ON profiles(workspace_id, custom_id)"
            " WHERE custom_id IS NOT NULL",
            "CREATE UNIQUE INDEX profiles_by_email ON profiles(workspace_id, email_lower)"
            " WHERE email_lower IS NOT NULL",
            """CREATE TABLE profile_uuids (
                workspace_id INTEGER NOT NULL,
                uuid TEXT NOT NULL,
                client_id INTEGER NOT NULL,
                added_ms INTEGER NOT NULL,
                PRIMARY KEY (workspace_id, uuid)) WITHOUT ROWID""",
            """CREATE TABLE events (
                seq INTEGER PRIMARY KEY,
                workspace_id INTEGER NOT NULL,
                uuid BLOB NOT NULL,
                client_id INTEGER NOT NULL,
                action TEXT NOT NULL,
                label TEXT NOT NULL,
                time_ms INTEGER NOT NULL,
                params BLOB NOT NULL,
                endpoint TEXT NOT NULL,
                kind TEXT NOT NULL)""",
            "CREATE UNIQUE INDEX events_by_uuid ON events(workspace_id, uuid)",
            "CREATE INDEX events_by_client ON events(workspace_id, client_id, time_ms, seq)",
            "CREATE INDEX events_by_time ON events(workspace_id, time_ms, seq)",
            """CREATE TABLE definitions (
                workspace_id INTEGER NOT NULL,
                action TEXT NOT NULL,
                kind TEXT NOT NULL,
                first_seen_ms INTEGER NOT NULL,
                last_seen_ms INTEGER NOT NULL,
                event_count INTEGER NOT NULL,
                PRIMARY KEY (workspace_id, action)) WITHOUT ROWID""",
            """CREATE TABLE definition_params (
                workspace_id INTEGER NOT NULL,
                action TEXT NOT NULL,
                name TEXT NOT NULL,
                types TEXT NOT NULL,
                first_seen_ms INTEGER NOT NULL,
                last_seen_ms INTEGER NOT NULL,
                PRIMARY KEY (workspace_id, action, name)) WITHOUT ROWID""",
            """CREATE TABLE quarantine (
                seq INTEGER PRIMARY KEY,
                workspace_id INTEGER NOT NULL,
                id TEXT NOT NULL,
                received_ms INTEGER NOT NULL,
                request_id TEXT NOT NULL,
                method TEXT NOT NULL,
                endpoint TEXT NOT NULL,
                item_index INTEGER,
                reason TEXT NOT NULL,
                status INTEGER NOT NULL,
                errors BLOB NOT NULL,
                credential BLOB NOT NULL,
                item BLOB,
                body TEXT,
                body_truncated INTEGER NOT NULL DEFAULT 0)""",
            "CREATE UNIQUE INDEX quarantine_by_id ON quarantine(workspace_id, id)",
            "CREATE INDEX quarantine_by_time ON quarantine(workspace_id, received_ms, seq)",
        ],
    ),
    (
        # §9.6 profile data (native fields, agreements, attributes, tags) as one JSON object per profile, in a
        # table of its own so the identity rows and their inserts stay as they are. No row = no data.
        "0002_profile_data",
        [
            """CREATE TABLE profile_data (
                workspace_id INTEGER NOT NULL,
                client_id INTEGER NOT NULL,
                data BLOB NOT NULL,
                PRIMARY KEY (workspace_id, client_id)) WITHOUT ROWID""",
        ],
    ),
    (
        # TRACKTION_QUARANTINE_MAX_ROWS evicts a workspace's oldest records: find the cut-off by seq cheaply.
        "0003_quarantine_by_seq",
        ["CREATE INDEX quarantine_by_seq ON quarantine (workspace_id, seq)"],
    ),
    (
        # §3.2 "Trimming": identifiers stored before the rule are trimmed; a trimmed value another profile
        # already owns is removed from the padded one and reported (tracktion/storage/identifier_trim.py).
        # No 0004 here: PostgreSQL's 0004_signing_key has no SQLite twin (one file, one node), and the
        # migration keeps one name on both backends.
        "0005_trim_identifiers",
        [migration_step("?")],
    ),
    (
        # docs/api.md §15: erasure receipts (with the identifiers in clear only until the deletion is done),
        # suppression digests, the per-workspace HMAC secret, and per-workspace retention.
        "0006_lifecycle",
        [
            "ALTER TABLE workspaces ADD COLUMN retention_days INTEGER",
            """CREATE TABLE erasures (
                workspace_id INTEGER NOT NULL,
                id TEXT NOT NULL,
                client_id INTEGER NOT NULL,
                state TEXT NOT NULL,
                suppress INTEGER NOT NULL,
                requested_ms INTEGER NOT NULL,
                completed_ms INTEGER,
                deleted_events INTEGER NOT NULL DEFAULT 0,
                deleted_quarantine INTEGER NOT NULL DEFAULT 0,
                quarantine_after INTEGER NOT NULL DEFAULT 0,
                quarantine_until INTEGER NOT NULL,
                identifiers BLOB,
                PRIMARY KEY (workspace_id, id)) WITHOUT ROWID""",
            "CREATE INDEX erasures_by_state ON erasures (state, requested_ms)",
            # A new profile's clientId is above every erased one's (never reused, §9.1): MAX() by index.
            "CREATE INDEX erasures_by_client ON erasures (client_id)",
            """CREATE TABLE suppressions (
                workspace_id INTEGER NOT NULL,
                id TEXT NOT NULL,
                digests TEXT NOT NULL,
                created_ms INTEGER NOT NULL,
                erasure_id TEXT,
                PRIMARY KEY (workspace_id, id)) WITHOUT ROWID""",
            """CREATE TABLE workspace_secrets (
                workspace_id INTEGER NOT NULL PRIMARY KEY,
                secret BLOB NOT NULL)""",
        ],
    ),
    (
        # The relay (docs/api.md §14): destinations with their durable cursor, lease and status; the failures
        # that never block the cursor; replays and their progress. See `storage.relay_store`.
        "0007_relay",
        [
            """CREATE TABLE destinations (
                workspace_id INTEGER NOT NULL,
                id TEXT NOT NULL,
                name TEXT NOT NULL,
                type TEXT NOT NULL,
                config TEXT NOT NULL,
                filters TEXT NOT NULL,
                paused INTEGER NOT NULL,
                created_ms INTEGER NOT NULL,
                cursor_seq INTEGER NOT NULL,
                delivered INTEGER NOT NULL,
                failed INTEGER NOT NULL,
                state TEXT NOT NULL,
                next_attempt_ms INTEGER,
                last_success_ms INTEGER,
                last_error TEXT,
                lease_owner TEXT,
                lease_until_ms INTEGER,
                version INTEGER NOT NULL,
                PRIMARY KEY (workspace_id, id)) WITHOUT ROWID""",
            "CREATE UNIQUE INDEX destinations_by_name ON destinations (workspace_id, name)",
            """CREATE TABLE relay_failures (
                workspace_id INTEGER NOT NULL,
                destination_id TEXT NOT NULL,
                id TEXT NOT NULL,
                event_uuid TEXT NOT NULL,
                seq INTEGER NOT NULL,
                failed_ms INTEGER NOT NULL,
                attempts INTEGER NOT NULL,
                status INTEGER,
                response TEXT NOT NULL,
                PRIMARY KEY (workspace_id, destination_id, event_uuid)) WITHOUT ROWID""",
            "CREATE INDEX relay_failures_by_seq ON relay_failures (workspace_id, destination_id, seq)",
            """CREATE TABLE relay_replays (
                workspace_id INTEGER NOT NULL,
                destination_id TEXT NOT NULL,
                id TEXT NOT NULL,
                from_ms INTEGER,
                to_ms INTEGER,
                actions TEXT NOT NULL,
                only_failed INTEGER NOT NULL,
                upto INTEGER NOT NULL,
                created_ms INTEGER NOT NULL,
                state TEXT NOT NULL,
                position INTEGER NOT NULL,
                matched INTEGER NOT NULL,
                delivered INTEGER NOT NULL,
                failed INTEGER NOT NULL,
                PRIMARY KEY (workspace_id, destination_id, id)) WITHOUT ROWID""",
        ],
    ),
    (
        # A seq is never given twice (docs/api.md §7, §14.2). `INTEGER PRIMARY KEY` alone takes MAX(seq) + 1,
        # so deleting the newest event (erasure, retention) or quarantine record would hand its seq to the next
        # write, and a relay cursor or a stream's Last-Event-ID already past it would skip that write.
        # AUTOINCREMENT keeps the highest seq ever used in `sqlite_sequence` and goes on from there; an
        # overwrite (§3.7) moves its row past that mark and records it too (`sqlite_tx.SQLiteTx`). SQLite adds
        # AUTOINCREMENT only by rebuilding a table: rows are copied in seq order, the indexes made again.
        "0008_seq_never_reused",
        [
            *_rebuilt(
                "events",
                """seq INTEGER PRIMARY KEY AUTOINCREMENT,
                workspace_id INTEGER NOT NULL,
                uuid BLOB NOT NULL,
                client_id INTEGER NOT NULL,
                action TEXT NOT NULL,
                label TEXT NOT NULL,
                time_ms INTEGER NOT NULL,
                params BLOB NOT NULL,
                endpoint TEXT NOT NULL,
                kind TEXT NOT NULL""",
                "seq, workspace_id, uuid, client_id, action, label, time_ms, params, endpoint, kind",
            ),
            "CREATE UNIQUE INDEX events_by_uuid ON events(workspace_id, uuid)",
            "CREATE INDEX events_by_client ON events(workspace_id, client_id, time_ms, seq)",
            "CREATE INDEX events_by_time ON events(workspace_id, time_ms, seq)",
            *_rebuilt(
                "quarantine",
                """seq INTEGER PRIMARY KEY AUTOINCREMENT,
                workspace_id INTEGER NOT NULL,
                id TEXT NOT NULL,
                received_ms INTEGER NOT NULL,
                request_id TEXT NOT NULL,
                method TEXT NOT NULL,
                endpoint TEXT NOT NULL,
                item_index INTEGER,
                reason TEXT NOT NULL,
                status INTEGER NOT NULL,
                errors BLOB NOT NULL,
                credential BLOB NOT NULL,
                item BLOB,
                body TEXT,
                body_truncated INTEGER NOT NULL DEFAULT 0""",
                "seq, workspace_id, id, received_ms, request_id, method, endpoint, item_index, reason, status,"
                " errors, credential, item, body, body_truncated",
            ),
            "CREATE UNIQUE INDEX quarantine_by_id ON quarantine(workspace_id, id)",
            "CREATE INDEX quarantine_by_time ON quarantine(workspace_id, received_ms, seq)",
            "CREATE INDEX quarantine_by_seq ON quarantine (workspace_id, seq)",
        ],
    ),
    (
        # §15.1: destinations are told of an erasure. One notice per destination of the workspace, written in
        # the erasure's own transaction and deleted (with the identifiers it carries in clear) when that
        # destination acknowledged it; the receipt counts the relay failures the erasure deleted.
        "0009_erasure_notices",
        [
            "ALTER TABLE erasures ADD COLUMN deleted_relay_failures INTEGER NOT NULL DEFAULT 0",
            """CREATE TABLE relay_erasure_notices (
                workspace_id INTEGER NOT NULL,
                destination_id TEXT NOT NULL,
                erasure_id TEXT NOT NULL,
                identifiers TEXT NOT NULL,
                created_ms INTEGER NOT NULL,
                PRIMARY KEY (workspace_id, destination_id, erasure_id)) WITHOUT ROWID""",
        ],
    ),
    (
        # docs/api.md §13.6a: per-bucket counters of stored events (by receive time) and quarantine records,
        # kept in the same commit as the rows they count (`storage.counters`), backfilled from the rows here.
        "0010_stats_counters",
        [
            """CREATE TABLE event_counts (
                workspace_id INTEGER NOT NULL,
                width INTEGER NOT NULL,
                bucket_ms INTEGER NOT NULL,
                action TEXT NOT NULL,
                kind TEXT NOT NULL,
                n INTEGER NOT NULL,
                PRIMARY KEY (workspace_id, width, bucket_ms, action, kind)) WITHOUT ROWID""",
            """CREATE TABLE quarantine_counts (
                workspace_id INTEGER NOT NULL,
                width INTEGER NOT NULL,
                bucket_ms INTEGER NOT NULL,
                reason TEXT NOT NULL,
                n INTEGER NOT NULL,
                PRIMARY KEY (workspace_id, width, bucket_ms, reason)) WITHOUT ROWID""",
            *backfill_sql(SQLITE_RECEIVED_MINUTE_IN_PARAMS),
        ],
    ),
    (
        # docs/api.md §7.2, issue 23: a row keeps its caller's params; the system params are rebuilt when read
        # from the row's columns and these five (`storage.event_params`). Rows written before keep their full
        # params and `created_ms` NULL, and read the same: adding columns rewrites nothing.
        "0011_event_origin",
        [
            "ALTER TABLE events ADD COLUMN created_ms INTEGER",
            "ALTER TABLE events ADD COLUMN ip TEXT",
            "ALTER TABLE events ADD COLUMN modified_by BLOB",
            "ALTER TABLE events ADD COLUMN client_uuid TEXT",
            "ALTER TABLE events ADD COLUMN sent_time TEXT",
        ],
    ),
    (
        # Issue 23: an index entry ends with the rowid (= seq) anyway, so naming seq stored it twice (~3.7
        # bytes per entry, two indexes). Without it the order and the plans are the same (EXPLAIN QUERY PLAN:
        # no temp B-tree for `ORDER BY time_ms DESC, seq DESC`). Rebuilding them reads the table once.
        "0012_event_indexes_by_rowid",
        [
            "DROP INDEX events_by_client",
            "CREATE INDEX events_by_client ON events(workspace_id, client_id, time_ms)",
            "DROP INDEX events_by_time",
            "CREATE INDEX events_by_time ON events(workspace_id, time_ms)",
        ],
    ),
    (
        # A writer keeps an identifier → profile cache across commits (`sqlite_tx.IdentityCache`) and had to
        # empty it whenever any other connection committed (`PRAGMA data_version`): a relay cursor or a
        # lifecycle step made the writer process look up every identifier of the next batch again (+25-30 µs
        # per event with two destinations, measured). A cached answer goes stale only when a profile's
        # identifiers change or a profile or uuid goes; these triggers count exactly that, and a writer
        # empties its cache when the count moved. Inserts make no cached answer wrong (misses are not cached).
        "0013_identity_changes",
        [
            "CREATE TABLE identity_changes (id INTEGER PRIMARY KEY CHECK (id = 1), n INTEGER NOT NULL)",
            "INSERT INTO identity_changes (id, n) VALUES (1, 0)",
            "CREATE TRIGGER identity_profile_changed AFTER UPDATE OF custom_id, email, email_lower, primary_uuid,"
            " client_id, workspace_id ON profiles BEGIN UPDATE identity_changes SET n = n + 1; END",
            "CREATE TRIGGER identity_profile_deleted AFTER DELETE ON profiles"
            " BEGIN UPDATE identity_changes SET n = n + 1; END",
            "CREATE TRIGGER identity_uuid_changed AFTER UPDATE ON profile_uuids"
            " BEGIN UPDATE identity_changes SET n = n + 1; END",
            "CREATE TRIGGER identity_uuid_deleted AFTER DELETE ON profile_uuids"
            " BEGIN UPDATE identity_changes SET n = n + 1; END",
        ],
    ),
    (
        # Issue 23: a row's `modifiedBy` (§7.2) names the workspace key it was written with; its id took 16
        # bytes of every row, a number takes one or two (`storage.event_params`). A key gets the next number
        # when created (the trigger: every insert, whichever code makes it) and keeps it; keys are never
        # deleted, so a stored number always names its key.
        "0014_key_numbers",
        [
            "ALTER TABLE api_keys ADD COLUMN number INTEGER",
            "UPDATE api_keys SET number = rowid",
            "CREATE UNIQUE INDEX api_keys_by_number ON api_keys(number)",
            "CREATE TRIGGER api_keys_numbered AFTER INSERT ON api_keys WHEN NEW.number IS NULL BEGIN"
            " UPDATE api_keys SET number = (SELECT COALESCE(MAX(number), 0) + 1 FROM api_keys)"
            " WHERE rowid = NEW.rowid; END",
        ],
    ),
]
