"""`tracktion tail` against a real server process: live events, filters, reconnection, Ctrl-C."""

from __future__ import annotations

import json
import queue
import signal
import subprocess
import threading
import time
from typing import IO

import pytest

from tests.support.tools import Server, popen

pytestmark = pytest.mark.e2e


class Lines:
    """Read a pipe on a thread so the test can wait for lines with a timeout."""

    def __init__(self, pipe: IO[str]) -> None:
        self.q: queue.Queue[str] = queue.Queue()
        self.seen: list[str] = []
        threading.Thread(target=self._pump, args=(pipe,), daemon=True).start()

    def _pump(self, pipe: IO[str]) -> None:
        for line in pipe:
            self.q.put(line.rstrip("\n"))

    def wait_for(self, needle: str, timeout: float = 20) -> str:
        deadline = time.monotonic() + timeout
        while True:
            try:
                line = self.q.get(timeout=max(0.01, deadline - time.monotonic()))
            except queue.Empty:
                raise AssertionError(f"no line with {needle!r}; seen: {self.seen}") from None
            self.seen.append(line)
            if needle in line:
                return line

    def drain(self, wait: float = 0.5) -> list[str]:
        time.sleep(wait)
        out = []
        while not self.q.empty():
            out.append(self.q.get())
        self.seen += out
        return out


def send(server: Server, action: str, custom_id: str, **params: object) -> None:
    body = {"action": action, "label": f"{action} label", "client": {"customId": custom_id}, "params": params}
    r = server.post("/v4/events/custom", body)
    assert r.status_code == 202, r.text


def stop(proc: subprocess.Popen[str]) -> int:
    proc.send_signal(signal.SIGINT)
    return proc.wait(timeout=10)


def test_tail_json_receives_an_event_sent_after_it_started(server: Server) -> None:
    proc = popen(["tail", "--json", "--action", "tail.json"], server.env())
    try:
        err, out = Lines(proc.stderr), Lines(proc.stdout)  # type: ignore[arg-type]
        err.wait_for("tail: following")
        send(server, "tail.other", "tail-json")  # filtered out by --action
        send(server, "tail.json", "tail-json", n=1)
        item = json.loads(out.wait_for('"tail.json"'))
        assert item["action"] == "tail.json"
        assert item["params"]["n"] == 1
        assert item["client"]["customId"] == "tail-json"
        assert isinstance(item["seq"], int)
        assert not any("tail.other" in line for line in out.drain())
    finally:
        code = stop(proc)
    assert code == 0
    assert "Traceback" not in proc.stderr.read()  # type: ignore[union-attr]


def test_tail_table_rows_and_quarantine(server: Server) -> None:
    proc = popen(["tail", "--include-quarantine", "--action", "tail.table"], server.env(COLUMNS="200"))
    try:
        err, out = Lines(proc.stderr), Lines(proc.stdout)  # type: ignore[arg-type]
        err.wait_for("tail: following")
        header = out.wait_for("TIME")
        assert header.split()[:5] == ["TIME", "ACTION", "CLIENT", "LABEL", "PARAMS"]
        send(server, "tail.table", "tail-table", mood="happy", volume=7)
        row = out.wait_for("tail.table")
        assert "tail.table label" in row
        assert "mood=happy volume=7" in row
        assert "eventUUID" not in row  # system params are not shown
        r = server.post(
            "/v4/events/custom", {"action": "tail.table", "label": "x", "client": {"id": 5092159999}}
        )
        assert r.status_code == 202
        row = out.wait_for("QUARANTINE")
        assert "unknown clientId" in row
    finally:
        assert stop(proc) == 0


def test_tail_client_id_filter(server: Server) -> None:
    send(server, "tail.who", "tail-who-a")
    (ev,) = server.events(customId="tail-who-a")
    client_id = ev["client"]["id"]
    proc = popen(["tail", "--json", "--client-id", str(client_id)], server.env())
    try:
        err, out = Lines(proc.stderr), Lines(proc.stdout)  # type: ignore[arg-type]
        err.wait_for("tail: following")
        send(server, "tail.who", "tail-who-b")
        send(server, "tail.who", "tail-who-a", n=2)
        item = json.loads(out.wait_for('"tail.who"'))
        assert item["client"]["id"] == client_id and item["params"]["n"] == 2
    finally:
        assert stop(proc) == 0


def test_tail_reconnects_after_a_server_restart_without_losing_its_place(fresh_server: Server) -> None:
    server = fresh_server
    proc = popen(["tail", "--json"], server.env())
    try:
        err, out = Lines(proc.stderr), Lines(proc.stdout)  # type: ignore[arg-type]
        err.wait_for("tail: following")
        send(server, "tail.before", "tail-restart")
        before = json.loads(out.wait_for("tail.before"))
        server.stop()
        err.wait_for("connection lost")
        server.start()
        server._token = None
        # Sent while the tail is (most likely) still waiting to reconnect: only the replay can deliver it.
        send(server, "tail.after", "tail-restart", n=1)
        send(server, "tail.after", "tail-restart", n=2)
        line = err.wait_for("reconnected", timeout=30)
        assert f"resuming after event {before['seq']}" in line
        got = [json.loads(out.wait_for("tail.after")), json.loads(out.wait_for("tail.after"))]
        assert [g["params"]["n"] for g in got] == [1, 2]
        assert all(g["seq"] > before["seq"] for g in got)
        assert not any("tail.before" in line for line in out.drain())  # nothing shown twice
    finally:
        assert stop(proc) == 0


def test_tail_with_a_bad_key_exits_with_the_explained_error(server: Server) -> None:
    env = server.env(TRACKTION_API_KEY="tk_bad")
    proc = popen(["tail"], env)
    code = proc.wait(timeout=20)
    assert code == 1
    assert "401 Unauthorized" in proc.stderr.read()  # type: ignore[union-attr]


def test_tail_after_replays_stored_events_first(server: Server) -> None:
    send(server, "tail.replay", "tail-replay", n=1)
    send(server, "tail.replay", "tail-replay", n=2)
    first, second = sorted(server.events(customId="tail-replay"), key=lambda e: e["seq"])
    proc = popen(["tail", "--json", "--action", "tail.replay", "--after", str(first["seq"])], server.env())
    try:
        out = Lines(proc.stdout)  # type: ignore[arg-type]
        replayed = json.loads(out.wait_for("tail.replay"))
        assert replayed["uuid"] == second["uuid"]  # after `first`, so only the second one
        send(server, "tail.replay", "tail-replay", n=3)
        assert json.loads(out.wait_for("tail.replay"))["params"]["n"] == 3
    finally:
        assert stop(proc) == 0
