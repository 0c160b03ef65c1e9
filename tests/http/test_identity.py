"""Contract §9.2–§9.4 (resolution, creation, attaching) and §3.6 `params.email`, end to end."""

from __future__ import annotations

import uuid
from typing import Any

from tests.support.api import Api
from tests.support.http import Keys, assert_error, entry, event, single

CUSTOM = "/v4/events/custom"
ANA_UUID = "ad33ed01-06f4-510e-9688-5157b52fbba4"


async def send(api: Api, client: dict[str, Any], **fields: Any) -> int:
    """Send an event, return the clientId it was stored on."""
    marker = str(uuid.uuid4())
    params = {**fields.pop("params", {}), "marker": marker}
    r = await api.post(CUSTOM, event(client=client, params=params, **fields))
    assert r.status_code == 202, r.text
    (ev,) = [e for e in await api.events() if e["params"]["marker"] == marker]
    client_id: int = ev["client"]["id"]
    return client_id


async def profile(api: Api, client_id: int) -> Any:
    return await api.app.ctx.store.profile(1, client_id)


async def test_creation_from_email_uses_uuid5_of_email(api: Api) -> None:
    cid = await send(api, {"email": "ana@example.org"})
    assert cid == 7000000001
    p = await profile(api, cid)
    assert (p.primary_uuid, p.email, p.custom_id) == (ANA_UUID, "ana@example.org", None)


async def test_creation_from_custom_id_uses_uuid5_of_custom_id(api: Api) -> None:
    cid = await send(api, {"customId": "Rex-Owner"})
    p = await profile(api, cid)
    assert p.primary_uuid == str(uuid.uuid5(uuid.NAMESPACE_URL, "Rex-Owner"))


async def test_creation_prefers_email_over_custom_id_for_the_uuid(api: Api) -> None:
    cid = await send(api, {"customId": "c", "email": "Ana@Example.org"})
    p = await profile(api, cid)
    assert p.primary_uuid == str(uuid.uuid5(uuid.NAMESPACE_URL, "Ana@Example.org"))  # e-mail as sent
    assert (p.custom_id, p.email) == ("c", "Ana@Example.org")


async def test_creation_with_uuid_keeps_it_lower_cased(api: Api) -> None:
    cid = await send(api, {"email": "b@example.org", "uuid": "0A6E0C0E-4B4B-4A53-9D0A-6A8C2B1F7A10"})
    assert (await profile(api, cid)).primary_uuid == "0a6e0c0e-4b4b-4a53-9d0a-6a8c2b1f7a10"


async def test_generated_uuid_already_owned_gets_a_v4(api: Api) -> None:
    first = await send(api, {"uuid": ANA_UUID})
    second = await send(api, {"email": "ana@example.org"})
    assert second != first
    p = await profile(api, second)
    assert p.primary_uuid != ANA_UUID
    assert uuid.UUID(p.primary_uuid).version == 4


async def test_client_ids_are_new_and_increasing(api: Api) -> None:
    ids = [await send(api, {"customId": f"c{i}"}) for i in range(3)]
    assert ids == sorted(set(ids))


async def test_priority_id_over_custom_id_over_email_over_uuid(api: Api) -> None:
    u = "5d0a3e1c-0c4e-4d1a-9a53-1b2c3d4e5f60"
    by_id = await send(api, {"customId": "for-id"})
    by_custom = await send(api, {"customId": "c"})
    by_email = await send(api, {"email": "e@example.org"})
    by_uuid = await send(api, {"uuid": u})
    everything = {"customId": "c", "email": "e@example.org", "uuid": u}
    assert await send(api, {"id": by_id, **everything}) == by_id
    assert await send(api, everything) == by_custom
    assert await send(api, {"email": "e@example.org", "uuid": u}) == by_email
    assert await send(api, {"uuid": u}) == by_uuid
    # Identifiers owned by other profiles stayed where they were.
    assert (await profile(api, by_id)).custom_id == "for-id"
    assert (await profile(api, by_custom)).email is None
    assert await api.app.ctx.store.find_client_ids(1, uuid=u) == (by_uuid,)
    assert await api.app.ctx.store.find_client_ids(1, email="e@example.org") == (by_email,)


