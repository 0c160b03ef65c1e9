"""Contract §2.1: no credential of one workspace can read or write another's data."""

from __future__ import annotations

from typing import Any

from tests.support.api import API_KEY, Api
from tests.support.http import Keys, assert_error, basic, bearer, entry, event

CUSTOM = "/v4/events/custom"


class Other:
    """Workspace 2 with its own key, driven through the same app."""

    def __init__(self, api: Api, workspace_id: int, guid: str, secret: str, token: str) -> None:
        self.api, self.workspace_id, self.guid, self.secret, self.token = (
            api,
            workspace_id,
            guid,
            secret,
            token,
        )

    async def get(self, path: str, **params: Any) -> Any:
        return await self.api.client.get(path, params=params, headers=bearer(self.token))

    async def post(self, path: str, body: Any) -> Any:
        return await self.api.client.post(path, json=body, headers=bearer(self.token))


async def second_workspace(api: Api, keys: Keys) -> Other:
    ws = await api.app.ctx.store.create_workspace("second", 0)
    assert ws.id == 2
    _, secret = await keys.create(None, workspace_id=ws.id)
    return Other(api, ws.id, ws.guid, secret, await keys.login(secret))


async def seed_workspace_one(api: Api) -> dict[str, Any]:
    body = event(
        client={"customId": "shared-id", "email": "same@example.org"},
        eventSalt="s",
        time="2024-03-05T10:00:00Z",
    )
    assert (await api.post(CUSTOM, body)).status_code == 202
    assert (await api.post(CUSTOM, event(label=""))).status_code == 400
    (ev,) = await api.events()
    (record,) = await api.quarantine()
    return {"event": ev, "record": record}


async def test_reads_see_only_own_workspace(api: Api, keys: Keys) -> None:
    seeded = await seed_workspace_one(api)
    other = await second_workspace(api, keys)
    ev, record = seeded["event"], seeded["record"]
    assert (await other.get("/-/api/events")).json() == {"items": [], "nextCursor": None}
    assert (await other.get("/-/api/events", customId="shared-id")).json()["items"] == []
    assert (await other.get("/-/api/events", clientId=str(ev["client"]["id"]))).json()["items"] == []
    r = await other.get(f"/-/api/events/{ev['uuid']}")
    assert_error(r, 404, entry(3001, "uuid", "Event not found", ev["uuid"]))
    r = await other.get(f"/v4/events/by-client/{ev['client']['id']}")
    assert_error(r, 404, entry(3001, "clientId", "Profile not found", str(ev["client"]["id"])))
    assert (await other.get("/-/api/quarantine")).json() == {"items": [], "nextCursor": None}
    r = await other.get(f"/-/api/quarantine/{record['id']}")
    assert r.status_code == 404
    r = await api.client.delete(f"/-/api/quarantine/{record['id']}", headers=bearer(other.token))
    assert r.status_code == 404
    assert len(await api.quarantine()) == 1  # still there
    assert (await other.get("/-/api/definitions")).json() == []
    assert (await other.get("/-/api/definitions/door.open")).status_code == 404


async def test_foreign_client_id_is_unknown_when_writing(api: Api, keys: Keys) -> None:
    seeded = await seed_workspace_one(api)
    other = await second_workspace(api, keys)
    cid = seeded["event"]["client"]["id"]
    r = await other.post(CUSTOM, event(client={"id": cid}))
    assert r.status_code == 202
    (record,) = (await other.get("/-/api/quarantine")).json()["items"]
    assert record["reason"] == "unknown clientId"
    assert (await other.get("/-/api/events")).json()["items"] == []
    assert len(await api.events()) == 1  # workspace 1 untouched


async def test_same_identifiers_make_separate_profiles_and_events(api: Api, keys: Keys) -> None:
    seeded = await seed_workspace_one(api)
    other = await second_workspace(api, keys)
    body = event(
        client={"customId": "shared-id", "email": "same@example.org"},
        eventSalt="s",
        time="2024-03-05T10:00:00Z",
    )
    assert (await other.post(CUSTOM, body)).status_code == 202
    (theirs,) = (await other.get("/-/api/events")).json()["items"]
    mine = seeded["event"]
    assert theirs["client"]["id"] != mine["client"]["id"]
    assert theirs["uuid"] != mine["uuid"]  # the workspace is part of the salted UUID
    assert theirs["params"]["businessProfileId"] == 2
    # The uuid5-of-email is the same value in both workspaces: uuids are unique per workspace only.
    assert theirs["client"]["uuid"] == mine["client"]["uuid"]
    assert (await api.get(f"/-/api/events/{mine['uuid']}")).json()["label"] == mine["label"]
    assert len(await api.events()) == 1
    d = (await api.get("/-/api/definitions/door.open")).json()
    assert d["eventCount"] == 1


async def test_keys_are_bound_to_their_workspace(api: Api, keys: Keys) -> None:
    other = await second_workspace(api, keys)
    assert (await api.client.get("/-/api/events", headers=basic("2", other.secret))).status_code == 200
    assert (await api.client.get("/-/api/events", headers=basic(other.guid, other.secret))).status_code == 200
    for header in (basic("1", other.secret), basic("2", API_KEY)):
        assert_error(
            await api.client.get("/-/api/events", headers=header),
            401,
            entry(2001, "Authorization", "Invalid or missing credentials"),
        )
