"""Workspace isolation on every read and write path (docs/api.md §2.1, issue 5).

A credential of workspace A naming a clientId, event UUID, profile identifier, definition, API key or quarantine
record of workspace B must behave exactly as if it did not exist: each case sends the request twice, once with
B's value and once with a value that exists nowhere, and compares status and body (the value itself and the
timestamp blanked out). Each case also checks that A *can* see its own value, so a test would fail if the
workspace filter were dropped, and that B's data is untouched. Keys are bound to their workspace, and the same
identifiers sent to two workspaces make two profiles and two events.
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from tests.support.api import API_KEY, Api
from tests.support.http import assert_error, basic, bearer, entry, event
from tests.support.security import (
    CLIENT_REFRESH,
    Workspace,
    anonymous_login,
    parts,
    profile_secret,
    sse,
)

UUID_A = "0b7e1f5a-3c4d-4e5f-8a9b-0c1d2e3f4a5b"
UUID_B = "1c8f2a6b-4d5e-4f60-9bac-1d2e3f4a5b6c"
MISSING_CLIENT_ID = "7000999999"
# Blanks a value in a JSON text: digits only, so it stays valid JSON in and out of strings.
PLACEHOLDER = "4242424242"
MISSING = {
    "cid": MISSING_CLIENT_ID,
    "event": "6d3f9a4e-2f57-4c8e-9a51-0c1b7e1d2f33",
    "record": "5b1d9c44-8a0e-4c1f-b2aa-7e3d2c1b0a99",
    "customId": "nobody-cust",
    "email": "nobody@example.org",
    "uuid": "2d9a3b7c-5e6f-4a71-8cbd-2e3f4a5b6c7d",
    "action": "never.seen",
}


@dataclass
class World:
    a: Api  # workspace 1, the bootstrap key's token (all permissions)
    b: Workspace
    foreign: dict[str, str]  # B's values
    own: dict[str, str]  # A's values (same kinds)


async def seed(post: Any, get: Any, prefix: str, uuid: str) -> dict[str, str]:
    body = {
        "action": f"{prefix}.only",
        "label": "L",
        "client": {"customId": f"{prefix}-cust", "email": f"{prefix}@example.org", "uuid": uuid},
        "eventSalt": "s",
        "time": "2024-03-05T10:00:00Z",
    }
    r = await post("/v4/events/custom", body)
    assert r.status_code == 202, r.text
    r = await post("/v4/events/custom", {**body, "label": ""})
    assert r.status_code == 400
    (ev,) = (await get("/-/api/events")).json()["items"]
    (record,) = (await get("/-/api/quarantine")).json()["items"]
    return {
        "cid": str(ev["client"]["id"]),
        "event": ev["uuid"],
        "record": record["id"],
        "customId": f"{prefix}-cust",
        "email": f"{prefix}@example.org",
        "uuid": uuid,
        "action": f"{prefix}.only",
    }


@pytest.fixture
async def world(api: Api) -> World:
    b = await Workspace.create(api)
    foreign = await seed(b.post, b.get, "b", UUID_B)
    own = await seed(api.post, api.get, "a", UUID_A)
    return World(api, b, foreign, own)


def shape(r: httpx.Response, value: str) -> tuple[int, str | None, Any]:
    """Status, content type and body with `value` blanked and the timestamp dropped."""
    text = r.text.replace(value, PLACEHOLDER) if value else r.text
    body = json.loads(text) if text else None
    if isinstance(body, dict):
        body.pop("timestamp", None)
    return r.status_code, r.headers.get("content-type"), body


async def snapshot_b(w: World) -> Any:
    b = w.b
    events = (await b.get("/-/api/events")).json()
    quarantine = (await b.get("/-/api/quarantine")).json()
    profile = (await b.get(f"/v4/clients/{w.foreign['cid']}")).json()
    definitions = (await b.get("/-/api/definitions")).json()
    return events, quarantine, profile, definitions


# -- reads ----------------------------------------------------------------------------------------------------

READS = [
    ("GET", "/v4/events/by-client/{cid}", {}),
    ("GET", "/v4/clients/{cid}", {}),
    ("GET", "/v4/clients/by-customid/{customId}", {}),
    ("GET", "/v4/clients/by-email/{email}", {}),
    ("GET", "/-/api/events/{event}", {}),
    ("GET", "/-/api/events", {"clientId": "{cid}"}),
    ("GET", "/-/api/events", {"uuid": "{uuid}"}),
    ("GET", "/-/api/events", {"customId": "{customId}"}),
    ("GET", "/-/api/events", {"email": "{email}"}),
    ("GET", "/-/api/events", {"action": "{action}"}),
    ("GET", "/-/api/definitions/{action}", {}),
    ("GET", "/-/api/definitions", {"prefix": "{action}"}),
    ("GET", "/-/api/quarantine/{record}", {}),
    ("DELETE", "/-/api/quarantine/{record}", {}),
]


@pytest.mark.parametrize(
    ("method", "template", "params"), READS, ids=[f"{m} {t} {sorted(p)}" for m, t, p in READS]
)
async def test_reads_treat_foreign_values_as_nonexistent(
    world: World, method: str, template: str, params: dict[str, str]
) -> None:
    w = world
    key = template.split("{")[1].split("}")[0] if "{" in template else next(iter(params.values()))[1:-1]

    async def call(values: dict[str, str]) -> httpx.Response:
        path = template.format(**values)
        query = {k: v.format(**values) for k, v in params.items()}
        return await w.a.client.request(method, path, params=query, headers=w.a.auth())

    before = await snapshot_b(w)
    foreign = await call(w.foreign)
    missing = await call(MISSING)
    assert shape(foreign, w.foreign[key]) == shape(missing, MISSING[key])
    # A's own value of the same kind is found: the request would reveal B's if the filter were gone.
    own = await call(w.own)
    assert own.status_code in (200, 204), own.text
    if own.status_code == 200 and method == "GET":
        found = own.json()
        assert found != [] and found != {"items": [], "nextCursor": None}, found
    assert await snapshot_b(w) == before


async def test_lists_never_show_another_workspace(world: World) -> None:
    w = world
    a_only = [
        ("/-/api/events", lambda body: [i["client"]["id"] for i in body["items"]], [int(w.own["cid"])]),
        ("/-/api/quarantine", lambda body: [i["id"] for i in body["items"]], [w.own["record"]]),
        ("/-/api/definitions", lambda body: [d["action"] for d in body], [w.own["action"]]),
    ]
    for path, pick, expected in a_only:
        r = await w.a.get(path)
        assert pick(r.json()) == expected, path
    assert [e["uuid"] for e in (await w.a.get("/-/api/events")).json()["items"]] == [w.own["event"]]


async def test_stream_never_carries_another_workspace(world: World) -> None:
    w = world
    headers = {**w.a.auth(), "Last-Event-ID": "0"}

    async def stream(query: str) -> bytes:
        return await sse(w.a, f"/-/api/stream?include=quarantine{query}", headers)

    everything = await stream("")
    assert w.own["event"].encode() in everything  # A's own replay works
    assert w.foreign["event"].encode() not in everything
    assert f'"id":{w.foreign["cid"]}'.encode() not in everything
    foreign = await stream(f"&clientId={w.foreign['cid']}")
    missing = await stream(f"&clientId={MISSING_CLIENT_ID}")
    assert foreign == missing == b"retry: 2000\n: connected\n\n"


async def test_live_stream_does_not_see_another_workspaces_writes(world: World) -> None:
    w = world
    connected = asyncio.Event()

    async def b_writes() -> None:
        await asyncio.wait_for(
            connected.wait(), 5
        )  # written after the stream's start: seen live, not replayed
        body = {"action": "b.live", "label": "L", "client": {"customId": "b-cust"}}
        assert (await w.b.post("/v4/events/custom", body)).status_code == 202
        assert (await w.b.post("/v4/events/custom", {**body, "label": ""})).status_code == 400
        body = {"action": "a.live", "label": "L", "client": {"customId": "a-cust"}}
        assert (await w.a.post("/v4/events/custom", body)).status_code == 202

    writer = asyncio.ensure_future(b_writes())
    seen = await sse(w.a, "/-/api/stream?include=quarantine", w.a.auth(), connected=connected, until=writer)
    await writer
    assert b"a.live" in seen
    assert b"b.live" not in seen and w.foreign["cid"].encode() not in seen


# -- writes ---------------------------------------------------------------------------------------------------


def record_shape(record: dict[str, Any], value: str) -> Any:
    out = json.loads(json.dumps(record).replace(value, PLACEHOLDER))
    for volatile in ("id", "receivedAt", "requestId"):
        out.pop(volatile)
    return out


WRITES = [
    ("/v4/events/custom", {}, lambda cid: {"action": "x", "label": "L", "client": {"id": cid}}),
    ("/v4/events/batch", {}, lambda cid: [{"action": "x", "label": "L", "client": {"id": cid}}]),
    (
        "/v4/events/batch",
        {"partial": "true"},
        lambda cid: [{"action": "x", "label": "L", "client": {"id": cid}}],
    ),
    ("/v4/events/logged-in", {}, lambda cid: {"label": "L", "client": {"id": cid}}),
    ("/v4/transactions", {}, lambda cid: {"client": {"id": cid}, "orderId": "o-1"}),
    ("/v4/transactions/batch", {"partial": "1"}, lambda cid: [{"client": {"id": cid}, "orderId": "o-1"}]),
    ("/v4/clients/batch", {}, lambda cid: [{"clientId": cid, "firstName": "Mallory"}]),
    ("/v4/clients/batch", {"partial": "true"}, lambda cid: [{"clientId": cid, "tags": ["owned"]}]),
]


@pytest.mark.parametrize(
    ("path", "query", "make"), WRITES, ids=[f"{p}{'?' + next(iter(q)) if q else ''}" for p, q, _ in WRITES]
)
async def test_writes_naming_a_foreign_client_id_treat_it_as_unknown(
    world: World, path: str, query: dict[str, str], make: Any
) -> None:
    w = world
    before = await snapshot_b(w)
    results = []
    for cid in (w.foreign["cid"], MISSING_CLIENT_ID):
        r = await w.a.client.post(path, json=make(int(cid)), params=query, headers=w.a.auth())
        assert r.status_code in (202, 207), r.text
        (record,) = (await w.a.get("/-/api/quarantine", params={"reason": "unknown clientId"})).json()[
            "items"
        ]
        assert (
            await w.a.client.delete(f"/-/api/quarantine/{record['id']}", headers=w.a.auth())
        ).status_code == 204
        results.append((shape(r, cid), record_shape(record, cid)))
    assert results[0] == results[1]
    assert results[0][1]["reason"] == "unknown clientId"
    assert await snapshot_b(w) == before
    # A's own clientId is found (and written to): the foreign one was refused for being foreign.
    r = await w.a.client.post(path, json=make(int(w.own["cid"])), params=query, headers=w.a.auth())
    assert r.status_code in (202, 207)
    assert (await w.a.get("/-/api/quarantine", params={"reason": "unknown clientId"})).json()["items"] == []


@pytest.mark.parametrize("identifier", ["customId", "email", "uuid"])
async def test_writes_naming_foreign_identifiers_create_a_profile_of_their_own(
    world: World, identifier: str
) -> None:
    w = world
    before = await snapshot_b(w)
    for value in (w.foreign[identifier], MISSING[identifier]):
        body = {"action": "x", "label": "L", "client": {identifier: value}}
        assert (await w.a.post("/v4/events/custom", body)).status_code == 202
        (ev,) = (await w.a.get("/-/api/events", params={identifier: value})).json()["items"]
        assert ev["client"]["id"] not in (int(w.foreign["cid"]), int(w.own["cid"]))  # a new profile of A's
    ai = {"clientUUID": w.foreign["uuid"], "correlationId": "c", "item": "i", "campaignId": "x"}
    assert (await w.a.post("/v4/events/ai-compat/recommendation.click", ai)).status_code == 202
    clients = await w.a.post("/v4/clients/batch", [{identifier: w.foreign[identifier], "city": "X"}])
    assert clients.status_code == 202
    assert await snapshot_b(w) == before


async def test_same_identifiers_make_separate_profiles_and_events(api: Api) -> None:
    """The same body (identifiers, salt, time) sent by two workspaces: two profiles, two events."""
    body = event(
        client={"customId": "shared-id", "email": "same@example.org"},
        eventSalt="s",
        time="2024-03-05T10:00:00Z",
    )
    assert (await api.post("/v4/events/custom", body)).status_code == 202
    (mine,) = await api.events()
    other = await Workspace.create(api)
    assert other.id == 2
    assert (await other.post("/v4/events/custom", body)).status_code == 202
    (theirs,) = (await other.get("/-/api/events")).json()["items"]
    assert theirs["client"]["id"] != mine["client"]["id"]
    assert theirs["uuid"] != mine["uuid"]  # the workspace is part of the salted UUID
    assert theirs["params"]["businessProfileId"] == 2
    # The uuid5-of-email is the same value in both workspaces: uuids are unique per workspace only.
    assert theirs["client"]["uuid"] == mine["client"]["uuid"]
    assert (await api.get(f"/-/api/events/{mine['uuid']}")).json()["label"] == mine["label"]
    assert len(await api.events()) == 1
    d = (await api.get("/-/api/definitions/door.open")).json()
    assert d["eventCount"] == 1


async def test_salted_event_of_the_same_shape_does_not_overwrite_another_workspaces(world: World) -> None:
    w = world
    before = await snapshot_b(w)
    body = {
        "action": "b.only",
        "label": "overwritten?",
        "client": {"customId": "b-cust"},
        "eventSalt": "s",
        "time": "2024-03-05T10:00:00Z",
    }
    assert (await w.a.post("/v4/events/custom", body)).status_code == 202
    assert await snapshot_b(w) == before


async def test_profile_token_naming_foreign_values(world: World) -> None:
    """A profile token of A: B's clientId is another profile (2004) exactly like an unknown one; B's customId,
    e-mail and uuid are unowned in A, so they are attached to the token's profile like fresh values."""
    w = world
    token = await anonymous_login(w.a, await profile_secret(w.a), "3e0b4c8d-6f70-4b82-9dce-3f4a5b6c7d8e")
    before = await snapshot_b(w)
    results = []
    for cid in (w.foreign["cid"], MISSING_CLIENT_ID):
        body = {"action": "x", "label": "L", "client": {"id": int(cid)}}
        r = await w.a.client.post("/v4/events/custom", json=body, headers=bearer(token))
        (record,) = (await w.a.get("/-/api/quarantine", params={"reason": "profile mismatch"})).json()[
            "items"
        ]
        await w.a.client.delete(f"/-/api/quarantine/{record['id']}", headers=w.a.auth())
        results.append((shape(r, cid), record_shape(record, cid)))
    assert results[0] == results[1]
    assert results[0][0][0] == 403
    # B's identifiers on one fresh profile, never-seen ones on another: both end up the same way.
    for n, values in enumerate((w.foreign, MISSING)):
        mine = await anonymous_login(
            w.a, await profile_secret(w.a), f"3e0b4c8d-6f70-4b82-9dce-3f4a5b6c7d8{n}"
        )
        for identifier in ("customId", "email", "uuid"):
            body = {"action": "x", "label": "L", "client": {identifier: values[identifier]}}
            r = await w.a.client.post("/v4/events/custom", json=body, headers=bearer(mine))
            assert r.status_code == 202, r.text
        own_id = parts(mine)[1]["clientId"]
        assert len((await w.a.client.get("/v4/events", headers=bearer(mine))).json()) == 3
        profile = (await w.a.get(f"/v4/clients/{own_id}")).json()
        assert (profile["customId"], profile["email"]) == (values["customId"], values["email"])
        assert values["uuid"] in profile["uuids"]
    assert await snapshot_b(w) == before