async def test_unowned_identifiers_are_attached(api: Api) -> None:
    cid = await send(api, {"customId": "a"})
    u = "6e1b4f2d-1d5f-4e2b-8b64-2c3d4e5f6071"
    assert await send(api, {"customId": "a", "email": "new@example.org", "uuid": u}) == cid
    p = await profile(api, cid)
    assert p.email == "new@example.org"
    assert await api.app.ctx.store.find_client_ids(1, uuid=u) == (cid,)
    assert await send(api, {"uuid": u}) == cid
    assert await send(api, {"email": "NEW@example.org"}) == cid
    # The attached uuid is the uuid param of the events that sent it; the primary one stays primary.
    primary = str(uuid.uuid5(uuid.NAMESPACE_URL, "a"))
    assert p.primary_uuid == primary
    newest_first = [e["params"]["uuid"] for e in await api.events(clientId=str(cid))]
    assert newest_first == [primary, u, u, primary]


async def test_custom_id_and_email_are_not_replaced(api: Api) -> None:
    cid = await send(api, {"customId": "a", "email": "a@example.org"})
    assert await send(api, {"customId": "a", "email": "other@example.org"}) == cid
    assert await send(api, {"email": "a@example.org", "customId": "other"}) == cid
    p = await profile(api, cid)
    assert (p.custom_id, p.email) == ("a", "a@example.org")
    # The refused identifiers stay unowned: a new profile gets them later.
    assert await api.app.ctx.store.find_client_ids(1, email="other@example.org") == ()
    assert await send(api, {"email": "other@example.org"}) != cid


async def test_email_is_case_insensitive_and_stored_as_first_sent(api: Api) -> None:
    cid = await send(api, {"email": "Ana@Example.ORG"})
    assert await send(api, {"email": "ana@example.org"}) == cid
    assert await send(api, {"email": "ANA@EXAMPLE.org"}) == cid
    for ev in await api.events():
        assert ev["client"]["email"] == "Ana@Example.ORG"
    assert len(await api.events(email="aNa@example.org")) == 3


async def test_custom_id_is_case_sensitive(api: Api) -> None:
    assert await send(api, {"customId": "Rex"}) != await send(api, {"customId": "rex"})


async def test_lone_unknown_client_id_is_202_and_quarantined(api: Api, keys: Keys) -> None:
    body = event(client={"id": 5092159999}, eventSalt="s", params={"apiKey": "k"})
    r = await api.post(CUSTOM, body, headers={"X-Request-Id": "rq-unknown"})
    assert r.status_code == 202
    assert r.content == b""
    assert await api.events() == []
    assert (await api.get("/-/api/definitions")).json() == []
    (record,) = await api.quarantine()
    key = await keys.bootstrap_key()
    assert record == {
        "id": record["id"],
        "receivedAt": record["receivedAt"],
        "requestId": "rq-unknown",
        "method": "POST",
        "endpoint": CUSTOM,
        "itemIndex": None,
        "reason": "unknown clientId",
        "status": 202,
        "errors": [entry(3001, "client.id", "Profile not found (unknown clientId)", "5092159999")],
        "credential": {"kind": "workspace", "keyId": key.id},
        "item": {**body, "eventSalt": "***", "params": {"apiKey": "***"}},
    }
    assert await api.app.ctx.store.find_client_ids(1, client_id=5092159999) == ()


async def test_known_client_id_alone_resolves(api: Api) -> None:
    cid = await send(api, {"customId": "k"})
    assert await send(api, {"id": cid}) == cid


async def test_unknown_id_next_to_other_identifiers_is_ignored(api: Api) -> None:
    cid = await send(api, {"id": 5092159999, "customId": "fresh"})
    assert cid != 5092159999
    assert (await profile(api, cid)).custom_id == "fresh"
    assert await send(api, {"id": 5092159999, "customId": "fresh"}) == cid
    assert await api.quarantine() == []


