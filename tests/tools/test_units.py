"""The pure parts of the command-line tools: value and CSV parsing, salts, times, SSE, progress, errors."""

from __future__ import annotations

import asyncio
import hashlib
import io
import json
import sys
from pathlib import Path
from typing import Any

import pytest

from tracktion.tools import ToolError
from tracktion.tools.client import Response, SSEEvent, SSEParser, explain, token_expiry
from tracktion.tools.export import (
    CsvWriter,
    NdjsonWriter,
    import_pyarrow,
    iter_events,
    open_writer,
    parse_bound,
)
from tracktion.tools.importer import (
    LineError,
    check_json,
    csv_object,
    csv_records,
    derive_salt,
    detect_format,
    ndjson_records,
    parse_ndjson_line,
    prepare_item,
    strip_item_prefix,
)
from tracktion.tools.progress import ProgressBar, format_duration, format_progress
from tracktion.tools.send import SendSpec, build_request, parse_param, parse_value, send_types
from tracktion.tools.tail import format_event, format_params, format_quarantine, render

NOW = 1_800_000_000_000  # 2027-01-15


# -- values ----------------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("happy", "happy"),
        ("7", 7),
        ("-2.5", -2.5),
        ("true", True),
        ("null", None),
        ('{"a": [1]}', {"a": [1]}),
        ('"7"', "7"),
        ("007", "007"),  # not JSON: leading zeros
        ("", ""),
        ("NaN", "NaN"),
        ("1e999", "1e999"),  # infinite
        (str(2**63), str(2**63)),  # outside signed 64-bit
        (str(2**63 - 1), 2**63 - 1),
        ("[1, 2", "[1, 2"),
    ],
)
def test_parse_value(text: str, value: Any) -> None:
    assert parse_value(text) == value
    assert type(parse_value(text)) is type(value)


def test_parse_param() -> None:
    assert parse_param("mood=happy") == ("mood", "happy")
    assert parse_param("a.b=1") == ("a.b", 1)  # keys are literal
    assert parse_param("eq=x=y") == ("eq", "x=y")
    assert parse_param("empty=") == ("empty", "")
    for bad in ("novalue", "=1"):
        with pytest.raises(ToolError):
            parse_param(bad)


# -- send bodies -----------------------------------------------------------------------------------------
def test_send_types_cover_the_catalog() -> None:
    types = send_types()
    assert types[0] == "custom"
    assert {"hit-timer", "push/clicked", "push-clicked", "added-to-cart", "transaction", "batch"} <= set(
        types
    )


def test_build_custom_event() -> None:
    spec = SendSpec(
        "custom",
        "dog.bark",
        client_id=5092159999,
        params=["mood=happy", "n=2"],
        salt="s1",
        time="2024-03-05T10:00:00Z",
    )
    path, query, body = build_request(spec)
    assert (path, query) == ("/v4/events/custom", {})
    assert body == {
        "client": {"id": 5092159999},
        "action": "dog.bark",
        "label": "Custom event",
        "time": "2024-03-05T10:00:00Z",
        "eventSalt": "s1",
        "params": {"mood": "happy", "n": 2},
    }


def test_build_dedicated_event_uses_the_catalog_label_and_path() -> None:
    path, _, body = build_request(
        SendSpec(
            "added-to-cart", email="a@example.org", params=['finalUnitPrice={"amount":1,"currency":"EUR"}']
        )
    )
    assert path == "/v4/events/added-to-cart"
    assert body["label"] == "Item added to cart"
    assert body["params"]["finalUnitPrice"] == {"amount": 1, "currency": "EUR"}
    assert build_request(SendSpec("push-clicked", uuid="u"))[0] == "/v4/events/push/clicked"


def test_build_merges_the_file_and_flags() -> None:
    stdin = io.StringIO(
        json.dumps({"action": "from.file", "label": "L", "client": {"customId": "c"}, "params": {"a": 1}})
    )
    _, _, body = build_request(SendSpec("custom", file="-", email="e@example.org", params=["b=2"]), stdin)
    assert body == {
        "action": "from.file",
        "label": "L",
        "client": {"customId": "c", "email": "e@example.org"},
        "params": {"a": 1, "b": 2},
    }


