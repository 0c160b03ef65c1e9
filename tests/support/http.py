"""Helpers of the HTTP behaviour tests: request bodies, the §1.6 error-body assertions, credentials headers,
clocks under the test's control, API keys with chosen permissions and reads of what was stored.

Their fixtures (`clock`, `token_clock`, `keys`, `make_api`) are in tests/http/conftest.py.
"""

from __future__ import annotations

import base64
import re
from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import pytest

from tests.support.api import Api
from tracktion.app import TracktionApp
from tracktion.auth.jwt import TokenService
from tracktion.bootstrap import create_key
from tracktion.domain.models import ApiKey

PEER = "203.0.113.7"
TIMESTAMP_RE = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$")
UUID_RE = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")
# 2024-03-05T10:15:30.250Z, the contract's running example.
T0 = 1_709_633_730_250


def event(_drop: tuple[str, ...] = (), **fields: Any) -> dict[str, Any]:
    """A valid custom-endpoint body; keyword arguments replace fields, `_drop` removes them."""
    body: dict[str, Any] = {
        "action": "door.open",
        "label": "Front door opened",
        "client": {"customId": "cust-1"},
    }
    body.update(fields)
    for name in _drop:
        body.pop(name, None)
    return body


def entry(code: int, field: str, message: str, rejected: str | None = None) -> dict[str, Any]:
    return {"code": code, "field": field, "message": message, "rejectedValue": rejected}


def assert_error(
    r: httpx.Response, status: int, *entries: dict[str, Any], path: str | None = None
) -> dict[str, Any]:
    """The §1.6 body: exactly these entries (in order), the right status and top-level message."""
    assert r.status_code == status, r.text
    assert r.headers["content-type"] == "application/json"
    body: dict[str, Any] = r.json()
    assert body["status"] == status
    assert body["errors"] == list(entries), body["errors"]
    expected = (
        entries[0]["message"] if len(entries) == 1 else f"Request validation failed ({len(entries)} errors)"
    )
    assert body["message"] == expected
    assert TIMESTAMP_RE.match(body["timestamp"])
    if path is not None:
        assert body["path"] == path
    if status == 401:
        assert r.headers["www-authenticate"] == 'Bearer realm="tracktion"'
    return body


def basic(workspace: str, secret: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{workspace}:{secret}".encode()).decode()}


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


class Clock:
    """A settable clock in epoch milliseconds (the request receive time, `Context.clock_ms`)."""

    def __init__(self, now_ms: int) -> None:
        self.now_ms = now_ms

    def __call__(self) -> int:
        return self.now_ms

    def advance(self, ms: int) -> None:
        self.now_ms += ms


class SecondsClock:
    """A settable clock in epoch seconds (the token service's clock)."""

    def __init__(self, now: float) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def install_token_clock(app: TracktionApp, clock: Callable[[], float]) -> TokenService:
    ctx = app.ctx
    service = TokenService(
        ctx.signing_key, ctx.settings.jwt_issuer, ctx.settings.token_ttl_seconds, clock=clock
    )
    ctx.tokens = service
    ctx.authn.tokens = service
    return service


class Keys:
    """Create API keys in the `api` app's store and log in with them."""

    def __init__(self, api: Api) -> None:
        self.api = api

    async def create(
        self, permissions: list[str] | None, *, kind: str = "workspace", workspace_id: int = 1
    ) -> tuple[ApiKey, str]:
        return await create_key(self.api.app.ctx.store, workspace_id, kind, "test", permissions)

    async def token(self, permissions: list[str] | None, *, workspace_id: int = 1) -> str:
        _, secret = await self.create(permissions, workspace_id=workspace_id)
        return await self.login(secret)

    async def login(self, secret: str) -> str:
        r = await self.api.client.post("/uauth/v2/auth/login/profile", json={"apiKey": secret})
        assert r.status_code == 200, r.text
        token: str = r.json()["token"]
        return token

    async def bootstrap_key(self) -> ApiKey:
        (key,) = await self.api.app.ctx.store.api_keys(1)
        return key


def client_for(api: Api, peer: tuple[str, int]) -> Api:
    """Another client of the same app, connecting from `peer` (same token)."""
    transport = httpx.ASGITransport(app=api.app, client=peer)
    other = Api(api.app, httpx.AsyncClient(transport=transport, base_url="http://tracktion.test"))
    other.token = api.token
    return other


MakeApi = Callable[..., Awaitable[Api]]


async def single(api: Api, **params: Any) -> dict[str, Any]:
    """The one stored event matching the filters."""
    items = await api.events(**params)
    assert len(items) == 1, items
    return items[0]


async def last_quarantine(api: Api, **params: Any) -> dict[str, Any]:
    items = await api.quarantine(**params)
    assert items, "no quarantine record"
    return items[0]


def sqlite_bytes(api: Api) -> bytes:
    """Every byte of the app's SQLite store (database and WAL), to prove what is *not* kept in clear."""
    if api.app.ctx.settings.database_url:
        pytest.skip("inspects the SQLite files")
    db = api.app.ctx.settings.data_dir / "tracktion.db"
    return b"".join(p.read_bytes() for p in sorted(db.parent.glob("tracktion.db*")))
