"""Contract §1.2 for the headers real clients send that no other test sends: `Accept` of any kind (ignored),
`Accept-Encoding` (the contract names no response encoding: answers are never compressed), and a login
without `Api-Version` (missing = 4.4). `requests` sends `Accept: */*` and `Accept-Encoding: gzip, deflate` by
default (the PyPI Synerise SDK, tests/clients/test_python_sdk.py, over a real socket)."""

from __future__ import annotations

import pytest

from tests.support.api import API_KEY, Api
from tests.support.http import assert_error, entry, event

ACCEPTS = ["*/*", "application/json", "text/html", "application/xml", "image/png;q=0.1", "nonsense"]
ENCODINGS = ["gzip, deflate", "br", "gzip;q=1.0, identity;q=0", "zstd"]


@pytest.mark.parametrize("accept", ACCEPTS)
async def test_accept_is_ignored(api: Api, accept: str) -> None:
    headers = {"Accept": accept}
    r = await api.client.post("/uauth/v2/auth/login/profile", json={"apiKey": API_KEY}, headers=headers)
    assert r.status_code == 200
    assert r.headers["content-type"] == "application/json"
    assert set(r.json()) == {"token"}
    r = await api.post("/v4/events/custom", event(), headers=headers)
    assert (r.status_code, r.content) == (202, b"")
    r = await api.post("/v4/events/custom", event(label=None), headers=headers)
    assert_error(r, 400, entry(1002, "label", "Label is required"))  # still the JSON error body
    r = await api.get("/-/api/events", headers=headers)
    assert r.headers["content-type"] == "application/json"
    (stored,) = r.json()["items"]
    assert stored["action"] == "door.open"


@pytest.mark.parametrize("encoding", ENCODINGS)
async def test_answers_are_never_compressed(api: Api, encoding: str) -> None:
    headers = {"Accept-Encoding": encoding}
    assert (await api.post("/v4/events/custom", event(), headers=headers)).status_code == 202
    for r in (
        await api.get("/-/api/events", headers=headers),
        await api.client.post("/uauth/v2/auth/login/profile", json={"apiKey": API_KEY}, headers=headers),
        await api.post("/v4/events/custom", {"label": "no client"}, headers=headers),
    ):
        assert "content-encoding" not in r.headers
        assert r.headers["content-length"] == str(len(r.content))
        assert r.content.startswith(b"{")  # the JSON text itself, not gzip (1f 8b) or brotli bytes


async def test_login_without_api_version_is_4_4(api: Api) -> None:
    r = await api.client.post(
        "/uauth/v2/auth/login/profile",
        json={"apiKey": API_KEY},
        headers={"content-type": "application/json"},  # as the SDK writes it
    )
    assert r.status_code == 200, r.text
    assert "api-version" not in {k.lower() for k in r.request.headers}
    r = await api.client.post(
        "/uauth/v2/auth/login/profile", json={"apiKey": API_KEY}, headers={"Api-Version": "4.4"}
    )
    assert r.status_code == 200
