"""Contract §3.2 "Trimming" end to end, on both backends: every place an identifier enters (events, ai-compat,
transactions, profile writes, token logins) or is looked up (§9.5 paths, §13.2 filters) trims it first, so
`" ws-1 "` and `"ws-1"` are one profile, and a value of white space only is refused and creates nothing."""

from __future__ import annotations

import urllib.parse
import uuid
from typing import Any

import pytest

from tests.support.api import Api
from tests.support.http import assert_error, entry, event
from tests.support.security import anonymous_login, parts, profile_secret

CUSTOM = "/v4/events/custom"
UUID = "0b7e1f5a-3c4d-4e5f-8a9b-0c1d2e3f4a5b"


async def stored(api: Api) -> list[dict[str, Any]]:
    """Every stored event, oldest first."""
    return list(reversed(await api.events()))


async def profile_count(api: Api) -> int:
    return len({e["client"]["id"] for e in await api.events()})


async def test_padded_and_bare_custom_id_are_one_profile(api: Api) -> None:
    for value in (" ws-1 ", "ws-1", "\tws-1\u3000", "\u00a0ws-1"):
        r = await api.post(CUSTOM, event(client={"customId": value}, params={"sent": value}))
        assert r.status_code == 202, r.text
    events = await stored(api)
    assert len(events) == 4
    assert {e["client"]["id"] for e in events} == {events[0]["client"]["id"]}
    assert {e["client"]["customId"] for e in events} == {"ws-1"}  # stored trimmed
    assert [e["params"]["sent"] for e in events] == [" ws-1 ", "ws-1", "\tws-1\u3000", "\u00a0ws-1"]


async def test_padded_email_is_accepted_trimmed_and_matches_case_insensitively(api: Api) -> None:
    r = await api.post(CUSTOM, event(client={"email": " Ana@Example.org "}))
    assert r.status_code == 202, r.text  # was 400 (1005) before trimming
    r = await api.post(CUSTOM, event(client={"email": "\tana@example.ORG"}))
    assert r.status_code == 202, r.text
    events = await stored(api)
    assert [e["client"]["email"] for e in events] == ["Ana@Example.org", "Ana@Example.org"]
    assert events[0]["client"]["id"] == events[1]["client"]["id"]
    # §9.3: the generated uuid is uuid5 of the e-mail as stored, i.e. trimmed
    assert events[0]["client"]["uuid"] == str(uuid.uuid5(uuid.NAMESPACE_URL, "Ana@Example.org"))


async def test_diacritics_make_two_e_mails(api: Api) -> None:
    assert (await api.post(CUSTOM, event(client={"email": " josé@example.com"}))).status_code == 202
    assert (await api.post(CUSTOM, event(client={"email": "jose@example.com "}))).status_code == 202
    assert await profile_count(api) == 2


@pytest.mark.parametrize(
    ("client", "field", "name"),
    [
        ({"customId": "   "}, "client.customId", "Custom id"),
        ({"customId": "\t"}, "client.customId", "Custom id"),
        ({"email": "\u3000"}, "client.email", "Email"),
        ({"uuid": " \u00a0 "}, "client.uuid", "UUID"),
    ],
)
async def test_white_space_only_identifier_is_refused_and_creates_nothing(
    api: Api, client: dict[str, str], field: str, name: str
) -> None:
    (sent,) = client.values()
    r = await api.post(CUSTOM, event(client=client))
    assert_error(r, 400, entry(1003, field, f"{name} cannot be empty", sent))
    assert await api.events() == []
    assert (await api.get(f"/v4/clients/{7000000001}")).status_code == 404  # no profile was created
    (record,) = await api.quarantine()
    assert record["reason"] == "validation failed"
    assert record["item"]["client"] == client  # the quarantine keeps what was sent


@pytest.mark.parametrize("char", ["\n", "\r", "\u2028", "\u2029"])
async def test_line_breaks_are_not_trimmed_but_banned(api: Api, char: str) -> None:
    r = await api.post(CUSTOM, event(client={"customId": f"ws-1{char}"}))
    assert_error(
        r, 400, entry(1008, "client.customId", "Custom id contains forbidden characters", f"ws-1{char}")
    )


async def test_batch_items_are_trimmed_and_paths_prefixed(api: Api) -> None:
    body = [event(client={"customId": " ws-1"}), event(client={"customId": "ws-1 "})]
    assert (await api.post("/v4/events/batch", body)).status_code == 202
    assert await profile_count(api) == 1
    r = await api.post(
        "/v4/events/batch", [event(client={"customId": "ok"}), event(client={"customId": " "})]
    )
    assert_error(r, 400, entry(1003, "[1].client.customId", "Custom id cannot be empty", " "))


