"""Shared fixtures: an app per test over a fresh store, driven in-process through httpx's ASGI transport."""

from __future__ import annotations

import base64
import contextlib
import os
import re
import urllib.parse
import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tracktion.app import TracktionApp, create_app
from tracktion.auth.jwt import SigningKey
from tracktion.settings import Settings

API_KEY = "tk_test-bootstrap-key-0123456789abcdef"


# -- store backends ---------------------------------------------------------------------------------
# Every test that builds an app (`settings` → `app` → `api`) runs once per backend: `[sqlite]` on a fresh
# file, `[postgres]` on an empty schema of the database named by TRACKTION_TEST_DATABASE_URL. Without that
# variable the PostgreSQL runs are skipped, except under CI (`CI` set), where such a skip fails the run
# (`pytest_runtest_makereport` below).
TEST_DATABASE_ENV = "TRACKTION_TEST_DATABASE_URL"
SCHEMA_PREFIX = "tt_"
NO_DATABASE = "PostgreSQL test database unavailable"  # the skip reason CI turns into a failure


def test_database_url() -> str | None:
    return os.environ.get(TEST_DATABASE_ENV) or None


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


def _drop_schema(conn: Any, name: str) -> None:
    conn.execute("SET lock_timeout = '10s'")
    conn.execute(f'DROP SCHEMA IF EXISTS "{name}" CASCADE')


def _new_schema(base_url: str) -> str:
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

    name = _new_schema(base_url)
    try:
        yield with_search_path(base_url, name)
    finally:
        with psycopg.connect(base_url, autocommit=True) as conn:
            _drop_schema(conn, name)


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def pytest_sessionstart(session: pytest.Session) -> None:
    """Drop schemas left behind by test runs that died (their pid is gone)."""
    url = test_database_url()
    if url is None:
        return
    try:
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
                    _drop_schema(conn, name)
    except Exception:  # the tests themselves report an unreachable database
        pass


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[None]:
    """Under CI the PostgreSQL tests must run: a skip for want of the test database is a failure.
    (Other skips of a `[postgres]` test, e.g. one that inspects SQLite files, stay skips.)"""
    outcome = yield
    report = outcome.get_result()  # type: ignore[attr-defined]
    if report.skipped and os.environ.get("CI") and not hasattr(report, "wasxfail"):
        reason = report.longrepr[2] if isinstance(report.longrepr, tuple) else str(report.longrepr)
        if NO_DATABASE in reason:
            report.outcome = "failed"
            report.longrepr = f"{reason} while CI is set: PostgreSQL tests must run under CI"


class _SessionSchema:
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

        from tracktion.storage.postgres import migrate

        if self.url is None:
            self.base = base
            self.name = _new_schema(base)
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
            _drop_schema(conn, self.name)


@pytest.fixture(scope="session")
def _session_schema() -> Iterator[_SessionSchema]:
    schema = _SessionSchema()
    yield schema
    schema.drop()


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def store_backend(request: pytest.FixtureRequest) -> str:
    """Which store the test's app uses: "sqlite" or "postgres"."""
    backend: str = request.param
    if backend == "postgres":
        require_test_database()
    return backend


@pytest.fixture
def make_database_url(store_backend: str) -> Iterator[Callable[[], str | None]]:
    """A factory of independent stores for the test's backend: a new PostgreSQL schema URL per call,
    or None (= SQLite in the app's own data dir). For tests that build several apps."""
    with contextlib.ExitStack() as stack:

        def make() -> str | None:
            if store_backend != "postgres":
                return None
            return stack.enter_context(fresh_schema(require_test_database()))

        yield make


@pytest.fixture
def database_url(store_backend: str, _session_schema: _SessionSchema) -> str | None:
    """`TRACKTION_DATABASE_URL` of the test's app: None for SQLite, an emptied schema for PostgreSQL."""
    if store_backend != "postgres":
        return None
    return _session_schema.get(require_test_database())


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return tmp_path / "data"


@pytest.fixture
def settings(data_dir: Path, database_url: str | None) -> Settings:
    # In-process apps write on a thread: a writer process per test would cost ~0.2 s each. The process
    # (what `tracktion serve` runs) has tests of its own and carries every real-server test.
    values = {"data_dir": data_dir, "bootstrap_api_key": API_KEY, "database_url": database_url}
    return Settings.load(values | {"sqlite_writer": "thread"}, env={})


class Api:
    """A small synchronous-looking helper over an async httpx client bound to the app."""

    def __init__(self, app: TracktionApp, client: httpx.AsyncClient) -> None:
        self.app = app
        self.client = client
        self.token: str | None = None

    async def login(self, api_key: str = API_KEY) -> str:
        r = await self.client.post("/uauth/v2/auth/login/profile", json={"apiKey": api_key})
        assert r.status_code == 200, r.text
        self.token = r.json()["token"]
        return self.token

    def auth(self, token: str | None = None) -> dict[str, str]:
        return {"Authorization": f"Bearer {token or self.token}"}

    def basic(self, workspace: str = "1", api_key: str = API_KEY) -> dict[str, str]:
        return {"Authorization": "Basic " + base64.b64encode(f"{workspace}:{api_key}".encode()).decode()}

    async def post(
        self,
        path: str,
        body: Any = None,
        *,
        headers: dict[str, str] | None = None,
        content: bytes | None = None,
        **kwargs: Any,
    ) -> httpx.Response:
        h = {**self.auth(), **(headers or {})} if self.token else dict(headers or {})
        if content is not None:
            h.setdefault("Content-Type", "application/json")
            return await self.client.post(path, content=content, headers=h, **kwargs)
        return await self.client.post(path, json=body, headers=h, **kwargs)

    async def get(self, path: str, *, headers: dict[str, str] | None = None, **kwargs: Any) -> httpx.Response:
        h = {**self.auth(), **(headers or {})} if self.token else dict(headers or {})
        return await self.client.get(path, headers=h, **kwargs)

    async def send_event(self, body: dict[str, Any], path: str = "/v4/events/custom") -> httpx.Response:
        return await self.post(path, body)

    async def events(self, **params: Any) -> list[dict[str, Any]]:
        r = await self.get("/-/api/events", params=params)
        assert r.status_code == 200, r.text
        items: list[dict[str, Any]] = r.json()["items"]
        return items

    async def quarantine(self, **params: Any) -> list[dict[str, Any]]:
        r = await self.get("/-/api/quarantine", params=params)
        assert r.status_code == 200, r.text
        items: list[dict[str, Any]] = r.json()["items"]
        return items


@pytest.fixture(scope="session")
def session_signing_key() -> SigningKey:
    """The one RSA signing key of every in-process app the tests build. Generating a key costs ~0.1 s (more
    on a busy machine) and nearly every test builds an app per backend; what the key *file* does (created
    0600 on first start, loaded and tightened after) is tested with apps that make their own
    (`make_api(key_file=True)`) and in tests/auth/test_jwt.py."""
    return SigningKey.generate()


@pytest.fixture
def app(settings: Settings, session_signing_key: SigningKey) -> Iterator[TracktionApp]:
    yield create_app(settings, signing_key=session_signing_key)


@pytest.fixture
async def api(app: TracktionApp) -> AsyncIterator[Api]:
    await app.startup()
    transport = httpx.ASGITransport(app=app, client=("203.0.113.7", 51234))
    async with httpx.AsyncClient(transport=transport, base_url="http://tracktion.test") as client:
        helper = Api(app, client)
        await helper.login()
        yield helper
    await app.shutdown()
