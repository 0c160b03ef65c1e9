"""Issue 22, in process: what an independent attack on the running server found, each fixed with a test that
failed on the code before the fix (docs/api.md §11, §12, §13.1, §13.5, §13.8).

* bad input never gets a 500: lone surrogates where a key or a name is read, integers of thousands of digits
  (Python's `int()` digit limit) and integers past int64 wherever an integer is read from a path, a query or a
  header (§12: at most 19 digits → 400, 1017; path ids → 404, 3001);
* an open `/-/api/stream` ends with `event: error` once its credential is revoked or its token expires (§13.5);
* one response page holds at most 16 MiB of JSON and ends early instead (§12);
* a request-level quarantine body never shows an `apiKey` or `eventSalt` value (§11);
* the data dir is 0700 and the SQLite files 0600, whatever the umask; loose modes are fixed at start (§13.8);
* `/-/metrics` answers only loopback and trusted-proxy peers, or the bearer of the metrics token (§13.1).

The HTTP server's own limits (header sizes and timeouts, connection bound, framing errors) need a real
socket: tests/reliability/test_server_limits.py.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import os
import stat
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import msgspec
import pytest

from tests.support.api import API_KEY, Api
from tests.support.http import MakeApi, assert_error, basic, bearer, client_for, entry, event
from tests.support.security import (
    ANONYMOUS,
    CLIENT_REFRESH,
    LOGIN,
    anonymous_login,
    profile_secret,
    stream_scope,
)
from tracktion.http import stream

ADMIN_TOKEN = "admin-secret-0123456789"
HUGE = "9" * 5000  # past Python's 4300-digit int() limit: int(HUGE) raises ValueError
TWENTY = "1" + "0" * 19  # 20 digits: within int() but past int64
PAST_INT64 = str(2**63)  # 19 digits, one past the largest int64
PAGE_BYTES = 16 * 1024 * 1024  # §12
UUID_A = "0b7e1f5a-3c4d-4e5f-8a9b-0c1d2e3f4a5b"


def bad_parameter(name: str, value: str, message: str) -> dict[str, Any]:
    return entry(1017, name, message, value[:256])


async def sse_until_end(api: Api, path: str, headers: dict[str, str], seconds: float) -> bytes:
    """The bytes a stream client receives until the server ends the stream, or `seconds` pass (then the
    client leaves). Raw ASGI: httpx's transport would wait for the end of a never-ending answer."""
    scope = stream_scope(path, headers)
    gone = asyncio.Event()
    asked = False
    chunks: list[bytes] = []

    async def receive() -> dict[str, Any]:
        nonlocal asked
        if not asked:
            asked = True
            return {"type": "http.request", "body": b"", "more_body": False}
        await gone.wait()
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.body":
            chunks.append(message.get("body", b""))

    task = asyncio.ensure_future(api.app(scope, receive, send))
    done, _ = await asyncio.wait({task}, timeout=seconds)
    if not done:
        gone.set()
        await asyncio.wait_for(task, 5)
    return b"".join(chunks)


# -- 1. lone surrogates -------------------------------------------------------------------------------------
# msgspec refuses them, the body decoder's fallback accepts them (§3.2 wants such identifiers answered as
# JSON), and `str.encode("utf-8")` then raised where a secret was hashed or a name stored: a 500.

SURROGATE_KEY = b'{"apiKey": "\\ud800"}'


@pytest.mark.parametrize("path", [LOGIN, "/v4/auth/login/profile"])
async def test_lone_surrogate_api_key_at_login_is_401(api: Api, path: str) -> None:
    r = await api.client.post(path, content=SURROGATE_KEY, headers={"Content-Type": "application/json"})
    assert_error(r, 401, entry(2001, "apiKey", "Invalid API key"))


async def test_lone_surrogate_api_key_at_anonymous_login_is_401(api: Api) -> None:
    body = b'{"apiKey": "\\udfff", "uuid": "%s"}' % UUID_A.encode()
    r = await api.client.post(ANONYMOUS, content=body, headers={"Content-Type": "application/json"})
    assert_error(r, 401, entry(2001, "apiKey", "Invalid API key"))


async def test_lone_surrogate_api_key_at_client_refresh_is_401(api: Api) -> None:
    token = await anonymous_login(api, await profile_secret(api), UUID_A)
    r = await api.client.post(
        CLIENT_REFRESH, content=SURROGATE_KEY, headers={"Content-Type": "application/json", **bearer(token)}
    )
    assert_error(r, 401, entry(2001, "apiKey", "Invalid API key"))


