"""The PostgreSQL test database: its URL (or a skip), schemas of one's own in it, and one migrated schema
per session that is emptied before each test.

Every test that builds an app (`settings` → `app` → `api`, tests/conftest.py) runs once per backend:
`[sqlite]` on a fresh file, `[postgres]` on an empty schema of the database named by
TRACKTION_TEST_DATABASE_URL. Without that variable the PostgreSQL runs are skipped, except under CI (`CI`
set), where such a skip fails the run (`pytest_runtest_makereport` in tests/conftest.py).

psycopg is imported inside the functions: the suite collects without the `postgres` extra installed.
"""

from __future__ import annotations

import contextlib
import os
import re
import urllib.parse
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

TEST_DATABASE_ENV = "TRACKTION_TEST_DATABASE_URL"
SCHEMA_PREFIX = "tt_"
NO_DATABASE = "PostgreSQL test database unavailable"  # the skip reason CI turns into a failure


def test_database_url() -> str | None:
    return os.environ.get(TEST_DATABASE_ENV) or None


# Named like a test: should a test module import it, pytest must not collect it.
test_database_url.__test__ = False  # type: ignore[attr-defined]


def require_test_database() -> str:
    """The test database URL, or skip (a failure under CI)."""
    url = test_database_url()
    if url is None:
        pytest.skip(f"{NO_DATABASE}: {TEST_DATABASE_ENV} is not set")
    return url


def with_search_path(url: str, schema: str) -> str:
    """The URL with `options=-csearch_path=<schema>`: every connection of the store works in that schema.

    Tests also run with `synchronous_commit=off`: nothing here needs to survive a power cut, and commits
    that do not wait for the WAL flush keep the PostgreSQL runs about as fast as the SQLite ones."""
    if "options=" in url:
        raise ValueError(f"{TEST_DATABASE_ENV} must not set `options` (the tests set search_path)")
    options = urllib.parse.quote(f"-csearch_path={schema} -csynchronous_commit=off")
    return f"{url}{'&' if '?' in url else '?'}options={options}"


def drop_schema(conn: Any, name: str) -> None:
    conn.execute("SET lock_timeout = '10s'")
    conn.execute(f'DROP SCHEMA IF EXISTS "{name}" CASCADE')


def new_schema(base_url: str) -> str:
    import psycopg

    name = f"{SCHEMA_PREFIX}{os.getpid()}_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(base_url, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{name}"')
    return name


@contextlib.contextmanager
def fresh_schema(base_url: str) -> Iterator[str]:
    """A new empty schema in the test database, dropped afterwards; yields a URL that selects it.

    Schemas are named `tt_<pid>_<random>` so parallel test runs (several engineers, xdist) on one
    database never touch each other's data.
    """
    import psycopg

    name = new_schema(base_url)
    try:
        yield with_search_path(base_url, name)
    finally:
        with psycopg.connect(base_url, autocommit=True) as conn:
            drop_schema(conn, name)


@contextlib.contextmanager
def postgres_schema() -> Iterator[str]:
    """A fresh schema in the test database, dropped afterwards; yields a URL selecting it.

    Unlike the store tests' URLs this one keeps `synchronous_commit` at the server's default: the
    durability tests check what a 202 promises, so the commit must be as durable as in production."""
    base = require_test_database()
    import psycopg

    name = new_schema(base)
    options = urllib.parse.quote(f"-csearch_path={name}")
    try:
        yield f"{base}{'&' if '?' in base else '?'}options={options}"
    finally:
        with psycopg.connect(base, autocommit=True) as conn:
            drop_schema(conn, name)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def drop_dead_schemas(url: str) -> None:
    """Drop the schemas left behind by test runs that died (their pid is gone)."""
    import psycopg

    with psycopg.connect(url, autocommit=True, connect_timeout=5) as conn:
        names = [
            r[0]
            for r in conn.execute(
                "SELECT nspname FROM pg_namespace WHERE nspname LIKE %s", (SCHEMA_PREFIX + "%",)
            )
        ]
        for name in names:
            m = re.fullmatch(rf"{SCHEMA_PREFIX}(\d+)_[0-9a-f]+", name)
            if m and not _pid_alive(int(m.group(1))):
                drop_schema(conn, name)


class SessionSchema:
    """One migrated schema per test session, emptied before each test that uses it.

    Migrating costs ~100 ms of DDL and TRUNCATE ~80 ms; emptying it with DELETE (children first) and
    restarting every sequence (all found in the catalog, so new migrations are covered) costs ~5 ms,
    so each `[postgres]` test still starts from a store that looks brand new (first workspace id 1,
    first clientId 7000000001).
    """

    def __init__(self) -> None:
        self.url: str | None = None
        self.name = ""
        self.base = ""

    def get(self, base: str) -> str:
        import psycopg

        from tracktion.storage.postgres_backend import migrate

        if self.url is None:
            self.base = base
            self.name = new_schema(base)
            self.url = with_search_path(base, self.name)
            with psycopg.connect(self.url, autocommit=True) as conn:
                migrate(conn)
        else:
            with psycopg.connect(self.url, autocommit=True) as conn:
                tables = [
                    r[0]
                    for r in conn.execute(
                        "SELECT tablename FROM pg_tables WHERE schemaname = %s"
                        " AND tablename <> 'tracktion_migrations'",
                        (self.name,),
                    )
                ]
                # child → parent foreign keys: empty the children first
                parents: dict[str, set[str]] = {t: set() for t in tables}
                for child, parent in conn.execute(
                    "SELECT c.conrelid::regclass::text, c.confrelid::regclass::text FROM pg_constraint c"
                    " JOIN pg_namespace n ON n.oid = c.connamespace WHERE c.contype = 'f' AND n.nspname = %s",
                    (self.name,),
                ):
                    parents.setdefault(child, set()).add(parent)
                order: list[str] = []
                while len(order) < len(parents):
                    for t in sorted(parents):
                        children = [c for c, ps in parents.items() if t in ps and c not in order]
                        if t not in order and not children:
                            order.append(t)
                sequences = [
                    r[0]
                    for r in conn.execute(
                        "SELECT sequencename FROM pg_sequences WHERE schemaname = %s", (self.name,)
                    )
                ]
                statements = [f'DELETE FROM "{t}"' for t in order]
                statements += [f'ALTER SEQUENCE "{q}" RESTART' for q in sequences]
                conn.execute("; ".join(statements))
        return self.url

    def drop(self) -> None:
        if self.url is None:
            return
        import psycopg

        with psycopg.connect(self.base, autocommit=True) as conn:
            drop_schema(conn, self.name)
