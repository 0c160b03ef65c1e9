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
import signal
import socket
import subprocess
import sys
import time
import urllib.parse
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest

from tests.conftest import _drop_schema, _new_schema, require_test_database

TRACKTION = Path(sys.executable).with_name("tracktion")
API_KEY = "tk_reliability-key-0123456789abcdef"
FIGURES_ENV = "TRACKTION_RELIABILITY_FIGURES"

_FIGURES: dict[str, dict[str, Any]] = {}


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


class ServeProcess:
    """`tracktion serve` on a fixed port and store; `start()` after `kill()` is a restart on the same data."""

    def __init__(
        self, data_dir: Path, database_url: str | None = None, env: dict[str, str] | None = None
    ) -> None:
        self.data_dir = data_dir
        self.database_url = database_url
        self.extra_env = dict(env or {})
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.log_path = data_dir.parent / f"{data_dir.name}-server.log"
        self.proc: subprocess.Popen[bytes] | None = None
        self.starts = 0
        self.start_seconds: list[float] = []
        self._token: str | None = None

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def start(self, timeout: float = 60.0) -> None:
        env = {k: v for k, v in os.environ.items() if not k.startswith("TRACKTION_")}
        env.update(TRACKTION_BOOTSTRAP_API_KEY=API_KEY, **self.extra_env)
        if self.database_url:
            env["TRACKTION_DATABASE_URL"] = self.database_url
        args = ["serve", "--port", str(self.port), "--data-dir", str(self.data_dir), "--log-level", "warning"]
        started = time.monotonic()
        with self.log_path.open("ab") as log:
            log.write(f"--- start {self.starts + 1}\n".encode())
            log.flush()
            self.proc = subprocess.Popen([str(TRACKTION), *args], env=env, stdout=log, stderr=log)
        self.starts += 1
        while True:
            if self.proc.poll() is not None:
                raise AssertionError(f"server exited with {self.proc.returncode}:\n{self.log_tail()}")
            try:
                if httpx.get(f"{self.url}/-/health", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() - started > timeout:
                self.kill()
                raise AssertionError(f"server did not become healthy:\n{self.log_tail()}")
            time.sleep(0.02)
        self.start_seconds.append(time.monotonic() - started)

    def kill(self) -> None:
        """SIGKILL: no shutdown hook, no flush, nothing but what is already durable survives."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait()
        self.proc = None

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def log_tail(self, lines: int = 40) -> str:
        try:
            return "\n".join(self.log_path.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def memory_kib(self) -> tuple[int, int]:
        """(VmRSS, VmHWM) of the server process in KiB: current and peak resident memory."""
        values = {}
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            name, _, rest = line.partition(":")
            if name in ("VmRSS", "VmHWM"):
                values[name] = int(rest.split()[0])
        return values["VmRSS"], values["VmHWM"]

    # -- a small synchronous client for setup and verification --------------------------------------
    def token(self) -> str:
        if self._token is None:
            r = httpx.post(f"{self.url}/uauth/v2/auth/login/profile", json={"apiKey": API_KEY}, timeout=30)
            assert r.status_code == 200, r.text
            self._token = r.json()["token"]
        return self._token

    def get(self, path: str, **params: Any) -> Any:
        r = httpx.get(
            f"{self.url}{path}",
            params=params,
            headers={"Authorization": f"Bearer {self.token()}"},
            timeout=60,
        )
        assert r.status_code == 200, r.text
        return r.json()

    def all_events(self, **params: Any) -> list[dict[str, Any]]:
        """Every stored event of workspace 1 (matching `params`), following the cursor."""
        items: list[dict[str, Any]] = []
        cursor = None
        while True:
            page = self.get("/-/api/events", limit=1000, **params, **({"cursor": cursor} if cursor else {}))
            items += page["items"]
            cursor = page["nextCursor"]
            if cursor is None:
                return items


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
