"""A real `tracktion serve` process on a free loopback port for the command-line tools' end-to-end tests,
and helpers to run the `tracktion` command as a subprocess."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

TRACKTION = Path(sys.executable).with_name("tracktion")
API_KEY = "tk_tools-e2e-key-0123456789abcdef"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRACKTION_")}
    env.update(extra)
    return env


def _default_sigint() -> None:
    # A child started from a shell that ignores SIGINT (background jobs) would inherit SIG_IGN, and
    # Python then never raises KeyboardInterrupt: restore the default so the SIGINT tests mean something.
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def popen(args: list[str], env: dict[str, str], **kwargs: Any) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [str(TRACKTION), *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=_default_sigint,
        **kwargs,
    )


class Server:
    """`tracktion serve` on a fixed port and data dir; stop() and start() again keep both (a restart)."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen[str] | None = None
        self._token: str | None = None

    def start(self) -> None:
        env = clean_env(TRACKTION_BOOTSTRAP_API_KEY=API_KEY)
        args = ["serve", "--port", str(self.port), "--data-dir", str(self.data_dir), "--log-level", "warning"]
        self.proc = subprocess.Popen(
            [str(TRACKTION), *args],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            preexec_fn=_default_sigint,
        )
        deadline = time.monotonic() + 30
        while True:
            if self.proc.poll() is not None:
                raise AssertionError(f"server exited with {self.proc.returncode}")
            try:
                if httpx.get(f"{self.url}/-/health", timeout=1).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                raise AssertionError("server did not become healthy")
            time.sleep(0.05)

    def stop(self) -> None:
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    # a small API client for assertions
    def token(self) -> str:
        if self._token is None:
            r = httpx.post(f"{self.url}/uauth/v2/auth/login/profile", json={"apiKey": API_KEY}, timeout=10)
            assert r.status_code == 200, r.text
            self._token = r.json()["token"]
        return self._token

    def get(self, path: str, **params: Any) -> Any:
        r = httpx.get(
            f"{self.url}{path}",
            params=params,
            headers={"Authorization": f"Bearer {self.token()}"},
            timeout=30,
        )
        assert r.status_code == 200, r.text
        return r.json()

    def post(self, path: str, body: Any) -> httpx.Response:
        return httpx.post(
            f"{self.url}{path}", json=body, headers={"Authorization": f"Bearer {self.token()}"}, timeout=30
        )

    def events(self, **params: Any) -> list[dict[str, Any]]:
        """Every matching event, following the cursor."""
        items: list[dict[str, Any]] = []
        cursor = None
        while True:
            page = self.get("/-/api/events", limit=1000, **params, **({"cursor": cursor} if cursor else {}))
            items += page["items"]
            cursor = page["nextCursor"]
            if cursor is None:
                return items

    def env(self, **extra: str) -> dict[str, str]:
        """Environment for a client command: TRACKTION_URL and TRACKTION_API_KEY point here."""
        return clean_env(**{"TRACKTION_URL": self.url, "TRACKTION_API_KEY": API_KEY, **extra})


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """One server per test module; tests keep apart by using their own actions and identifiers."""
    s = Server(tmp_path_factory.mktemp("tools-server") / "data")
    s.start()
    try:
        yield s
    finally:
        s.stop()


@pytest.fixture
def fresh_server(tmp_path: Path) -> Iterator[Server]:
    """A server of the test's own (for restarts and for an empty target store)."""
    s = Server(tmp_path / "fresh-data")
    s.start()
    try:
        yield s
    finally:
        s.stop()


def run(
    args: list[str], env: dict[str, str], *, input: str | None = None, timeout: float = 120
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(TRACKTION), *args],
        env=env,
        input=input,
        capture_output=True,
        text=True,
        timeout=timeout,
        preexec_fn=_default_sigint,
    )
