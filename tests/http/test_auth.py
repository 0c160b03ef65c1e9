"""Contract §2.1–§2.5: logins, refresh, Basic, JWT/JWKS, permissions per endpoint, revocation, hashed keys."""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import sqlite3
import uuid
from typing import Any

import jwt as pyjwt
import pytest

from tests.support.api import API_KEY, Api
from tests.support.http import Keys, SecondsClock, assert_error, basic, bearer, entry, event, sqlite_bytes
from tracktion.auth.permissions import sorted_permissions
from tracktion.catalog import load_catalog

UNAUTHORIZED = entry(2001, "Authorization", "Invalid or missing credentials")
INVALID_KEY = entry(2001, "apiKey", "Invalid API key")
LOGIN = "/uauth/v2/auth/login/profile"
ALIAS = "/v4/auth/login/profile"
REFRESH = "/v4/auth/refresh/profile"


async def jwks(api: Api) -> dict[str, Any]:
    r = await api.client.get("/-/jwks.json")
    assert r.status_code == 200
    body: dict[str, Any] = r.json()
    return body


async def claims(api: Api, token: str) -> dict[str, Any]:
    (jwk,) = (await jwks(api))["keys"]
    public: Any = pyjwt.algorithms.RSAAlgorithm.from_jwk(json.dumps(jwk))
    decoded: dict[str, Any] = pyjwt.decode(
        token, public, algorithms=["RS512"], options={"verify_exp": False, "verify_iat": False}
    )
    return decoded


# -- login ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("path", [LOGIN, ALIAS])
async def test_login_returns_only_a_token(api: Api, path: str) -> None:
    r = await api.client.post(path, json={"apiKey": API_KEY})
    assert r.status_code == 200
    assert r.headers["content-type"] == "application/json"
    assert list(r.json()) == ["token"]
    assert (r.headers.get("deprecation") == "true") is (path == ALIAS)
    r = await api.get("/-/api/events", headers=bearer(r.json()["token"]))
    assert r.status_code == 200


@pytest.mark.parametrize("path", [LOGIN, ALIAS])
@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ({}, entry(1002, "apiKey", "Api key is required")),
        ({"apiKey": None}, entry(1002, "apiKey", "Api key is required")),
        ({"apiKey": 5}, entry(1004, "apiKey", "Api key must be a string", "5")),
        ({"apiKey": ["k"]}, entry(1004, "apiKey", "Api key must be a string", '["k"]')),
        ([API_KEY], entry(1001, "", "Request body must be a JSON object")),
        ("k", entry(1001, "", "Request body must be a JSON object")),
    ],
)
async def test_login_bad_body_is_400(api: Api, path: str, body: Any, expected: dict[str, Any]) -> None:
    r = await api.client.post(path, json=body)
    assert_error(r, 400, expected, path=path)


@pytest.mark.parametrize("secret", ["tk_unknown", "", API_KEY.upper(), API_KEY + " "])
async def test_login_unknown_key_is_401(api: Api, secret: str) -> None:
    r = await api.client.post(LOGIN, json={"apiKey": secret})
    assert_error(r, 401, INVALID_KEY)


async def test_login_with_profile_key_is_401(api: Api, keys: Keys) -> None:
    _, secret = await keys.create(None, kind="profile")
    r = await api.client.post(LOGIN, json={"apiKey": secret})
    assert_error(r, 401, INVALID_KEY)


async def test_login_with_revoked_key_is_401(api: Api, keys: Keys) -> None:
    key, secret = await keys.create(None)
    await keys.login(secret)
    await api.app.ctx.store.revoke_api_key(key.id, 1)
    api.app.ctx.authn.forget()
    r = await api.client.post(LOGIN, json={"apiKey": secret})
    assert_error(r, 401, INVALID_KEY)


# -- JWT and JWKS -----------------------------------------------------------------------------------------


def thumbprint(jwk: dict[str, str]) -> str:
    canonical = json.dumps(
        {"e": jwk["e"], "kty": "RSA", "n": jwk["n"]}, separators=(",", ":"), sort_keys=True
    )
    return base64.urlsafe_b64encode(hashlib.sha256(canonical.encode()).digest()).rstrip(b"=").decode()