@pytest.mark.parametrize(
    ("path", "body", "field"),
    [
        ("/-/admin/workspaces", b'{"name": "shop \\ud800"}', "name"),
        ("/-/admin/workspaces/1/api-keys", b'{"kind": "workspace", "name": "\\udc00"}', "name"),
    ],
)
async def test_lone_surrogate_admin_names_are_400(
    make_api: MakeApi, path: str, body: bytes, field: str
) -> None:
    api = await make_api(admin_token=ADMIN_TOKEN, login=False)
    headers = {"Content-Type": "application/json", **bearer(ADMIN_TOKEN)}
    r = await api.client.post(path, content=body, headers=headers)
    assert r.status_code == 400, r.text
    (error,) = r.json()["errors"]
    assert (error["code"], error["field"]) == (1008, field)
    assert len((await api.client.get("/-/admin/workspaces", headers=bearer(ADMIN_TOKEN))).json()) == 1


# -- 1. integers: at most 19 digits, within int64 (§12) -----------------------------------------------------


@pytest.mark.parametrize("value", [HUGE, TWENTY, PAST_INT64])
async def test_query_integers_past_int64_are_400_1017(api: Api, value: str) -> None:
    r = await api.get("/-/api/events", params={"limit": value})
    assert_error(r, 400, bad_parameter("limit", value, "limit must be an integer between 1 and 1000"))
    r = await api.get("/-/api/events", params={"clientId": value})
    assert_error(r, 400, bad_parameter("clientId", value, "clientId must be a positive integer"))
    r = await asyncio.wait_for(api.get("/-/api/stream", params={"clientId": value}), 5)
    assert_error(r, 400, bad_parameter("clientId", value, "clientId must be a positive integer"))
    r = await api.get("/v4/events/by-client/7000000001", params={"limit": value})
    assert r.status_code in (400, 404), r.text  # the profile may not exist: 404 first; never a 500
    r = await api.get("/-/api/quarantine", params={"limit": value})
    assert_error(r, 400, bad_parameter("limit", value, "limit must be an integer between 1 and 1000"))


async def test_limit_with_twenty_digits_is_400_even_when_its_value_is_small(api: Api) -> None:
    value = "0" * 19 + "5"
    r = await api.get("/-/api/events", params={"limit": value})
    assert_error(r, 400, bad_parameter("limit", value, "limit must be an integer between 1 and 1000"))
    assert (await api.get("/-/api/events", params={"limit": "0" * 18 + "5"})).status_code == 200


@pytest.mark.parametrize("value", [HUGE, TWENTY, PAST_INT64])
async def test_path_ids_past_int64_are_404_3001(make_api: MakeApi, value: str) -> None:
    api = await make_api(admin_token=ADMIN_TOKEN)
    for path in (f"/v4/events/by-client/{value}", f"/v4/clients/{value}"):
        r = await api.get(path)
        assert r.status_code == 404, (path[:40], r.text[:300])
        assert r.json()["errors"][0]["code"] == 3001
    r = await api.client.get(f"/-/admin/workspaces/{value}/api-keys", headers=bearer(ADMIN_TOKEN))
    assert r.status_code == 404 and r.json()["errors"][0]["code"] == 3001, r.text[:300]
    r = await api.client.post(
        f"/-/admin/workspaces/{value}/api-keys", json={"kind": "workspace"}, headers=bearer(ADMIN_TOKEN)
    )
    assert r.status_code == 404 and r.json()["errors"][0]["code"] == 3001, r.text[:300]


async def test_path_ids_that_are_not_integers_stay_400_1017(api: Api) -> None:
    r = await api.get("/v4/events/by-client/abc")
    assert_error(r, 400, bad_parameter("clientId", "abc", "clientId must be a positive integer"))
    r = await api.get("/v4/events/by-client/9223372036854775807")  # int64 max: a valid id, no such profile
    assert r.status_code == 404


@pytest.mark.parametrize("value", [HUGE, TWENTY, PAST_INT64, "abc", "12a", "1.5"])
async def test_last_event_id_not_an_int64_is_400_1017(api: Api, value: str) -> None:
    # Bounded: before the fix such an id was ignored and the stream (which never ends) was answered.
    r = await asyncio.wait_for(api.get("/-/api/stream", headers={"Last-Event-ID": value}), 5)
    assert r.status_code == 400, r.text[:300]
    (error,) = r.json()["errors"]
    assert (error["code"], error["field"]) == (1017, "Last-Event-ID")


async def test_last_event_id_at_int64_max_replays_nothing(api: Api) -> None:
    assert (await api.send_event(event())).status_code == 202
    seen = await sse_until_end(api, "/-/api/stream", {**api.auth(), "Last-Event-ID": str(2**63 - 1)}, 0.5)
    assert b"event: event" not in seen


