"""`tracktion destinations …` against a running server (docs/api.md §14.3)."""

from __future__ import annotations

import json
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.relay import WebhookReceiver
from tests.support.serve_process import TRACKTION, ServeProcess, clean_env

pytestmark = pytest.mark.e2e
KEY = "tk_relay-cli-key-0123456789abcdef0000"


@pytest.fixture
def server(tmp_path: Path) -> Iterator[ServeProcess]:
    s = ServeProcess(tmp_path / "d", api_key=KEY, env={"TRACKTION_RELAY_BACKOFF_CAP_SECONDS": "0.5"})
    s.start()
    yield s
    s.stop()


def cli(server: ServeProcess, *args: str) -> Any:
    env = clean_env(TRACKTION_URL=server.url, TRACKTION_API_KEY=KEY)
    done = subprocess.run(
        [str(TRACKTION), "destinations", *args], env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_destinations_commands(server: ServeProcess, receiver: WebhookReceiver) -> None:
    receiver.respond = lambda items: (400, {}) if any(i["params"].get("bad") for i in items) else (200, {})
    d = cli(
        server, "add", "--name", "hook", "--type", "webhook", "--config", json.dumps({"url": receiver.url})
    )
    assert cli(server, "list")[0]["id"] == d["id"]
    assert (
        server.post(
            "/v4/events/custom",
            {"action": "a.b", "label": "l", "client": {"customId": "c"}, "params": {"bad": True}},
        ).status_code
        == 202
    )
    deadline = time.monotonic() + 30
    while cli(server, "status", d["id"])["failed"] != 1:
        assert time.monotonic() < deadline
        time.sleep(0.2)
    failures = cli(server, "failures", d["id"])
    assert len(failures) == 1 and failures[0]["status"] == 400
    assert cli(server, "pause", d["id"])["state"] == "paused"
    assert cli(server, "resume", d["id"])["state"] == "running"
    assert "replayId" in cli(server, "replay", d["id"], "--only-failed")