async def test_jwks_shape_and_cache_control(api: Api) -> None:
    r = await api.client.get("/-/jwks.json")
    assert r.headers["cache-control"] == "max-age=300"
    (jwk,) = r.json()["keys"]
    assert set(jwk) == {"kty", "use", "alg", "kid", "n", "e"}
    assert (jwk["kty"], jwk["use"], jwk["alg"]) == ("RSA", "sig", "RS512")
    assert jwk["kid"] == thumbprint(jwk)
    assert len(base64.urlsafe_b64decode(jwk["n"] + "==")) == 256  # RSA-2048


async def test_workspace_token_header_and_claims(api: Api, keys: Keys) -> None:
    assert api.token is not None
    header = pyjwt.get_unverified_header(api.token)
    (jwk,) = (await jwks(api))["keys"]
    assert header == {"alg": "RS512", "typ": "JWT", "kid": jwk["kid"]}
    c = await claims(api, api.token)
    key = await keys.bootstrap_key()
    assert c == {
        "iss": "tracktion",
        "sub": f"apikey:{key.id}",
        "iat": c["iat"],
        "exp": c["iat"] + 3600,
        "jti": c["jti"],
        "workspaceId": 1,
        "kind": "workspace",
        "keyId": key.id,
        "permissions": sorted_permissions(),
    }
    assert uuid.UUID(c["jti"]).version == 4


async def test_token_permissions_are_the_keys(api: Api, keys: Keys) -> None:
    token = await keys.token(["API_EVENTS_READ", "API_CUSTOM_EVENTS_CREATE"])
    assert (await claims(api, token))["permissions"] == ["API_CUSTOM_EVENTS_CREATE", "API_EVENTS_READ"]


async def test_token_signed_by_another_key_is_401(api: Api) -> None:
    from tracktion.auth.jwt import SigningKey, TokenService

    foreign = TokenService(SigningKey.generate(), "tracktion", 3600)
    key_id = (await api.app.ctx.store.api_keys(1))[0].id
    token = foreign.issue_workspace_token(1, key_id, sorted_permissions())
    r = await api.get("/-/api/events", headers=bearer(token))
    assert_error(r, 401, UNAUTHORIZED)


@pytest.mark.parametrize(
    "header",
    ["", "Bearer", "Bearer ", "Bearer a.b.c", "Token abc", "Digest x", "bearer", "Bearer a.b"],
)
async def test_bad_authorization_headers_are_401(api: Api, header: str) -> None:
    r = await api.client.get("/-/api/events", headers={"Authorization": header})
    assert_error(r, 401, UNAUTHORIZED)


@pytest.mark.parametrize("scheme", ["bearer", "BEARER", "BeArEr"])
async def test_bearer_scheme_is_case_insensitive(api: Api, scheme: str) -> None:
    r = await api.client.get("/-/api/events", headers={"Authorization": f"{scheme} {api.token}"})
    assert r.status_code == 200


# -- refresh ----------------------------------------------------------------------------------------------


async def test_refresh_gives_new_times_and_jti_same_claims(
    api: Api, keys: Keys, token_clock: SecondsClock
) -> None:
    token = await keys.login(API_KEY)
    token_clock.now += 10
    r = await api.client.get(REFRESH, headers=bearer(token))
    assert r.status_code == 200, r.text
    assert list(r.json()) == ["token"]
    old, new = await claims(api, token), await claims(api, r.json()["token"])
    assert new["iat"] == old["iat"] + 10
    assert new["exp"] == new["iat"] + 3600
    assert new["jti"] != old["jti"]
    for name in ("iat", "exp", "jti"):
        del old[name], new[name]
    assert new == old
    r = await api.get("/-/api/events", headers=bearer(r.json()["token"]))
    assert r.status_code == 200


async def test_expired_token_is_401_2002_and_cannot_be_refreshed(
    api: Api, keys: Keys, token_clock: SecondsClock
) -> None:
    token = await keys.login(API_KEY)
    token_clock.now += 3599
    assert (await api.get("/-/api/events", headers=bearer(token))).status_code == 200
    token_clock.now += 1  # exp <= now, no leeway
    expired = entry(2002, "Authorization", "Token expired")
    assert_error(await api.get("/-/api/events", headers=bearer(token)), 401, expired)
    assert_error(await api.client.get(REFRESH, headers=bearer(token)), 401, expired)
    r = await api.client.post("/v4/events/custom", json=event(), headers=bearer(token))
    assert_error(r, 401, expired)
    assert await api.quarantine() == []


