"""The live PostgreSQL schema stays ready for Citus (distribution by `workspace_id`), checked in the catalog.

Rules, for every table of a freshly migrated schema:
* it has a primary key whose first column is `workspace_id`;
* every unique constraint or unique index includes `workspace_id`;
* every foreign key includes `workspace_id` on both sides, or points at the `workspaces` reference table;
* every column called `workspace_id` is `bigint NOT NULL`.
The only exceptions are the ones documented in `tracktion.storage.postgres_schema` (reference tables and the
migrations ledger), spelled out again here so that adding one is a visible decision.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import pytest

from tests.support.postgres import fresh_schema, require_test_database
from tracktion.storage.postgres_schema import GLOBAL_TABLES, GLOBAL_UNIQUE_KEYS

if TYPE_CHECKING:
    import psycopg

pytestmark = pytest.mark.postgres

# Tables without workspace_id as the first primary-key column (and why: see postgres_schema.GLOBAL_TABLES).
EXPECTED_GLOBAL_TABLES = {"workspaces", "tracktion_migrations", "tracktion_signing_key"}
# Unique keys without workspace_id, all on reference tables.
EXPECTED_GLOBAL_UNIQUE_KEYS = {
    ("workspaces", ("guid",)),
    ("api_keys", ("id",)),
    ("api_keys", ("secret_hash",)),
}
# Tables replicated to every node on Citus (create_reference_table); they may have global keys.
REFERENCE_TABLES = {"workspaces", "api_keys", "tracktion_migrations", "tracktion_signing_key"}


@pytest.fixture
def conn() -> Iterator[psycopg.Connection[Any]]:
    base = require_test_database()
    import psycopg  # the `postgres` extra: imported here so that the suite collects without it

    from tracktion.storage.postgres_backend import migrate

    with fresh_schema(base) as url, psycopg.connect(url, autocommit=True) as c:
        migrate(c)
        yield c


def _tables(conn: psycopg.Connection[Any]) -> list[str]:
    return [
        r[0]
        for r in conn.execute(
            "SELECT c.relname FROM pg_class c WHERE c.relnamespace = current_schema()::regnamespace"
            " AND c.relkind IN ('r', 'p') ORDER BY 1"
        )
    ]


def _keys(conn: psycopg.Connection[Any]) -> list[tuple[str, str, bool, bool, list[str]]]:
    """Every unique index (primary keys included): table, index, is_primary, is_partial, columns in order."""
    rows = conn.execute(
        "SELECT t.relname, i.relname, x.indisprimary, x.indpred IS NOT NULL,"
        " ARRAY(SELECT a.attname FROM unnest(x.indkey) WITH ORDINALITY AS k(attnum, n)"
        "       JOIN pg_attribute a ON a.attrelid = x.indrelid AND a.attnum = k.attnum ORDER BY k.n)"
        " FROM pg_index x JOIN pg_class t ON t.oid = x.indrelid JOIN pg_class i ON i.oid = x.indexrelid"
        " WHERE x.indisunique AND t.relnamespace = current_schema()::regnamespace ORDER BY 1, 2"
    ).fetchall()
    return [(t, i, p, partial, list(cols)) for t, i, p, partial, cols in rows]


def test_documented_exceptions_match_this_test() -> None:
    assert set(GLOBAL_TABLES) == EXPECTED_GLOBAL_TABLES
    assert set(GLOBAL_UNIQUE_KEYS) == EXPECTED_GLOBAL_UNIQUE_KEYS
    assert all(GLOBAL_TABLES.values()) and all(GLOBAL_UNIQUE_KEYS.values()), "each exception says why"


def test_every_table_is_keyed_by_workspace_first(conn: psycopg.Connection[Any]) -> None:
    tables = _tables(conn)
    assert {"events", "profiles", "profile_uuids", "definitions", "quarantine", "api_keys"} <= set(tables)
    primary = {t: cols for t, _, is_pk, _, cols in _keys(conn) if is_pk}
    problems = []
    for table in tables:
        if table in EXPECTED_GLOBAL_TABLES:
            continue
        cols = primary.get(table)
        if cols is None:
            problems.append(f"{table}: no primary key")
        elif cols[0] != "workspace_id":
            problems.append(f"{table}: primary key {cols} does not start with workspace_id")
    assert not problems, problems


def test_every_unique_key_includes_workspace(conn: psycopg.Connection[Any]) -> None:
    problems = []
    for table, index, is_pk, _, cols in _keys(conn):
        if table in EXPECTED_GLOBAL_TABLES and (is_pk or table == "tracktion_migrations"):
            continue
        if "workspace_id" in cols:
            continue
        if (table, tuple(cols)) in EXPECTED_GLOBAL_UNIQUE_KEYS:
            assert table in REFERENCE_TABLES, f"{index}: a global key is only allowed on a reference table"
            continue
        problems.append(f"{table}.{index} {cols} lacks workspace_id")
    assert not problems, problems


def test_foreign_keys_stay_inside_a_workspace(conn: psycopg.Connection[Any]) -> None:
    rows = conn.execute(
        "SELECT c.conname, c.conrelid::regclass::text, c.confrelid::regclass::text,"
        " ARRAY(SELECT a.attname FROM unnest(c.conkey) WITH ORDINALITY AS k(attnum, n) JOIN pg_attribute a"
        "       ON a.attrelid = c.conrelid AND a.attnum = k.attnum ORDER BY k.n),"
        " ARRAY(SELECT a.attname FROM unnest(c.confkey) WITH ORDINALITY AS k(attnum, n) JOIN pg_attribute a"
        "       ON a.attrelid = c.confrelid AND a.attnum = k.attnum ORDER BY k.n)"
        " FROM pg_constraint c WHERE c.contype = 'f' AND c.connamespace = current_schema()::regnamespace"
    ).fetchall()
    problems = []
    for name, table, target, cols, target_cols in rows:
        if "workspace_id" not in cols:
            problems.append(f"{table}.{name}: does not include workspace_id")
        elif target == "workspaces":
            if list(target_cols) != ["id"] or list(cols) != ["workspace_id"]:
                problems.append(f"{table}.{name}: must reference workspaces(id) by workspace_id alone")
        elif "workspace_id" not in target_cols or list(cols).index("workspace_id") != list(target_cols).index(
            "workspace_id"
        ):
            problems.append(f"{table}.{name}: crosses workspaces ({cols} → {target}{target_cols})")
    assert not problems, problems


def test_workspace_columns_are_bigint_not_null(conn: psycopg.Connection[Any]) -> None:
    rows = conn.execute(
        "SELECT table_name, data_type, is_nullable FROM information_schema.columns"
        " WHERE table_schema = current_schema() AND column_name = 'workspace_id'"
    ).fetchall()
    tables = {t for t, _, _ in rows}
    assert tables == set(_tables(conn)) - EXPECTED_GLOBAL_TABLES
    assert all(dt == "bigint" and nullable == "NO" for _, dt, nullable in rows), rows


def test_client_ids_come_from_a_never_reused_sequence(conn: psycopg.Connection[Any]) -> None:
    """clientId is unique server-wide without a global unique index (a distributed table cannot have one)."""
    row = conn.execute(
        "SELECT start_value, min_value, cycle FROM pg_sequences"
        " WHERE schemaname = current_schema() AND sequencename = 'tracktion_client_id_seq'"
    ).fetchone()
    assert row == (7_000_000_001, 7_000_000_001, False)
