"""Real `tracktion serve` processes on loopback for the reliability tests, and the figures they report.

Every test here runs the installed `tracktion` command as a child process (killed with SIGKILL where the
test says so) and talks to it over TCP. The numbers a test measures go through the `figures` fixture: they
are printed at the end of the run and, when `TRACKTION_RELIABILITY_FIGURES` names a file, written there as
JSON for `python -m tests.reliability.report` (which renders docs/reliability.md).
"""

from __future__ import annotations

import contextlib
import json
import os
import urllib.parse
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import psycopg
import pytest

from tests.conftest import _drop_schema, _new_schema, require_test_database
from tests.support import serve_process

API_KEY = "tk_reliability-key-0123456789abcdef"
FIGURES_ENV = "TRACKTION_RELIABILITY_FIGURES"

_FIGURES: dict[str, dict[str, Any]] = {}


class ServeProcess(serve_process.ServeProcess):
    """`tracktion serve` with the reliability key, its output appended to `<data dir>-server.log`."""

    def __init__(
        self, data_dir: Path, database_url: str | None = None, env: dict[str, str] | None = None
    ) -> None:
        log_path = data_dir.parent / f"{data_dir.name}-server.log"
        super().__init__(data_dir, database_url, env, api_key=API_KEY, log_path=log_path)

    def memory_kib(self) -> tuple[int, int]:
        """(VmRSS, VmHWM) of the server process in KiB: current and peak resident memory."""
        values = {}
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            name, _, rest = line.partition(":")
            if name in ("VmRSS", "VmHWM"):
                values[name] = int(rest.split()[0])
        return values["VmRSS"], values["VmHWM"]


@contextlib.contextmanager
def postgres_schema() -> Iterator[str]:
    """A fresh schema in the test database, dropped afterwards; yields a URL selecting it.

    Unlike the store tests' URLs this one keeps `synchronous_commit` at the server's default: the
    durability tests check what a 202 promises, so the commit must be as durable as in production."""
    base = require_test_database()
    name = _new_schema(base)
    options = urllib.parse.quote(f"-csearch_path={name}")
    try:
        yield f"{base}{'&' if '?' in base else '?'}options={options}"
    finally:
        with psycopg.connect(base, autocommit=True) as conn:
            _drop_schema(conn, name)


@pytest.fixture
def serve_factory(tmp_path: Path, store_backend: str) -> Iterator[Callable[..., ServeProcess]]:
    """Builds servers of the test's backend (`[sqlite]` / `[postgres]`); all are stopped at the end."""
    servers: list[ServeProcess] = []
    with contextlib.ExitStack() as stack:

        def make(
            data_dir: Path | None = None, env: dict[str, str] | None = None, database_url: str | None = None
        ) -> ServeProcess:
            if database_url is None and store_backend == "postgres":
                database_url = stack.enter_context(postgres_schema())
            server = ServeProcess(data_dir or tmp_path / f"data{len(servers)}", database_url, env)
            servers.append(server)
            return server

        try:
            yield make
        finally:
            for server in servers:
                server.kill()


@pytest.fixture
def figures(request: pytest.FixtureRequest) -> Callable[..., None]:
    """`figures(name, key=value, …)`: record a test's numbers under `name[<backend>]`."""
    backend = request.node.callspec.params.get("store_backend") if hasattr(request.node, "callspec") else None

    def record(name: str, **values: Any) -> None:
        key = f"{name}[{backend}]" if backend else name
        _FIGURES.setdefault(key, {}).update(values)

    return record


def pytest_terminal_summary(terminalreporter: Any) -> None:
    if not _FIGURES:
        return
    terminalreporter.section("reliability figures")
    for name, values in sorted(_FIGURES.items()):
        shown = ", ".join(f"{k}={v}" for k, v in values.items())
        terminalreporter.write_line(f"{name}: {shown}")


def pytest_sessionfinish(session: pytest.Session) -> None:
    path = os.environ.get(FIGURES_ENV)
    if path and _FIGURES:
        Path(path).write_text(json.dumps(_FIGURES, indent=2))  # insertion order: the tests' own