async def test_refresh_needs_a_token(api: Api) -> None:
    assert_error(await api.client.get(REFRESH), 401, UNAUTHORIZED)
    # Basic credentials are not a token: refused as the wrong credential kind (decision, see report).
    r = await api.client.get(REFRESH, headers=basic("1", API_KEY))
    assert_error(r, 403, entry(2005, "Authorization", "Only a workspace token can be refreshed here"))


async def test_refresh_checks_api_version(api: Api) -> None:
    r = await api.get(REFRESH, headers={"Api-Version": "5.0"})
    assert r.status_code == 400


# -- Basic -------------------------------------------------------------------------------------------------


async def test_basic_by_workspace_id_and_guid(api: Api) -> None:
    (workspace,) = await api.app.ctx.store.workspaces()
    for ref in ("1", workspace.guid):
        r = await api.client.get("/-/api/events", headers=basic(ref, API_KEY))
        assert r.status_code == 200, (ref, r.text)
        r = await api.client.post("/v4/events/custom", json=event(), headers=basic(ref, API_KEY))
        assert r.status_code == 202
    items = (await api.get("/-/api/events")).json()["items"]
    key = (await api.app.ctx.store.api_keys(1))[0]
    assert [i["params"]["modifiedBy"]["businessProfileApiKey"] for i in items] == [key.id, key.id]


async def test_basic_scheme_is_case_insensitive(api: Api) -> None:
    header = basic("1", API_KEY)["Authorization"].replace("Basic", "bAsIc")
    assert (await api.client.get("/-/api/events", headers={"Authorization": header})).status_code == 200


async def test_basic_carries_the_keys_permissions(api: Api, keys: Keys) -> None:
    _, secret = await keys.create(["API_CUSTOM_EVENTS_CREATE"])
    r = await api.client.get("/-/api/events", headers=basic("1", secret))
    assert_error(r, 403, entry(2003, "Authorization", "Permission API_EVENTS_READ missing"))
    r = await api.client.post("/v4/events/custom", json=event(), headers=basic("1", secret))
    assert r.status_code == 202


def raw_basic(value: str) -> dict[str, str]:
    return {"Authorization": f"Basic {value}"}


@pytest.mark.parametrize(
    "header",
    [
        basic("2", API_KEY),  # no such workspace
        basic(str(uuid.uuid4()), API_KEY),  # unknown guid
        basic("1", "tk_wrong"),
        basic("", API_KEY),
        basic("1", ""),
        basic("¹", API_KEY),  # a digit to str.isdigit, not to int()
        # (an id past 19 digits or int64 is a bad parameter, 400: tests/http/test_hardening.py, §12)
        basic("-1", API_KEY),
        raw_basic("!!!notbase64!!!"),
        raw_basic(base64.b64encode(f"1{API_KEY}".encode()).decode()),  # no colon
        raw_basic(base64.b64encode(b"1:\xff\xfe").decode()),  # not UTF-8
        raw_basic(base64.b64encode(f"1:{API_KEY}".encode()).decode().rstrip("=") + "*"),
        raw_basic(""),
    ],
)
async def test_bad_basic_credentials_are_401(api: Api, header: dict[str, str]) -> None:
    r = await api.client.get("/-/api/events", headers=header)
    assert_error(r, 401, UNAUTHORIZED)


async def test_basic_with_another_workspaces_id_is_401(api: Api) -> None:
    other = await api.app.ctx.store.create_workspace("second", 0)
    for ref in (str(other.id), other.guid):
        r = await api.client.get("/-/api/events", headers=basic(ref, API_KEY))
        assert_error(r, 401, UNAUTHORIZED)


async def test_basic_with_profile_or_revoked_key_is_401(api: Api, keys: Keys) -> None:
    _, profile_secret = await keys.create(None, kind="profile")
    assert_error(await api.client.get("/-/api/events", headers=basic("1", profile_secret)), 401, UNAUTHORIZED)
    key, secret = await keys.create(None)
    assert (await api.client.get("/-/api/events", headers=basic("1", secret))).status_code == 200
    await api.app.ctx.store.revoke_api_key(key.id, 1)
    api.app.ctx.authn.forget()
    assert_error(await api.client.get("/-/api/events", headers=basic("1", secret)), 401, UNAUTHORIZED)


# -- revocation ---------------------------------------------------------------------------------------------


