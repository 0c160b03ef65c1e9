"""The importer's request loop against a scripted client: the bulk lane header, batch limits, retries,
splitting a refused batch, and what the state and report files hold."""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from tracktion.tools import ToolError
from tracktion.tools.client import ApiError, Response
from tracktion.tools.importer import MAX_BODY_BYTES, Importer, ImportOptions


class FakeClient:
    """Answers like the server's partial mode, unless `script` says otherwise for a call."""

    def __init__(self, script: Callable[[int, list[Any]], Response | None] | None = None) -> None:
        self.calls: list[dict[str, Any]] = []
        self.script = script

    def login(self) -> str:  # the importer logs in once before its first batch
        return "token"

    def request(
        self,
        method: str,
        path: str,
        body: Any = None,
        *,
        raw: bytes | None = None,
        query: Any = None,
        headers: Any = None,
    ) -> Response:
        assert raw is not None
        items = json.loads(raw)
        self.calls.append(
            {"path": path, "query": query, "headers": headers, "items": items, "size": len(raw)}
        )
        if self.script is not None:
            scripted = self.script(len(self.calls), items)
            if scripted is not None:
                return scripted
        results = [{"index": i, "status": 202, "uuid": "u"} for i in range(len(items))]
        body_out = {
            "status": 207,
            "accepted": len(items),
            "quarantined": 0,
            "rejected": 0,
            "results": results,
        }
        return Response(207, "Multi-Status", {}, json.dumps(body_out).encode())


def lines(n: int, pad: int = 0) -> str:
    return "".join(
        json.dumps(
            {
                "action": "a",
                "label": "l",
                "client": {"customId": "c"},
                "time": "2024-01-01T00:00:00Z",
                "params": {"n": i, "pad": "x" * pad},
            }
        )
        + "\n"
        for i in range(n)
    )


def run_import(tmp_path: Path, text: str, client: FakeClient, **options: Any) -> Any:
    path = tmp_path / "in.ndjson"
    path.write_text(text)
    err = io.StringIO()
    importer = Importer(
        client,
        ImportOptions(path, progress=False, **options),
        err=err,  # type: ignore[arg-type]
        sleep=lambda s: None,
    )
    return importer.run()


def test_batches_go_to_the_bulk_lane_in_partial_mode(tmp_path: Path) -> None:
    client = FakeClient()
    summary = run_import(tmp_path, lines(2500), client)
    assert [len(c["items"]) for c in client.calls] == [1000, 1000, 500]
    assert all(c["headers"] == {"X-Tracktion-Lane": "bulk"} for c in client.calls)
    assert all(c["query"] == {"partial": "true"} and c["path"] == "/v4/events/batch" for c in client.calls)
    assert summary.complete and summary.totals.accepted == 2500
    # every item carries a salt derived from its line, all different
    salts = {i["eventSalt"] for c in client.calls for i in c["items"]}
    assert len(salts) == 2500


def test_transactions_endpoint(tmp_path: Path) -> None:
    client = FakeClient()
    text = json.dumps({"orderId": "o", "client": {"id": 1}, "recordedAt": "2024-01-01T00:00:00Z"}) + "\n"
    run_import(tmp_path, text, client, transactions=True)
    assert client.calls[0]["path"] == "/v4/transactions/batch"


def test_a_request_never_exceeds_one_mebibyte(tmp_path: Path) -> None:
    client = FakeClient()
    run_import(tmp_path, lines(300, pad=10_000), client)
    assert len(client.calls) > 1
    assert all(c["size"] <= MAX_BODY_BYTES for c in client.calls)
    assert sum(len(c["items"]) for c in client.calls) == 300


def test_overload_and_network_errors_are_retried(tmp_path: Path) -> None:
    def script(call: int, items: list[Any]) -> Response | None:
        if call == 1:
            raise ConnectionResetError("reset")
        if call == 2:
            body = {"errors": [{"code": 5002, "field": "", "message": "Overloaded"}]}
            return Response(503, "Service Unavailable", {"retry-after": "1"}, json.dumps(body).encode())
        return None

    client = FakeClient(script)
    summary = run_import(tmp_path, lines(10), client)
    assert len(client.calls) == 3
    assert summary.totals.accepted == 10