def test_build_transaction_and_batches() -> None:
    stdin = io.StringIO(json.dumps({"orderId": "o1", "client": {"id": 1}}))
    path, _, body = build_request(
        SendSpec("transaction", file="-", time="2024-01-01T00:00:00Z", salt="o1"), stdin
    )
    assert path == "/v4/transactions"
    assert body == {
        "orderId": "o1",
        "client": {"id": 1},
        "recordedAt": "2024-01-01T00:00:00Z",
        "eventSalt": "o1",
    }
    path, query, body = build_request(SendSpec("batch", file="-", partial=True), io.StringIO("[{}]"))
    assert (path, query, body) == ("/v4/events/batch", {"partial": "true"}, [{}])
    path, query, _ = build_request(SendSpec("transaction-batch", file="-"), io.StringIO("[]"))
    assert (path, query) == ("/v4/transactions/batch", {})


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        (SendSpec("custom"), "needs an ACTION"),
        (SendSpec("hit-timer", "x"), "give no ACTION"),
        (SendSpec("batch"), "needs --file"),
        (SendSpec("transaction", params=["a=1"]), "takes no --param"),
        (SendSpec("custom", "a", partial=True), "--partial applies"),
        (SendSpec("custom", "a", params=["nokey"]), "NAME=VALUE"),
        (SendSpec("custom", "a", file="/no/such/file"), "--file"),
    ],
)
def test_build_refuses(spec: SendSpec, message: str) -> None:
    with pytest.raises(ToolError, match=message):
        build_request(spec)


def test_build_refuses_non_json_and_wrong_shapes() -> None:
    with pytest.raises(ToolError, match="not JSON"):
        build_request(SendSpec("custom", "a", file="-"), io.StringIO("{"))
    with pytest.raises(ToolError, match="JSON array"):
        build_request(SendSpec("batch", file="-"), io.StringIO("{}"))
    with pytest.raises(ToolError, match="JSON object"):
        build_request(SendSpec("custom", "a", file="-"), io.StringIO("[]"))


# -- errors ----------------------------------------------------------------------------------------------
def test_explain_error_body() -> None:
    body = {
        "error": "Bad Request",
        "message": "Request validation failed (2 errors)",
        "status": 400,
        "errors": [
            {"code": 1002, "field": "[3].label", "message": "Label is required", "rejectedValue": None},
            {
                "code": 1005,
                "field": "client.uuid",
                "message": "UUID format invalid (x)",
                "rejectedValue": "x",
            },
        ],
    }
    r = Response(400, "Bad Request", {"x-request-id": "rid-1"}, json.dumps(body).encode())
    text = explain(r, "POST", "/v4/events/batch")
    assert text.splitlines() == [
        "400 Bad Request: Request validation failed (2 errors)",
        "  request: POST /v4/events/batch (request id rid-1)",
        "  - [3].label: Label is required [code 1002: required value missing or null]",
        '  - client.uuid: UUID format invalid (x) [code 1005: wrong format (pattern, UUID, e-mail, time or currency); rejected value "x"]',
    ]


def test_explain_overload_and_non_json() -> None:
    body = {
        "error": "Service Unavailable",
        "message": "Overloaded",
        "errors": [{"code": 5002, "field": "", "message": "Overloaded"}],
    }
    text = explain(Response(503, "Service Unavailable", {"retry-after": "1"}, json.dumps(body).encode()))
    assert "(whole body): Overloaded [code 5002: server overloaded]" in text
    assert "hint: nothing was stored; try again later" in text
    assert "retry after 1 s" in text
    assert explain(Response(502, "Bad Gateway", {}, b"<html>oops</html>"), "GET", "/x") == (
        "502 Bad Gateway: <html>oops</html>\n  request: GET /x"
    )


def test_token_expiry() -> None:
    import base64

    payload = base64.urlsafe_b64encode(json.dumps({"exp": 1234}).encode()).decode().rstrip("=")
    assert token_expiry(f"h.{payload}.s") == 1234.0
    assert token_expiry("garbage") is None


# -- SSE -------------------------------------------------------------------------------------------------
def test_sse_parser() -> None:
    p = SSEParser()
    lines = [
        "retry: 2000\n",
        ": connected\n",
        "\n",
        "id: 7\n",
        "event: event\n",
        'data: {"a":1}\n',
        "\n",
        ": ping\n",
        "\n",
        "event: quarantine\r\n",
        'data: {"q":\r\n',
        "data: 2}\r\n",
        "\r\n",
        "data:no-space\n",
        "\n",
    ]
    events = [e for line in lines if (e := p.feed(line)) is not None]
    assert events == [
        SSEEvent("event", '{"a":1}', "7"),
        SSEEvent("quarantine", '{"q":\n2}', "7"),  # no id of its own: the last one stays in force
        SSEEvent("message", "no-space", "7"),
    ]
    assert p.retry_ms == 2000
    assert p.last_id == "7"


