"""The `tracktion` command as a newcomer meets it: network failures are one line, and the client tools find
a server moved by TRACKTION_HOST/TRACKTION_PORT."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from tests.serve_process import clean_env, free_port
from tests.tools.conftest import API_KEY, Server, run
from tracktion.tools.client import default_url

CONNECTION_REFUSED = "connection refused (is `tracktion serve` running there? see --url / TRACKTION_URL)"


# -- network failures ---------------------------------------------------------------------------------
@pytest.mark.e2e
@pytest.mark.parametrize("command", ["send", "tail", "import"])
def test_a_server_that_is_not_there_is_one_line_at_once(command: str, tmp_path: Path) -> None:
    """No traceback, and no retrying a server that never answered (`tail` and `import` retry only a
    server they had reached)."""
    history = tmp_path / "history.ndjson"
    history.write_text('{"action": "a.b", "label": "x", "client": {"customId": "c"}, "time": "2024-01-01"}\n')
    args = {
        "send": ["send", "custom", "a.b", "--custom-id", "c"],
        "tail": ["tail"],
        "import": ["import", str(history), "--no-progress"],
    }[command]
    url = f"http://127.0.0.1:{free_port()}"
    started = time.monotonic()
    r = run(args, clean_env(TRACKTION_URL=url, TRACKTION_API_KEY=API_KEY), timeout=60)
    assert (r.returncode, r.stderr) == (1, f"tracktion: cannot reach {url}: {CONNECTION_REFUSED}\n")
    assert time.monotonic() - started < 15


# -- where the client tools connect -------------------------------------------------------------------
def test_default_url_follows_the_servers_settings() -> None:
    assert default_url({}) == "http://127.0.0.1:8080"
    assert default_url({"TRACKTION_PORT": "9001"}) == "http://127.0.0.1:9001"
    assert default_url({"TRACKTION_HOST": "10.1.2.3", "TRACKTION_PORT": "81"}) == "http://10.1.2.3:81"
    assert default_url({"TRACKTION_HOST": "0.0.0.0"}) == "http://127.0.0.1:8080"  # listening everywhere
    assert default_url({"TRACKTION_HOST": "::"}) == "http://[::1]:8080"
    assert default_url({"TRACKTION_HOST": "fd00::5"}) == "http://[fd00::5]:8080"


@pytest.mark.e2e
def test_send_finds_the_server_by_its_port_setting(server: Server) -> None:
    env = clean_env(TRACKTION_PORT=str(server.port), TRACKTION_API_KEY=API_KEY)  # no TRACKTION_URL
    r = run(["send", "custom", "cli.port", "--custom-id", "cli-port"], env)
    assert r.returncode == 0, r.stderr
    assert len(server.events(customId="cli-port")) == 1
