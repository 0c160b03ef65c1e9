"""Contract §1.1 (routing), §1.5 (202), §1.6 (error body shape) and §1.7's 401 header."""

from __future__ import annotations

import pytest

from tests.support.api import Api
from tests.support.http import TIMESTAMP_RE, assert_error, entry, event


async def test_error_body_shape_is_locked(api: Api) -> None:
    r = await api.post("/v4/events/custom?x=1", {"client": {"customId": "c"}, "action": "door.open"})
    assert r.status_code == 400
    assert r.headers["content-type"] == "application/json"
    body = r.json()
    assert list(body) == ["error", "message", "path", "status", "timestamp", "errors"]
    assert body["error"] == "Bad Request"
    assert body["path"] == "/v4/events/custom"  # without the query
    assert body["status"] == 400
    assert TIMESTAMP_RE.match(body["timestamp"])
    assert body["message"] == "Label is required"
    assert body["errors"] == [entry(1002, "label", "Label is required")]
    assert list(body["errors"][0]) == ["code", "field", "message", "rejectedValue"]


async def test_message_counts_errors_when_more_than_one(api: Api) -> None:
    r = await api.post("/v4/events/custom", {"client": {"customId": "c"}, "action": ""})
    body = assert_error(
        r,
        400,
        entry(1002, "label", "Label is required"),
        entry(1003, "action", "Action cannot be empty", ""),
    )
    assert body["message"] == "Request validation failed (2 errors)"


@pytest.mark.parametrize(
    ("status", "phrase"), [(404, "Not Found"), (405, "Method Not Allowed"), (401, "Unauthorized")]
)
async def test_reason_phrase_matches_status(api: Api, status: int, phrase: str) -> None:
    if status == 404:
        r = await api.get("/v4/nope")
    elif status == 405:
        r = await api.get("/v4/events/custom")
    else:
        r = await api.client.get("/-/api/events")
    assert r.status_code == status
    assert r.json()["error"] == phrase


async def test_unknown_path_is_404(api: Api) -> None:
    r = await api.get("/v4/events/unknown")
    assert_error(r, 404, entry(3001, "", "Not found"), path="/v4/events/unknown")


@pytest.mark.parametrize(
    "path",
    [
        "/v4/events/custom/",  # trailing slash is another path
        "/V4/events/custom",  # case-sensitive
        "/v4/Events/custom",
        "/v4/events/Custom",
        "/v4/events/custom/extra",
        "/v4/events",  # GET-only profile read; POST is a 405, tested below
        "//v4/events/custom",
    ],
)
async def test_paths_match_exactly(api: Api, path: str) -> None:
    r = await api.post(path, event())
    if path == "/v4/events":
        assert r.status_code == 405
        assert r.headers["allow"] == "GET"
        return
    assert_error(r, 404, entry(3001, "", "Not found"))
    assert await api.events() == []
    assert await api.quarantine() == []  # step 1 failures are never quarantined


@pytest.mark.parametrize(
    "path",
    [
        "/-/api/events/",
        "/-/api/definitions/",
        "/v4/events/by-client/",
        "/v4/events/by-client/1/",
        "/-/health/",
    ],
)
async def test_trailing_slash_on_read_paths_is_404(api: Api, path: str) -> None:
    r = await api.get(path)
    assert_error(r, 404, entry(3001, "", "Not found"))


async def test_query_string_never_affects_routing(api: Api) -> None:
    r = await api.post("/v4/events/custom?partial=true&path=/v4/nothing", event())
    assert r.status_code == 202, r.text
    r = await api.get("/-/health?verbose=1")
    assert r.status_code == 200
    assert r.json() == {"status": "ok"}


@pytest.mark.parametrize(
    ("method", "path", "allow"),
    [
        ("GET", "/v4/events/custom", "POST"),
        ("PUT", "/v4/events/custom", "POST"),
        ("DELETE", "/v4/events/hit-timer", "POST"),
        ("POST", "/-/health", "GET"),
        ("POST", "/-/api/events", "GET"),
        ("DELETE", "/-/api/events/6d3f9a4e-2f57-4c8e-9a51-0c1b7e1d2f33", "GET"),
        ("POST", "/v4/events/by-client/7000000001", "GET"),
        ("GET", "/uauth/v2/auth/login/profile", "POST"),
        ("POST", "/-/api/quarantine/abc", "DELETE, GET"),
        ("PATCH", "/-/api/quarantine", "GET"),
        ("OPTIONS", "/v4/events/custom", "POST"),  # no CORS origins configured
    ],
)
async def test_known_path_wrong_method_is_405_with_allow(
    api: Api, method: str, path: str, allow: str
) -> None:
    r = await api.client.request(method, path, headers=api.auth())
    assert_error(r, 405, entry(3002, "", f"Method {method} not allowed"), path=path)
    assert r.headers["allow"] == allow


async def test_routing_comes_before_authentication(api: Api) -> None:
    r = await api.client.post("/v4/events/nope", json=event())
    assert r.status_code == 404
    r = await api.client.get("/v4/events/custom")
    assert r.status_code == 405
    assert "www-authenticate" not in r.headers


async def test_202_has_empty_body_and_no_content_type(api: Api) -> None:
    r = await api.post("/v4/events/custom", event())
    assert r.status_code == 202
    assert r.content == b""
    assert r.headers["content-length"] == "0"
    assert "content-type" not in r.headers


async def test_401_carries_www_authenticate(api: Api) -> None:
    r = await api.client.post("/v4/events/custom", json=event())
    assert_error(r, 401, entry(2001, "Authorization", "Invalid or missing credentials"))
    assert r.headers["www-authenticate"] == 'Bearer realm="tracktion"'


async def test_success_responses_have_no_www_authenticate(api: Api) -> None:
    r = await api.get("/-/api/events")
    assert r.status_code == 200
    assert "www-authenticate" not in r.headers


async def test_head_is_not_routed_implicitly(api: Api) -> None:
    # The route table lists GET only; HEAD is "another method" (§1.1), so 405 with Allow (decision).
    r = await api.client.head("/-/api/events", headers=api.auth())
    assert r.status_code == 405
    assert r.headers["allow"] == "GET"
