"""`/-/api/destinations` (docs/api.md §14.1, §14.3): validation with field paths, secrets, isolation, permissions."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from pathlib import Path

from tests.support.api import Api
from tests.support.http import assert_error, entry
from tests.support.relay import create_destination
from tracktion.app import create_app
from tracktion.bootstrap import create_key
from tracktion.domain.relay import Destination, relay_store
from tracktion.settings import Settings

HOOK = {"url": "http://127.0.0.1:9/hook", "secret": "s" * 24}


async def test_invalid_configs_answer_field_paths(rapi: Api) -> None:
    r = await rapi.post("/-/api/destinations", {"name": "x", "type": "kafka", "config": {}})
    assert_error(r, 400, entry(1005, "type", "type must be synerise, webhook or nats", "kafka"))
    for odd, shown in (({}, "{}"), (["webhook"], '["webhook"]')):  # unhashable: once a 500 (schemathesis)
        r = await rapi.post("/-/api/destinations", {"name": "x", "type": odd, "config": {}})
        assert_error(r, 400, entry(1005, "type", "type must be synerise, webhook or nats", shown))
    r = await rapi.post(
        "/-/api/destinations",
        {"name": "", "type": "webhook", "config": {"url": "ftp://x", "batchSize": 0, "secret": "short"}},
    )
    body = assert_error(
        r,
        400,
        entry(1003, "name", "name must not be empty", ""),
        entry(1005, "config.url", "url must be an http or https URL", "ftp://x"),
        entry(1006, "config.secret", "secret must be whsec_<base64> or ≥ 24 characters"),
        entry(1006, "config.batchSize", "batchSize must be between 1 and 1000", "0"),
    )
    assert "short" not in str(body)
    r = await rapi.post(
        "/-/api/destinations", {"name": "s", "type": "synerise", "config": {"baseUrl": "https://a"}}
    )
    assert_error(r, 400, entry(1002, "config.apiKey", "apiKey is required"))
    r = await rapi.post(
        "/-/api/destinations",
        {
            "name": "n",
            "type": "nats",
            "config": {"servers": ["nats://a:4222", "http://b"], "subject": "a.*"},
            "filter": {"kinds": ["x"]},
        },
    )
    assert_error(
        r,
        400,
        entry(1005, "config.servers[1]", "Expected a nats://host:port URL", "http://b"),
        entry(1005, "config.subject", "subject: wildcards and unknown placeholders are not allowed", "a.*"),
        entry(1007, "filter.kinds[0]", "kind must be custom, dedicated or transaction", "x"),
    )
    r = await rapi.post("/-/api/destinations", [1])
    assert r.status_code == 400 and r.json()["errors"][0]["code"] == 1001


async def test_secrets_are_write_only_and_patch_keeps_them(rapi: Api) -> None:
    d = await create_destination(rapi, name="hook", type="webhook", config=HOOK)
    assert d["config"] == {"url": HOOK["url"], "secret": "***", "batchSize": 100, "timeoutSeconds": 10}
    listed = (await rapi.get("/-/api/destinations")).json()
    assert listed == [d]
    r = await rapi.client.patch(
        f"/-/api/destinations/{d['id']}",
        json={"name": "renamed", "config": {**d["config"], "batchSize": 5}},
        headers=rapi.auth(),
    )
    assert r.status_code == 200, r.text
    assert r.json()["config"]["secret"] == "***" and r.json()["name"] == "renamed"
    stored = await rapi.app.ctx.store.destination(1, d["id"])  # type: ignore[attr-defined]
    assert stored.config["secret"] == HOOK["secret"] and stored.config["batchSize"] == 5
    r = await rapi.post("/-/api/destinations", {"name": "renamed", "type": "webhook", "config": HOOK})
    assert_error(r, 400, entry(1010, "name", "A destination with this name already exists", "renamed"))
    r = await rapi.client.patch(f"/-/api/destinations/{d['id']}", json={"type": "nats"}, headers=rapi.auth())
    assert r.status_code == 400 and r.json()["errors"][0]["field"] == "type"


async def test_other_workspaces_see_nothing_and_permissions_apply(rapi: Api) -> None:
    d = await create_destination(rapi, name="hook", type="webhook", config=HOOK)
    store = rapi.app.ctx.store
    other = await store.create_workspace("other", 0)
    _, secret = await create_key(store, other.id, "workspace", None, None)
    token = (await rapi.client.post("/uauth/v2/auth/login/profile", json={"apiKey": secret})).json()["token"]
    h = {"Authorization": f"Bearer {token}"}
    assert (await rapi.client.get("/-/api/destinations", headers=h)).json() == []
    for method, suffix in [
        ("GET", ""),
        ("GET", "/status"),
        ("GET", "/failures"),
        ("POST", "/pause"),
        ("DELETE", ""),
    ]:
        r = await rapi.client.request(method, f"/-/api/destinations/{d['id']}{suffix}", headers=h)
        assert r.status_code == 404, (method, suffix, r.text)
    _, reader = await create_key(store, 1, "workspace", None, ["API_DESTINATIONS_READ"])
    t2 = (await rapi.client.post("/uauth/v2/auth/login/profile", json={"apiKey": reader})).json()["token"]
    h2 = {"Authorization": f"Bearer {t2}"}
    assert (await rapi.client.get(f"/-/api/destinations/{d['id']}/status", headers=h2)).status_code == 200
    r = await rapi.client.post(f"/-/api/destinations/{d['id']}/pause", headers=h2)
    assert r.status_code == 403 and r.json()["errors"][0]["code"] == 2003
    r = await rapi.client.get(f"/-/api/destinations/{d['id']}/replays/nope", headers=rapi.auth())
    assert r.status_code == 404


async def test_relay_off_keeps_the_node_out(relay_settings: Settings, tmp_path: Path) -> None:
    app = create_app(replace(relay_settings, relay="off", data_dir=tmp_path / "off"))
    await app.startup()
    try:
        relay = app.ctx.relay
        assert relay is not None and relay.enabled is False
        store = relay_store(app.ctx.store)
        d = Destination(
            1,
            "d1",
            "hook",
            "webhook",
            {"url": HOOK["url"], "batchSize": 1, "timeoutSeconds": 1},
            {},
            False,
            0,
        )
        assert await store.create_destination(d)
        relay.poke()
        await asyncio.sleep(0.3)
        assert relay.delivering() == []
        assert (await store.destination(1, "d1")).lease_owner is None  # type: ignore[union-attr]
    finally:
        await app.shutdown()
