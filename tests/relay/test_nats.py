"""`nats` destinations against the local nats-server with JetStream (127.0.0.1:4222)."""

from __future__ import annotations

import asyncio
import json
import socket
import uuid
from collections.abc import AsyncIterator

import nats
import pytest
from nats.js.api import StreamConfig

from tests.support.api import Api
from tests.support.relay import batch_of, create_destination, eventually, status

NATS_URL = "nats://127.0.0.1:4222"


def _nats_up() -> bool:
    try:
        socket.create_connection(("127.0.0.1", 4222), timeout=1).close()
    except OSError:
        return False
    return True


@pytest.fixture
async def stream() -> AsyncIterator[str]:
    if not _nats_up():
        pytest.skip("nats-server with JetStream is not running on 127.0.0.1:4222 (.ci/run starts it)")
    name = "T" + uuid.uuid4().hex[:10]
    nc = await nats.connect(NATS_URL)
    js = nc.jetstream()
    await js.add_stream(StreamConfig(name=name, subjects=[f"{name}.>"], duplicate_window=120))
    try:
        yield name
    finally:
        await js.delete_stream(name)
        await nc.close()


async def _messages(stream: str) -> list[tuple[str, dict[str, str], dict[str, object]]]:
    nc = await nats.connect(NATS_URL)
    try:
        js = nc.jetstream()
        info = await js.stream_info(stream)
        out = []
        for seq in range(info.state.first_seq, info.state.last_seq + 1):
            msg = await js.get_msg(stream, seq)
            out.append((msg.subject, dict(msg.headers or {}), json.loads(msg.data or b"{}")))
        return out
    finally:
        await nc.close()


async def test_each_event_is_published_once_in_order(rapi: Api, stream: str) -> None:
    d = await create_destination(
        rapi,
        name="bus",
        type="nats",
        config={"servers": [NATS_URL], "subject": f"{stream}.{{workspaceId}}.{{kind}}.{{action}}"},
        start="beginning",
    )
    assert (await rapi.post("/v4/events/batch", batch_of(40))).status_code == 202
    await eventually(lambda: _caught_up(rapi, d["id"]))
    stored = sorted(await rapi.events(limit=1000), key=lambda e: e["seq"])
    got = await _messages(stream)
    assert [m[2]["uuid"] for m in got] == [e["uuid"] for e in stored]
    assert got[0][0] == f"{stream}.1.custom.page_visit"
    assert got[0][1]["Nats-Msg-Id"] == f"{stored[0]['uuid']}:{stored[0]['seq']}"
    assert got[0][2] == stored[0]

    # A replay re-publishes the same message ids: JetStream's duplicate window drops them all.
    r = await rapi.post(f"/-/api/destinations/{d['id']}/replay", {})
    replay_id = r.json()["replayId"]

    async def done() -> bool:
        got = (await rapi.get(f"/-/api/destinations/{d['id']}/replays/{replay_id}")).json()
        return bool(got["state"] == "done")

    await eventually(done)
    assert len(await _messages(stream)) == 40


async def _caught_up(api: Api, dest_id: str) -> bool:
    s = await status(api, dest_id)
    return bool(s["lagEvents"] == 0 and s["delivered"] > 0)


async def test_no_stream_for_the_subject_backs_off_without_moving(rapi: Api, stream: str) -> None:
    d = await create_destination(
        rapi, name="bus", type="nats", config={"servers": [NATS_URL], "subject": "nowhere.{action}"}
    )
    assert (await rapi.post("/v4/events/batch", batch_of(3))).status_code == 202

    async def backing_off() -> bool:
        s = await status(rapi, d["id"])
        return s["state"] in ("backing-off", "failing") and s["lagEvents"] == 3

    await eventually(backing_off)
    # Fixed by pointing it at the stream: everything arrives.
    r = await rapi.client.patch(
        f"/-/api/destinations/{d['id']}",
        json={"config": {"servers": [NATS_URL], "subject": f"{stream}.x"}},
        headers=rapi.auth(),
    )
    assert r.status_code == 200, r.text
    await eventually(lambda: _caught_up(rapi, d["id"]))
    assert len(await _messages(stream)) == 3
    await asyncio.sleep(0)


async def test_an_erasure_is_published_on_the_erasure_subject(rapi: Api, stream: str) -> None:
    """§15.1: a message on the subject with `{kind}` = `erasure`, acknowledged by its PubAck, then forgotten."""
    d = await create_destination(
        rapi,
        name="bus",
        type="nats",
        config={"servers": [NATS_URL], "subject": f"{stream}.{{kind}}.{{action}}"},
    )
    item = {"action": "page.visit", "label": "l", "client": {"customId": "eve", "email": "eve@example.org"}}
    assert (await rapi.post("/v4/events/batch", [item])).status_code == 202
    await eventually(lambda: _caught_up(rapi, d["id"]))
    eve = (await rapi.get("/v4/clients/by-customid/eve")).json()
    r = await rapi.post("/-/api/erasures", {"clientId": eve["clientId"]})
    erasure_id = r.json()["id"]

    async def published() -> list[tuple[str, dict[str, str], dict[str, object]]]:
        return [m for m in await _messages(stream) if m[0].startswith(f"{stream}.erasure")]

    ((subject, headers, body),) = await eventually(published)
    assert subject == f"{stream}.erasure.erasure"
    assert headers["Nats-Msg-Id"] == f"erasure:{erasure_id}"
    assert body == {
        "type": "erasure",
        "erasureId": erasure_id,
        "identifiers": {
            "clientId": eve["clientId"],
            "customId": "eve",
            "email": "eve@example.org",
            "uuid": eve["uuid"],
            "uuids": eve["uuids"],
        },
    }
    store = rapi.app.ctx.store

    async def forgotten() -> bool:
        return not await store.erasure_notices(1, d["id"], 10)  # type: ignore[attr-defined]

    await eventually(forgotten)
