"""`tracktion serve` stopping: open live streams (a debugger tab, `tail`) end at once on Ctrl-C or SIGTERM
instead of holding the shutdown for the graceful timeout and then being cancelled with a traceback."""

from __future__ import annotations

import signal
import threading
import time
from pathlib import Path

import httpx
import pytest

from tests.support.serve_process import ServeProcess
from tests.support.tools import API_KEY

pytestmark = pytest.mark.e2e


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_open_streams_end_promptly_when_the_server_stops(tmp_path: Path, sig: signal.Signals) -> None:
    server = ServeProcess(tmp_path / "data", api_key=API_KEY, capture_output=True)
    server.start()
    ended: list[str] = []
    opened = threading.Barrier(3)

    def follow() -> None:
        headers = {"Authorization": f"Bearer {server.token()}"}
        with httpx.stream("GET", f"{server.url}/-/api/stream", headers=headers, timeout=30) as r:
            lines = r.iter_lines()
            assert next(lines) == "retry: 2000"
            opened.wait()
            for _ in lines:  # until the server ends the response; an error would leave `ended` short
                pass
        ended.append("clean")

    threads = [threading.Thread(target=follow) for _ in range(2)]
    try:
        for t in threads:
            t.start()
        opened.wait(timeout=30)
        started = time.monotonic()
        assert server.proc is not None
        server.proc.send_signal(sig)
        server.proc.wait(timeout=15)
        stopped_in = time.monotonic() - started
    finally:
        server.kill()
        for t in threads:
            t.join(timeout=15)
    assert ended == ["clean", "clean"]
    assert stopped_in < 2.5, (stopped_in, server.output)  # the graceful timeout is 5 s
    assert "Traceback" not in server.output and "CancelledError" not in server.output, server.output
    assert server.returncode is not None
