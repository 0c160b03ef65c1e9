"""Real `tracktion serve` processes on loopback for the reliability tests, and the figures they report.

Every test here runs the installed `tracktion` command as a child process (killed with SIGKILL where the
test says so) and talks to it over TCP. The numbers a test measures go through the `figures` fixture: they
are printed at the end of the run and, when `TRACKTION_RELIABILITY_FIGURES` names a file, written there as
JSON for `python -m tests.reliability.report` (which renders docs/reliability.md). The server class is in
tests/support/reliability.py.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.postgres import postgres_schema
from tests.support.reliability import ServeProcess

FIGURES_ENV = "TRACKTION_RELIABILITY_FIGURES"

_FIGURES: dict[str, dict[str, Any]] = {}


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