# -- tail rows -------------------------------------------------------------------------------------------
def test_tail_rows() -> None:
    item = {
        "time": "2024-03-05T10:15:30.250Z",
        "action": "dog.bark",
        "label": "Dog barked",
        "client": {"id": 7000000001},
        "params": {
            "mood": "happy",
            "eventUUID": "x",
            "n": 2,
            "o": {"a": 1},
            "ip": "1.2.3.4",
            "x": "y",
            "more": 1,
        },
    }
    row = format_event(item, width=200)
    assert row.startswith("2024-03-05T10:15:30.250Z  dog.bark")
    assert row.endswith('mood=happy n=2 o={"a":1} x=y (+1)')
    assert "7000000001" in row and "eventUUID" not in row
    assert len(format_event(item, width=80)) <= 130  # the params column is cut
    assert format_params(None) == ""
    q = {
        "receivedAt": "2024-03-05T10:15:30.250Z",
        "status": 400,
        "reason": "validation failed",
        "endpoint": "/v4/events/custom",
        "errors": [{"field": "label", "message": "Label is required"}, {}],
    }
    assert "QUARANTINE" in format_quarantine(q) and "label: Label is required (+1)" in format_quarantine(q)
    assert render(SSEEvent("event", json.dumps(item)), True, 100) == json.dumps(item)
    assert render(SSEEvent("other", "{}"), False, 100) is None


# -- import: lines ---------------------------------------------------------------------------------------
def test_parse_ndjson_line() -> None:
    assert parse_ndjson_line('{"a": 1}') == {"a": 1}
    for bad, message in [
        ("[1]", "not a JSON object"),
        ("{", "not JSON"),
        ('{"a": NaN}', "NaN"),
        (f'{{"a": {2**63}}}', "64-bit"),
        ('{"a":' * 70 + "1" + "}" * 70, "deeply"),
    ]:
        with pytest.raises(LineError, match=message):
            parse_ndjson_line(bad)


def test_check_json_depth_limit() -> None:
    deep: Any = 1
    for _ in range(62):
        deep = [deep]
    check_json({"a": deep})  # 63 levels inside the batch array: 64 in all
    with pytest.raises(LineError):
        check_json({"a": [deep]})


def test_csv_object() -> None:
    header = [
        "type",
        "action",
        "label",
        "time",
        "clientId",
        "customId",
        "email",
        "clientUuid",
        "params",
        "params.n",
        "params.zip",
        "params.price.amount",
        "orderId",
        "seq",
    ]
    row = [
        "",
        "a.b",
        "007",
        "2024-01-01T00:00:00Z",
        "5",
        "c1",
        "",
        "U",
        '{"x": 1, "n": 0}',
        "2",
        "007",
        "1.5",
        "123",
        "9",
    ]
    assert csv_object(header, row) == {
        "action": "a.b",
        "label": "007",  # a string field stays text
        "time": "2024-01-01T00:00:00Z",
        "client": {"id": 5, "customId": "c1", "uuid": "U"},
        "params": {"x": 1, "n": 2, "zip": "007", "price": {"amount": 1.5}},  # single columns win
        "orderId": "123",
        "seq": 9,
    }
    with pytest.raises(LineError, match="fields where the header has"):
        csv_object(["a", "b"], ["1"])
    with pytest.raises(LineError, match="not an object"):
        csv_object(["params", "params.x"], ["5", "1"])


def test_derive_salt_is_stable_and_distinct() -> None:
    a = derive_salt("f.ndjson", 1, '{"a":1}')
    assert a == derive_salt("f.ndjson", 1, '{"a":1}')
    assert a.startswith("import-") and len(a) == 39
    assert (
        len(
            {
                a,
                derive_salt("g.ndjson", 1, '{"a":1}'),
                derive_salt("f.ndjson", 2, '{"a":1}'),
                derive_salt("f.ndjson", 1, '{"a":2}'),
            }
        )
        == 4
    )
    digest = hashlib.sha256(b'tracktion-import\x00f.ndjson\x001\x00{"a":1}').hexdigest()
    assert a == f"import-{digest[:32]}"


