"""Contract §9.6: `POST /v4/clients/batch` — upsert per element, fields, null rules, modes, limits."""

from __future__ import annotations

import base64
import gzip
import json
from typing import Any

import pytest

from tests.support.api import Api
from tests.support.http import UUID_RE, Clock, Keys, assert_error, bearer, entry
from tracktion.domain.profiles import RESERVED_ATTRIBUTES
from tracktion.domain.timefmt import format_ms

BATCH = "/v4/clients/batch"
EMPTY_DATA: dict[str, Any] = {
    "phone": None,
    "firstName": None,
    "lastName": None,
    "displayName": None,
    "company": None,
    "address": None,
    "city": None,
    "province": None,
    "zipCode": None,
    "countryCode": None,
    "avatarUrl": None,
    "birthDate": None,
    "sex": None,
    "agreements": {
        "email": False,
        "sms": False,
        "push": False,
        "webPush": False,
        "bluetooth": False,
        "rfid": False,
        "wifi": False,
    },
    "attributes": {},
    "tags": [],
}
FULL = {
    "email": "ana@example.org",
    "customId": "ana-1",
    "phone": "+48 600-100-200",
    "firstName": "Ana",
    "lastName": "Nowak",
    "displayName": "Ana N.",
    "company": "ACME",
    "address": "Main St 1",
    "city": "Kraków",
    "province": "Małopolska",
    "zipCode": "30-001",
    "countryCode": "PL",
    "avatarUrl": "https://example.org/a.png",
    "birthDate": "1990-05-03",
    "sex": "FEMALE",
    "agreements": {"email": True, "sms": False, "push": True},
    "attributes": {"loyalty": "gold", "score": 7, "nested": {"a": [1, None]}},
    "tags": ["vip", "newsletter"],
}


async def profile_by_email(api: Api, email: str) -> dict[str, Any]:
    r = await api.get(f"/v4/clients/by-email/{email}")
    assert r.status_code == 200, r.text
    body: dict[str, Any] = r.json()
    return body


async def post(api: Api, items: Any, **params: str) -> Any:
    return await api.post(BATCH, items, params=params)


def data_of(profile: dict[str, Any]) -> dict[str, Any]:
    return {k: profile[k] for k in EMPTY_DATA}


# -- creation and reading back ------------------------------------------------------------------------


async def test_creates_profiles_and_returns_every_field(api: Api, clock: Clock) -> None:
    r = await post(api, [FULL, {"customId": "bob"}])
    assert r.status_code == 202, r.text
    assert r.content == b""
    ana = await profile_by_email(api, "ANA@example.org")
    assert ana["customId"] == "ana-1"
    assert ana["anonymous"] is False
    assert ana["createdAt"] == ana["updatedAt"] == format_ms(clock.now_ms)
    expected = {k: FULL.get(k) for k in EMPTY_DATA}
    expected["agreements"] = {**EMPTY_DATA["agreements"], "email": True, "push": True}
    assert data_of(ana) == expected
    bob = (await api.get("/v4/clients/by-customid/bob")).json()
    assert data_of(bob) == EMPTY_DATA
    assert bob["anonymous"] is True
    assert UUID_RE.match(bob["uuid"])


async def test_profile_without_phase_two_data_has_the_defaults(api: Api) -> None:
    assert (
        await api.post("/v4/events/custom", {"action": "a", "label": "l", "client": {"customId": "x"}})
    ).status_code == 202
    profile = (await api.get("/v4/clients/by-customid/x")).json()
    assert data_of(profile) == EMPTY_DATA
    assert list(profile)[:8] == [
        "clientId",
        "uuid",
        "uuids",
        "customId",
        "email",
        "anonymous",
        "createdAt",
        "updatedAt",
    ]


async def test_creation_identifiers_follow_section_9_3(api: Api) -> None:
    uuid = "9F1C2B8E-0000-4000-8000-00000000AAAA"
    r = await post(api, [{"uuid": uuid, "firstName": "U"}, {"email": "ana@example.org"}])
    assert r.status_code == 202
    by_uuid = (await api.get("/-/api/events")).json()  # no events are created by a profile batch
    assert by_uuid["items"] == []
    ana = await profile_by_email(api, "ana@example.org")
    assert ana["uuid"] == "ad33ed01-06f4-510e-9688-5157b52fbba4"  # uuid5(NAMESPACE_URL, e-mail)
    first = (await api.get(f"/v4/clients/{ana['clientId'] - 1}")).json()
    assert first["uuid"] == uuid.lower()
    assert first["firstName"] == "U"


