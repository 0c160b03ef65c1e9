"""Contract §1.4: the first failing step decides, and which failures are quarantined (§11)."""

from __future__ import annotations

import gzip
import json

import pytest

from tests.support.api import Api
from tests.support.http import Keys, assert_error, bearer, entry, event

UNAUTHORIZED = entry(2001, "Authorization", "Invalid or missing credentials")
BAD_VERSION = entry(1016, "Api-Version", "Unsupported Api-Version (5.0)", "5.0")
BAD_TYPE = entry(1015, "Content-Type", "Content-Type must be application/json", "text/plain")
TOO_LARGE = entry(1014, "", "Payload too large (max 1048576 bytes)")
MALFORMED = entry(1000, "", "Malformed JSON")
NO_CUSTOM_PERMISSION = entry(2003, "Authorization", "Permission API_CUSTOM_EVENTS_CREATE missing")

BIG = b'{"pad": "' + b"x" * 1_048_576 + b'"}'


async def test_unknown_path_beats_missing_auth_and_bad_headers(api: Api) -> None:
    r = await api.client.post("/v4/events/nope", content=b"{", headers={"Api-Version": "5.0"})
    assert_error(r, 404, entry(3001, "", "Not found"))


async def test_wrong_method_beats_missing_auth(api: Api) -> None:
    r = await api.client.put("/v4/events/custom", content=b"{", headers={"Api-Version": "5.0"})
    assert r.status_code == 405


async def test_no_auth_beats_bad_api_version(api: Api) -> None:
    r = await api.client.post("/v4/events/custom", json=event(), headers={"Api-Version": "5.0"})
    assert_error(r, 401, UNAUTHORIZED)


async def test_no_auth_beats_bad_content_type_and_size(api: Api) -> None:
    r = await api.client.post("/v4/events/custom", content=BIG, headers={"Content-Type": "text/plain"})
    assert_error(r, 401, UNAUTHORIZED)


async def test_bad_token_beats_everything_after_it_and_is_not_quarantined(api: Api) -> None:
    r = await api.client.post(
        "/v4/events/custom",
        content=b"{",
        headers={**bearer("not.a.token"), "Api-Version": "5.0", "Content-Type": "text/plain"},
    )
    assert_error(r, 401, UNAUTHORIZED)
    assert await api.quarantine() == []


async def test_missing_permission_beats_bad_content_type(api: Api, keys: Keys) -> None:
    token = await keys.token(["API_EVENTS_READ"])
    r = await api.client.post(
        "/v4/events/custom", content=b"{}", headers={**bearer(token), "Content-Type": "text/plain"}
    )
    assert_error(r, 403, NO_CUSTOM_PERMISSION)
    (record,) = await api.quarantine()
    assert record["reason"] == "permission denied"
    assert record["status"] == 403
    assert record["body"] == "{}"


async def test_missing_permission_beats_bad_api_version(api: Api, keys: Keys) -> None:
    token = await keys.token([])
    r = await api.client.post(
        "/v4/events/custom", json=event(), headers={**bearer(token), "Api-Version": "5.0"}
    )
    assert_error(r, 403, NO_CUSTOM_PERMISSION)


async def test_bad_api_version_beats_bad_content_type(api: Api) -> None:
    r = await api.post(
        "/v4/events/custom", content=b"{}", headers={"Api-Version": "5.0", "Content-Type": "text/plain"}
    )
    assert_error(r, 400, BAD_VERSION)
    (record,) = await api.quarantine()
    assert record["reason"] == "unsupported api version"
    assert record["status"] == 400
    assert record["errors"] == [BAD_VERSION]


async def test_bad_content_type_beats_body_size(api: Api) -> None:
    r = await api.post("/v4/events/custom", content=BIG, headers={"Content-Type": "text/plain"})
    assert_error(r, 415, BAD_TYPE)
    (record,) = await api.quarantine()
    assert record["reason"] == "unsupported media type"
    assert record["status"] == 415


async def test_bad_content_encoding_beats_body_size(api: Api) -> None:
    r = await api.post("/v4/events/custom", content=BIG, headers={"Content-Encoding": "br"})
    assert_error(r, 415, entry(1015, "Content-Encoding", "Content-Encoding must be gzip or identity", "br"))


async def test_body_size_beats_malformed_json(api: Api) -> None:
    r = await api.post("/v4/events/custom", content=b"{" + BIG)
    assert_error(r, 413, TOO_LARGE)