def test_prepare_item_salts_and_times() -> None:
    obj = {"action": "a", "time": "2024-01-01T00:00:00Z", "params": {"b": 1, "a": 2}}
    item = prepare_item(obj, line=3, namespace="ns", time_key="time", default_time=None, now_ms=NOW)
    assert item["eventSalt"] == derive_salt(
        "ns", 3, '{"action":"a","params":{"a":2,"b":1},"time":"2024-01-01T00:00:00Z"}'
    )
    assert "eventSalt" not in obj  # the parsed line is not modified
    own = prepare_item(
        {**obj, "eventSalt": "mine"}, line=3, namespace="ns", time_key="time", default_time=None, now_ms=NOW
    )
    assert own["eventSalt"] == "mine"
    with pytest.raises(LineError, match="--default-time"):
        prepare_item({"action": "a"}, line=1, namespace="ns", time_key="time", default_time=None, now_ms=NOW)
    item = prepare_item(
        {"orderId": "o"},
        line=1,
        namespace="ns",
        time_key="recordedAt",
        default_time="2020-01-01T00:00:00Z",
        now_ms=NOW,
    )
    assert item["recordedAt"] == "2020-01-01T00:00:00Z"
    with pytest.raises(LineError, match="future"):
        prepare_item(
            {"time": "2099-01-01T00:00:00Z"},
            line=1,
            namespace="ns",
            time_key="time",
            default_time=None,
            now_ms=NOW,
        )
    # An unparsable time is the server's to reject (with the contract's message).
    assert (
        prepare_item(
            {"time": "yesterday"}, line=1, namespace="ns", time_key="time", default_time=None, now_ms=NOW
        )["time"]
        == "yesterday"
    )


def test_strip_item_prefix() -> None:
    assert strip_item_prefix({"field": "[12].client.id"})["field"] == "client.id"
    assert strip_item_prefix({"field": "[0]"})["field"] == ""
    assert strip_item_prefix({"field": "label"})["field"] == "label"


def test_detect_format() -> None:
    assert detect_format(Path("a.csv"), b"{") == "csv"
    assert detect_format(Path("a.jsonl"), b"x") == "ndjson"
    assert detect_format(Path("a.txt"), b'\xef\xbb\xbf  {"a"') == "ndjson"
    assert detect_format(Path("a"), b"action,label") == "csv"


def test_ndjson_records_offsets_and_resume() -> None:
    data = b'\xef\xbb\xbf{"a":1}\n\n{"a":2}\r\nnot json\n{"a":3}'
    recs = list(ndjson_records(io.BytesIO(data), 0, 0))
    assert [r.line for r in recs] == [1, 2, 3, 4, 5]
    assert [r.obj for r in recs] == [{"a": 1}, None, {"a": 2}, None, {"a": 3}]
    assert recs[1].skip and recs[3].error is not None
    assert b"".join(r.raw for r in recs) == data
    assert recs[-1].end == len(data)
    resumed = list(ndjson_records(io.BytesIO(data), recs[2].end, recs[2].lines_end))
    assert [(r.line, r.obj) for r in resumed] == [(4, None), (5, {"a": 3})]


def test_csv_records_offsets_multiline_and_resume() -> None:
    data = b'action,label\na,"two\nlines"\n\nb,x\n' + b"c,\xff\n"
    header = ["action", "label"]
    recs = list(csv_records(io.BytesIO(data), 0, 0, header))
    assert [(r.line, r.lines_end, r.skip) for r in recs] == [
        (1, 1, True),
        (2, 3, False),
        (4, 4, True),
        (5, 5, False),
        (6, 6, False),
    ]
    assert recs[1].obj == {"action": "a", "label": "two\nlines"}
    assert recs[4].error == "not UTF-8"
    assert b"".join(r.raw for r in recs) == data
    resumed = list(csv_records(io.BytesIO(data), recs[1].end, recs[1].lines_end, header))
    assert [(r.line, r.obj) for r in resumed][1] == (5, {"action": "b", "label": "x"})


# -- progress --------------------------------------------------------------------------------------------
def test_format_duration() -> None:
    assert [format_duration(s) for s in (0, 7.4, 63, 3723, None, float("inf"))] == [
        "0:00",
        "0:07",
        "1:03",
        "1:02:03",
        "--:--",
        "--:--",
    ]


def test_format_progress() -> None:
    text = format_progress(done_bytes=250, total_bytes=1000, lines=5000, elapsed=2.0, width=10)
    assert text == "[##........]   25.0%  5,000 lines  2,500 lines/s  ETA 0:06"
    text = format_progress(done_bytes=0, total_bytes=1000, lines=0, elapsed=0.0, rejected=3, width=4)
    assert text == "[....]    0.0%  0 lines  0.0 lines/s  ETA --:--  (3 not stored)"
    assert format_progress(done_bytes=5, total_bytes=None, lines=3, elapsed=61) == (
        "3 lines  0.0 lines/s  elapsed 1:01"
    )