# -- params.email (§3.6) ---------------------------------------------------------------------------------------


async def test_params_email_mismatch_is_400_and_nothing_stored(api: Api) -> None:
    cid = await send(api, {"email": "ana@example.org"})
    r = await api.post(CUSTOM, event(client={"id": cid}, params={"email": "eve@example.org"}))
    assert_error(
        r, 400, entry(1010, "params.email", "Param email does not match profile email", "eve@example.org")
    )
    assert len(await api.events()) == 1
    record = (await api.quarantine())[0]
    assert (record["reason"], record["status"]) == ("validation failed", 400)
    assert record["errors"] == r.json()["errors"]


async def test_params_email_must_be_a_string_when_profile_has_one(api: Api) -> None:
    await send(api, {"email": "ana@example.org"})
    r = await api.post(CUSTOM, event(client={"email": "ana@example.org"}, params={"email": 5}))
    assert_error(r, 400, entry(1010, "params.email", "Param email does not match profile email", "5"))


async def test_params_email_matching_case_insensitively_is_stored_as_sent(api: Api) -> None:
    await send(api, {"email": "ana@example.org"})
    r = await api.post(
        CUSTOM, event(client={"email": "ana@example.org"}, params={"email": "ANA@example.org"})
    )
    assert r.status_code == 202
    assert (await api.events())[0]["params"]["email"] == "ANA@example.org"


async def test_params_email_on_new_profile_is_compared_with_client_email(api: Api) -> None:
    r = await api.post(
        CUSTOM, event(client={"email": "new@example.org"}, params={"email": "eve@example.org"})
    )
    assert r.status_code == 400
    # No profile was created either.
    assert await api.app.ctx.store.find_client_ids(1, email="new@example.org") == ()
    assert await api.app.ctx.store.find_client_ids(1, email="eve@example.org") == ()


async def test_params_email_mismatch_does_not_attach_identifiers(api: Api) -> None:
    cid = await send(api, {"email": "ana@example.org"})
    u = "7f2c5a3e-2e6a-4f3c-9c75-3d4e5f607182"
    r = await api.post(
        CUSTOM, event(client={"id": cid, "customId": "x", "uuid": u}, params={"email": "no@example.org"})
    )
    assert r.status_code == 400
    p = await profile(api, cid)
    assert p.custom_id is None
    assert await api.app.ctx.store.find_client_ids(1, uuid=u) == ()


async def test_params_email_without_profile_email_is_stored_and_profile_unchanged(api: Api) -> None:
    cid = await send(api, {"customId": "anon"}, params={"email": "free@example.org"})
    assert (await profile(api, cid)).email is None
    assert (await single(api))["params"]["email"] == "free@example.org"
    assert await api.app.ctx.store.find_client_ids(1, email="free@example.org") == ()


async def test_params_email_compared_with_email_attached_by_this_request(api: Api) -> None:
    cid = await send(api, {"customId": "c"})
    r = await api.post(
        CUSTOM, event(client={"customId": "c", "email": "c@example.org"}, params={"email": "d@example.org"})
    )
    assert r.status_code == 400
    assert (await profile(api, cid)).email is None
    assert (
        await send(api, {"customId": "c", "email": "c@example.org"}, params={"email": "C@example.org"}) == cid
    )


async def test_batch_items_see_what_earlier_items_created(api: Api) -> None:
    u = "8b4e7c5f-4f8c-4b5e-9e97-5f6071829304"
    items = [
        event(client={"customId": "new"}),
        event(client={"customId": "new", "uuid": u}),
        event(client={"uuid": u, "email": "n@example.org"}),
        event(client={"email": "N@example.org"}, params={"email": "n@EXAMPLE.org"}),
    ]
    r = await api.post("/v4/events/batch", items)
    assert r.status_code == 202, r.text
    events = await api.events()
    assert len(events) == 4
    assert len({e["client"]["id"] for e in events}) == 1
    assert {e["client"]["email"] for e in events} == {"n@example.org"}
