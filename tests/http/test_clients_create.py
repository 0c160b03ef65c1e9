"""Contract §9.7 `POST /v4/clients` (one profile, the rules of one §9.6 element, `API_CLIENT_CREATE` or
`API_BATCH_CLIENT_CREATE`, 202 or 400) and the `X-Tracktion-Ignored-Keys` header it shares with §9.6."""

from __future__ import annotations

from typing import Any

import pytest

from tests.support.api import Api
from tests.support.http import Keys, assert_error, bearer, entry
from tests.support.security import anonymous_login, profile_secret

CREATE = "/v4/clients"
BATCH = "/v4/clients/batch"
HEADER = "x-tracktion-ignored-keys"


async def by_email(api: Api, email: str) -> dict[str, Any]:
    r = await api.get(f"/v4/clients/by-email/{email}")
    assert r.status_code == 200, r.text
    profile: dict[str, Any] = r.json()
    return profile


# -- one profile -------------------------------------------------------------------------------------------


async def test_creates_a_profile_with_an_empty_202(api: Api) -> None:
    body = {
        "email": "ana@example.org",
        "customId": "ana-1",
        "firstName": "Ana",
        "agreements": {"email": True},
    }
    r = await api.post(CREATE, body)
    assert r.status_code == 202, r.text
    assert r.content == b""
    assert r.headers["content-length"] == "0"
    assert "content-type" not in r.headers
    assert HEADER not in r.headers  # nothing was ignored
    ana = await by_email(api, "ana@example.org")
    assert (ana["customId"], ana["firstName"], ana["agreements"]["email"]) == ("ana-1", "Ana", True)
    assert ana["uuid"] == "ad33ed01-06f4-510e-9688-5157b52fbba4"  # §9.3, as for an element
    assert await api.events() == []  # a profile write stores no event
    assert await api.quarantine() == []


async def test_upserts_like_a_batch_element(api: Api) -> None:
    assert (
        await api.post(CREATE, {"email": "ana@example.org", "phone": "+48 600-100-200", "city": "X"})
    ).status_code == 202
    # Identifiers are trimmed (§3.2) and resolve to the same profile; `null` resets a native field (§9.6).
    r = await api.post(CREATE, {"email": " ANA@example.org ", "phone": None, "lastName": "Nowak"})
    assert r.status_code == 202, r.text
    ana = await by_email(api, "ana@example.org")
    assert (ana["phone"], ana["city"], ana["lastName"]) == (None, "X", "Nowak")
    assert (await api.get(f"/v4/clients/{ana['clientId'] + 1}")).status_code == 404  # one profile only


async def test_validation_errors_are_400_with_every_error_and_no_207_form(api: Api) -> None:
    body = {"email": "nope", "sex": "X", "tags": "vip", "firstname": "ignored anyway"}
    r = await api.post(CREATE, body, params={"partial": "true"})  # no partial mode here: still 400
    assert_error(
        r,
        400,
        entry(1005, "email", "Email format invalid (nope)", "nope"),
        entry(1007, "sex", "Invalid sex (X)", "X"),
        entry(1004, "tags", "Tags must be an array of strings", "vip"),
        path=CREATE,
    )
    (record,) = await api.quarantine()
    assert (record["reason"], record["status"], record["itemIndex"]) == ("validation failed", 400, None)
    assert record["item"] == body
    assert (await api.get("/-/api/events")).json()["items"] == []


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (
            [{"email": "a@example.org"}],
            entry(1001, "", "Request body must be a JSON object", '[{"email":"a@example.org"}]'),
        ),
        ("ana", entry(1001, "", "Request body must be a JSON object", "ana")),
        ({}, entry(1003, "", "At least one client identifier required")),
        ({"customId": " "}, entry(1003, "customId", "Custom id cannot be empty", " ")),
        ({"clientId": "5"}, entry(1004, "clientId", "Client id must be a positive integer", "5")),
    ],
)
async def test_body_rules(api: Api, body: Any, expected: dict[str, Any]) -> None:
    assert_error(await api.post(CREATE, body), 400, expected)


async def test_lone_unknown_client_id_creates_nothing_and_is_quarantined(api: Api) -> None:
    r = await api.post(CREATE, {"clientId": 123, "firstName": "Ghost"})
    assert r.status_code == 202
    assert (await api.get("/v4/clients/123")).status_code == 404
    (record,) = await api.quarantine()
    assert (record["reason"], record["status"], record["itemIndex"]) == ("unknown clientId", 202, None)
    assert record["errors"] == [entry(3001, "clientId", "Profile not found (unknown clientId)", "123")]


async def test_get_is_not_routed(api: Api) -> None:
    r = await api.get(CREATE)
    assert r.status_code == 405
    assert r.headers["allow"] == "POST"


# -- permissions -------------------------------------------------------------------------------------------


