"""Server processes under test: `tracktion serve` on a fresh data dir, and the bare ASGI app (the HTTP
ceiling). Each runs as its own process on a free loopback port; the harness reads its /proc figures."""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import secrets
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

HOST = "127.0.0.1"


class ServerStartError(RuntimeError):
    pass


def free_port(host: str = HOST) -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        port: int = s.getsockname()[1]
        return port


@dataclass
class HttpReply:
    status: int
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)


def http_request(
    port: int,
    method: str,
    path: str,
    body: bytes | None = None,
    token: str | None = None,
    timeout: float = 30.0,
    host: str = HOST,
) -> HttpReply:
    conn = http.client.HTTPConnection(host, port, timeout=timeout)
    headers = {}
    if body is not None:
        headers["Content-Type"] = "application/json"
    if token:
        headers["Authorization"] = f"Bearer {token}"
    try:
        conn.request(method, path, body=body, headers=headers)
        resp = conn.getresponse()
        return HttpReply(resp.status, resp.read())
    finally:
        conn.close()


def _clean_env() -> dict[str, str]:
    """The environment minus every TRACKTION_* variable: the harness decides the backend and settings."""
    return {k: v for k, v in os.environ.items() if not k.startswith("TRACKTION_")}


class ServerProcess:
    def __init__(self, name: str, argv: list[str], env: dict[str, str], log_path: Path, port: int) -> None:
        self.name = name
        self.argv = argv
        self.env = env
        self.log_path = log_path
        self.port = port
        self.proc: subprocess.Popen[bytes] | None = None
        # Started in the scratch directory, not the caller's: `python -m` puts its working directory first on
        # sys.path, so a server started from a checkout ran that checkout's code whatever PYTHONPATH named,
        # and an A/B of two trees (`PYTHONPATH=/tmp/a python -m bench` from the repository) measured one.
        self.cwd = log_path.parent

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    @property
    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def start(self, health_path: str, timeout: float = 60.0) -> None:
        with open(self.log_path, "ab") as log:
            self.proc = subprocess.Popen(
                self.argv,
                stdout=log,
                stderr=subprocess.STDOUT,
                env=self.env,
                stdin=subprocess.DEVNULL,
                cwd=self.cwd,
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.alive:
                raise ServerStartError(f"{self.name} exited during start-up: {self.log_tail()}")
            with contextlib.suppress(OSError):
                if http_request(self.port, "GET", health_path, timeout=2.0).status < 500:
                    return
            time.sleep(0.1)
        self.stop()
        raise ServerStartError(f"{self.name} did not answer {health_path} within {timeout:.0f} s")

    def stop(self) -> None:
        if self.proc is None:
            return
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)  # uvicorn's graceful shutdown (lifespan closes the store)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def log_tail(self, lines: int = 8) -> str:
        try:
            text = self.log_path.read_text("utf-8", errors="replace")
        except OSError:
            return ""
        return " | ".join(line.strip() for line in text.strip().splitlines()[-lines:])


class TracktionServer(ServerProcess):
    """`python -m tracktion serve` (the console script's code) with production durability settings."""

    def __init__(
        self, data_dir: Path, log_path: Path, database_url: str | None = None, sqlite_writer: str = "process"
    ) -> None:
        port = free_port()
        self.api_key = "tk_bench_" + secrets.token_hex(16)
        self.data_dir = data_dir
        argv = [
            sys.executable,
            "-m",
            "tracktion",
            "serve",
            "--host",
            HOST,
            "--port",
            str(port),
            "--data-dir",
            str(data_dir),
            "--log-level",
            "warning",
        ]
        if database_url:
            argv += ["--database-url", database_url]
        env = _clean_env() | {
            "TRACKTION_BOOTSTRAP_API_KEY": self.api_key,
            "TRACKTION_SQLITE_WRITER": sqlite_writer,
        }
        super().__init__("tracktion", argv, env, log_path, port)

    def start_server(self) -> None:
        self.start("/-/health")

    def code_path(self) -> str:
        """The directory of the `tracktion` package this server imports (what an A/B compares)."""
        out = subprocess.run(
            [sys.executable, "-c", "import tracktion, os; print(os.path.dirname(tracktion.__file__))"],
            env=self.env,
            cwd=self.cwd,
            capture_output=True,
            text=True,
            check=True,
        )
        return out.stdout.strip()

    def login(self) -> str:
        reply = http_request(
            self.port, "POST", "/uauth/v2/auth/login/profile", json.dumps({"apiKey": self.api_key}).encode()
        )
        if reply.status != 200:
            raise ServerStartError(f"login failed: HTTP {reply.status} {reply.body[:200]!r}")
        token: str = reply.json()["token"]
        return token

    @property
    def sqlite_path(self) -> Path:
        return self.data_dir / "tracktion.db"


class BareServer(ServerProcess):
    def __init__(self, log_path: Path) -> None:
        port = free_port()
        argv = [sys.executable, "-m", "bench.bare_app", "--host", HOST, "--port", str(port)]
        env = _clean_env()
        # The harness may run from anywhere: make `bench` importable in the child.
        root = str(Path(__file__).resolve().parent.parent)
        env["PYTHONPATH"] = root + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
        super().__init__("bare ASGI app", argv, env, log_path, port)

    def start_server(self) -> None:
        self.start("/")
