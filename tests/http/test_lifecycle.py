"""Data lifecycle over HTTP (docs/api.md §15, §9.7), on both backends: erasure visible at once on every read
path, the background deletion, suppression, retention with an injected clock, and the refusals."""

from __future__ import annotations

import asyncio
import dataclasses
from typing import Any

import pytest

from tests.support.api import Api
from tests.support.http import (
    Clock,
    Keys,
    MakeApi,
    assert_error,
    bearer,
    client_for,
    entry,
    event,
    sqlite_bytes,
)
from tests.support.security import anonymous_login, profile_secret, sql
from tracktion.domain.ports import EventQuery
from tracktion.domain.timefmt import format_ms
from tracktion.tools.export import iter_events

ADMIN = "admin-token-for-lifecycle-tests"
UUID_A = "0a6e0c0e-4b4b-4a53-9d0a-6a8c2b1f7a10"
UUID_B = "6d3f9a4e-2f57-4c8e-9a51-0c1b7e1d2f33"
DAY = 86_400_000


async def _pause_worker(api: Api) -> None:
    """Stop the background deletion so a test sees the state between the erasure's commit and it."""
    assert api.app.ctx.lifecycle is not None
    await api.app.ctx.lifecycle.stop()


async def _finish(api: Api) -> None:
    assert api.app.ctx.lifecycle is not None
    await api.app.ctx.lifecycle.run_until_idle()


async def _client_id(api: Api, custom_id: str) -> int:
    r = await api.get(f"/v4/clients/by-customid/{custom_id}")
    assert r.status_code == 200, r.text
    cid: int = r.json()["clientId"]
    return cid


async def _erase(api: Api, body: dict[str, Any]) -> dict[str, Any]:
    r = await api.post("/-/api/erasures", body)
    assert r.status_code == 202, r.text
    out: dict[str, Any] = r.json()
    assert r.headers["location"] == f"/-/api/erasures/{out['id']}"
    return out


async def test_erasure_is_invisible_at_once_everywhere_then_deleted(api: Api) -> None:
    await _pause_worker(api)
    person = {"customId": "erase-me", "email": "Ana@Example.org", "uuid": UUID_A}
    for i in range(3):
        assert (await api.send_event(event(client=person, params={"n": i}))).status_code == 202
    assert (await api.send_event(event(client={"customId": "keep-me"}))).status_code == 202
    # A quarantined item that names the person (no label): deleted with them.
    assert (await api.send_event(event(("label",), client={"email": "ana@example.org"}))).status_code == 400
    assert (await api.send_event(event(("label",), client={"customId": "keep-me"}))).status_code == 400
    cid = await _client_id(api, "erase-me")
    token = await anonymous_login(api, await profile_secret(api), UUID_A)
    assert (await api.get("/v4/events", headers=bearer(token))).status_code == 200
    uuids = [e["uuid"] for e in await api.events(customId="erase-me")]
    assert len(uuids) == 3

    out = await _erase(api, {"email": "ANA@example.org"})
    assert out == {"id": out["id"], "state": "pending", "clientId": cid}

    # Every read path, before a single event row is deleted.
    assert (await api.get(f"/v4/events/by-client/{cid}")).status_code == 404
    assert (await api.get("/v4/events", headers=bearer(token))).status_code == 401
    for path in (
        f"/v4/clients/{cid}",
        "/v4/clients/by-customid/erase-me",
        "/v4/clients/by-email/ana@example.org",
    ):
        assert (await api.get(path)).status_code == 404, path
    assert await api.events(customId="erase-me") == []
    assert await api.events(uuid=UUID_A) == []
    assert [e["client"]["customId"] for e in await api.events()] == ["keep-me"]
    for u in uuids:
        assert (await api.get(f"/-/api/events/{u}")).status_code == 404
    store = api.app.ctx.store
    # The stream's source (PostgreSQL's stream trails the commits by its horizon, so ask until it is there).
    for _ in range(100):
        streamed = await store.events_since(1, 0, 1000)
        if streamed:
            break
        await asyncio.sleep(0.05)
    assert [s.custom_id for s in streamed] == ["keep-me"]
    exported = [e async for e in iter_events(store, EventQuery(1, limit=1000))]
    assert [e["client"]["customId"] for e in exported] == ["keep-me"]
    receipt = (await api.get(f"/-/api/erasures/{out['id']}")).json()
    assert receipt["state"] == "pending" and receipt["completedAt"] is None
    assert receipt["deleted"] == {"events": 0, "quarantineRecords": 0, "relayFailures": 0}

    await _finish(api)
    receipt = (await api.get(f"/-/api/erasures/{out['id']}")).json()
    assert receipt["state"] == "done" and receipt["completedAt"] is not None
    assert receipt["deleted"] == {"events": 3, "quarantineRecords": 1, "relayFailures": 0}
    listing = await api.get("/-/api/erasures")
    assert listing.json() == [receipt]
    assert "ana@" not in listing.text.lower() and "erase-me" not in listing.text
    quarantined = await api.quarantine()
    assert [q["item"]["client"] for q in quarantined] == [{"customId": "keep-me"}]
    # Erasing it again: it exists nowhere any more.
    r = await api.post("/-/api/erasures", {"customId": "erase-me"})
    assert_error(r, 404, entry(3001, "customId", "Profile not found", "erase-me"))