async def test_raw_size_beats_invalid_gzip(api: Api) -> None:
    r = await api.post("/v4/events/custom", content=BIG, headers={"Content-Encoding": "gzip"})
    assert_error(r, 413, TOO_LARGE)


async def test_inflated_size_beats_malformed_json(api: Api) -> None:
    r = await api.post(
        "/v4/events/custom", content=gzip.compress(b"{" + BIG), headers={"Content-Encoding": "gzip"}
    )
    assert_error(r, 413, TOO_LARGE)


async def test_malformed_json_beats_shape_rules(api: Api) -> None:
    r = await api.post("/v4/events/custom", content=b'{"label": null,}')
    assert_error(r, 400, MALFORMED)


async def test_shape_rules_beat_params_email_identity_check(api: Api) -> None:
    r = await api.post("/v4/events/custom", event(client={"email": "ana@example.org"}))
    assert r.status_code == 202
    r = await api.post(
        "/v4/events/custom",
        event(_drop=("label",), client={"email": "ana@example.org"}, params={"email": "other@example.org"}),
    )
    assert_error(r, 400, entry(1002, "label", "Label is required"))


async def test_shape_rules_beat_lone_unknown_client_id(api: Api) -> None:
    r = await api.post("/v4/events/custom", event(label="", client={"id": 123}))
    assert_error(r, 400, entry(1003, "label", "Label is required", ""))
    (record,) = await api.quarantine()
    assert record["reason"] == "validation failed"


async def test_revoked_key_beats_missing_permission(api: Api, keys: Keys) -> None:
    key, secret = await keys.create([])
    token = await keys.login(secret)
    await api.app.ctx.store.revoke_api_key(key.id, 0)
    api.app.ctx.authn.forget()
    r = await api.client.post("/v4/events/custom", json=event(), headers=bearer(token))
    assert_error(r, 401, UNAUTHORIZED)
    assert await api.quarantine() == []


async def test_login_endpoint_skips_authentication_but_checks_headers(api: Api) -> None:
    r = await api.client.post(
        "/uauth/v2/auth/login/profile",
        content=b"{",
        headers={"Api-Version": "5.0", "Content-Type": "text/plain"},
    )
    assert_error(r, 400, BAD_VERSION)
    r = await api.client.post(
        "/uauth/v2/auth/login/profile", content=b"{", headers={"Content-Type": "text/plain"}
    )
    assert r.status_code == 415
    r = await api.client.post(
        "/uauth/v2/auth/login/profile", content=b"{", headers={"Content-Type": "application/json"}
    )
    assert_error(r, 400, MALFORMED)
    assert await api.quarantine() == []  # token endpoints are never quarantined


async def test_read_failures_are_not_quarantined(api: Api, keys: Keys) -> None:
    r = await api.get("/-/api/events", params={"limit": "0"})
    assert r.status_code == 400
    r = await api.get("/v4/events/by-client/1", headers={"Api-Version": "5.0"})
    assert r.status_code == 400
    token = await keys.token([])
    r = await api.client.get("/-/api/events", headers=bearer(token))
    assert r.status_code == 403
    assert await api.quarantine() == []


@pytest.mark.parametrize(
    ("headers", "content", "reason", "status"),
    [
        ({"Api-Version": "4.9"}, json.dumps(event()).encode(), "unsupported api version", 400),
        ({"Content-Type": "text/plain"}, json.dumps(event()).encode(), "unsupported media type", 415),
        ({"Content-Encoding": "zstd"}, json.dumps(event()).encode(), "unsupported media type", 415),
        ({}, b'{"label": "unterminated', "malformed json", 400),
        ({"Content-Encoding": "gzip"}, b"\x1f\x8b broken", "malformed json", 400),
    ],
)
async def test_request_level_failures_are_quarantined_with_body(
    api: Api, headers: dict[str, str], content: bytes, reason: str, status: int
) -> None:
    r = await api.post("/v4/events/custom", content=content, headers={"X-Request-Id": "rq-1", **headers})
    assert r.status_code == status
    (record,) = await api.quarantine()
    key_id = (await api.app.ctx.store.api_keys(1))[0].id
    assert record == {
        "id": record["id"],
        "receivedAt": record["receivedAt"],
        "requestId": "rq-1",
        "method": "POST",
        "endpoint": "/v4/events/custom",
        "itemIndex": None,
        "reason": reason,
        "status": status,
        "errors": r.json()["errors"],
        "credential": {"kind": "workspace", "keyId": key_id},
        "body": content.decode("utf-8", errors="replace"),
        "bodyTruncated": False,
    }
