"""Shared fixtures: an app per test over a fresh store, driven in-process through httpx's ASGI transport.

The helpers they use (and that test modules import) live in tests/support/: the client in `api.py`, the
PostgreSQL test database in `postgres.py`.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import httpx
import pytest

from tests.support.api import API_KEY, Api
from tests.support.postgres import (
    NO_DATABASE,
    SessionSchema,
    drop_dead_schemas,
    fresh_schema,
    require_test_database,
    test_database_url,
)
from tracktion.app import TracktionApp, create_app
from tracktion.auth.jwt import SigningKey
from tracktion.settings import Settings

# -- store backends ---------------------------------------------------------------------------------
# Every test that builds an app (`settings` → `app` → `api`) runs once per backend: `[sqlite]` on a fresh
# file, `[postgres]` on an empty schema of the database named by TRACKTION_TEST_DATABASE_URL (see
# tests/support/postgres.py). Without that variable the PostgreSQL runs are skipped, except under CI (`CI`
# set), where such a skip fails the run (`pytest_runtest_makereport` below).


def pytest_sessionstart(session: pytest.Session) -> None:
    """Drop schemas left behind by test runs that died (their pid is gone)."""
    url = test_database_url()
    if url is None:
        return
    with contextlib.suppress(Exception):  # the tests themselves report an unreachable database
        drop_dead_schemas(url)


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


@pytest.fixture(scope="session")
def _session_schema() -> Iterator[SessionSchema]:
    schema = SessionSchema()
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
def database_url(store_backend: str, _session_schema: SessionSchema) -> str | None:
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