# -- upsert ---------------------------------------------------------------------------------------------


async def test_upsert_merges_resets_and_deletes(api: Api, clock: Clock) -> None:
    assert (await post(api, [FULL])).status_code == 202
    clock.advance(5000)
    update = {
        "customId": "ana-1",
        "firstName": "Anna",
        "lastName": None,  # reset a native field
        "agreements": {"sms": True, "push": None},  # set one, reset one, keep the rest
        "attributes": {"loyalty": None, "new": False},  # delete one, add one, keep the rest
        "tags": ["b", "a", "b"],  # replaces, duplicates dropped
    }
    assert (await post(api, [update])).status_code == 202
    ana = await profile_by_email(api, "ana@example.org")
    assert ana["firstName"] == "Anna"
    assert ana["lastName"] is None
    assert ana["city"] == "Kraków"  # absent: kept
    assert ana["agreements"] == {**EMPTY_DATA["agreements"], "email": True, "sms": True}
    assert ana["attributes"] == {"score": 7, "nested": {"a": [1, None]}, "new": False}
    assert ana["tags"] == ["b", "a"]
    assert ana["updatedAt"] == format_ms(clock.now_ms)
    assert ana["createdAt"] != ana["updatedAt"]


async def test_null_agreements_and_tags_reset_them_null_attributes_changes_nothing(api: Api) -> None:
    assert (await post(api, [FULL])).status_code == 202
    assert (
        await post(api, [{"email": "ana@example.org", "agreements": None, "tags": None, "attributes": None}])
    ).status_code == 202
    ana = await profile_by_email(api, "ana@example.org")
    assert ana["agreements"] == EMPTY_DATA["agreements"]
    assert ana["tags"] == []
    assert ana["attributes"] == FULL["attributes"]
    assert (await post(api, [{"email": "ana@example.org", "tags": []}])).status_code == 202


async def test_reserved_attribute_names_are_ignored(api: Api) -> None:
    attributes = {name: "x" for name in sorted(RESERVED_ATTRIBUTES)}
    attributes["Email"] = "kept: names are case-sensitive"
    attributes["mine"] = 1
    assert (await post(api, [{"customId": "c", "attributes": attributes}])).status_code == 202
    profile = (await api.get("/v4/clients/by-customid/c")).json()
    assert profile["attributes"] == {"Email": "kept: names are case-sensitive", "mine": 1}
    assert profile["email"] is None and profile["firstName"] is None  # not taken from attributes


async def test_resolution_priority_and_attaching_unowned_identifiers(api: Api) -> None:
    assert (await post(api, [{"customId": "c1"}, {"email": "e2@example.org"}])).status_code == 202
    c1 = (await api.get("/v4/clients/by-customid/c1")).json()
    # customId beats email: the data goes to c1; the e-mail stays with its owner; a new uuid is attached.
    new_uuid = "0b7e1f5a-3c4d-4e5f-8a9b-0c1d2e3f4a5b"
    body = [{"customId": "c1", "email": "e2@example.org", "uuid": new_uuid, "city": "Gdańsk"}]
    assert (await post(api, body)).status_code == 202
    c1 = (await api.get(f"/v4/clients/{c1['clientId']}")).json()
    assert c1["city"] == "Gdańsk"
    assert c1["email"] is None
    assert new_uuid in c1["uuids"]
    e2 = await profile_by_email(api, "e2@example.org")
    assert e2["city"] is None
    # clientId beats everything; an unowned e-mail is set on a profile that has none.
    body = [{"clientId": c1["clientId"], "customId": "other", "email": "c1@example.org", "zipCode": "80-001"}]
    assert (await post(api, body)).status_code == 202
    c1 = (await api.get(f"/v4/clients/{c1['clientId']}")).json()
    assert c1["email"] == "c1@example.org"
    assert c1["customId"] == "c1"  # a profile's customId is never replaced (§9.4)
    assert c1["zipCode"] == "80-001"
    assert (await api.get("/v4/clients/by-customid/other")).status_code == 404


async def test_items_see_what_earlier_items_wrote(api: Api) -> None:
    body = [
        {"email": "ana@example.org", "firstName": "A"},
        {"email": "ANA@example.org", "lastName": "B", "customId": "ana"},
        {"customId": "ana", "firstName": None},
    ]
    assert (await post(api, body)).status_code == 202
    ana = await profile_by_email(api, "ana@example.org")
    assert (ana["firstName"], ana["lastName"], ana["customId"]) == (None, "B", "ana")
    assert (await api.get(f"/v4/clients/{ana['clientId'] + 1}")).status_code == 404  # only one created