@pytest.mark.parametrize("value", [HUGE, TWENTY, PAST_INT64])
async def test_basic_workspace_id_past_int64_is_400_1017(api: Api, value: str) -> None:
    r = await api.client.get("/-/api/events", headers=basic(value, API_KEY))
    assert r.status_code == 400, r.text[:300]
    (error,) = r.json()["errors"]
    assert (error["code"], error["field"]) == (1017, "Authorization")
    assert (await api.client.get("/-/api/events", headers=basic("1", API_KEY))).status_code == 200


async def test_api_version_with_thousands_of_digits_is_400_1016(api: Api) -> None:
    r = await api.post("/v4/events/custom", event(), headers={"Api-Version": "4." + HUGE})
    assert r.status_code == 400, r.text[:300]
    assert r.json()["errors"][0]["code"] == 1016


# -- 4. a live stream ends when its credential does (§13.5) ------------------------------------------------


def error_events(raw: bytes) -> list[dict[str, Any]]:
    out = []
    for frame in raw.split(b"\n\n"):
        lines = frame.split(b"\n")
        if b"event: error" in lines:
            data = next(line for line in lines if line.startswith(b"data: "))
            out.append(msgspec.json.decode(data[len(b"data: ") :]))
    return out


async def test_stream_ends_when_its_token_expires(make_api: MakeApi) -> None:
    api = await make_api(token_ttl_seconds=2)
    started = asyncio.get_running_loop().time()
    raw = await sse_until_end(api, "/-/api/stream", api.auth(), seconds=6)
    seconds = asyncio.get_running_loop().time() - started
    (error,) = error_events(raw)
    assert (error["status"], error["errors"][0]["code"]) == (401, 2002), error
    assert error["path"] == "/-/api/stream"
    assert seconds < 3.5, seconds  # re-checked at `exp`, not at the next 5-second check
    assert raw.endswith(b"\n\n")


