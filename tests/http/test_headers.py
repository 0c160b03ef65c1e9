"""Contract §1.2: Api-Version, Content-Type, Content-Encoding, X-Forwarded-For, X-Request-Id."""

from __future__ import annotations

import gzip
import ipaddress
import json
import uuid

import pytest

from tests.support.api import Api
from tests.support.http import PEER, MakeApi, assert_error, client_for, entry, event, single

# -- Api-Version -----------------------------------------------------------------------------------------


@pytest.mark.parametrize("version", ["4.0", "4.1", "4.1.2", "4.4", "4.4.0", "4.3.17"])
async def test_accepted_api_versions(api: Api, version: str) -> None:
    r = await api.post("/v4/events/custom", event(), headers={"Api-Version": version})
    assert r.status_code == 202, r.text


async def test_missing_api_version_is_4_4(api: Api) -> None:
    r = await api.post("/v4/events/custom", event())
    assert r.status_code == 202


@pytest.mark.parametrize(
    "version", ["5.0", "4.5", "4", "v4.4", "", "4.4.", "4.10", "3.9", "4.4.0.1", "4.a", " "]
)
async def test_rejected_api_versions(api: Api, version: str) -> None:
    r = await api.post("/v4/events/custom", event(), headers={"Api-Version": version})
    assert_error(r, 400, entry(1016, "Api-Version", f"Unsupported Api-Version ({version})", version))
    assert await api.events() == []


async def test_api_version_checked_on_reads_and_logins(api: Api) -> None:
    r = await api.get("/v4/events/by-client/7000000001", headers={"Api-Version": "5.0"})
    assert_error(r, 400, entry(1016, "Api-Version", "Unsupported Api-Version (5.0)", "5.0"))
    r = await api.client.post(
        "/uauth/v2/auth/login/profile", json={"apiKey": "whatever"}, headers={"Api-Version": "5.0"}
    )
    assert_error(r, 400, entry(1016, "Api-Version", "Unsupported Api-Version (5.0)", "5.0"))


async def test_api_version_checked_on_sauth(api: Api) -> None:
    r = await api.client.post(
        "/sauth/v3/auth/login/client/anonymous",
        json={"apiKey": "x", "uuid": "0a6e0c0e-4b4b-4a53-9d0a-6a8c2b1f7a10"},
        headers={"Api-Version": "4.5"},
    )
    assert_error(r, 400, entry(1016, "Api-Version", "Unsupported Api-Version (4.5)", "4.5"))


@pytest.mark.parametrize(
    "path", ["/-/health", "/-/ready", "/-/jwks.json", "/-/api/events", "/-/api/definitions"]
)
async def test_api_version_ignored_under_dash(api: Api, path: str) -> None:
    r = await api.get(path, headers={"Api-Version": "nonsense"})
    assert r.status_code == 200, r.text


# -- Content-Type ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "content_type",
    [
        "application/json",
        "Application/JSON",
        "application/json; charset=utf-8",
        "application/json;charset=UTF-8",
        'application/json; charset="utf-8"',
        "application/json; foo=bar",
    ],
)
async def test_accepted_content_types(api: Api, content_type: str) -> None:
    r = await api.post(
        "/v4/events/custom", content=json.dumps(event()).encode(), headers={"Content-Type": content_type}
    )
    assert r.status_code == 202, r.text


@pytest.mark.parametrize(
    ("content_type", "message"),
    [
        ("text/plain", "Content-Type must be application/json"),
        ("application/x-www-form-urlencoded", "Content-Type must be application/json"),
        ("application/json-patch+json", "Content-Type must be application/json"),
        ("application/jsonx", "Content-Type must be application/json"),
        ("application/json; charset=latin-1", "Content-Type charset must be utf-8"),
        ("application/json; charset=utf-16", "Content-Type charset must be utf-8"),
    ],
)
async def test_rejected_content_types(api: Api, content_type: str, message: str) -> None:
    r = await api.post(
        "/v4/events/custom", content=json.dumps(event()).encode(), headers={"Content-Type": content_type}
    )
    assert_error(r, 415, entry(1015, "Content-Type", message, content_type))
    assert await api.events() == []


async def test_missing_content_type_is_415(api: Api) -> None:
    r = await api.client.post("/v4/events/custom", content=json.dumps(event()).encode(), headers=api.auth())
    assert_error(r, 415, entry(1015, "Content-Type", "Content-Type must be application/json"))


async def test_content_type_rule_applies_to_login(api: Api) -> None:
    r = await api.client.post(
        "/uauth/v2/auth/login/profile", content=b'{"apiKey": "x"}', headers={"Content-Type": "text/plain"}
    )
    assert_error(r, 415, entry(1015, "Content-Type", "Content-Type must be application/json", "text/plain"))


async def test_content_type_not_checked_on_get(api: Api) -> None:
    r = await api.get("/-/api/events", headers={"Content-Type": "text/plain"})
    assert r.status_code == 200


# -- Content-Encoding --------------------------------------------------------------------------------------


# An empty Content-Encoding is an empty list of codings (RFC 9110 `#content-coding`): no encoding.
@pytest.mark.parametrize("encoding", ["identity", "Identity", ""])
async def test_identity_encoding(api: Api, encoding: str) -> None:
    r = await api.post(
        "/v4/events/custom", content=json.dumps(event()).encode(), headers={"Content-Encoding": encoding}
    )
    assert r.status_code == 202, r.text


