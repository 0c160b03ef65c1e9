"""`tracktion export` on the data dir of a real server process (running, then another one fed back the
export): NDJSON and CSV round trips, filters, Parquet."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

import pytest

from tests.support.tools import Server, run

pytestmark = pytest.mark.e2e

USER_KEYS = {"mood", "n", "nested"}


def seed(server: Server, tag: str, count: int) -> None:
    items = [
        {
            "action": f"{tag}.{'even' if i % 2 == 0 else 'odd'}",
            "label": f"Label {i}, with comma",
            "client": {"customId": f"{tag}-{i % 3}"},
            "time": f"2024-02-{1 + i % 28:02d}T12:00:00Z",
            "params": {"n": i, "mood": "happy" if i % 2 else "sad", "nested": {"a": [i, None, True]}},
        }
        for i in range(count)
    ]
    for start in range(0, count, 1000):
        r = server.post("/v4/events/batch", items[start : start + 1000])
        assert r.status_code == 202, r.text


def export(server: Server, *args: str) -> Any:
    r = run(["export", "--data-dir", str(server.data_dir), *args], server.env())
    assert r.returncode == 0, r.stderr
    return r


def comparable(item: dict[str, Any]) -> tuple[Any, ...]:
    user = {k: v for k, v in item["params"].items() if k in USER_KEYS}
    return item["action"], item["label"], item["time"], json.dumps(user, sort_keys=True)


def test_ndjson_export_matches_the_api_page_by_page(server: Server) -> None:
    seed(server, "exp1", 2500)  # more than two export pages (1000 each)
    r = export(server, "--action", "exp1.even", "--action", "exp1.odd")
    assert r.stderr.strip() == "exported 2500 events"
    lines = [json.loads(line) for line in r.stdout.splitlines()]
    api = server.events(action=["exp1.even", "exp1.odd"])
    assert len(api) == 2500
    # Same items (the §13.2 shape), same order: newest first.
    assert lines == api


def test_csv_export_round_trips(server: Server, tmp_path: Path) -> None:
    seed(server, "exp2", 30)
    out = tmp_path / "events.csv"
    export(server, "--action", "exp2.odd", "--format", "csv", "-o", str(out))
    rows = list(csv.DictReader(io.StringIO(out.read_text(encoding="utf-8"))))
    api = server.events(action="exp2.odd")
    assert len(rows) == len(api) == 15
    for row, item in zip(rows, api, strict=True):
        assert row["uuid"] == item["uuid"]
        assert int(row["seq"]) == item["seq"]
        assert (row["time"], row["action"], row["label"]) == (item["time"], item["action"], item["label"])
        assert int(row["client.id"]) == item["client"]["id"]
        assert row["client.customId"] == item["client"]["customId"]
        assert row["client.email"] == ""
        assert json.loads(row["params"]) == item["params"]


def test_filters(server: Server) -> None:
    seed(server, "exp3", 40)
    one = server.events(customId="exp3-1")[0]["client"]["id"]
    r = export(server, "--client-id", str(one), "--action", "exp3.even", "--action", "exp3.odd")
    got = [json.loads(line) for line in r.stdout.splitlines()]
    assert got and {g["client"]["id"] for g in got} == {one}
    r = export(server, "--custom-id", "exp3-1", "--action", "exp3.odd")
    assert {json.loads(line)["client"]["id"] for line in r.stdout.splitlines()} == {one}
    r = export(server, "--action", "exp3.even", "--from", "2024-02-03", "--to", "2024-02-05T12:00:00Z")
    times = sorted({json.loads(line)["time"] for line in r.stdout.splitlines()})
    assert times == ["2024-02-03T12:00:00.000Z", "2024-02-05T12:00:00.000Z"]
    r = export(server, "--email", "nobody@example.org")
    assert r.stdout == "" and "exported 0 events" in r.stderr
    r = run(["export", "--data-dir", str(server.data_dir), "--workspace", "99"], server.env())
    assert r.returncode == 1 and "no workspace '99'" in r.stderr
    r = run(["export", "--data-dir", str(server.data_dir), "--from", "yesterday"], server.env())
    assert r.returncode == 1 and "--from 'yesterday'" in r.stderr


def test_export_without_a_store_is_an_error(tmp_path: Path) -> None:
    r = run(["export", "--data-dir", str(tmp_path / "nothing")], {"PATH": "/usr/bin:/bin"})
    assert r.returncode == 1 and "no store in" in r.stderr
    assert not (tmp_path / "nothing").exists()


@pytest.mark.parametrize("fmt", ["ndjson", "csv"])
def test_export_imports_back_into_another_server(
    server: Server, fresh_server: Server, tmp_path: Path, fmt: str
) -> None:
    tag = f"rt{fmt}"
    seed(server, tag, 120)
    source = sorted(comparable(e) for e in server.events(action=[f"{tag}.even", f"{tag}.odd"]))
    path = tmp_path / f"export.{fmt}"
    export(server, "--action", f"{tag}.even", "--action", f"{tag}.odd", "--format", fmt, "-o", str(path))
    r = run(["import", str(path)], fresh_server.env())
    assert r.returncode == 0, r.stdout + r.stderr
    target = sorted(comparable(e) for e in fresh_server.events(action=[f"{tag}.even", f"{tag}.odd"]))
    assert target == source
    # The profiles came across too, by their uuid and customId.
    assert {e["client"]["customId"] for e in fresh_server.events(action=f"{tag}.odd")} == {
        f"{tag}-0",
        f"{tag}-1",
        f"{tag}-2",
    }


def test_parquet_export(server: Server, tmp_path: Path) -> None:
    pq = pytest.importorskip("pyarrow.parquet")
    seed(server, "exp4", 25)
    out = tmp_path / "events.parquet"
    export(server, "--action", "exp4.even", "--format", "parquet", "-o", str(out))
    table = pq.read_table(out)
    api = server.events(action="exp4.even")
    assert table.num_rows == len(api) == 13
    rows = table.to_pylist()
    assert [r["uuid"] for r in rows] == [e["uuid"] for e in api]
    assert rows[0]["client_id"] == api[0]["client"]["id"]
    assert json.loads(rows[0]["params"]) == api[0]["params"]
    assert rows[0]["time"].isoformat().startswith(api[0]["time"][:19])
