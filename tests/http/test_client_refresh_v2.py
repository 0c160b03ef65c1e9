"""Contract §2.2: `POST /sauth/v2/auth/refresh/client`, the path in Synerise's generated Data Management
client, answers exactly as `/sauth/v3/auth/refresh/client`."""

from __future__ import annotations

import pytest

from tests.support.api import Api
from tests.support.http import assert_error, bearer, entry
from tests.support.security import anonymous_login, parts, profile_secret

UUID = "0b7e1f5a-3c4d-4e5f-8a9b-0c1d2e3f4a5b"
PATHS = ["/sauth/v2/auth/refresh/client", "/sauth/v3/auth/refresh/client"]


@pytest.mark.parametrize("path", PATHS)
async def test_refreshes_a_profile_token(api: Api, path: str) -> None:
    secret = await profile_secret(api)
    token = await anonymous_login(api, secret, UUID)
    r = await api.client.post(path, json={"apiKey": secret}, headers=bearer(token))
    assert r.status_code == 200, r.text
    body = r.json()
    assert set(body) == {"token", "expiration", "created", "origin", "customId", "realm"}
    assert (body["origin"], body["realm"], body["customId"]) == ("SYNERISE", "client", None)
    _, claims, _ = parts(body["token"])
    old = parts(token)[1]
    assert (claims["clientId"], claims["uuid"], claims["kind"]) == (old["clientId"], UUID, "profile")
    assert claims["jti"] != old["jti"]
    assert (body["expiration"], body["created"]) == (claims["exp"], claims["iat"] * 1000)


@pytest.mark.parametrize("path", PATHS)
async def test_refuses_what_v3_refuses(api: Api, path: str) -> None:
    secret = await profile_secret(api)
    token = await anonymous_login(api, secret, UUID)
    r = await api.client.post(path, json={"apiKey": secret}, headers=api.auth())  # a workspace token
    assert_error(r, 403, entry(2005, "Authorization", "Only a profile token can be refreshed here"))
    r = await api.client.post(path, json={"apiKey": "tk_unknown"}, headers=bearer(token))
    assert r.status_code == 401
    assert r.json()["errors"][0]["code"] == 2001
    r = await api.client.post(path, json={"apiKey": secret})
    assert r.status_code == 401