async def test_unknown_identifier_answers_the_same_whether_it_exists_elsewhere_or_nowhere(
    api: Api, keys: Keys, clock: Clock
) -> None:
    before = await api.post("/-/api/erasures", {"customId": "foreign"})
    other = await api.app.ctx.store.create_workspace("other", clock.now_ms)
    token = await keys.token(None, workspace_id=other.id)
    r = await api.post("/v4/events/custom", event(client={"customId": "foreign"}), headers=bearer(token))
    assert r.status_code == 202
    after = await api.post("/-/api/erasures", {"customId": "foreign"})
    assert_error(after, 404, entry(3001, "customId", "Profile not found", "foreign"))
    assert (before.status_code, before.content) == (after.status_code, after.content)
    # And the foreign profile is untouched.
    found = await api.get("/-/api/events", params={"customId": "foreign"}, headers=bearer(token))
    assert len(found.json()["items"]) == 1


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ([], entry(1001, "", "Request body must be a JSON object", "[]")),
        ({}, entry(1002, "", "One of clientId, customId, email, uuid is required")),
        (
            {"customId": None, "suppress": True},
            entry(1002, "", "One of clientId, customId, email, uuid is required"),
        ),
        (
            {"customId": "a", "email": "a@b.c"},
            entry(1010, "email", "Only one identifier may be given", "a@b.c"),
        ),
        ({"clientId": "7"}, entry(1004, "clientId", "clientId must be an integer", "7")),
        ({"clientId": 0}, entry(1006, "clientId", "clientId must be a positive 64-bit integer", "0")),
        ({"clientId": True}, entry(1004, "clientId", "clientId must be an integer", "true")),
        ({"email": 5}, entry(1004, "email", "email must be a string", "5")),
        ({"uuid": ""}, entry(1003, "uuid", "uuid must not be empty", "")),
        ({"customId": "x", "suppress": "no"}, entry(1004, "suppress", "suppress must be a boolean", "no")),
    ],
)
async def test_erasure_request_refusals(api: Api, body: Any, expected: dict[str, Any]) -> None:
    assert_error(await api.post("/-/api/erasures", body), 400, expected)


async def test_permission_and_unknown_ids(api: Api, keys: Keys) -> None:
    token = await keys.token(["API_EVENTS_READ", "API_CLIENT_READ"])
    for method, path in (
        ("POST", "/-/api/erasures"),
        ("GET", "/-/api/erasures"),
        ("GET", "/-/api/suppressions"),
        ("DELETE", "/v4/clients/7000000001"),
    ):
        r = await api.client.request(method, path, json={"customId": "x"}, headers=bearer(token))
        assert r.status_code == 403 and r.json()["errors"][0]["code"] == 2003, (method, path)
    assert (await api.get("/-/api/erasures/nope")).status_code == 404
    assert (await api.client.delete("/-/api/suppressions/nope", headers=api.auth())).status_code == 404
    r = await api.client.delete("/v4/clients/7000000099", headers=api.auth())
    assert_error(r, 404, entry(3001, "clientId", "Profile not found", "7000000099"))


