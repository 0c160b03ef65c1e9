"""SQLite writes in a process of their own (`TRACKTION_SQLITE_WRITER=process`, what `tracktion serve` runs):
the same answers and stored rows as the writer thread, honest 503s when that process is overloaded or
gone, and no process left behind."""

from __future__ import annotations

import asyncio
import os
import pickle
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.support.store import CRED, event, request
from tracktion import errors
from tracktion.domain.models import ClientRef, Credential
from tracktion.domain.ports import EventQuery, QuarantineQuery
from tracktion.errors import Overloaded, StorageUnavailable, TracktionError, ValidationFailed
from tracktion.storage.sqlite import SQLiteStore
from tracktion.storage.sqlite_writer_process import WriterProcess


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie (exited, not yet reaped by its parent) counts as gone.
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def _wait_gone(pid: int, seconds: float = 10.0) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if not _alive(pid):
            return True
        time.sleep(0.05)
    return False


@pytest.fixture
async def store(tmp_path: Path) -> SQLiteStore:
    s = SQLiteStore(tmp_path / "p.db", writer_process=True)
    await s.start()
    yield s  # type: ignore[misc]
    await s.close()


def _child_pid(store: SQLiteStore) -> int:
    writer = store.writer
    assert isinstance(writer, WriterProcess)
    assert writer.pid is not None
    return writer.pid


async def test_writes_are_applied_by_another_process_and_stored(store: SQLiteStore) -> None:
    pid = _child_pid(store)
    assert pid != os.getpid() and _alive(pid)
    result = await store.write(request(event(ClientRef(custom_id="ana"), params={"door": "front"})))
    assert result.error is None
    [outcome] = result.outcomes
    assert outcome.status == 202 and outcome.uuid is not None
    [stored] = await store.events(EventQuery(1))
    assert stored.row.uuid == outcome.uuid
    assert stored.row.params["door"] == "front"
    assert store.writer.commits == 1


async def test_concurrent_writes_share_commits_and_each_gets_its_own_answer(store: SQLiteStore) -> None:
    results = await asyncio.gather(
        *(store.write(request(event(ClientRef(custom_id=f"c{i % 7}"), params={"n": i}))) for i in range(300))
    )
    uuids = [r.outcomes[0].uuid for r in results]
    assert len(set(uuids)) == 300
    stored = await store.events(EventQuery(1, limit=1000))
    assert sorted(e.row.uuid for e in stored) == sorted(uuids)  # type: ignore[type-var]
    by_uuid = {e.row.uuid: e.row.params["n"] for e in stored}
    assert [by_uuid[u] for u in uuids] == list(range(300))  # answers matched to their own requests
    assert store.writer.commits < 300  # group commit happened across the process boundary


async def test_errors_decided_by_the_writer_come_back_with_their_status_and_quarantine(
    store: SQLiteStore,
) -> None:
    bad = ValidationFailed("Action is required", field="action")
    result = await store.write(request(event(), bad, batch=True))
    assert isinstance(result.error, TracktionError)
    assert result.error.status == 400
    assert [o.status for o in result.outcomes] == [202, 400]
    assert await store.events(EventQuery(1)) == []
    records = await store.quarantine(QuarantineQuery(1))
    assert sorted(r.reason for _, r in records) == ["batch rejected", "validation failed"]


async def test_a_profile_token_write_for_another_profile_is_refused_across_the_boundary(
    store: SQLiteStore,
) -> None:
    first = await store.write(request(event(ClientRef(custom_id="owner"))))
    assert (await store.write(request(event(ClientRef(custom_id="someone-else"))))).error is None
    [mine] = await store.find_client_ids(1, custom_id="owner")
    token = Credential("profile", 1, "pk", client_id=mine, uuid="u")
    other = await store.write(request(event(ClientRef(custom_id="someone-else")), credential=token))
    assert first.error is None
    assert other.error is not None and other.error.status == 403


async def test_overload_is_refused_before_anything_is_sent(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "o.db", writer_process=True, queue_size=2)
    await store.start()
    try:
        outcomes = await asyncio.gather(
            *(store.write(request(event(params={"n": i}))) for i in range(40)), return_exceptions=True
        )
        refused = [o for o in outcomes if isinstance(o, Overloaded)]
        accepted = [o for o in outcomes if not isinstance(o, BaseException)]
        assert refused and accepted and len(refused) + len(accepted) == 40
        assert all(o.error is None for o in accepted)
        assert len(await store.events(EventQuery(1, limit=100))) == len(
            accepted
        )  # nothing stored after a 503
    finally:
        await store.close()


async def test_a_killed_writer_process_answers_503_and_is_replaced(store: SQLiteStore) -> None:
    await store.write(request(event()))
    pid = _child_pid(store)
    os.kill(pid, signal.SIGKILL)
    assert _wait_gone(pid)
    with pytest.raises(StorageUnavailable):
        for _ in range(100):  # until the parent has noticed the end of the socket
            await store.write(request(event()))
            await asyncio.sleep(0.01)
    assert not await store.ready()
    deadline = time.monotonic() + 10
    while not store.writer.alive and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
    assert _child_pid(store) != pid
    assert (await store.write(request(event()))).error is None
    assert await store.ready()