def test_progress_bar_redraws_on_a_terminal_and_prints_lines_otherwise() -> None:
    class Tty(io.StringIO):
        def isatty(self) -> bool:
            return True

    t = [0.0]
    tty = Tty()
    bar = ProgressBar(tty, 100, clock=lambda: t[0])
    bar.update(done_bytes=10, lines=1)
    t[0] = 0.05
    bar.update(done_bytes=20, lines=2)  # too soon: skipped
    t[0] = 1.0
    bar.update(done_bytes=100, lines=10)
    bar.finish()
    assert tty.getvalue().count("\r") == 2 and tty.getvalue().endswith(
        "100.0%  10 lines  10.0 lines/s  ETA 0:00\n"
    )
    pipe = io.StringIO()
    bar = ProgressBar(pipe, 100, clock=lambda: t[0])
    bar.update(done_bytes=10, lines=1)
    bar.update(done_bytes=20, lines=2, force=True)
    assert len(pipe.getvalue().splitlines()) == 2 and "\r" not in pipe.getvalue()
    quiet = io.StringIO()
    ProgressBar(quiet, 100, enabled=False).update(done_bytes=1, lines=1, force=True)
    assert quiet.getvalue() == ""


# -- export ----------------------------------------------------------------------------------------------
def test_parse_bound() -> None:
    assert parse_bound("2024-03-05", "--from") == 1709596800000
    assert parse_bound("2024-03-05", "--to", end=True) == 1709596800000 + 86_400_000 - 1
    assert parse_bound("2024-03-05T10:15:30.250Z", "--from") == 1709633730250
    with pytest.raises(ToolError, match="--from"):
        parse_bound("2024-02-30", "--from")


def test_parquet_without_pyarrow_is_a_clear_error(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setitem(sys.modules, "pyarrow", None)
    monkeypatch.setitem(sys.modules, "pyarrow.parquet", None)
    with pytest.raises(ToolError, match=r"pip install 'tracktion\[parquet\]'"):
        import_pyarrow()
    with pytest.raises(ToolError, match="pyarrow"):
        open_writer("parquet", None, tmp_path / "x.parquet")
    with pytest.raises(ToolError, match="--output"):
        open_writer("parquet", None, None)


def test_iter_events_pages_with_the_keyset_cursor() -> None:
    from tracktion.domain.models import EventRow
    from tracktion.domain.ports import EventQuery, StoredEvent

    rows = [
        EventRow(
            1,
            f"00000000-0000-4000-8000-{i:012d}",
            7,
            "a",
            "l",
            1000 - i // 2,
            {"uuid": "u"},
            "/e",
            "custom",
            seq=100 - i,
        )
        for i in range(7)
    ]

    class FakeStore:
        def __init__(self) -> None:
            self.queries: list[EventQuery] = []

        async def events(self, q: EventQuery) -> list[StoredEvent]:
            self.queries.append(q)
            after = q.after
            matching = [r for r in rows if after is None or (r.time_ms, r.seq) < after]
            return [StoredEvent(r, None, None) for r in matching[: q.limit]]

    store = FakeStore()

    async def collect() -> list[dict[str, Any]]:
        return [item async for item in iter_events(store, EventQuery(1), page_size=3)]  # type: ignore[arg-type]

    items = asyncio.run(collect())
    assert [i["seq"] for i in items] == [100, 99, 98, 97, 96, 95, 94]
    assert [q.limit for q in store.queries] == [3, 3, 3]  # never more than a page in memory
    assert store.queries[1].after == (rows[2].time_ms, rows[2].seq)


def test_ndjson_and_csv_writers() -> None:
    item = {
        "uuid": "u",
        "seq": 3,
        "time": "t",
        "action": "a",
        "label": 'l, "q"',
        "kind": "custom",
        "endpoint": "/e",
        "client": {"id": 7, "uuid": None, "customId": "c", "email": None},
        "params": {"x": [1]},
    }
    out = io.StringIO()
    w = NdjsonWriter(out)
    w.write(item)
    w.close()
    assert json.loads(out.getvalue()) == item
    out = io.StringIO()
    c = CsvWriter(out)
    c.write(item)
    assert out.getvalue().splitlines() == [
        "uuid,seq,time,action,label,kind,endpoint,client.id,client.uuid,client.customId,client.email,params",
        'u,3,t,a,"l, ""q""",custom,/e,7,,c,,"{""x"":[1]}"',
    ]