@pytest.mark.parametrize("encoding", ["gzip", "GZIP"])
async def test_gzip_encoding(api: Api, encoding: str) -> None:
    body = gzip.compress(json.dumps(event(params={"zipped": True})).encode())
    r = await api.post("/v4/events/custom", content=body, headers={"Content-Encoding": encoding})
    assert r.status_code == 202, r.text
    assert (await single(api))["params"]["zipped"] is True


@pytest.mark.parametrize("encoding", ["br", "deflate", "compress", "gzip, br", "x-gzip"])
async def test_other_encodings_are_415(api: Api, encoding: str) -> None:
    r = await api.post(
        "/v4/events/custom", content=json.dumps(event()).encode(), headers={"Content-Encoding": encoding}
    )
    assert_error(
        r, 415, entry(1015, "Content-Encoding", "Content-Encoding must be gzip or identity", encoding)
    )
    assert await api.events() == []


# -- X-Forwarded-For -----------------------------------------------------------------------------------------


async def test_forwarded_for_ignored_without_trusted_proxies(api: Api) -> None:
    r = await api.post("/v4/events/custom", event(), headers={"X-Forwarded-For": "198.51.100.23"})
    assert r.status_code == 202
    assert (await single(api))["params"]["ip"] == PEER


async def test_forwarded_for_honoured_from_trusted_proxy(make_api: MakeApi) -> None:
    api = await make_api(trusted_proxies=(ipaddress.ip_network("203.0.113.0/24"),))
    r = await api.post("/v4/events/custom", event(), headers={"X-Forwarded-For": "198.51.100.23"})
    assert r.status_code == 202
    assert (await single(api))["params"]["ip"] == "198.51.100.23"


async def test_forwarded_for_takes_rightmost_untrusted(make_api: MakeApi) -> None:
    api = await make_api(
        trusted_proxies=(ipaddress.ip_network("203.0.113.0/24"), ipaddress.ip_network("10.0.0.0/8"))
    )
    xff = "192.0.2.1, 198.51.100.23, 10.1.2.3, 203.0.113.99"
    r = await api.post("/v4/events/custom", event(), headers={"X-Forwarded-For": xff})
    assert r.status_code == 202
    # 203.0.113.99 and 10.1.2.3 are proxies; 192.0.2.1 may be forged by the client.
    assert (await single(api))["params"]["ip"] == "198.51.100.23"


async def test_forwarded_for_ignored_from_untrusted_peer(make_api: MakeApi) -> None:
    api = await make_api(trusted_proxies=(ipaddress.ip_network("10.0.0.0/8"),))
    r = await api.post("/v4/events/custom", event(), headers={"X-Forwarded-For": "198.51.100.23"})
    assert r.status_code == 202
    assert (await single(api))["params"]["ip"] == PEER


async def test_forwarded_ipv6_is_compressed(make_api: MakeApi) -> None:
    api = await make_api(trusted_proxies=(ipaddress.ip_network("203.0.113.0/24"),))
    r = await api.post("/v4/events/custom", event(), headers={"X-Forwarded-For": "2001:0db8:0000:0000::0001"})
    assert r.status_code == 202
    assert (await single(api))["params"]["ip"] == "2001:db8::1"


async def test_ipv6_peer_is_compressed(api: Api) -> None:
    other = client_for(api, ("2001:0db8:0000:0000:0000:0000:0000:0002", 443))
    async with other.client:
        r = await other.post("/v4/events/custom", event())
        assert r.status_code == 202
    assert (await single(api))["params"]["ip"] == "2001:db8::2"


# -- X-Request-Id ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("rid", ["abc", "A.b_c-9", "x" * 128])
async def test_valid_request_id_is_echoed(api: Api, rid: str) -> None:
    r = await api.post("/v4/events/custom", event(), headers={"X-Request-Id": rid})
    assert r.headers["x-request-id"] == rid
    r = await api.get("/-/nope", headers={"X-Request-Id": rid})
    assert r.status_code == 404
    assert r.headers["x-request-id"] == rid


@pytest.mark.parametrize("rid", ["", "x" * 129, "has space", "semi;colon", "ünï", "a/b"])
async def test_invalid_request_id_is_replaced_by_uuid4(api: Api, rid: str) -> None:
    r = await api.post(
        "/v4/events/custom",
        event(),
        headers={"X-Request-Id": rid.encode("utf-8")},  # type: ignore[dict-item]
    )
    assert r.status_code == 202
    generated = r.headers["x-request-id"]
    assert uuid.UUID(generated).version == 4
    assert generated != rid


async def test_request_id_generated_when_absent_and_unique(api: Api) -> None:
    a = (await api.get("/-/health")).headers["x-request-id"]
    b = (await api.get("/-/health")).headers["x-request-id"]
    assert uuid.UUID(a).version == 4 and uuid.UUID(b).version == 4
    assert a != b


async def test_request_id_recorded_in_quarantine(api: Api) -> None:
    r = await api.post("/v4/events/custom", {"client": {"customId": "c"}}, headers={"X-Request-Id": "req-42"})
    assert r.status_code == 400
    (record,) = await api.quarantine()
    assert record["requestId"] == "req-42"
    r = await api.post("/v4/events/custom", content=b"{", headers={"X-Request-Id": "bad id"})
    assert r.status_code == 400
    record = (await api.quarantine())[0]
    assert record["reason"] == "malformed json"
    assert record["requestId"] == r.headers["x-request-id"]