async def test_delete_client_erases_without_suppression(api: Api) -> None:
    assert (await api.send_event(event(client={"customId": "gone"}))).status_code == 202
    cid = await _client_id(api, "gone")
    r = await api.client.delete(f"/v4/clients/{cid}", headers=api.auth())
    assert r.status_code == 202, r.text
    erasure_id = r.json()["erasureId"]
    assert r.headers["location"] == f"/-/api/erasures/{erasure_id}"
    assert (await api.get(f"/v4/clients/{cid}")).status_code == 404
    assert (await api.get("/-/api/suppressions")).json() == []
    # Not suppressed: the identifier may come back, as a new profile.
    assert (await api.send_event(event(client={"customId": "gone"}))).status_code == 202
    assert await _client_id(api, "gone") != cid
    assert len(await api.events(customId="gone")) == 1
    assert (await api.client.delete(f"/v4/clients/{cid}", headers=api.auth())).status_code == 404


async def test_suppression_drops_later_writes_until_lifted(api: Api) -> None:
    person = {"customId": "quiet", "email": "quiet@example.org", "uuid": UUID_B}
    assert (await api.send_event(event(client=person))).status_code == 202
    cid = await _client_id(api, "quiet")
    erasure = await _erase(api, {"uuid": UUID_B.upper()})
    await _finish(api)
    # Any one identifier is enough, whatever its case; the sender sees a plain 202.
    for client in ({"email": "QUIET@example.org"}, {"customId": "quiet", "uuid": UUID_A}, {"id": cid}):
        assert (await api.send_event(event(client=client))).status_code == 202
    r = await api.post("/v4/clients/batch", [{"customId": "quiet", "firstName": "Q"}, {"customId": "fine"}])
    assert r.status_code == 202, r.text
    r = await api.post("/v4/events/batch", [{**event(client={"customId": "quiet"}), "type": "custom"}])
    assert r.status_code == 202, r.text
    assert await api.events(customId="quiet") == [] and await api.events(uuid=UUID_A) == []
    assert (await api.get("/v4/clients/by-customid/fine")).status_code == 200
    records = await api.quarantine(reason="suppressed")
    assert len(records) == 5
    for q in records:
        assert q["status"] == 202 and "item" not in q and q["body"] is None
        assert "quiet" not in str(q).lower() and UUID_A not in str(q)
    metrics = (
        await client_for(api, ("127.0.0.1", 9100)).client.get("/-/metrics")
    ).text  # §13.1: a local scraper
    assert "tracktion_suppressed_total 5" in metrics
    (suppression,) = (await api.get("/-/api/suppressions")).json()
    assert suppression == {
        "id": suppression["id"],
        "createdAt": suppression["createdAt"],
        "erasureId": erasure["id"],
    }

    r = await api.client.delete(f"/-/api/suppressions/{suppression['id']}", headers=api.auth())
    assert r.status_code == 204
    assert (await api.get("/-/api/suppressions")).json() == []
    assert (await api.send_event(event(client={"customId": "quiet"}))).status_code == 202
    assert len(await api.events(customId="quiet")) == 1
    r = await api.client.delete(f"/-/api/suppressions/{suppression['id']}", headers=api.auth())
    assert r.status_code == 404


async def test_suppression_is_kept_as_digests_only(api: Api) -> None:
    assert (await api.send_event(event(client={"customId": "digest-only-7731"}))).status_code == 202
    await _erase(api, {"customId": "digest-only-7731"})
    await _finish(api)
    assert b"digest-only-7731" not in sqlite_bytes(api)


# -- retention (§15.2), with the app's clock injected ------------------------------------------------------
async def _admin_api(make_api: MakeApi, **overrides: Any) -> tuple[Api, Clock]:
    api = await make_api(admin_token=ADMIN, **overrides)
    clock = Clock(1_709_683_200_000)  # 2024-03-06T00:00:00Z
    api.app.ctx.clock_ms = clock
    return api, clock


