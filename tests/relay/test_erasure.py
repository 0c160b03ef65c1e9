"""Erasures and the relay (docs/api.md §15.1, §14.3), on both backends: destinations are told (a signed
webhook notice), durably (a notice survives a restart and is retried until acknowledged, then its
identifiers are gone), the profile's relay failures are deleted and counted, and a failure delivered again
by the live loop leaves the list."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import httpx

from tests.support.api import Api
from tests.support.relay import SECRET, WebhookReceiver, create_destination, eventually, status
from tracktion.app import create_app
from tracktion.auth.jwt import SigningKey
from tracktion.domain.relay import relay_store
from tracktion.settings import Settings

ANA = {"customId": "ana-1", "email": "Ana@Example.org"}
BOB = {"customId": "bob-2"}


def _event(client: dict[str, Any], n: int, **params: Any) -> dict[str, Any]:
    return {"action": "page.visit", "label": f"v{n}", "client": client, "params": {"n": n, **params}}


async def _send(api: Api, items: list[dict[str, Any]]) -> None:
    r = await api.post("/v4/events/batch", items)
    assert r.status_code == 202, r.text


async def _caught_up(api: Api, dest_id: str) -> dict[str, Any] | None:
    s = await status(api, dest_id)
    return s if s["lagEvents"] == 0 and s["cursor"] >= s["headSeq"] else None


async def _erasure_done(api: Api, erasure_id: str) -> dict[str, Any] | None:
    got: dict[str, Any] = (await api.get(f"/-/api/erasures/{erasure_id}")).json()
    return got if got["state"] == "done" else None


async def _notices(api: Api, dest_id: str) -> list[Any]:
    store = relay_store(api.app.ctx.store)
    return list(await store.erasure_notices(1, dest_id, 100))  # the bootstrap key's workspace


def _reject_bad(items: list[dict[str, Any]]) -> tuple[int, dict[str, str]]:
    return (422, {}) if any(i["params"].get("bad") for i in items) else (200, {})


async def test_webhook_is_told_and_the_profiles_failures_are_deleted_and_counted(
    rapi: Api, receiver: WebhookReceiver
) -> None:
    receiver.respond = _reject_bad
    d = await create_destination(
        rapi, name="hook", type="webhook", config={"url": receiver.url, "secret": SECRET, "batchSize": 4}
    )
    await _send(
        rapi,
        [_event(ANA, i, bad=i in (1, 4)) for i in range(6)]
        + [_event(BOB, 10 + i, bad=i == 0) for i in range(3)],
    )
    s = await eventually(lambda: _caught_up(rapi, d["id"]))
    assert s["failed"] == 3 and s["delivered"] == 6
    ana = (await rapi.get(f"/v4/clients/by-customid/{ANA['customId']}")).json()

    r = await rapi.post("/-/api/erasures", {"customId": ANA["customId"]})
    assert r.status_code == 202, r.text
    erasure_id = r.json()["id"]

    await eventually(lambda: receiver.erasures)
    (notice,) = receiver.erasures
    assert notice == {
        "type": "erasure",
        "erasureId": erasure_id,
        "identifiers": {
            "clientId": ana["clientId"],
            "customId": ANA["customId"],
            "email": ANA["email"],
            "uuid": ana["uuid"],
            "uuids": ana["uuids"],
        },
    }
    assert receiver.bad_signatures == 0
    receipt = await eventually(lambda: _erasure_done(rapi, erasure_id))
    assert receipt["deleted"] == {"events": 6, "quarantineRecords": 0, "relayFailures": 2}
    left = (await rapi.get(f"/-/api/destinations/{d['id']}/failures")).json()["items"]
    assert [f["eventUuid"] for f in left] == [
        e["uuid"] for e in await rapi.events(limit=100) if e["params"].get("bad")
    ]
    assert len(left) == 1  # Bob's
    # Acknowledged: the notice, the last copy of the identifiers in clear, is gone.
    await eventually(lambda: _no_notices(rapi, d["id"]))
    assert (await status(rapi, d["id"]))["lastError"] is None


async def _no_notices(api: Api, dest_id: str) -> bool:
    return not await _notices(api, dest_id)


@asynccontextmanager
async def _app(settings: Settings, key: SigningKey) -> AsyncIterator[Api]:
    app = create_app(settings, signing_key=key)
    await app.startup()
    transport = httpx.ASGITransport(app=app, client=("203.0.113.7", 51234))
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://tracktion.test") as client:
            api = Api(app, client)
            await api.login()
            yield api
    finally:
        await app.shutdown()


async def test_a_notice_is_retried_and_survives_a_restart(
    relay_settings: Settings, session_signing_key: SigningKey, receiver: WebhookReceiver
) -> None:
    answers: list[tuple[int, dict[str, str]]] = [(503, {}), (429, {"Retry-After": "0"})]
    receiver.respond_erasure = lambda payload: answers[0] if answers else (503, {})
    async with _app(relay_settings, session_signing_key) as api:
        d = await create_destination(
            api, name="hook", type="webhook", config={"url": receiver.url, "secret": SECRET}
        )
        await _send(api, [_event(ANA, 1)])
        await eventually(lambda: receiver.accepted)
        r = await api.post("/-/api/erasures", {"email": ANA["email"].upper()})
        erasure_id = r.json()["id"]
        await eventually(lambda: len(receiver.erasure_requests) >= 3)
        # Every retry carries the same webhook-id; the erasure is done, the notice still waits.
        assert len({x["id"] for x in receiver.erasure_requests}) == 1
        await eventually(lambda: _erasure_done(api, erasure_id))
        (pending,) = await _notices(api, d["id"])
        assert pending.erasure_id == erasure_id and pending.identifiers["customId"] == ANA["customId"]
        s = await status(api, d["id"])
        assert s["state"] in ("backing-off", "failing") and s["lastError"]["status"] == 503
    # Stopped before the target came back; restarted, the notice is sent and then forgotten.
    receiver.respond_erasure = lambda payload: (204, {})
    async with _app(relay_settings, session_signing_key) as api:
        await eventually(lambda: receiver.erasures)
        assert receiver.erasures[0]["erasureId"] == erasure_id
        assert receiver.erasures[0]["identifiers"]["email"] == ANA["email"]
        await eventually(lambda: _no_notices(api, d["id"]))
        assert len(receiver.erasures) == 1


async def test_a_refused_notice_is_dropped_and_shown(rapi: Api, receiver: WebhookReceiver) -> None:
    receiver.respond_erasure = lambda payload: (410, {})
    d = await create_destination(rapi, name="hook", type="webhook", config={"url": receiver.url})
    await _send(rapi, [_event(BOB, 1)])
    await eventually(lambda: receiver.accepted)
    r = await rapi.post("/-/api/erasures", {"customId": BOB["customId"], "suppress": False})
    erasure_id = r.json()["id"]
    await eventually(lambda: _no_notices(rapi, d["id"]))
    assert len(receiver.erasure_requests) == 1  # a permanent refusal is not retried
    s = await status(rapi, d["id"])
    assert s["lastError"]["status"] == 410 and erasure_id in s["lastError"]["message"]
    assert ANA["customId"] not in s["lastError"]["message"]


async def test_a_paused_or_deleted_destination_keeps_no_identifiers(
    rapi: Api, receiver: WebhookReceiver
) -> None:
    d = await create_destination(rapi, name="hook", type="webhook", config={"url": receiver.url})
    assert (await rapi.post(f"/-/api/destinations/{d['id']}/pause")).status_code == 200
    await _send(rapi, [_event(ANA, 1)])
    await rapi.post("/-/api/erasures", {"customId": ANA["customId"]})
    assert len(await _notices(rapi, d["id"])) == 1  # waits for the resume
    assert (
        await rapi.client.delete(f"/-/api/destinations/{d['id']}", headers=rapi.auth())
    ).status_code == 204
    assert await _notices(rapi, d["id"]) == []
    assert receiver.erasure_requests == []


async def test_a_failure_delivered_again_by_the_live_loop_leaves_the_list(
    rapi: Api, receiver: WebhookReceiver
) -> None:
    def respond(items: list[dict[str, Any]]) -> tuple[int, dict[str, str]]:
        return (422, {}) if any(i["label"] == "bad" for i in items) else (200, {})

    receiver.respond = respond
    d = await create_destination(rapi, name="hook", type="webhook", config={"url": receiver.url})
    salted: Callable[[str], dict[str, Any]] = lambda label: {  # noqa: E731
        "action": "door.open",
        "label": label,
        "client": BOB,
        "time": "2024-03-05T10:15:30.250Z",
        "eventSalt": "door-0001",
    }
    await _send(rapi, [salted("bad"), _event(BOB, 2)])
    s = await eventually(lambda: _caught_up(rapi, d["id"]))
    assert s["failed"] == 1
    (failure,) = (await rapi.get(f"/-/api/destinations/{d['id']}/failures")).json()["items"]
    # The sender fixes the event: the overwrite (same uuid, new seq, §3.7) is delivered by the live loop.
    await _send(rapi, [salted("good")])
    await eventually(lambda: any(i["label"] == "good" for i in receiver.accepted))
    assert receiver.accepted[-1]["uuid"] == failure["eventUuid"]
    await eventually(lambda: _caught_up(rapi, d["id"]))
    assert (await rapi.get(f"/-/api/destinations/{d['id']}/failures")).json()["items"] == []
