"""The `tracktion` command as a newcomer meets it: network failures are one line, the client tools find a
server moved by TRACKTION_HOST/TRACKTION_PORT, commands that read or administer a store never create one,
and every option explains itself in `--help`."""

from __future__ import annotations

import argparse
import io
import json
import logging
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.serve_process import clean_env, free_port
from tests.support.tools import API_KEY, Server, run
from tracktion.cli import _parser
from tracktion.observability.logs import configure
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


def test_a_database_that_is_not_there_is_one_line(tmp_path: Path) -> None:
    url = f"postgresql://tracktion@127.0.0.1:{free_port()}/tracktion"
    r = run(["workspaces", "list", "--database-url", url], clean_env(), timeout=60)
    assert r.returncode == 1
    assert r.stderr.startswith(f"tracktion: cannot open the store (PostgreSQL, {url}): ")
    assert r.stderr.count("\n") == 1 and "Traceback" not in r.stderr


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


# -- commands on a store ------------------------------------------------------------------------------
@pytest.mark.parametrize(
    "args",
    [
        ["workspaces", "list"],
        ["workspaces", "create", "--name", "x"],
        ["keys", "create", "--workspace", "1"],
        ["keys", "list", "--workspace", "1"],
        ["keys", "revoke", "some-key-id"],
        ["export"],
        ["migrate"],
    ],
)
def test_store_commands_never_create_a_store(args: list[str], tmp_path: Path) -> None:
    """Run in the wrong directory (no TRACKTION_DATA_DIR), each says where it looked and leaves nothing."""
    r = run(args, clean_env(), cwd=tmp_path)
    assert r.returncode == 1
    assert r.stderr.startswith(f"tracktion: no store in {tmp_path.resolve() / 'tracktion-data'} (")
    assert list(tmp_path.iterdir()) == []


def test_migrate_creates_a_store_only_when_asked(tmp_path: Path) -> None:
    data = tmp_path / "data"
    r = run(["migrate", "--data-dir", str(data)], clean_env())
    assert r.returncode == 1 and "--create makes a new store there" in r.stderr
    assert not data.exists()
    r = run(["migrate", "--data-dir", str(data), "--create"], clean_env())
    assert r.returncode == 0, r.stderr
    assert (data / "tracktion.db").is_file()
    r = run(["workspaces", "list", "--data-dir", str(data), "--json"], clean_env())
    assert (r.returncode, json.loads(r.stdout)) == (0, [])  # migrated, and no workspace made up


# -- help ---------------------------------------------------------------------------------------------
def _parsers(parser: argparse.ArgumentParser, name: str) -> Iterator[tuple[str, argparse.ArgumentParser]]:
    yield name, parser
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for sub_name, sub in action.choices.items():
                yield from _parsers(sub, f"{name} {sub_name}")


def test_every_command_and_option_has_help() -> None:
    missing = []
    for name, parser in _parsers(_parser(), "tracktion"):
        for action in parser._actions:
            if not action.help:
                missing.append(f"{name}: {'/'.join(action.option_strings) or action.dest}")
            if isinstance(action, argparse._SubParsersAction):
                missing += [f"{name} {a.dest}" for a in action._choices_actions if not a.help]
    assert missing == []


def test_send_examples_use_identifiers_that_are_stored() -> None:
    """5092159999 is Synerise's documentation example of a clientId no workspace has: quarantined."""
    (send,) = [p for name, p in _parsers(_parser(), "tracktion") if name == "tracktion send"]
    assert "5092159999" not in send.format_help()


# -- logs ---------------------------------------------------------------------------------------------
@pytest.fixture
def root_logger() -> Iterator[logging.Logger]:
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield root
    root.handlers[:], root.level = handlers, level


class Stderr(io.StringIO):
    def __init__(self, tty: bool) -> None:
        super().__init__()
        self.tty = tty

    def isatty(self) -> bool:
        return self.tty


@pytest.mark.parametrize(
    ("log_format", "tty", "json_lines"),
    [("auto", True, False), ("auto", False, True), ("json", True, True), ("text", False, False)],
)
def test_log_format(
    root_logger: logging.Logger, monkeypatch: pytest.MonkeyPatch, log_format: str, tty: bool, json_lines: bool
) -> None:
    """Readable on a terminal, JSON lines for a collector; TRACKTION_LOG_FORMAT forces either."""
    monkeypatch.setattr(sys, "stderr", Stderr(tty))
    configure("info", log_format)
    logging.getLogger("tracktion.test").info("hello %s", "there")
    line = sys.stderr.getvalue().strip()
    if json_lines:
        assert json.loads(line)["message"] == "hello there"
    else:
        assert line.endswith(" INFO tracktion.test: hello there")
