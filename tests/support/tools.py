"""The command-line tools' end-to-end tests: a `tracktion serve` with their bootstrap key (`Server`, on
tests/support/serve_process.py) and the `tracktion` command run as a subprocess."""

from __future__ import annotations

import subprocess
from pathlib import Path
from typing import Any

from tests.support.serve_process import TRACKTION, ServeProcess, clean_env, default_sigint

API_KEY = "tk_tools-e2e-key-0123456789abcdef"


def popen(args: list[str], env: dict[str, str], **kwargs: Any) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [str(TRACKTION), *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=default_sigint,
        **kwargs,
    )


class Server(ServeProcess):
    """`tracktion serve` with the tools' bootstrap key; stop() and start() again keep port and data."""

    def __init__(self, data_dir: Path) -> None:
        super().__init__(data_dir, api_key=API_KEY)

    def events(self, **params: Any) -> list[dict[str, Any]]:
        return self.all_events(**params)

    def env(self, **extra: str) -> dict[str, str]:
        """Environment for a client command: TRACKTION_URL and TRACKTION_API_KEY point here."""
        return clean_env(**{"TRACKTION_URL": self.url, "TRACKTION_API_KEY": API_KEY, **extra})


def run(
    args: list[str],
    env: dict[str, str],
    *,
    input: str | None = None,
    timeout: float = 120,
    cwd: Path | None = None,
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(TRACKTION), *args],
        env=env,
        input=input,
        capture_output=True,
        text=True,
        timeout=timeout,
        cwd=cwd,
        preexec_fn=default_sigint,
    )