async def _patch(api: Api, body: Any, workspace: str = "1") -> Any:
    return await api.client.patch(
        f"/-/admin/workspaces/{workspace}", json=body, headers={"Authorization": f"Bearer {ADMIN}"}
    )


async def test_retention_hides_old_events_at_once_then_deletes_them(make_api: MakeApi) -> None:
    api, clock = await _admin_api(make_api)
    await _pause_worker(api)
    times = {"old": clock.now_ms - 3 * DAY, "edge": clock.now_ms - 2 * DAY + 1000, "new": clock.now_ms - 1000}
    for name, t in times.items():
        r = await api.send_event(event(client={"customId": "c"}, action=f"a.{name}", time=format_ms(t)))
        assert r.status_code == 202, r.text
    cid = await _client_id(api, "c")
    old_uuid = (await api.events(action="a.old"))[0]["uuid"]

    r = await _patch(api, {"retentionDays": 2})
    assert r.status_code == 200, r.text
    assert r.json()["retentionDays"] == 2
    assert sorted(e["action"] for e in await api.events()) == ["a.edge", "a.new"]
    by_client = await api.get(f"/v4/events/by-client/{cid}")
    assert sorted(e["action"] for e in by_client.json()) == ["a.edge", "a.new"]
    assert (await api.get(f"/-/api/events/{old_uuid}")).status_code == 404
    # Time passes: the edge event expires too, without any write.
    clock.advance(2000)
    assert [e["action"] for e in await api.events()] == ["a.new"]

    await _finish(api)
    # Deleted for real: lifting the retention brings nothing back.
    assert (await _patch(api, {"retentionDays": None})).json()["retentionDays"] is None
    assert [e["action"] for e in await api.events()] == ["a.new"]
    listed = await api.client.get("/-/admin/workspaces", headers={"Authorization": f"Bearer {ADMIN}"})
    assert listed.json()[0]["retentionDays"] is None


@pytest.mark.parametrize(
    ("body", "code", "rejected"),
    [
        ({"retentionDays": 0}, 1006, "0"),
        ({"retentionDays": -3}, 1006, "-3"),
        ({"retentionDays": 1.5}, 1004, "1.5"),
        ({"retentionDays": 10**12}, 1006, str(10**12)),
        ({"retentionDays": "30"}, 1004, "30"),
        ({"retentionDays": True}, 1004, "true"),
    ],
)
async def test_retention_refusals(make_api: MakeApi, body: Any, code: int, rejected: str) -> None:
    api, _ = await _admin_api(make_api)
    r = await _patch(api, body)
    assert r.status_code == 400, r.text
    (error,) = r.json()["errors"]
    assert (error["code"], error["field"], error["rejectedValue"]) == (code, "retentionDays", rejected)


async def test_retention_patch_other_refusals(make_api: MakeApi) -> None:
    api, _ = await _admin_api(make_api)
    r = await _patch(api, {})
    assert_error(r, 400, entry(1002, "retentionDays", "retentionDays is required"))
    assert (await _patch(api, {"retentionDays": 5}, workspace="99")).status_code == 404
    r = await api.client.patch("/-/admin/workspaces/1", json={"retentionDays": 5})
    assert r.status_code == 401


async def test_quarantine_retention(make_api: MakeApi) -> None:
    api, clock = await _admin_api(make_api, quarantine_retention_days=2)
    await _pause_worker(api)
    assert (await api.send_event(event(("label",)))).status_code == 400
    clock.advance(DAY)
    assert (await api.send_event(event(("action",)))).status_code == 400
    assert len(await api.quarantine()) == 2
    clock.advance(DAY + 1)
    (left,) = await api.quarantine()
    assert (await api.get(f"/-/api/quarantine/{left['id']}")).status_code == 200
    await _finish(api)
    clock.now_ms -= 10 * DAY  # the older record is gone for real, not only hidden
    assert [q["id"] for q in await api.quarantine()] == [left["id"]]