@pytest.fixture
def quick_recheck(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    assert stream.RECHECK_SECONDS == 5.0  # §13.5: at least every 5 s
    monkeypatch.setattr(stream, "RECHECK_SECONDS", 0.2)
    yield


@pytest.mark.parametrize("scheme", ["bearer", "basic"])
async def test_stream_ends_when_its_key_is_revoked(
    make_api: MakeApi, quick_recheck: None, scheme: str
) -> None:
    api = await make_api(admin_token=ADMIN_TOKEN)
    admin = bearer(ADMIN_TOKEN)
    key = (
        await api.client.post("/-/admin/workspaces/1/api-keys", json={"kind": "workspace"}, headers=admin)
    ).json()
    headers = bearer(await api.login(key["apiKey"])) if scheme == "bearer" else basic("1", key["apiKey"])

    async def revoke_soon() -> None:
        await asyncio.sleep(0.5)
        r = await api.client.delete(f"/-/admin/api-keys/{key['id']}", headers=admin)
        assert r.status_code == 204

    revoking = asyncio.ensure_future(revoke_soon())
    raw = await sse_until_end(api, "/-/api/stream", headers, seconds=4)
    await revoking
    (error,) = error_events(raw)
    assert (error["status"], error["errors"][0]["code"]) == (401, 2001), error


async def test_stream_of_a_valid_credential_goes_on(make_api: MakeApi, quick_recheck: None) -> None:
    api = await make_api()
    raw = await sse_until_end(api, "/-/api/stream", api.auth(), seconds=1.0)
    assert error_events(raw) == [] and raw.startswith(b"retry: 2000\n")


# -- 5. one response page: at most 16 MiB of JSON (§12) ----------------------------------------------------

BIG = 1_000_000  # one event's param string: 18 of them are past 16 MiB, each body within 1 MiB
MANY = 18


async def _big_events(api: Api, n: int = MANY) -> None:
    for i in range(n):
        body = event(client={"customId": "big"}, params={"i": i, "s": "x" * BIG})
        assert (await api.send_event(body)).status_code == 202


async def test_event_search_page_ends_early_with_a_cursor(api: Api) -> None:
    await _big_events(api)
    seen: list[int] = []
    cursor = None
    pages_read = 0
    while True:
        params: dict[str, Any] = {"limit": 1000, **({"cursor": cursor} if cursor else {})}
        r = await api.get("/-/api/events", params=params)
        assert r.status_code == 200
        assert len(r.content) <= PAGE_BYTES, len(r.content)
        page = r.json()
        assert page["items"], "a page always holds at least one item"
        seen += [item["params"]["i"] for item in page["items"]]
        pages_read += 1
        cursor = page["nextCursor"]
        if cursor is None:
            break
    assert pages_read >= 2
    assert sorted(seen) == list(range(MANY))  # each exactly once, none lost at a page end


async def test_profile_event_lists_hold_fewer_items(api: Api) -> None:
    await _big_events(api)
    (first,) = (await api.get("/-/api/events", params={"limit": 1})).json()["items"]
    r = await api.get(f"/v4/events/by-client/{first['client']['id']}", params={"limit": 1000})
    assert r.status_code == 200
    assert len(r.content) <= PAGE_BYTES
    items = r.json()
    assert 1 <= len(items) < MANY
    assert [item["params"]["i"] for item in items] == list(range(MANY - 1, MANY - 1 - len(items), -1))


async def test_profile_list_read_in_several_fetches_is_whole_and_in_order(api: Api) -> None:
    """Past the first fetch (100 rows) a profile's list continues after the last event's (time, seq):
    nothing lost or repeated, events of the same millisecond included."""
    batch = [
        {"type": "custom", **event(params={"i": i}), "time": "2024-03-05T10:15:30.250Z"} for i in range(150)
    ]
    batch += [{"type": "custom", **event(params={"i": 150 + i})} for i in range(100)]
    assert (await api.post("/v4/events/batch", batch)).status_code == 202
    everything = []
    cursor = None
    while True:
        page = (
            await api.get("/-/api/events", params={"limit": 7, **({"cursor": cursor} if cursor else {})})
        ).json()
        everything += [item["uuid"] for item in page["items"]]
        if (cursor := page["nextCursor"]) is None:
            break
    (first,) = (await api.get("/-/api/events", params={"limit": 1})).json()["items"]
    r = await api.get(f"/v4/events/by-client/{first['client']['id']}", params={"limit": 1000})
    assert [item["uuid"] for item in r.json()] == everything and len(everything) == 250


async def test_own_events_list_holds_fewer_items(api: Api) -> None:
    token = await anonymous_login(api, await profile_secret(api), UUID_A)
    for i in range(MANY):
        body = {"action": "a.b", "label": "l", "params": {"i": i, "s": "x" * BIG}}
        r = await api.client.post("/v4/events/custom", json=body, headers=bearer(token))
        assert r.status_code == 202
    r = await api.client.get("/v4/events", params={"limit": 1000}, headers=bearer(token))
    assert r.status_code == 200 and len(r.content) <= PAGE_BYTES
    assert 1 <= len(r.json()) < MANY


async def test_quarantine_page_ends_early_with_a_cursor(api: Api) -> None:
    for i in range(MANY):
        body = event(label="", params={"i": i, "s": "x" * BIG})  # invalid: kept whole as the record's item
        assert (await api.send_event(body)).status_code == 400
    r = await api.get("/-/api/quarantine", params={"limit": 1000})
    assert r.status_code == 200 and len(r.content) <= PAGE_BYTES
    first = r.json()
    assert 1 <= len(first["items"]) < MANY and first["nextCursor"] is not None
    rest = (await api.get("/-/api/quarantine", params={"limit": 1000, "cursor": first["nextCursor"]})).json()
    got = [item["item"]["params"]["i"] for item in first["items"] + rest["items"]]
    assert sorted(got) == list(range(MANY)) and rest["nextCursor"] is None


async def test_one_item_past_the_cap_is_still_answered(api: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("tracktion.http.pages.PAGE_BYTES", 1000)
    await _big_events(api, 2)
    page = (await api.get("/-/api/events", params={"limit": 10})).json()
    assert len(page["items"]) == 1 and page["nextCursor"] is not None


# -- 6. request-level quarantine bodies never show a secret (§11) -----------------------------------------


@pytest.mark.parametrize(
    ("body", "secret"),
    [
        (b'{"action":"a.b","label":"x","params":{"apiKey":"s3cret-1","x":1}', b"s3cret-1"),  # unclosed
        (b'{"eventSalt" : "salt-2", "label": "x", bad}', b"salt-2"),
        (b'{"params": {"apiKey": "s3\\"cret-3"}} trailing', b"cret-3"),  # an escaped quote inside
        (b'{"label":"x","params":{"apiKey":"s3cret-4', b"s3cret-4"),  # cut inside the value
        (b'[{"apiKey":"a-sec5"},{"eventSalt":"a-sec5"}, ', b"sec5"),
    ],
)
async def test_malformed_body_excerpt_hides_api_key_and_salt(api: Api, body: bytes, secret: bytes) -> None:
    r = await api.post("/v4/events/custom", content=body)
    assert r.status_code == 400
    r = await api.get("/-/api/quarantine")
    (record,) = r.json()["items"]
    assert record["itemIndex"] is None and "body" in record
    assert secret not in r.content, record["body"]
    assert '"***"' in record["body"]
    # The store keeps what was sent (§11: the API output is what hides it).
    stored = await api.app.ctx.store.quarantine_record(1, record["id"])
    assert stored is not None and secret.decode() in stored.body


async def test_excerpt_without_secrets_is_unchanged(api: Api) -> None:
    body = b'{"action":"a.b","label":"x","params":{"apiKeys":"visible","key":"apiKey"}'
    assert (await api.post("/v4/events/custom", content=body)).status_code == 400
    (record,) = await api.quarantine()
    assert record["body"] == body.decode()


# -- 7. the store's files are the owner's only (§13.8) -----------------------------------------------------


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
def loose_umask() -> Iterator[None]:
    previous = os.umask(0o002)  # group- and world-readable files unless tracktion says otherwise
    yield
    os.umask(previous)


async def test_data_dir_and_sqlite_files_are_private(
    make_api: MakeApi, tmp_path: Path, loose_umask: None
) -> None:
    data_dir = tmp_path / "private"
    api = await make_api(data_dir=data_dir)
    assert (await api.send_event(event())).status_code == 202
    assert _mode(data_dir) == 0o700
    files = sorted(data_dir.glob("tracktion.db*"))
    if api.app.ctx.settings.database_url is None:
        assert {p.name for p in files} >= {"tracktion.db", "tracktion.db-wal", "tracktion.db-shm"}
    for path in files:
        assert _mode(path) == 0o600, (path.name, oct(_mode(path)))


async def test_loose_modes_of_an_existing_store_are_fixed_at_start(
    make_api: MakeApi, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    data_dir = tmp_path / "loose"
    api = await make_api(data_dir=data_dir)
    assert (await api.send_event(event())).status_code == 202
    await api.app.shutdown()
    data_dir.chmod(0o755)
    loosened = [p for p in data_dir.glob("tracktion.db*")]
    for path in loosened:
        path.chmod(0o644)
    caplog.set_level(logging.WARNING)
    api = await make_api(data_dir=data_dir)
    assert _mode(data_dir) == 0o700
    for path in data_dir.glob("tracktion.db*"):
        assert _mode(path) == 0o600, path.name
    warned = " ".join(r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING)
    assert str(data_dir) in warned
    for path in loosened:
        assert path.name in warned
    assert (await api.get("/-/api/events")).status_code == 200


# -- 8. who may read /-/metrics (§13.1) --------------------------------------------------------------------


@pytest.mark.parametrize("peer", ["127.0.0.1", "127.8.9.10", "::1", "::ffff:127.0.0.1"])
async def test_metrics_without_token_answer_loopback_peers(api: Api, peer: str) -> None:
    r = await client_for(api, (peer, 40000)).client.get("/-/metrics")
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/plain; version=0.0.4")


@pytest.mark.parametrize("forwarded", [None, "127.0.0.1"])
async def test_metrics_without_token_are_404_to_other_peers(api: Api, forwarded: str | None) -> None:
    headers = {"X-Forwarded-For": forwarded} if forwarded else {}
    r = await api.client.get("/-/metrics", headers=headers)  # the test peer, 203.0.113.7
    assert_error(r, 404, entry(3001, "", "Not found"), path="/-/metrics")
    assert "tracktion_" not in r.text
    r = await api.client.get("/-/metrics", headers={"Authorization": f"Bearer {api.token}"})
    assert r.status_code == 404  # an API credential is not a metrics credential


async def test_metrics_without_token_answer_trusted_proxies(make_api: MakeApi) -> None:
    api = await make_api(trusted_proxies=(ipaddress.ip_network("203.0.113.0/24"),), login=False)
    r = await api.client.get("/-/metrics", headers={"X-Forwarded-For": "198.51.100.1"})
    assert r.status_code == 200
    r = await client_for(api, ("198.51.100.1", 1)).client.get("/-/metrics")
    assert r.status_code == 404


async def test_metrics_token_is_required_even_from_loopback(make_api: MakeApi) -> None:
    api = await make_api(metrics_token="scrape-secret", login=False)
    local = client_for(api, ("127.0.0.1", 1))
    assert (await local.client.get("/-/metrics")).status_code == 401
    r = await api.client.get("/-/metrics", headers={"Authorization": "Bearer scrape-secret"})
    assert r.status_code == 200  # with the token, from anywhere
