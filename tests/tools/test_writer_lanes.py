"""The writer's bulk lane: pending live jobs always commit first, in commits of their own, and a bulk job
is written only when no live job waits, one per commit; so a live request never waits behind an import's
queued batches. And the lane reaches the writer from the `X-Tracktion-Lane` header via `WriteRequest.lane`."""

from __future__ import annotations

import asyncio
import threading
from pathlib import Path
from typing import Any

from tracktion.auth.jwt import SigningKey
from tracktion.storage.writer import Backend, GroupCommitWriter


class RecordingBackend(Backend):
    def __init__(self) -> None:
        self.commits: list[list[str]] = []
        self.current: list[str] = []

    def open(self) -> None: ...
    def begin(self) -> Any:
        self.current = []
        return self.current

    def savepoint(self) -> None: ...
    def release(self) -> None: ...
    def rollback_savepoint(self) -> None: ...
    def commit(self) -> None:
        self.commits.append(self.current)

    def rollback(self) -> None: ...
    def close(self) -> None: ...


def job(name: str, gate: threading.Event | None = None) -> Any:
    def work(tx: list[str]) -> str:
        if gate is not None:
            assert gate.wait(10)
        tx.append(name)
        return name

    return work


async def test_live_jobs_commit_before_queued_bulk_jobs() -> None:
    backend = RecordingBackend()
    writer = GroupCommitWriter(backend)
    writer.start()
    try:
        gate = threading.Event()
        blocker = asyncio.ensure_future(writer.submit(job("live-0", gate)))
        await asyncio.sleep(0.05)  # the writer is now inside the first commit, holding everything else back
        bulk = [
            asyncio.ensure_future(writer.submit(job(f"bulk-{i}"), weight=1000, lane="bulk")) for i in range(3)
        ]
        await asyncio.sleep(0.01)
        live = [asyncio.ensure_future(writer.submit(job(f"live-{i}"))) for i in range(1, 4)]
        await asyncio.sleep(0.01)
        gate.set()
        assert await asyncio.gather(blocker, *live, *bulk) == [
            "live-0",
            "live-1",
            "live-2",
            "live-3",
            "bulk-0",
            "bulk-1",
            "bulk-2",
        ]
    finally:
        writer.stop()
    assert backend.commits == [
        ["live-0"],
        ["live-1", "live-2", "live-3"],  # every pending live job first, without bulk work in their commit
        ["bulk-0"],  # then the bulk jobs, one per commit
        ["bulk-1"],
        ["bulk-2"],
    ]


async def test_live_jobs_arriving_between_bulk_commits_go_first() -> None:
    backend = RecordingBackend()
    writer = GroupCommitWriter(backend)
    writer.start()
    try:
        gates = [threading.Event() for _ in range(3)]
        bulk = [
            asyncio.ensure_future(writer.submit(job(f"bulk-{i}", gates[i]), weight=1000, lane="bulk"))
            for i in range(3)
        ]
        await asyncio.sleep(0.05)  # bulk-0 is being written
        live = asyncio.ensure_future(writer.submit(job("live-1")))
        await asyncio.sleep(0.01)
        for g in gates:
            g.set()
        await asyncio.gather(live, *bulk)
    finally:
        writer.stop()
    assert backend.commits == [["bulk-0"], ["live-1"], ["bulk-1"], ["bulk-2"]]


async def test_an_idle_writer_wakes_for_a_bulk_job_and_stop_commits_the_rest() -> None:
    backend = RecordingBackend()
    writer = GroupCommitWriter(backend)
    writer.start()
    await asyncio.sleep(0.02)  # idle: blocked waiting for work
    assert await asyncio.wait_for(writer.submit(job("bulk-a"), lane="bulk"), 5) == "bulk-a"
    gate = threading.Event()
    first = asyncio.ensure_future(writer.submit(job("live", gate)))
    await asyncio.sleep(0.02)
    queued = [asyncio.ensure_future(writer.submit(job(f"bulk-{i}"), lane="bulk")) for i in range(2)]
    await asyncio.sleep(0.01)
    gate.set()
    await asyncio.get_running_loop().run_in_executor(None, writer.stop)
    assert await asyncio.gather(first, *queued) == ["live", "bulk-0", "bulk-1"]
    assert [name for c in backend.commits for name in c] == ["bulk-a", "live", "bulk-0", "bulk-1"]


async def test_the_lane_header_reaches_the_store(tmp_path: Path, session_signing_key: SigningKey) -> None:
    import httpx

    from tracktion.app import create_app
    from tracktion.domain.models import WriteRequest, WriteResult
    from tracktion.settings import Settings

    key = "tk_lane-test-key-0123456789"
    settings = Settings.load({"data_dir": tmp_path / "data", "bootstrap_api_key": key}, env={})
    app = create_app(settings, signing_key=session_signing_key)
    store = app.ctx.store
    lanes: list[str] = []
    original = store.write

    async def spy(request: WriteRequest) -> WriteResult:
        lanes.append(request.lane)
        return await original(request)

    store.write = spy  # type: ignore[method-assign]
    await app.startup()
    try:
        transport = httpx.ASGITransport(app=app)
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as http:
            token = (await http.post("/uauth/v2/auth/login/profile", json={"apiKey": key})).json()["token"]
            auth = {"Authorization": f"Bearer {token}"}
            item = {"action": "a.b", "label": "l", "client": {"customId": "c"}}
            r = await http.post("/v4/events/custom", json=item, headers=auth)
            assert r.status_code == 202
            r = await http.post(
                "/v4/events/batch?partial=true", json=[item], headers={**auth, "X-Tracktion-Lane": "bulk"}
            )
            assert r.status_code == 207
            r = await http.post("/v4/events/custom", json=item, headers={**auth, "X-Tracktion-Lane": "BULK"})
            assert r.status_code == 202
    finally:
        await app.shutdown()
    assert lanes == ["live", "bulk", "bulk"]