def test_giving_up_keeps_the_state_for_a_rerun(tmp_path: Path) -> None:
    def script(call: int, items: list[Any]) -> Response | None:
        if call > 1:
            return Response(503, "Service Unavailable", {}, b"")
        return None

    client = FakeClient(script)
    with pytest.raises(ToolError, match="giving up after 3 attempts"):
        run_import(tmp_path, lines(30), client, batch_size=10, retries=2)
    state = json.loads((tmp_path / "in.ndjson.import-state.json").read_text())
    assert state["line"] == 10 and state["complete"] is False


def test_a_refused_batch_is_split_until_the_bad_line_stands_alone(tmp_path: Path) -> None:
    def script(call: int, items: list[Any]) -> Response | None:
        if any(i["params"]["n"] == 5 for i in items):
            body = {"errors": [{"code": 1000, "field": "", "message": "Malformed JSON"}]}
            return Response(400, "Bad Request", {}, json.dumps(body).encode())
        return None

    client = FakeClient(script)
    summary = run_import(tmp_path, lines(8), client)
    assert summary.totals.accepted == 7 and summary.totals.rejected == 1
    (entry,) = [json.loads(x) for x in (tmp_path / "in.ndjson.rejected.ndjson").read_text().splitlines()]
    assert entry["line"] == 6 and entry["errors"][0]["message"] == "Malformed JSON"


def test_forbidden_stops_the_import(tmp_path: Path) -> None:
    def script(call: int, items: list[Any]) -> Response | None:
        body = {"errors": [{"code": 2003, "field": "", "message": "Permission missing"}]}
        return Response(403, "Forbidden", {}, json.dumps(body).encode())

    with pytest.raises(ApiError, match="403"):
        run_import(tmp_path, lines(3), FakeClient(script))


def test_resume_skips_acknowledged_lines_and_cuts_the_report_back(tmp_path: Path) -> None:
    text = lines(30) + "oops\n"
    calls = {"n": 0}

    def interrupt_third(call: int, items: list[Any]) -> Response | None:
        calls["n"] += 1
        if calls["n"] == 3:
            raise KeyboardInterrupt
        return None

    summary = run_import(tmp_path, text, FakeClient(interrupt_third), batch_size=10)
    assert summary.interrupted and summary.last_line == 20
    report = tmp_path / "in.ndjson.rejected.ndjson"
    report.write_text(report.read_text() + '{"line": 999, "stray": "from a batch never acknowledged"}\n')
    client = FakeClient()
    summary = run_import(tmp_path, text, client, batch_size=10)
    assert summary.complete and summary.resumed_after_line == 20
    assert [i["params"]["n"] for c in client.calls for i in c["items"]] == list(range(20, 30))
    assert summary.totals.accepted == 30 and summary.totals.invalid == 1
    assert [json.loads(x)["line"] for x in report.read_text().splitlines()] == [31]


def test_other_options_than_the_state_are_refused(tmp_path: Path) -> None:
    run_import(tmp_path, lines(3), FakeClient(), default_time=None)
    with pytest.raises(ToolError, match="another import"):
        run_import(tmp_path, lines(3), FakeClient(), transactions=True)


def test_max_rate_paces_the_batches(tmp_path: Path) -> None:
    path = tmp_path / "in.ndjson"
    path.write_text(lines(50))
    t = [0.0]
    slept: list[float] = []

    def sleep(s: float) -> None:
        slept.append(s)
        t[0] += s

    importer = Importer(
        FakeClient(),
        ImportOptions(path, progress=False, batch_size=10, max_rate=100),  # type: ignore[arg-type]
        err=io.StringIO(),
        clock=lambda: t[0],
        sleep=sleep,
    )
    importer.run()
    assert slept == pytest.approx([0.1] * 4)  # 10 lines at 100 lines/s: one batch every 0.1 s