async def test_foreign_keys_are_unknown_keys(world: World) -> None:
    w = world
    token = await anonymous_login(w.a, await profile_secret(w.a), UUID_A)
    results = []
    for secret in (w.b.profile_secret, "tk_" + "x" * 43):
        r = await w.a.client.post(CLIENT_REFRESH, json={"apiKey": secret}, headers=bearer(token))
        results.append(shape(r, secret))
    assert results[0] == results[1]
    assert results[0][0] == 401
    # B's key works with B's id and with B's guid: what is refused below is the pairing, not the key.
    for workspace in (str(w.b.id), w.b.guid):
        r = await w.a.client.get("/-/api/events", headers=basic(workspace, w.b.secret))
        assert r.status_code == 200, r.text
    # Basic with workspace A's id and B's key, B's id and A's key (or B's guid and an unknown key) is an
    # unknown credential.
    shapes = []
    for header in (
        basic("1", w.b.secret),
        basic(str(w.b.id), API_KEY),
        basic(w.b.guid, "tk_bootstrap-of-nobody"),
        basic("1", "tk_nobody"),
    ):
        r = await w.a.client.get("/-/api/events", headers=header)
        assert_error(r, 401, entry(2001, "Authorization", "Invalid or missing credentials"))
        shapes.append(shape(r, ""))  # nothing echoed
    assert shapes[0] == shapes[1] == shapes[2] == shapes[3]
    assert shapes[0][0] == 401
    # B's workspace token cannot be made to act for A: the token names its own workspace.
    r = await w.a.client.get(f"/-/api/events/{w.own['event']}", headers=w.b.headers())
    missing = await w.a.client.get(f"/-/api/events/{MISSING['event']}", headers=w.b.headers())
    assert shape(r, w.own["event"]) == shape(missing, MISSING["event"])