async def test_close_ends_the_writer_process(tmp_path: Path) -> None:
    store = SQLiteStore(tmp_path / "c.db", writer_process=True)
    await store.start()
    pid = _child_pid(store)
    await store.write(request(event()))
    await store.close()
    assert _wait_gone(pid, 1.0)


def test_the_writer_process_leaves_when_its_server_is_killed(tmp_path: Path) -> None:
    """SIGKILL of `tracktion serve` (no cleanup runs): its writer process sees the socket close and exits."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRACKTION_")}
    proc = subprocess.Popen(
        [sys.executable, "-m", "tracktion", "serve", "--port", "0", "--data-dir", str(tmp_path / "d")],
        env=env | {"TRACKTION_LOG_LEVEL": "warning"},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        children: list[int] = []
        deadline = time.monotonic() + 60
        while not children and time.monotonic() < deadline:
            assert proc.poll() is None, "the server exited during start-up"
            time.sleep(0.1)
            for task in Path(f"/proc/{proc.pid}/task").iterdir():
                try:  # threads come and go while the server starts
                    children += [int(c) for c in (task / "children").read_text().split()]
                except OSError:
                    continue
        [child] = children
        assert "sqlite_writer_process" in Path(f"/proc/{child}/cmdline").read_text()
    finally:
        proc.kill()
        proc.wait()
    assert _wait_gone(child), "the writer process outlived its server"


@pytest.mark.parametrize(
    "cls",
    sorted(
        {c for c in vars(errors).values() if isinstance(c, type) and issubclass(c, TracktionError)}, key=str
    ),
)
def test_every_error_survives_the_trip_between_processes(cls: type[TracktionError]) -> None:
    err = cls("something precise", field="client.uuid", rejected_value="x")
    back = pickle.loads(pickle.dumps(err))
    assert type(back) is cls
    assert (back.status, back.code, back.reason) == (cls.status, cls.code, cls.reason)
    assert back.errors == err.errors and back.headers == err.headers


def test_write_requests_survive_the_trip_between_processes() -> None:
    req = request(event(ClientRef(email="a@example.org"), salt="s", params={"x": [1, {"y": None}]}))
    req.credential = Credential("workspace", 1, "k", frozenset({"API_EVENTS_CREATE"}))
    assert pickle.loads(pickle.dumps(req)) == req
    assert pickle.loads(pickle.dumps(CRED)) == CRED


def test_the_setting_chooses_the_writer(tmp_path: Path) -> None:
    from tracktion.app import open_store
    from tracktion.settings import Settings

    default = open_store(Settings.load({"data_dir": tmp_path}, env={}))
    assert isinstance(default, SQLiteStore) and isinstance(default.writer, WriterProcess)
    thread = open_store(Settings.load({"data_dir": tmp_path}, env={"TRACKTION_SQLITE_WRITER": "thread"}))
    assert isinstance(thread, SQLiteStore) and not isinstance(thread.writer, WriterProcess)
    with pytest.raises(ValueError, match="'process' or 'thread'"):
        Settings.load({}, env={"TRACKTION_SQLITE_WRITER": "fork"})


def test_the_writer_process_takes_live_requests_first_and_bulk_ones_alone() -> None:
    """As the writer thread's lanes (docs/cli.md, the bulk lane): every pending live request in one commit,
    a bulk request only when no live one waits, and alone."""
    import socket

    from tracktion.storage.sqlite_writer_process import _frame, _Requests

    parent, child = socket.socketpair()
    try:
        frames = [(1, "bulk", 1000, request(event())), (2, "live", 1, request(event()))]
        frames += [(3, "bulk", 1000, request(event())), (4, "live", 1, request(event()))]
        parent.sendall(b"".join(_frame(f) for f in frames))
        queue = _Requests(child)
        while len(queue.live) + len(queue.bulk) < 4:
            queue.read(block=True)
        assert [rid for rid, _, _ in queue.take()] == [2, 4]
        assert [rid for rid, _, _ in queue.take()] == [1]
        assert [rid for rid, _, _ in queue.take()] == [3]
        assert queue.take() == []
        parent.close()
        queue.read(block=True)
        assert queue.eof
    finally:
        child.close()


async def test_a_nearly_full_disk_is_not_ready_even_after_a_commit_that_fit(
    store: SQLiteStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    # On a full filesystem a small commit can still fit in a WAL page already allocated: the last commit
    # succeeding must not make a store ready while almost every write fails (docs/api.md §13.1).
    assert (await store.write(request(event()))).error is None
    assert await store.ready()
    real = os.statvfs

    def almost_full(path: object) -> object:
        found = real(path)  # type: ignore[arg-type]
        fields = list(found)
        fields[4] = 0  # f_bavail: no block left for an unprivileged writer
        return os.statvfs_result(fields)

    monkeypatch.setattr(os, "statvfs", almost_full)
    assert not await store.ready()
    monkeypatch.setattr(os, "statvfs", real)
    assert await store.ready()