async def test_lone_unknown_client_id_creates_nothing_and_is_quarantined(api: Api) -> None:
    r = await post(api, [{"clientId": 123, "firstName": "Ghost"}])
    assert r.status_code == 202
    assert (await api.get("/v4/clients/123")).status_code == 404
    (record,) = await api.quarantine()
    assert record["reason"] == "unknown clientId"
    assert record["status"] == 202
    assert record["itemIndex"] == 0
    assert record["endpoint"] == BATCH
    assert record["errors"] == [entry(3001, "[0].clientId", "Profile not found (unknown clientId)", "123")]
    assert record["item"] == {"clientId": 123, "firstName": "Ghost"}


async def test_unknown_client_id_next_to_other_identifiers_is_ignored(api: Api) -> None:
    assert (await post(api, [{"clientId": 123, "customId": "c", "city": "X"}])).status_code == 202
    profile = (await api.get("/v4/clients/by-customid/c")).json()
    assert profile["clientId"] != 123
    assert profile["city"] == "X"
    assert await api.quarantine() == []


# -- validation ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({"clientId": "5"}, entry(1004, "[0].clientId", "Client id must be a positive integer", "5")),
        ({"clientId": 0}, entry(1006, "[0].clientId", "Client id must be a positive integer", "0")),
        ({"customId": ""}, entry(1003, "[0].customId", "Custom id cannot be empty", "")),
        ({"email": "nope"}, entry(1005, "[0].email", "Email format invalid (nope)", "nope")),
        ({"uuid": "x"}, entry(1005, "[0].uuid", "UUID format invalid (x)", "x")),
        ({"phone": "12"}, entry(1005, "[0].phone", "Phone format invalid (12)", "12")),
        (
            {"phone": "+1234567890123456789012"},
            entry(
                1005, "[0].phone", "Phone format invalid (+1234567890123456789012)", "+1234567890123456789012"
            ),
        ),
        ({"phone": 600100200}, entry(1004, "[0].phone", "Phone must be a string", "600100200")),
        ({"phone": "600\n100"}, entry(1008, "[0].phone", "Phone contains forbidden characters", "600\n100")),
        ({"firstName": 5}, entry(1004, "[0].firstName", "First name must be a string", "5")),
        ({"city": "a\x00b"}, entry(1008, "[0].city", "City contains forbidden characters", "a\x00b")),
        (
            {"lastName": "\ufe0f"},
            entry(1008, "[0].lastName", "Last name contains forbidden characters", "\ufe0f"),
        ),
        ({"countryCode": "XX"}, entry(1007, "[0].countryCode", "Invalid country code (XX)", "XX")),
        ({"countryCode": "POL"}, entry(1007, "[0].countryCode", "Invalid country code (POL)", "POL")),
        ({"countryCode": 48}, entry(1004, "[0].countryCode", "Country code must be a string", "48")),
        ({"countryCode": "ß"}, entry(1007, "[0].countryCode", "Invalid country code (ß)", "ß")),
        (
            {"birthDate": "1990-5-3"},
            entry(1005, "[0].birthDate", "Birth date must be in yyyy-mm-dd format", "1990-5-3"),
        ),
        (
            {"birthDate": "2023-02-30"},
            entry(1005, "[0].birthDate", "Birth date must be in yyyy-mm-dd format", "2023-02-30"),
        ),
        (
            {"birthDate": "1990-05-03T00:00:00Z"},
            entry(1005, "[0].birthDate", "Birth date must be in yyyy-mm-dd format", "1990-05-03T00:00:00Z"),
        ),
        (
            {"birthDate": "1900-01-01"},
            entry(1006, "[0].birthDate", "Birth date must be later than 1900-01-01", "1900-01-01"),
        ),
        ({"birthDate": 1990}, entry(1004, "[0].birthDate", "Birth date must be a string", "1990")),
        ({"sex": "female"}, entry(1007, "[0].sex", "Invalid sex (female)", "female")),
        ({"agreements": []}, entry(1004, "[0].agreements", "Agreements must be an object", "[]")),
        (
            {"agreements": {"sms": "yes"}},
            entry(1004, "[0].agreements.sms", "Agreement sms must be a boolean", "yes"),
        ),
        (
            {"agreements": {"sms": 1.0}},
            entry(1004, "[0].agreements.sms", "Agreement sms must be a boolean", "1.0"),
        ),
        ({"attributes": "x"}, entry(1004, "[0].attributes", "Attributes must be an object", "x")),
        (
            {"attributes": {"a\nb": 1}},
            entry(1008, "[0].attributes.a\nb", "Attribute name contains forbidden characters", "a\nb"),
        ),
        (
            {"attributes": {"a": "\x00"}},
            entry(1008, "[0].attributes.a", "Attribute value contains forbidden characters", "\x00"),
        ),
        ({"tags": "vip"}, entry(1004, "[0].tags", "Tags must be an array of strings", "vip")),
        ({"tags": ["ok", 5]}, entry(1004, "[0].tags[1]", "Tag must be a string", "5")),
        ({"tags": [""]}, entry(1003, "[0].tags[0]", "Tag cannot be empty", "")),
        ({"tags": [None]}, entry(1004, "[0].tags[0]", "Tag must be a string")),
    ],
)
async def test_field_rules(api: Api, fields: dict[str, Any], expected: dict[str, Any]) -> None:
    item = {"customId": "c", **fields}
    r = await post(api, [item])
    assert_error(r, 400, expected, path=BATCH)
    assert (await api.get("/v4/clients/by-customid/c")).status_code == 404
    (record,) = await api.quarantine()
    assert record["reason"] == "validation failed"
    assert record["item"] == item


