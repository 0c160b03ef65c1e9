"""`tracktion serve --workers N` runs N processes that rebuild the app from the environment: every flag
given on the command line must reach them, not only the parent."""

from __future__ import annotations

import json
import signal
import subprocess
import time
from pathlib import Path

import httpx
import pytest

from tests.support.serve_process import TRACKTION, clean_env, default_sigint, free_port


@pytest.mark.e2e
def test_access_log_flag_reaches_every_worker(tmp_path: Path) -> None:
    port = free_port()
    log = tmp_path / "serve.log"
    args = ["serve", "--workers", "2", "--access-log", "--log-format", "json", "--port", str(port)]
    with log.open("w") as out:
        proc = subprocess.Popen(
            [str(TRACKTION), *args, "--data-dir", str(tmp_path / "data")],
            env=clean_env(),
            stdout=out,
            stderr=subprocess.STDOUT,
            text=True,
            preexec_fn=default_sigint,
        )
    try:
        deadline = time.monotonic() + 60
        while True:
            assert proc.poll() is None, log.read_text()
            try:
                if httpx.get(f"http://127.0.0.1:{port}/-/health", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, log.read_text()
            time.sleep(0.05)
        for _ in range(20):  # new connections, so both workers are likely to answer some
            assert httpx.get(f"http://127.0.0.1:{port}/-/jwks.json").status_code == 200
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=30)
    lines = [json.loads(x) for x in log.read_text().splitlines() if x.startswith("{")]
    served = [x for x in lines if "/-/jwks.json" in json.dumps(x)]
    assert len(served) >= 20, log.read_text()[-3000:]
