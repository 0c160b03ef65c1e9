"""Contract §7: the stored event and every system param; caller values for server-owned params; §3.6 apiKey."""

from __future__ import annotations

from typing import Any

from tests.support.api import Api
from tests.support.http import PEER, T0, UUID_RE, Clock, Keys, event, single, sqlite_bytes
from tracktion.domain.timefmt import format_ms

CUSTOM = "/v4/events/custom"
SYSTEM = {
    "eventUUID",
    "time",
    "eventCreateTime",
    "clientId",
    "uuid",
    "businessProfileId",
    "ip",
    "modifiedBy",
}


async def test_every_system_param(api: Api, keys: Keys, clock: Clock) -> None:
    body = event(
        client={"email": "ana@example.org"}, time="2024-03-05T11:15:30.250+01:00", params={"door": "front"}
    )
    assert (await api.post(CUSTOM, body)).status_code == 202
    ev = await single(api)
    key = await keys.bootstrap_key()
    assert ev["params"] == {
        "door": "front",
        "eventUUID": ev["uuid"],
        "time": T0,
        "eventCreateTime": format_ms(clock.now_ms),
        "clientId": 7000000001,
        "uuid": "ad33ed01-06f4-510e-9688-5157b52fbba4",
        "businessProfileId": 1,
        "ip": PEER,
        "modifiedBy": {
            "businessProfileApiKey": key.id,
            "clientApiKey": None,
            "clientId": None,
            "userId": None,
        },
        "snr-original-time": "2024-03-05T11:15:30.250+01:00",
    }
    assert type(ev["params"]["time"]) is int
    assert UUID_RE.match(ev["uuid"])


async def test_extended_item_shape(api: Api) -> None:
    assert (await api.post(CUSTOM, event(client={"customId": "c-9"}))).status_code == 202
    ev = await single(api)
    assert list(ev) == [
        "uuid",
        "time",
        "action",
        "label",
        "client",
        "params",
        "endpoint",
        "kind",
        "seq",
        "receivedAt",
    ]
    assert ev["receivedAt"] == ev["params"]["eventCreateTime"]
    assert ev["action"] == "door.open"
    assert ev["label"] == "Front door opened"
    assert ev["endpoint"] == CUSTOM
    assert ev["kind"] == "custom"
    assert type(ev["seq"]) is int
    assert ev["client"] == {
        "id": ev["params"]["clientId"],
        "uuid": ev["params"]["uuid"],
        "customId": "c-9",
        "email": None,
    }


async def test_caller_values_for_system_params_are_overwritten_or_dropped(
    api: Api, keys: Keys, clock: Clock
) -> None:
    forged: dict[str, Any] = {
        "eventUUID": "forged",
        "time": 5,
        "eventCreateTime": "forged",
        "clientId": 1,
        "uuid": "forged",
        "businessProfileId": 99,
        "ip": "10.9.9.9",
        "modifiedBy": {"userId": 5},
        "snr-original-time": "forged",
        "apiKey": "caller-secret-key",
        "kept": True,
    }
    assert (await api.post(CUSTOM, event(params=forged))).status_code == 202
    ev = await single(api)
    p = ev["params"]
    key = await keys.bootstrap_key()
    assert p["eventUUID"] == ev["uuid"]
    assert p["time"] == clock.now_ms
    assert p["eventCreateTime"] == format_ms(clock.now_ms)
    assert p["clientId"] == ev["client"]["id"]
    assert UUID_RE.match(p["uuid"])
    assert p["businessProfileId"] == 1
    assert p["ip"] == PEER
    assert p["modifiedBy"] == {
        "businessProfileApiKey": key.id,
        "clientApiKey": None,
        "clientId": None,
        "userId": None,
    }
    assert "snr-original-time" not in p  # no time sent: the caller's value is dropped, none injected
    assert "apiKey" not in p
    assert p["kept"] is True
    assert set(p) == SYSTEM | {"kept"}


async def test_api_key_param_is_never_stored(api: Api) -> None:
    secret = "tk_caller-put-this-in-params"
    assert (await api.post(CUSTOM, event(params={"apiKey": secret}))).status_code == 202
    assert "apiKey" not in (await single(api))["params"]
    definition = (await api.get("/-/api/definitions/door.open")).json()
    assert [p["name"] for p in definition["params"]] == []
    assert secret.encode() not in sqlite_bytes(api)


async def test_uuid_param_is_request_uuid_when_it_belongs_to_the_profile(api: Api) -> None:
    u1, u2 = "11111111-1111-4111-8111-111111111111", "22222222-2222-4222-8222-222222222222"
    assert (await api.post(CUSTOM, event(client={"customId": "p", "uuid": u1}))).status_code == 202
    assert (await api.post(CUSTOM, event(client={"customId": "p", "uuid": u2.upper()}))).status_code == 202
    assert (await api.post(CUSTOM, event(client={"customId": "p"}))).status_code == 202
    newest_first = [e["params"]["uuid"] for e in await api.events(customId="p")]
    assert newest_first == [u1, u2, u1]  # no uuid sent → the primary uuid
    assert [e["client"]["uuid"] for e in await api.events(customId="p")] == newest_first


async def test_uuid_param_is_primary_when_request_uuid_belongs_to_another(api: Api) -> None:
    other_uuid = "33333333-3333-4333-8333-333333333333"
    assert (await api.post(CUSTOM, event(client={"uuid": other_uuid}))).status_code == 202
    assert (
        await api.post(
            CUSTOM, event(client={"customId": "owner", "uuid": "44444444-4444-4444-8444-444444444444"})
        )
    ).status_code == 202
    assert (
        await api.post(CUSTOM, event(client={"customId": "owner", "uuid": other_uuid}))
    ).status_code == 202
    ev = (await api.events(customId="owner"))[0]
    assert ev["params"]["uuid"] == "44444444-4444-4444-8444-444444444444"


async def test_snr_original_time_only_when_time_sent(api: Api) -> None:
    assert (await api.post(CUSTOM, event(client={"customId": "a"}))).status_code == 202
    assert (
        await api.post(CUSTOM, event(client={"customId": "b"}, time="2024-03-05T10:15:30Z"))
    ).status_code == 202
    assert "snr-original-time" not in (await single(api, customId="a"))["params"]
    assert (await single(api, customId="b"))["params"]["snr-original-time"] == "2024-03-05T10:15:30Z"


async def test_params_are_stored_as_sent(api: Api) -> None:
    params = {
        "nested": {"a": [1, 2.5, "x", None, True, {"b": {}}]},
        "when": "2024-13-99 not a time",  # date-times inside params are not interpreted
        "unicode": "zażółć 🎉",
        "float": 1.0,
        "big": 2**53 + 1,
        "neg": -0.0,
    }
    assert (await api.post(CUSTOM, event(params=params))).status_code == 202
    stored = (await single(api))["params"]
    for k, v in params.items():
        assert stored[k] == v
        assert type(stored[k]) is type(v)