@pytest.mark.parametrize(
    ("fields", "stored"),
    [
        ({"phone": "600 100 200"}, {"phone": "600 100 200"}),
        ({"phone": "+(48)/600-100"}, {"phone": "+(48)/600-100"}),
        ({"countryCode": "pl"}, {"countryCode": "PL"}),
        ({"birthDate": "1900-01-02"}, {"birthDate": "1900-01-02"}),
        ({"sex": "NOT_SPECIFIED"}, {"sex": "NOT_SPECIFIED"}),
        ({"firstName": ""}, {"firstName": ""}),
        ({"lastName": "a\ufe0f"}, {"lastName": "a\ufe0f"}),
        (
            {
                "agreements": {
                    "email": "True",
                    "sms": "false",
                    "push": 1,
                    "webPush": 0,
                    "bluetooth": "true",
                    "rfid": "False",
                    "wifi": True,
                    "other": "ignored",
                }
            },
            {
                "agreements": {
                    "email": True,
                    "sms": False,
                    "push": True,
                    "webPush": False,
                    "bluetooth": True,
                    "rfid": False,
                    "wifi": True,
                }
            },
        ),
        ({"unknownKey": 1, "attributes": {"": "empty name"}}, {"attributes": {"": "empty name"}}),
    ],
)
async def test_accepted_values(api: Api, fields: dict[str, Any], stored: dict[str, Any]) -> None:
    assert (await post(api, [{"customId": "c", **fields}])).status_code == 202, fields
    profile = (await api.get("/v4/clients/by-customid/c")).json()
    for name, value in stored.items():
        assert profile[name] == value
    assert "unknownKey" not in profile


async def test_element_errors_are_listed_in_order(api: Api) -> None:
    body = [{"customId": "ok"}, 5, {}, {"email": "a@example.org", "sex": "X", "phone": "1"}, {"uuid": None}]
    r = await post(api, body)
    assert_error(
        r,
        400,
        entry(1001, "[1]", "Item must be a JSON object", "5"),
        entry(1003, "[2]", "At least one client identifier required"),
        entry(1005, "[3].phone", "Phone format invalid (1)", "1"),
        entry(1007, "[3].sex", "Invalid sex (X)", "X"),
        entry(1003, "[4]", "At least one client identifier required"),
    )
    # Atomic: nothing stored; every element quarantined (the valid one as `batch rejected`).
    assert (await api.get("/v4/clients/by-customid/ok")).status_code == 404
    records = sorted(await api.quarantine(), key=lambda rec: rec["itemIndex"])
    assert [(rec["itemIndex"], rec["reason"], rec["status"]) for rec in records] == [
        (0, "batch rejected", 400),
        (1, "validation failed", 400),
        (2, "validation failed", 400),
        (3, "validation failed", 400),
        (4, "validation failed", 400),
    ]


async def test_atomic_refusal_undoes_updates_of_valid_elements(api: Api) -> None:
    assert (await post(api, [FULL])).status_code == 202
    before = await profile_by_email(api, "ana@example.org")
    body = [
        {"email": "ana@example.org", "firstName": "Changed", "tags": []},
        {"customId": "new"},
        {"email": "bad"},
    ]
    assert (await post(api, body)).status_code == 400
    assert await profile_by_email(api, "ana@example.org") == before
    assert (await api.get("/v4/clients/by-customid/new")).status_code == 404