async def test_ai_compat_client_uuid_is_trimmed(api: Api) -> None:
    assert (await api.post(CUSTOM, event(client={"uuid": UUID}))).status_code == 202
    body = {"clientUUID": f"\u2003{UUID.upper()}\t", "correlationId": "c-1", "item": "sku-1"}
    r = await api.post("/v4/events/ai-compat/recommendation.click", body)
    assert r.status_code == 202, r.text
    events = await stored(api)
    assert len({e["client"]["id"] for e in events}) == 1
    assert events[1]["params"]["uuid"] == UUID  # §7.2: the request's uuid, trimmed and lower-cased
    r = await api.post("/v4/events/ai-compat/recommendation.click", {**body, "clientUUID": "  "})
    assert_error(r, 400, entry(1003, "clientUUID", "Client UUID cannot be empty", "  "))


async def test_transaction_client_is_trimmed(api: Api) -> None:
    assert (await api.post(CUSTOM, event(client={"customId": "ws-1"}))).status_code == 202
    r = await api.post("/v4/transactions", {"client": {"customId": "\tws-1 "}, "orderId": "o-1"})
    assert r.status_code == 202, r.text
    assert await profile_count(api) == 1
    r = await api.post("/v4/transactions", {"client": {"customId": " "}, "orderId": "o-2"})
    assert_error(r, 400, entry(1003, "client.customId", "Custom id cannot be empty", " "))


async def test_profile_batch_identifiers_are_trimmed(api: Api) -> None:
    assert (await api.post(CUSTOM, event(client={"customId": "ws-1"}))).status_code == 202
    r = await api.post(
        "/v4/clients/batch", [{"customId": " ws-1 ", "email": " ana@example.org ", "city": "X"}]
    )
    assert r.status_code == 202, r.text
    profile = (await api.get("/v4/clients/by-customid/ws-1")).json()
    assert (profile["customId"], profile["email"], profile["city"]) == ("ws-1", "ana@example.org", "X")
    r = await api.post("/v4/clients/batch", [{"customId": "\u3000"}])
    assert_error(r, 400, entry(1003, "[0].customId", "Custom id cannot be empty", "\u3000"))


async def test_anonymous_login_uuid_is_trimmed(api: Api) -> None:
    assert (await api.post(CUSTOM, event(client={"uuid": UUID}))).status_code == 202
    (owner,) = await api.events()
    secret = await profile_secret(api)
    token = await anonymous_login(api, secret, f" {UUID.upper()}\t")
    _, claims, _ = parts(token)
    assert (claims["clientId"], claims["uuid"]) == (owner["client"]["id"], UUID)
    r = await api.client.post("/sauth/v3/auth/login/client/anonymous", json={"apiKey": secret, "uuid": " "})
    assert_error(r, 400, entry(1003, "uuid", "UUID cannot be empty", " "))


async def test_profile_token_ownership_compares_trimmed_identifiers(api: Api) -> None:
    assert (await api.post(CUSTOM, event(client={"customId": "other"}))).status_code == 202
    token = await anonymous_login(api, await profile_secret(api), UUID)
    r = await api.post(
        CUSTOM, event(client={"customId": " other "}), headers={"Authorization": f"Bearer {token}"}
    )
    assert r.status_code == 403
    assert r.json()["errors"][0]["code"] == 2004


async def test_profile_lookups_are_trimmed(api: Api) -> None:
    body = [{"customId": "ws 1", "email": "Ana@Example.org"}]
    assert (await api.post("/v4/clients/batch", body)).status_code == 202
    quote = urllib.parse.quote
    for path in (
        f"/v4/clients/by-customid/{quote(' ws 1 ')}",
        f"/v4/clients/by-customid/{quote(chr(9) + 'ws 1' + chr(0x3000))}",
        f"/v4/clients/by-email/{quote(' ana@example.org ')}",
    ):
        r = await api.get(path)
        assert r.status_code == 200, (path, r.text)
        assert r.json()["customId"] == "ws 1"  # the inner space is part of the value
    assert (await api.get(f"/v4/clients/by-customid/{quote('ws1')}")).status_code == 404
    r = await api.get(f"/v4/clients/by-customid/{quote(' ')}")
    assert_error(r, 400, entry(1003, "customId", "Custom id cannot be empty", " "))
    r = await api.get(f"/v4/clients/by-email/{quote(chr(0x3000))}")
    assert_error(r, 400, entry(1003, "email", "Email cannot be empty", "\u3000"))


async def test_event_search_filters_are_trimmed(api: Api) -> None:
    client = {"customId": "ws-1", "email": "ana@example.org", "uuid": UUID}
    assert (await api.post(CUSTOM, event(client=client))).status_code == 202
    assert (await api.post(CUSTOM, event(client={"customId": "someone-else"}))).status_code == 202
    for params in (
        {"customId": " ws-1\t"},
        {"email": "\u00a0ANA@example.org "},
        {"uuid": f" {UUID.upper()} "},
    ):
        (found,) = await api.events(**params)
        assert found["client"]["customId"] == "ws-1", params
    for name, label in (("customId", "Custom id"), ("email", "Email"), ("uuid", "UUID")):
        r = await api.get("/-/api/events", params={name: " \t"})
        assert_error(r, 400, entry(1003, name, f"{label} cannot be empty", " \t"))
