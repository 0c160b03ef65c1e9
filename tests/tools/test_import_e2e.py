"""`tracktion import` against a real server process: NDJSON and CSV, events and transactions, the report,
and an import interrupted (SIGINT, then SIGKILL) and resumed that ends with each line stored exactly once."""

from __future__ import annotations

import json
import signal
import time
from pathlib import Path
from typing import Any

import pytest

from tests.support.tools import Server, popen, run

pytestmark = pytest.mark.e2e


def event_line(i: int, tag: str, **extra: Any) -> dict[str, Any]:
    return {
        "action": f"{tag}.seen",
        "label": "Seen",
        "client": {"customId": f"{tag}-{i % 7}"},
        "time": f"2023-06-{1 + i // 1440 % 28:02d}T{i // 60 % 24:02d}:{i % 60:02d}:00Z",
        "params": {"n": i},
        **extra,
    }


def write_ndjson(path: Path, lines: list[Any]) -> Path:
    path.write_text("".join((line if isinstance(line, str) else json.dumps(line)) + "\n" for line in lines))
    return path


def test_ndjson_import_keeps_times_and_reports_what_was_not_stored(server: Server, tmp_path: Path) -> None:
    tag = "imp1"
    lines: list[Any] = [event_line(i, tag) for i in range(1, 51)]
    lines[4] = "{not json"  # line 5: refused locally
    lines[9] = {k: v for k, v in event_line(10, tag).items() if k != "label"}  # line 10: server says 400
    lines[14] = {k: v for k, v in event_line(15, tag).items() if k != "time"}  # line 15: no time
    lines[19] = {**event_line(20, tag), "client": {"id": 5092159999}}  # line 20: quarantined
    lines[24] = {**event_line(25, tag), "type": "hit-timer", "action": None}  # a dedicated type
    lines[29] = ""  # a blank line is skipped
    path = write_ndjson(tmp_path / "events.ndjson", lines)
    r = run(["import", str(path), "--batch-size", "20"], server.env())
    assert r.returncode == 3, r.stderr  # done, but some lines were not stored
    assert "49 lines, 45 stored, 1 quarantined, 1 rejected, 2 invalid" in r.stdout
    assert "lines/s" in r.stderr and "100.0%" in r.stderr  # the progress bar
    stored = server.events(action=f"{tag}.seen") + server.events(
        action="client.hitTimer", customId=f"{tag}-4"
    )
    assert len(stored) == 45
    by_n = {e["params"]["n"]: e for e in stored}
    assert by_n[1]["time"] == "2023-06-01T00:01:00.000Z"  # the original time, not the receive time
    assert by_n[25]["action"] == "client.hitTimer"
    report = [
        json.loads(line) for line in (tmp_path / "events.ndjson.rejected.ndjson").read_text().splitlines()
    ]
    assert [e["line"] for e in report] == [5, 10, 15, 20]
    assert report[0]["status"] is None and report[0]["errors"][0]["message"].startswith("not JSON")
    assert report[1]["status"] == 400
    assert report[1]["errors"][0]["field"] == "label"  # the batch position prefix is gone
    assert report[1]["errors"][0]["message"] == "Label is required"
    assert "--default-time" in report[2]["errors"][0]["message"]
    assert report[3] | {"input": None} == {
        "line": 20,
        "status": 202,
        "quarantined": True,
        "reason": "unknown clientId",
        "input": None,
    }
    state = json.loads((tmp_path / "events.ndjson.import-state.json").read_text())
    assert state["complete"] is True and state["line"] == 50

    # Run again: already complete, nothing sent.
    r = run(["import", str(path), "--json"], server.env())
    assert json.loads(r.stdout)["alreadyComplete"] is True
    assert len(server.events(action=f"{tag}.seen")) == 44