# -- partial mode ----------------------------------------------------------------------------------------


async def test_partial_mode_answers_207_per_element(api: Api) -> None:
    body = [{"email": "ana@example.org", "city": "X"}, {"clientId": 99}, {"email": "bad"}, {"customId": "c"}]
    r = await post(api, body, partial="true")
    assert r.status_code == 207
    out = r.json()
    ana = await profile_by_email(api, "ana@example.org")
    c = (await api.get("/v4/clients/by-customid/c")).json()
    assert out == {
        "status": 207,
        "accepted": 2,
        "quarantined": 1,
        "rejected": 1,
        "results": [
            {"index": 0, "status": 202, "uuid": ana["uuid"], "clientId": ana["clientId"]},
            {"index": 1, "status": 202, "quarantined": True, "reason": "unknown clientId"},
            {
                "index": 2,
                "status": 400,
                "errors": [entry(1005, "[2].email", "Email format invalid (bad)", "bad")],
            },
            {"index": 3, "status": 202, "uuid": c["uuid"], "clientId": c["clientId"]},
        ],
    }
    assert ana["city"] == "X"
    reasons = sorted(rec["reason"] for rec in await api.quarantine())
    assert reasons == ["unknown clientId", "validation failed"]


async def test_partial_parameter_is_checked(api: Api) -> None:
    r = await post(api, [{"customId": "c"}], partial="yes")
    assert_error(r, 400, entry(1017, "partial", "partial must be true, false, 1 or 0", "yes"))


# -- envelope, limits, credentials -----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ({"customId": "c"}, entry(1001, "", "Request body must be a JSON array", '{"customId":"c"}')),
        ([], entry(1013, "", "Batch must not be empty")),
        ([{"customId": "c"}] * 1001, entry(1012, "", "Batch cannot contain more than 1000 items", "1001")),
    ],
)
async def test_envelope_rules(api: Api, body: Any, expected: dict[str, Any]) -> None:
    r = await post(api, body)
    assert_error(r, 400, expected)
    (record,) = await api.quarantine()
    assert record["reason"] == "invalid batch"


async def test_a_thousand_elements_are_accepted(api: Api) -> None:
    body = [{"customId": f"c{i}", "tags": ["t"]} for i in range(1000)]
    assert (await post(api, body)).status_code == 202
    assert (await api.get("/v4/clients/by-customid/c999")).json()["tags"] == ["t"]


async def test_body_over_one_mib_is_413_also_gzipped(api: Api) -> None:
    content = json.dumps([{"customId": "c", "attributes": {"pad": "x" * 1_048_576}}]).encode()
    r = await api.post(BATCH, content=content)
    assert_error(r, 413, entry(1014, "", "Payload too large (max 1048576 bytes)"))
    r = await api.post(BATCH, content=gzip.compress(content), headers={"Content-Encoding": "gzip"})
    assert r.status_code == 413


async def test_needs_batch_client_create_permission(api: Api, keys: Keys) -> None:
    token = await keys.token(["API_CLIENT_READ"])
    r = await api.client.post(BATCH, json=[{"customId": "c"}], headers=bearer(token))
    assert_error(r, 403, entry(2003, "Authorization", "Permission API_BATCH_CLIENT_CREATE missing"))
    (record,) = await api.quarantine()
    assert record["reason"] == "permission denied"
    token = await keys.token(["API_BATCH_CLIENT_CREATE"])
    r = await api.client.post(BATCH, json=[{"customId": "c"}], headers=bearer(token))
    assert r.status_code == 202


async def test_profile_tokens_are_refused(api: Api, keys: Keys) -> None:
    _, secret = await keys.create(None, kind="profile")
    r = await api.client.post(
        "/sauth/v3/auth/login/client/anonymous",
        json={"apiKey": secret, "uuid": "0b7e1f5a-3c4d-4e5f-8a9b-0c1d2e3f4a5b"},
    )
    token = r.json()["token"]
    r = await api.client.post(
        BATCH, json=[{"uuid": "0b7e1f5a-3c4d-4e5f-8a9b-0c1d2e3f4a5b", "city": "X"}], headers=bearer(token)
    )
    assert_error(r, 403, entry(2005, "Authorization", "This token kind is not allowed here"))
    (record,) = await api.quarantine()
    assert (record["reason"], record["status"]) == ("token kind", 403)
    client_id = json.loads(base64.urlsafe_b64decode(token.split(".")[1] + "=="))["clientId"]
    assert (await api.get(f"/v4/clients/{client_id}")).json()["city"] is None
