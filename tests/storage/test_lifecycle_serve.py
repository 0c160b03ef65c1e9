"""The data lifecycle with a real `tracktion serve` (docs/api.md §15.1, §15.3): an erasure killed half way
(SIGKILL) resumes after the restart and ends with exact counts; a backup taken while the server takes writes
restores into a new data dir holding every event acknowledged before the backup began."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import pytest

from tests.support.serve_process import ServeProcess
from tracktion.cli import main

API_KEY = "lifecycle-serve-test-key-0123456789"
EVENTS = 10_000


def _batch(custom_id: str, start: int, n: int) -> list[dict[str, Any]]:
    return [
        {
            "type": "custom",
            "action": "page.view",
            "label": "p",
            "client": {"customId": custom_id},
            "params": {"i": i},
        }
        for i in range(start, start + n)
    ]


def _receipt(server: ServeProcess, erasure_id: str) -> dict[str, Any]:
    out: dict[str, Any] = server.get(f"/-/api/erasures/{erasure_id}")
    return out


def test_erasure_resumes_after_sigkill(tmp_path: Path, database_url: str | None) -> None:
    server = ServeProcess(
        tmp_path / "data",
        database_url,
        {"TRACKTION_LIFECYCLE_CHUNK_ROWS": "100", "TRACKTION_SQLITE_WRITER": "thread"},
        api_key=API_KEY,
        log_path=tmp_path / "serve.log",
    )
    server.start()
    try:
        for start in range(0, EVENTS, 1000):
            r = server.post("/v4/events/batch", _batch("killed-midway", start, 1000))
            assert r.status_code == 202, r.text
        assert server.post("/v4/events/custom", _batch("stays", 0, 1)[0]).status_code == 202
        r = server.post("/-/api/erasures", {"customId": "killed-midway"})
        assert r.status_code == 202, r.text
        erasure_id = r.json()["id"]
        deadline = time.monotonic() + 60
        while _receipt(server, erasure_id)["deleted"]["events"] == 0:
            assert time.monotonic() < deadline, server.log_tail()
            time.sleep(0.01)
        server.kill()  # SIGKILL, half way
        server.start()
        at_restart = _receipt(server, erasure_id)
        if at_restart["state"] == "done":
            pytest.skip("the deletion finished before the kill (machine too fast for this chunk size)")
        assert 0 < at_restart["deleted"]["events"] < EVENTS
        while (receipt := _receipt(server, erasure_id))["state"] != "done":
            assert time.monotonic() < deadline + 120, server.log_tail()
            time.sleep(0.05)
        assert (
            receipt["deleted"]["events"] == EVENTS
        )  # exact: each chunk counts what it deleted, in its commit
        assert [e["client"]["customId"] for e in server.all_events()] == ["stays"]
    finally:
        server.stop()


def test_backup_while_serving_then_restore(tmp_path: Path, store_backend: str) -> None:
    if store_backend != "sqlite":
        pytest.skip("the PostgreSQL backup is pg_dump's (see test_backup_postgres_prints_pg_dump)")
    data = tmp_path / "data"
    server = ServeProcess(data, None, api_key=API_KEY, log_path=tmp_path / "serve.log")
    server.start()
    stop = threading.Event()
    written: list[int] = []

    def keep_writing() -> None:  # writes go on during the backup
        i = 0
        while not stop.is_set():
            if server.post("/v4/events/batch", _batch("during", i, 50)).status_code == 202:
                written.append(i)
            i += 50

    try:
        for start in range(0, 3000, 1000):
            assert server.post("/v4/events/batch", _batch("before", start, 1000)).status_code == 202
        acknowledged = {e["uuid"] for e in server.all_events()}
        assert len(acknowledged) == 3000
        writer = threading.Thread(target=keep_writing)
        writer.start()
        time.sleep(0.2)
        target = tmp_path / "backups" / "b1"
        target.parent.mkdir()
        assert main(["backup", "--to", str(target), "--data-dir", str(data)]) == 0
        stop.set()
        writer.join()
        assert written, "no write ran during the backup"
        assert sorted(p.name for p in target.iterdir()) == ["backup.json", "jwt-private.pem", "tracktion.db"]
        assert not list(target.parent.glob(".b1.partial-*"))
        # Refusals: an existing backup path, a restore into a non-empty dir (left untouched).
        assert main(["backup", "--to", str(target), "--data-dir", str(data)]) == 1
        busy = tmp_path / "busy"
        busy.mkdir()
        (busy / "keep.txt").write_text("mine")
        assert main(["restore", "--from", str(target), "--data-dir", str(busy)]) == 1
        assert [p.name for p in busy.iterdir()] == ["keep.txt"]

        restored = tmp_path / "restored"
        assert main(["restore", "--from", str(target), "--data-dir", str(restored)]) == 0
        assert (restored / "jwt-private.pem").read_bytes() == (data / "jwt-private.pem").read_bytes()
        assert (restored / "tracktion.db").stat().st_mode & 0o777 == 0o600
    finally:
        stop.set()
        server.stop()
    copy = ServeProcess(restored, None, api_key=API_KEY, log_path=tmp_path / "restored.log")
    copy.start()
    try:
        found = {e["uuid"] for e in copy.all_events(action="page.view")}
        assert acknowledged <= found
        # The same signing key: a token of the original server is valid on the copy.
        assert copy.get("/-/api/events", limit=1)["items"]
    finally:
        copy.stop()


def _unwritable_dir(tmp_path: Path) -> Path:
    """A directory this process cannot create anything in: a 0500 one, or, for root (which the modes do not
    stop, as in CI containers), sysfs, where no one may make a directory (EPERM)."""
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o500)
    if not _writable(locked):
        return locked
    locked.chmod(0o700)
    sysfs = Path("/sys")
    if not sysfs.is_dir() or _writable(sysfs):
        pytest.skip("no directory here refuses this user")
    return sysfs


def test_backup_to_an_unwritable_place(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = tmp_path / "data"
    assert main(["migrate", "--data-dir", str(data), "--create"]) == 0
    place = _unwritable_dir(tmp_path)
    name = "tracktion-backup-probe"
    try:
        assert main(["backup", "--to", str(place / name), "--data-dir", str(data)]) == 1
        assert "cannot write" in capsys.readouterr().err
        # Nothing under the final name, nor a partial one beside it.
        assert not [p for p in place.iterdir() if name in p.name]
    finally:
        if place.is_relative_to(tmp_path):
            place.chmod(0o700)
    assert main(["backup", "--to", str(tmp_path / "missing" / "b"), "--data-dir", str(data)]) == 1
    assert "is not a directory" in capsys.readouterr().err
    (tmp_path / "a-file").write_text("x")
    assert main(["backup", "--to", str(tmp_path / "a-file" / "b"), "--data-dir", str(data)]) == 1
    assert "is not a directory" in capsys.readouterr().err
    assert (tmp_path / "a-file").read_text() == "x"


def _writable(path: Path) -> bool:
    try:
        (path / ".probe").touch()
    except OSError:
        return False
    (path / ".probe").unlink()
    return True


def test_backup_postgres_prints_pg_dump(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = tmp_path / "data"
    data.mkdir()
    (data / "jwt-private.pem").write_text("key")
    url = "postgresql://tracktion:s3cret@db.example:5432/tracktion"
    assert main(["backup", "--to", str(tmp_path / "b"), "--data-dir", str(data), "--database-url", url]) == 0
    out = capsys.readouterr().out
    assert "pg_dump --format=custom" in out and "s3cret" not in out
    assert (tmp_path / "b" / "jwt-private.pem").read_text() == "key"