def test_default_time_makes_timeless_lines_importable_and_idempotent(server: Server, tmp_path: Path) -> None:
    tag = "imp2"
    lines = [{k: v for k, v in event_line(i, tag).items() if k != "time"} for i in range(10)]
    path = write_ndjson(tmp_path / "timeless.ndjson", lines)
    for _ in range(2):  # the second run ignores the state: every line is sent again
        r = run(["import", str(path), "--default-time", "2022-01-01T00:00:00Z", "--restart"], server.env())
        assert r.returncode == 0, r.stdout + r.stderr
    events = server.events(action=f"{tag}.seen")
    assert len(events) == 10
    assert {e["time"] for e in events} == {"2022-01-01T00:00:00.000Z"}


def test_csv_events_with_typed_columns(server: Server, tmp_path: Path) -> None:
    path = tmp_path / "events.csv"
    path.write_text(
        "\ufefftype,action,label,time,clientId,customId,params.mood,params.volume,params.zip,params\n"
        ',csv.seen,Seen,2023-01-02T03:04:05Z,,csv-a,happy,7,007,"{""tags"": [""a"", ""b""]}"\n'
        "hit-timer,,Timer,2023-01-02T03:04:06Z,,csv-a,,,,\n"
        ',csv.seen,"Multi\nline label",2023-01-02T03:04:07Z,,csv-b,sad,0.5,,\n'
        ",csv.seen,Seen,2023-01-02T03:04:08Z,,csv-c,too,many,fields,,here\n"
    )
    r = run(["import", str(path)], server.env())
    assert r.returncode == 3, r.stderr
    assert "4 lines, 3 stored, 0 quarantined, 0 rejected, 1 invalid" in r.stdout
    a = {e["action"]: e for e in server.events(customId="csv-a")}
    assert a["csv.seen"]["params"]["mood"] == "happy"
    assert a["csv.seen"]["params"]["volume"] == 7
    assert a["csv.seen"]["params"]["zip"] == "007"
    assert a["csv.seen"]["params"]["tags"] == ["a", "b"]
    assert a["csv.seen"]["time"] == "2023-01-02T03:04:05.000Z"
    assert a["client.hitTimer"]["label"] == "Timer"
    (b,) = server.events(customId="csv-b")
    assert b["label"] == "Multi\nline label" and b["params"]["volume"] == 0.5
    (bad,) = [json.loads(x) for x in (tmp_path / "events.csv.rejected.ndjson").read_text().splitlines()]
    assert bad["line"] == 6  # physical line numbers: the header is line 1, the quoted record spans 4-5
    assert "fields where the header has" in bad["errors"][0]["message"]


def test_transactions_from_ndjson_and_csv(server: Server, tmp_path: Path) -> None:
    order = {
        "client": {"customId": "imp-buyer"},
        "orderId": "imp-ord-1",
        "recordedAt": "2023-05-05T10:00:00Z",
        "value": {"amount": 20.0, "currency": "EUR"},
        "products": [
            {"sku": "A", "name": "A", "quantity": 1, "finalUnitPrice": {"amount": 20.0, "currency": "EUR"}}
        ],
    }
    bad = {**order, "orderId": "", "recordedAt": "2023-05-05T11:00:00Z"}
    path = write_ndjson(tmp_path / "orders.ndjson", [order, bad])
    r = run(["import", str(path), "--transactions"], server.env())
    assert r.returncode == 3, r.stderr
    assert "2 lines, 1 stored, 0 quarantined, 1 rejected" in r.stdout
    events = server.events(customId="imp-buyer")
    assert sorted(e["action"] for e in events) == ["product.buy", "transaction.charge"]
    csv_path = tmp_path / "orders.csv"
    csv_path.write_text(
        "orderId,recordedAt,customId,value.amount,value.currency,paymentInfo.method,products\n"
        'imp-ord-2,2023-05-06T10:00:00Z,imp-buyer-2,12.5,EUR,CARD,"[{""sku"":""B"",""name"":""B"",""quantity"":2,'
        '""finalUnitPrice"":{""amount"":6.25,""currency"":""EUR""}}]"\n'
    )
    r = run(["import", str(csv_path), "--transactions"], server.env())
    assert r.returncode == 0, r.stdout + r.stderr
    charge = next(e for e in server.events(customId="imp-buyer-2") if e["action"] == "transaction.charge")
    assert charge["params"]["$orderID"] == "imp-ord-2"
    assert charge["params"]["$totalAmount"] == 12.5
    assert charge["params"]["$paymentType"] == {"method": "CARD"}
    assert charge["time"] == "2023-05-06T10:00:00.000Z"