async def test_quarantine_retention_zero_keeps_forever(make_api: MakeApi) -> None:
    api, clock = await _admin_api(make_api, quarantine_retention_days=0)
    assert (await api.send_event(event(("label",)))).status_code == 400
    clock.advance(10_000 * DAY)
    await _finish(api)
    assert len(await api.quarantine()) == 1


def test_settings_default() -> None:
    from tracktion.settings import Settings

    s = Settings.load(env={})
    assert s.quarantine_retention_days == 30
    assert Settings.load(env={"TRACKTION_QUARANTINE_RETENTION_DAYS": "0"}).quarantine_retention_days == 0
    assert dataclasses.replace(s, lifecycle_chunk_rows=7).lifecycle_chunk_rows == 7


# -- profile tokens and anonymous logins after an erasure (§15.1, §2.4) ------------------------------------
async def test_an_erasure_made_elsewhere_stops_profile_tokens_within_a_second(api: Api) -> None:
    """Another node, worker or `tracktion erase` erases the profile: this process never hears of it, and its
    cache of existing profiles forgets it after `PROFILE_CACHE_SECONDS`."""
    from tracktion.http.authn import PROFILE_CACHE_SECONDS

    now = [1000.0]
    api.app.ctx.authn.monotonic = lambda: now[0]
    token = await anonymous_login(api, await profile_secret(api), UUID_A)
    assert (await api.get("/v4/events", headers=bearer(token))).status_code == 200  # now cached
    # The store only, as another process would: no `forget_profile` here.
    erasure = await api.app.ctx.store.erase(
        1, "uuid", UUID_A, suppress=False, now_ms=api.app.ctx.clock_ms(), erasure_id="elsewhere-1"
    )
    assert erasure is not None
    now[0] += PROFILE_CACHE_SECONDS
    assert (await api.get("/v4/events", headers=bearer(token))).status_code == 401
    r = await api.post("/v4/events/custom", event(), headers=bearer(token))
    assert r.status_code == 401
    assert PROFILE_CACHE_SECONDS <= 1.0  # the promise of docs/api.md §15.1


async def test_anonymous_login_with_a_suppressed_uuid_creates_no_profile(api: Api) -> None:
    secret = await profile_secret(api)
    assert (
        await api.send_event(event(client={"customId": "gone-device", "uuid": UUID_B}))
    ).status_code == 202
    await _erase(api, {"uuid": UUID_B})
    profiles = sql(api, "SELECT count(*) FROM profiles")
    for uuid in (UUID_B, UUID_B.upper()):
        r = await api.client.post(
            "/sauth/v3/auth/login/client/anonymous", json={"apiKey": secret, "uuid": uuid}
        )
        assert_error(r, 401, entry(2001, "uuid", "Invalid or missing credentials"))
    assert sql(api, "SELECT count(*) FROM profiles") == profiles
    assert sql(api, "SELECT count(*) FROM profile_uuids WHERE uuid = ?", (UUID_B,)) == [(0,)]
    # Another uuid logs in as usual; lifting the suppression lets this one in again, as a new profile.
    await anonymous_login(api, secret, UUID_A)
    (suppression,) = (await api.get("/-/api/suppressions")).json()
    r = await api.client.delete(f"/-/api/suppressions/{suppression['id']}", headers=api.auth())
    assert r.status_code == 204
    token = await anonymous_login(api, secret, UUID_B)
    assert (await api.get("/v4/events", headers=bearer(token))).status_code == 200


async def test_anonymous_login_after_an_erasure_without_suppression_makes_a_new_profile(api: Api) -> None:
    secret = await profile_secret(api)
    old = await anonymous_login(api, secret, UUID_B)
    r = await api.get("/v4/events", headers=bearer(old))
    assert r.status_code == 200
    await _erase(api, {"uuid": UUID_B, "suppress": False})
    assert (await api.get("/v4/events", headers=bearer(old))).status_code == 401
    new = await anonymous_login(api, secret, UUID_B)
    assert (await api.get("/v4/events", headers=bearer(new))).status_code == 200
    assert (await api.get("/v4/events", headers=bearer(old))).status_code == 401
