"""`tracktion serve` as a child process on a free loopback port: the one launcher behind the end-to-end tests
(README quickstart, command-line tools, reliability, browser UI). `start()` after `stop()` or `kill()` is a
restart on the same port and data."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import IO, Any

import httpx

TRACKTION = Path(sys.executable).with_name("tracktion")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def clean_env(**extra: str) -> dict[str, str]:
    """This environment without the caller's own `TRACKTION_*` settings, plus `extra`."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRACKTION_")}
    env.update(extra)
    return env


def default_sigint() -> None:
    # A child started from a shell that ignores SIGINT (background jobs) would inherit SIG_IGN, and
    # Python then never raises KeyboardInterrupt: restore the default so that stop() is a real shutdown.
    signal.signal(signal.SIGINT, signal.SIG_DFL)


class ServeProcess:
    """One server. Its output goes to `log_path` (appended, a line per start), or is kept in `output` with
    `capture_output` (read when it stops), or is dropped."""

    def __init__(
        self,
        data_dir: Path,
        database_url: str | None = None,
        env: dict[str, str] | None = None,
        *,
        api_key: str | None = None,
        log_path: Path | None = None,
        capture_output: bool = False,
    ) -> None:
        self.data_dir = data_dir
        self.database_url = database_url
        self.extra_env = dict(env or {})
        self.api_key = api_key
        self.log_path = log_path
        self.capture_output = capture_output
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.proc: subprocess.Popen[str] | None = None
        self.output = ""
        self.returncode: int | None = None  # of the last process, once it has exited
        self.starts = 0
        self.start_seconds: list[float] = []
        self._token: str | None = None

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def start(self, timeout: float = 60.0) -> None:
        env = clean_env(**self.extra_env)
        if self.api_key is not None:
            env["TRACKTION_BOOTSTRAP_API_KEY"] = self.api_key
        if self.database_url:
            env["TRACKTION_DATABASE_URL"] = self.database_url
        args = ["serve", "--port", str(self.port), "--data-dir", str(self.data_dir), "--log-level", "warning"]
        started = time.monotonic()
        out: int | IO[str] = subprocess.DEVNULL
        if self.capture_output:
            out = subprocess.PIPE
        elif self.log_path is not None:
            out = self.log_path.open("a")
            out.write(f"--- start {self.starts + 1}\n")
            out.flush()
        try:
            self.proc = subprocess.Popen(
                [str(TRACKTION), *args],
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                text=True,
                preexec_fn=default_sigint,
            )
        finally:
            if not isinstance(out, int):
                out.close()
        self.starts += 1
        while True:
            if self.proc.poll() is not None:
                code = self.proc.returncode
                self._collect()
                raise AssertionError(f"server exited with {code}:\n{self.log_tail()}")
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
        self._collect()

    def stop(self) -> None:
        """SIGINT, as Ctrl-C: a graceful shutdown (killed if it takes more than 15 s)."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._collect()

    def _collect(self) -> None:
        if self.proc is not None:
            self.returncode = self.proc.poll()
            if self.proc.stdout is not None:
                self.output += self.proc.stdout.read()
                self.proc.stdout.close()
        self.proc = None

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def log_tail(self, lines: int = 40) -> str:
        if self.capture_output:
            text = self.output
        else:
            try:
                text = self.log_path.read_text(errors="replace") if self.log_path else ""
            except OSError:
                text = ""
        return "\n".join(text.splitlines()[-lines:])

    # -- a small synchronous client for setup and verification --------------------------------------
    def token(self) -> str:
        if self._token is None:
            r = httpx.post(
                f"{self.url}/uauth/v2/auth/login/profile", json={"apiKey": self.api_key}, timeout=30
            )
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

    def post(self, path: str, body: Any) -> httpx.Response:
        return httpx.post(
            f"{self.url}{path}", json=body, headers={"Authorization": f"Bearer {self.token()}"}, timeout=60
        )

    def all_events(self, **params: Any) -> list[dict[str, Any]]:
        """Every stored event of the key's workspace (matching `params`), following the cursor."""
        items: list[dict[str, Any]] = []
        cursor = None
        while True:
            page = self.get("/-/api/events", limit=1000, **params, **({"cursor": cursor} if cursor else {}))
            items += page["items"]
            cursor = page["nextCursor"]
            if cursor is None:
                return items
