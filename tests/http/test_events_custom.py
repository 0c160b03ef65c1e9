"""Contract §3 through `POST /v4/events/custom`: the check order at HTTP level, each failure quarantined;
§3.5 time; §3.7 salted UUIDs and upserts."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.support.api import Api
from tests.support.http import T0, Clock, Keys, assert_error, entry, event, single, sqlite_bytes
from tracktion.domain.timefmt import format_ms

CUSTOM = "/v4/events/custom"

# (body, expected errors) — one row per §3.8 check, in its order.
CASES: list[tuple[Any, list[dict[str, Any]]]] = [
    ([], [entry(1001, "", "Request body must be a JSON object", "[]")]),
    ("text", [entry(1001, "", "Request body must be a JSON object", "text")]),
    (None, [entry(1001, "", "Request body must be a JSON object")]),
    (event(_drop=("client",)), [entry(1002, "client", "Client is required")]),
    (event(client=None), [entry(1002, "client", "Client is required")]),
    (event(client="c"), [entry(1004, "client", "Client must be an object", "c")]),
    (event(client={}), [entry(1003, "client", "At least one client identifier required", "{}")]),
    (
        event(client={"phone": "1"}),
        [entry(1003, "client", "At least one client identifier required", '{"phone":"1"}')],
    ),
    (event(client={"id": True}), [entry(1004, "client.id", "Client id must be a positive integer", "true")]),
    (event(client={"id": "5"}), [entry(1004, "client.id", "Client id must be a positive integer", "5")]),
    (event(client={"id": 5.0}), [entry(1004, "client.id", "Client id must be a positive integer", "5.0")]),
    (event(client={"id": 0}), [entry(1006, "client.id", "Client id must be a positive integer", "0")]),
    (event(client={"id": -3}), [entry(1006, "client.id", "Client id must be a positive integer", "-3")]),
    (event(client={"customId": 7}), [entry(1004, "client.customId", "Custom id must be a string", "7")]),
    (event(client={"customId": ""}), [entry(1003, "client.customId", "Custom id cannot be empty", "")]),
    (
        event(client={"customId": "a\nb"}),
        [entry(1008, "client.customId", "Custom id contains forbidden characters", "a\nb")],
    ),
    (
        event(client={"customId": "x\u2028"}),
        [entry(1008, "client.customId", "Custom id contains forbidden characters", "x\u2028")],
    ),
    (
        event(client={"customId": "smile\U0001f600"}),
        [entry(1008, "client.customId", "Custom id contains forbidden characters", "smile\U0001f600")],
    ),
    (
        event(client={"email": "not-an-email"}),
        [entry(1005, "client.email", "Email format invalid (not-an-email)", "not-an-email")],
    ),
    (event(client={"email": ""}), [entry(1003, "client.email", "Email cannot be empty", "")]),
    (
        event(client={"uuid": "1234"}),
        [entry(1005, "client.uuid", "UUID format invalid (1234)", "1234")],
    ),
    (event(client={"uuid": 1}), [entry(1004, "client.uuid", "UUID must be a string", "1")]),
    (event(_drop=("label",)), [entry(1002, "label", "Label is required")]),
    (event(label=""), [entry(1003, "label", "Label is required", "")]),
    (event(label=3), [entry(1004, "label", "Label is required", "3")]),
    (event(label=["a"]), [entry(1004, "label", "Label is required", '["a"]')]),
    (event(_drop=("action",)), [entry(1002, "action", "Action is required")]),
    (event(action=None), [entry(1002, "action", "Action is required")]),
    (event(action=""), [entry(1003, "action", "Action cannot be empty", "")]),
    (event(action=5), [entry(1004, "action", "Action must be a string", "5")]),
    (event(action="a" * 33), [entry(1009, "action", "Action is too long (max 32 characters)", "a" * 33)]),
    # rejectedValue is cut to 256 characters (§1.6).
    (event(action="b" * 300), [entry(1009, "action", "Action is too long (max 32 characters)", "b" * 256)]),
    (event(label=["x" * 300]), [entry(1004, "label", "Label is required", ('["' + "x" * 300)[:256])]),
    (
        event(action="door open"),
        [entry(1005, "action", "Action contains invalid characters (door open)", "door open")],
    ),
    (
        event(action="door/open"),
        [entry(1005, "action", "Action contains invalid characters (door/open)", "door/open")],
    ),
    (
        event(time="2024-02-30T10:00:00Z"),
        [entry(1005, "time", "Time is not a valid ISO8601 format", "2024-02-30T10:00:00Z")],
    ),
    (event(time="2024-03-05"), [entry(1005, "time", "Time is not a valid ISO8601 format", "2024-03-05")]),
    (event(time=1709633730), [entry(1005, "time", "Time is not a valid ISO8601 format", "1709633730")]),
    (
        event(time="1970-01-01T00:30:00+01:00"),
        [entry(1006, "time", "Time is out of range", "1970-01-01T00:30:00+01:00")],
    ),
    (event(eventSalt=""), [entry(1003, "eventSalt", "Event salt must be a non-empty string", "")]),
    (event(eventSalt=5), [entry(1004, "eventSalt", "Event salt must be a non-empty string", "5")]),
    (event(params=[]), [entry(1004, "params", "Params must be an object", "[]")]),
    (event(params="p"), [entry(1004, "params", "Params must be an object", "p")]),
    # Several fields at once: one entry per field, in the §3.8 order.
    (
        {
            "client": {"id": 0, "email": "x"},
            "label": "",
            "action": "",
            "time": "x",
            "eventSalt": 1,
            "params": 2,
        },
        [
            entry(1006, "client.id", "Client id must be a positive integer", "0"),
            entry(1005, "client.email", "Email format invalid (x)", "x"),
            entry(1003, "label", "Label is required", ""),
            entry(1003, "action", "Action cannot be empty", ""),
            entry(1005, "time", "Time is not a valid ISO8601 format", "x"),
            entry(1004, "eventSalt", "Event salt must be a non-empty string", "1"),
            entry(1004, "params", "Params must be an object", "2"),
        ],
    ),
]


@pytest.mark.parametrize(("body", "expected"), CASES)
async def test_check_order_row_rejects_and_quarantines(
    api: Api, keys: Keys, body: Any, expected: list[dict[str, Any]]
) -> None:
    r = await api.post(CUSTOM, content=json.dumps(body).encode(), headers={"X-Request-Id": "rq-7"})
    assert_error(r, 400, *expected, path=CUSTOM)
    assert await api.events() == []
    assert (await api.get("/-/api/definitions")).json() == []
    (record,) = await api.quarantine()
    key = await keys.bootstrap_key()
    expected_item = body
    if isinstance(body, dict) and "eventSalt" in body:
        expected_item = {**body, "eventSalt": "***"}
    assert record == {
        "id": record["id"],
        "receivedAt": record["receivedAt"],
        "requestId": "rq-7",
        "method": "POST",
        "endpoint": CUSTOM,
        "itemIndex": None,
        "reason": "validation failed",
        "status": 400,
        "errors": expected,
        "credential": {"kind": "workspace", "keyId": key.id},
        "item": expected_item,
    }


@pytest.mark.parametrize(
    "fields",
    [
        {"label": " "},
        {"action": "a" * 32},
        {"action": "A.b-c_9"},
        {"client": {"id": 2**63 - 1, "customId": "c"}},
        {"client": {"email": "ana@example.org"}},
        {"client": {"email": '"quoted name"@[192.168.0.1]'}},
        {"client": {"uuid": "AD33ED01-06F4-510E-9688-5157B52FBBA4"}},
        {"params": {}},
        {"eventSalt": "s"},
        {"time": "2024-03-05T10:15"},
    ],
)
async def test_valid_edges_are_accepted(api: Api, fields: dict[str, Any]) -> None:
    r = await api.post(CUSTOM, event(**fields))
    assert r.status_code == 202, r.text
    assert len(await api.events()) == 1
    assert await api.quarantine() == []


@pytest.mark.parametrize(
    ("sent", "stored"),
    [
        ("2024-03-05T11:15:30+01:00", "2024-03-05T10:15:30.000Z"),
        ("2023-11-30T20:00-08:00", "2023-12-01T04:00:00.000Z"),
        ("2024-03-05T06:15:30.2509-0400", "2024-03-05T10:15:30.250Z"),
        ("2024-03-05T10:15:30", "2024-03-05T10:15:30.000Z"),
        ("1970-01-01T00:00:00Z", "1970-01-01T00:00:00.000Z"),
    ],
)
async def test_time_examples(api: Api, sent: str, stored: str) -> None:
    r = await api.post(CUSTOM, event(time=sent))
    assert r.status_code == 202, r.text
    ev = await single(api)
    assert ev["time"] == stored
    assert format_ms(ev["params"]["time"]) == stored
    assert ev["params"]["snr-original-time"] == sent


async def test_future_time_becomes_receive_time(api: Api, clock: Clock) -> None:
    r = await api.post(CUSTOM, event(time="2999-01-01T00:00:00Z"))
    assert r.status_code == 202
    ev = await single(api)
    assert ev["time"] == format_ms(clock.now_ms)
    assert ev["params"]["time"] == clock.now_ms
    assert ev["params"]["snr-original-time"] == "2999-01-01T00:00:00Z"


async def test_time_equal_to_receive_time_is_kept(api: Api, clock: Clock) -> None:
    sent = format_ms(clock.now_ms)
    r = await api.post(CUSTOM, event(time=sent))
    assert r.status_code == 202
    assert (await single(api))["params"]["time"] == clock.now_ms


async def test_absent_time_is_receive_time_without_original(api: Api, clock: Clock) -> None:
    r = await api.post(CUSTOM, event())
    assert r.status_code == 202
    ev = await single(api)
    assert ev["params"]["time"] == clock.now_ms
    assert "snr-original-time" not in ev["params"]


# -- §3.7 salted UUIDs and upserts ---------------------------------------------------------------------------

VECTOR = "17044965-767f-5e64-9494-32f11a8d437e"
ANA = {"email": "ana@example.org"}


def door(**fields: Any) -> dict[str, Any]:
    return event(**{"client": ANA, "eventSalt": "door-0001", "time": "2024-03-05T10:15:30.250Z", **fields})


async def test_salted_uuid_vector(api: Api) -> None:
    r = await api.post(CUSTOM, door(params={"door": "front"}))
    assert r.status_code == 202
    ev = await single(api)
    assert ev["client"]["id"] == 7000000001
    assert ev["uuid"] == VECTOR
    assert ev["params"]["eventUUID"] == VECTOR
    assert ev["params"]["time"] == T0


async def test_unsalted_uuid_is_v7_and_new_every_time(api: Api) -> None:
    for _ in range(2):
        r = await api.post(CUSTOM, event(client=ANA, time="2024-03-05T10:15:30.250Z"))
        assert r.status_code == 202
    uuids = [e["uuid"] for e in await api.events()]
    assert len(set(uuids)) == 2
    assert all(u[14] == "7" for u in uuids)  # docs/api.md §3.7: v7 by arrival


async def test_upsert_replaces_label_params_and_system_params(api: Api, clock: Clock) -> None:
    r = await api.post(CUSTOM, door(label="first", params={"door": "front", "old": 1}))
    assert r.status_code == 202
    first = await single(api)
    first_def = (await api.get("/-/api/definitions/door.open")).json()
    clock.advance(5_000)
    new_uuid = "0a6e0c0e-4b4b-4a53-9d0a-6a8c2b1f7a10"
    body = door(label="second", params={"door": "back"})
    body["client"] = {**ANA, "uuid": new_uuid}  # an unowned uuid: attached, becomes params.uuid
    body["time"] = "2024-03-05T11:15:30.250+01:00"  # the same instant, written differently
    r = await api.post(CUSTOM, body)
    assert r.status_code == 202, r.text
    second = await single(api)
    assert second["uuid"] == first["uuid"] == VECTOR
    assert second["label"] == "second"
    assert second["seq"] > first["seq"]
    assert second["time"] == first["time"]
    assert second["action"] == first["action"]
    assert second["client"]["id"] == first["client"]["id"]
    p = second["params"]
    assert "old" not in p and p["door"] == "back"
    assert p["eventCreateTime"] == format_ms(clock.now_ms) != first["params"]["eventCreateTime"]
    assert p["uuid"] == new_uuid != first["params"]["uuid"]
    assert p["snr-original-time"] == "2024-03-05T11:15:30.250+01:00"
    assert p["time"] == T0 and p["eventUUID"] == VECTOR
    definition = (await api.get("/-/api/definitions/door.open")).json()
    assert definition["eventCount"] == 1
    assert definition["firstSeen"] == first_def["firstSeen"]
    assert definition["lastSeen"] == format_ms(clock.now_ms)


async def test_different_time_or_action_or_salt_is_a_new_event(api: Api) -> None:
    assert (await api.post(CUSTOM, door())).status_code == 202
    assert (await api.post(CUSTOM, door(time="2024-03-05T10:15:30.251Z"))).status_code == 202
    assert (await api.post(CUSTOM, door(action="door.close"))).status_code == 202
    assert (await api.post(CUSTOM, door(eventSalt="door-0002"))).status_code == 202
    assert (await api.post(CUSTOM, door())).status_code == 202  # the first again: an overwrite
    assert len({e["uuid"] for e in await api.events()}) == 4
    assert (await api.get("/-/api/definitions/door.open")).json()["eventCount"] == 3


async def test_same_salt_other_profile_is_another_event(api: Api) -> None:
    assert (await api.post(CUSTOM, door())).status_code == 202
    other = door()
    other["client"] = {"customId": "someone-else"}
    assert (await api.post(CUSTOM, other)).status_code == 202
    assert len(await api.events()) == 2


async def test_salted_future_time_is_new_on_every_send(api: Api, clock: Clock) -> None:
    for _ in range(2):
        r = await api.post(CUSTOM, door(time="2999-01-01T00:00:00Z"))
        assert r.status_code == 202
        clock.advance(1)
    assert len(await api.events()) == 2


async def test_salt_is_never_returned(api: Api) -> None:
    salt = "s3cret-salt-value"
    assert (await api.post(CUSTOM, door(eventSalt=salt, params={"p": 1}))).status_code == 202
    bad = door(eventSalt=salt, label="")
    assert (await api.post(CUSTOM, bad)).status_code == 400
    ev = await single(api)
    texts = []
    for path in (
        "/-/api/events",
        f"/-/api/events/{ev['uuid']}",
        f"/v4/events/by-client/{ev['client']['id']}",
        "/-/api/definitions",
        "/-/api/definitions/door.open",
        "/-/api/quarantine",
    ):
        r = await api.get(path)
        assert r.status_code == 200
        texts.append(r.text)
    assert all(salt not in t for t in texts)
    (record,) = await api.quarantine()
    assert record["item"]["eventSalt"] == "***"


async def test_salt_is_not_stored_with_the_event(api: Api) -> None:
    salt = "unguessable-salt-123"
    assert (await api.post(CUSTOM, door(eventSalt=salt))).status_code == 202
    assert salt.encode() not in sqlite_bytes(api)