def _wait_for_state(path: Path, at_least: int, proc: Any, timeout: float = 30) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(
                f"importer ended early ({proc.returncode}): {proc.stdout.read()} {proc.stderr.read()}"
            )
        try:
            state: dict[str, Any] = json.loads(path.read_text())
        except (OSError, ValueError):
            state = {}
        if state.get("line", 0) >= at_least:
            return state
        time.sleep(0.02)
    raise AssertionError("no acknowledged batch in time")


def test_interrupted_and_resumed_import_stores_each_line_exactly_once(server: Server, tmp_path: Path) -> None:
    tag = "resume"
    n = 1500
    path = write_ndjson(tmp_path / "big.ndjson", [event_line(i, tag) for i in range(1, n + 1)])
    state_path = tmp_path / "big.ndjson.import-state.json"
    args = ["import", str(path), "--batch-size", "100", "--max-rate", "1000"]

    # 1. Ctrl-C after the first acknowledged batch: a clean stop with the state saved.
    proc = popen(args, server.env())
    first = _wait_for_state(state_path, 100, proc)
    proc.send_signal(signal.SIGINT)
    assert proc.wait(timeout=20) == 130
    out, err = proc.stdout.read(), proc.stderr.read()  # type: ignore[union-attr]
    assert "interrupted" in out and "run the same command again to resume" in out
    assert "Traceback" not in err
    stopped_at = json.loads(state_path.read_text())["line"]
    assert first["line"] <= stopped_at < n

    # 2. Resume, then SIGKILL mid-way: no chance to clean up; a batch may be sent but not acknowledged.
    proc = popen(args, server.env())
    _wait_for_state(state_path, stopped_at + 200, proc)
    time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=20)
    killed_at = json.loads(state_path.read_text())["line"]
    assert stopped_at < killed_at < n

    # 3. Resume to the end.
    r = run(["import", str(path), "--batch-size", "100"], server.env())
    assert r.returncode == 0, r.stdout + r.stderr
    assert f"resumed after line {killed_at}" in r.stdout
    assert f"{n:,} lines, {n:,} stored" in r.stdout

    events = server.events(action=f"{tag}.seen")
    numbers = sorted(e["params"]["n"] for e in events)
    assert numbers == list(range(1, n + 1))  # every line once: none lost, none duplicated

    # 4. Even without the state file, a full re-send overwrites instead of duplicating (salted upserts).
    r = run(["import", str(path), "--restart"], server.env())
    assert r.returncode == 0, r.stdout + r.stderr
    assert len(server.events(action=f"{tag}.seen")) == n


def test_changed_input_is_refused_on_resume(server: Server, tmp_path: Path) -> None:
    path = write_ndjson(tmp_path / "c.ndjson", [event_line(i, "chg") for i in range(5)])
    state_path = tmp_path / "c.ndjson.import-state.json"
    r = run(["import", str(path)], server.env())
    assert r.returncode == 0, r.stderr
    state = json.loads(state_path.read_text())
    state["complete"] = False
    state_path.write_text(json.dumps(state))
    path.write_text(path.read_text().replace("Seen", "SEEN"))
    r = run(["import", str(path)], server.env())
    assert r.returncode == 1
    assert "changed since" in r.stderr and "--restart" in r.stderr