@pytest.mark.parametrize("permission", ["API_CLIENT_CREATE", "API_BATCH_CLIENT_CREATE"])
async def test_either_create_permission_is_enough(api: Api, keys: Keys, permission: str) -> None:
    token = await keys.token([permission])
    r = await api.client.post(CREATE, json={"customId": "c"}, headers=bearer(token))
    assert r.status_code == 202, r.text
    assert (await api.get("/v4/clients/by-customid/c")).status_code == 200


async def test_other_permissions_are_refused(api: Api, keys: Keys) -> None:
    token = await keys.token(["API_CLIENT_READ", "API_CUSTOM_EVENTS_CREATE"])
    r = await api.client.post(CREATE, json={"customId": "c"}, headers=bearer(token))
    assert_error(r, 403, entry(2003, "Authorization", "Permission API_CLIENT_CREATE missing"))
    (record,) = await api.quarantine()
    assert record["reason"] == "permission denied"
    assert (await api.get("/v4/clients/by-customid/c")).status_code == 404
    # The batch endpoint does not take the single one's permission (§2.5 names them separately).
    token = await keys.token(["API_CLIENT_CREATE"])
    r = await api.client.post(BATCH, json=[{"customId": "c"}], headers=bearer(token))
    assert r.status_code == 403


async def test_profile_tokens_are_refused(api: Api) -> None:
    token = await anonymous_login(api, await profile_secret(api), "0b7e1f5a-3c4d-4e5f-8a9b-0c1d2e3f4a5b")
    r = await api.client.post(CREATE, json={"customId": "c"}, headers=bearer(token))
    assert_error(r, 403, entry(2005, "Authorization", "This token kind is not allowed here"))


async def test_the_permission_is_listed(api: Api) -> None:
    r = await api.get("/-/openapi.json")
    operation = r.json()["paths"][CREATE]["post"]
    assert "`API_CLIENT_CREATE` or `API_BATCH_CLIENT_CREATE`" in operation["description"]


# -- X-Tracktion-Ignored-Keys ------------------------------------------------------------------------------


async def test_unknown_keys_are_ignored_and_named(api: Api) -> None:
    body = {
        "email": "ana@example.org",
        "area_code": None,  # the PyPI SDK's Profile field, sent as null when unset
        "firstname": "Ana",  # snake/lower case of firstName: not the same key
        "agreements": {"email": True, "newsletter": True},
        "attributes": {"anything": 1},  # free-form: nothing in it is unknown
    }
    r = await api.post(CREATE, body)
    assert r.status_code == 202, r.text
    assert r.headers[HEADER] == "area_code, firstname, agreements.newsletter"
    ana = await by_email(api, "ana@example.org")
    assert ana["firstName"] is None
    assert "area_code" not in ana and "firstname" not in ana
    assert ana["agreements"]["email"] is True
    assert ana["attributes"] == {"anything": 1}


async def test_header_shows_the_first_20_keys_as_visible_ascii(api: Api) -> None:
    odd = ["a,b", "é", "x y", "50%", "line\nbreak"]
    body: dict[str, Any] = {"customId": "c", **{k: 1 for k in odd}, **{f"k{i}": i for i in range(30)}}
    r = await api.post(CREATE, body)
    assert r.status_code == 202, r.text
    shown = r.headers[HEADER].split(", ")
    assert shown[:5] == ["a%2Cb", "%C3%A9", "x%20y", "50%25", "line%0Abreak"]
    assert shown[5:] == [f"k{i}" for i in range(15)]
    assert len(shown) == 20


async def test_a_long_key_is_cut(api: Api) -> None:
    r = await api.post(CREATE, {"customId": "c", "x" * 1000: 1})
    assert r.headers[HEADER] == "x" * 256


async def test_batch_names_ignored_keys_by_item_path(api: Api) -> None:
    # What Synerise's PHP plugin sends in its profile batch: snake/lower-case names tracktion does not know.
    body = [
        {"email": "a@example.org", "firstname": "A", "lastname": "B", "custom_id": "a-1"},
        {"customId": "b", "firstName": "Bo"},
        {"customId": "c", "agreements": {"sms": True, "fax": True}},
    ]
    r = await api.post(BATCH, body)
    assert r.status_code == 202, r.text
    assert r.headers[HEADER] == "[0].firstname, [0].lastname, [0].custom_id, [2].agreements.fax"
    a = await by_email(api, "a@example.org")
    assert (a["firstName"], a["lastName"], a["customId"]) == (None, None, None)
    r = await api.post(BATCH, body, params={"partial": "true"})
    assert r.status_code == 207
    assert r.headers[HEADER] == "[0].firstname, [0].lastname, [0].custom_id, [2].agreements.fax"
    r = await api.post(BATCH, [{"customId": "b", "city": "X"}])
    assert r.status_code == 202
    assert HEADER not in r.headers


async def test_refused_batch_has_no_header(api: Api) -> None:
    # Nothing was stored, so nothing was ignored: the §1.6 errors say what is wrong.
    r = await api.post(BATCH, [{"customId": "c", "firstname": "x"}, {"email": "bad"}])
    assert r.status_code == 400
    assert HEADER not in r.headers