async def test_revoked_keys_tokens_are_refused(api: Api, keys: Keys) -> None:
    key, secret = await keys.create(None)
    token = await keys.login(secret)
    assert (await api.get("/-/api/events", headers=bearer(token))).status_code == 200
    await api.app.ctx.store.revoke_api_key(key.id, 1)
    api.app.ctx.authn.forget()
    assert_error(await api.get("/-/api/events", headers=bearer(token)), 401, UNAUTHORIZED)
    assert_error(await api.client.get(REFRESH, headers=bearer(token)), 401, UNAUTHORIZED)
    r = await api.client.post("/v4/events/custom", json=event(), headers=bearer(token))
    assert_error(r, 401, UNAUTHORIZED)
    assert await api.events() == []
    assert await api.quarantine() == []
    # Other keys are unaffected.
    assert (await api.get("/-/api/events")).status_code == 200


# -- permissions ---------------------------------------------------------------------------------------------

EVENT_ROWS = [r for r in load_catalog() if not r.is_ai_compat]


@pytest.mark.parametrize("row", EVENT_ROWS, ids=lambda r: r.path)
async def test_each_event_endpoint_needs_its_permission(api: Api, keys: Keys, row: Any) -> None:
    everything_else = [p for p in sorted_permissions() if p != row.permission]
    without = await keys.token(everything_else)
    r = await api.client.post(row.path, json={}, headers=bearer(without))
    assert_error(r, 403, entry(2003, "Authorization", f"Permission {row.permission} missing"), path=row.path)
    record = (await api.quarantine())[0]
    assert (record["reason"], record["status"], record["endpoint"]) == ("permission denied", 403, row.path)
    only = await keys.token([row.permission])
    r = await api.client.post(row.path, content=b"{}", headers={**bearer(only), "Content-Type": "text/plain"})
    assert r.status_code == 415  # step 3 passed


READS = [
    ("GET", "/v4/events/by-client/7000000001"),
    ("GET", "/-/api/events"),
    ("GET", "/-/api/events/6d3f9a4e-2f57-4c8e-9a51-0c1b7e1d2f33"),
    ("GET", "/-/api/definitions"),
    ("GET", "/-/api/definitions/door.open"),
    ("GET", "/-/api/quarantine"),
    ("GET", "/-/api/quarantine/some-id"),
]


@pytest.mark.parametrize(("method", "path"), READS)
async def test_reads_need_events_read(api: Api, keys: Keys, method: str, path: str) -> None:
    token = await keys.token([p for p in sorted_permissions() if p != "API_EVENTS_READ"])
    r = await api.client.request(method, path, headers=bearer(token))
    assert_error(r, 403, entry(2003, "Authorization", "Permission API_EVENTS_READ missing"))
    token = await keys.token(["API_EVENTS_READ"])
    r = await api.client.request(method, path, headers=bearer(token))
    assert r.status_code in (200, 404)


async def test_quarantine_delete_needs_its_permission(api: Api, keys: Keys) -> None:
    token = await keys.token(["API_EVENTS_READ"])
    r = await api.client.delete("/-/api/quarantine/x", headers=bearer(token))
    assert_error(r, 403, entry(2003, "Authorization", "Permission API_QUARANTINE_DELETE missing"))


async def test_key_without_permissions_can_log_in_and_is_refused_everywhere(api: Api, keys: Keys) -> None:
    token = await keys.token([])
    assert (await claims(api, token))["permissions"] == []
    for method, path in [*READS, ("POST", "/v4/events/custom"), ("DELETE", "/-/api/quarantine/x")]:
        r = await api.client.request(method, path, headers=bearer(token))
        assert r.status_code == 403, path
        assert r.json()["errors"][0]["code"] == 2003


async def test_public_paths_need_no_credentials(api: Api) -> None:
    for path in ("/-/health", "/-/ready", "/-/jwks.json"):
        assert (await api.client.get(path)).status_code == 200


# -- keys at rest -----------------------------------------------------------------------------------------------


async def test_keys_are_stored_as_sha256_only(api: Api, keys: Keys) -> None:
    key, secret = await keys.create(["API_EVENTS_READ"])
    blob = sqlite_bytes(api)
    db = api.app.ctx.settings.data_dir / "tracktion.db"
    with contextlib.closing(sqlite3.connect(db)) as conn:
        rows = dict(conn.execute("SELECT id, secret_hash FROM api_keys").fetchall())
    assert rows[key.id] == hashlib.sha256(secret.encode()).hexdigest()
    for plain in (secret, API_KEY):
        assert plain.encode() not in blob
