"""The in-process app's client: `Api`, what the `api` fixture (tests/conftest.py) yields, and the bootstrap key
every such app is built with."""

from __future__ import annotations

import base64
from typing import Any

import httpx

from tracktion.app import TracktionApp

API_KEY = "tk_test-bootstrap-key-0123456789abcdef"


class Api:
    """A small synchronous-looking helper over an async httpx client bound to the app."""

    def __init__(self, app: TracktionApp, client: httpx.AsyncClient) -> None:
        self.app = app
        self.client = client
        self.token: str | None = None

    async def login(self, api_key: str = API_KEY) -> str:
        r = await self.client.post("/uauth/v2/auth/login/profile", json={"apiKey": api_key})
        assert r.status_code == 200, r.text
        self.token = r.json()["token"]
        return self.token

    def auth(self, token: str | None = None) -> dict[str, str]:
        return {"Authorization": f"Bearer {token or self.token}"}

    def basic(self, workspace: str = "1", api_key: str = API_KEY) -> dict[str, str]:
        return {"Authorization": "Basic " + base64.b64encode(f"{workspace}:{api_key}".encode()).decode()}

    async def post(
        self,
        path: str,
        body: Any = None,
        *,
        headers: dict[str, str] | None = None,
        content: bytes | None = None,
        **kwargs: Any,
    ) -> httpx.Response:
        h = {**self.auth(), **(headers or {})} if self.token else dict(headers or {})
        if content is not None:
            h.setdefault("Content-Type", "application/json")
            return await self.client.post(path, content=content, headers=h, **kwargs)
        return await self.client.post(path, json=body, headers=h, **kwargs)

    async def get(self, path: str, *, headers: dict[str, str] | None = None, **kwargs: Any) -> httpx.Response:
        h = {**self.auth(), **(headers or {})} if self.token else dict(headers or {})
        return await self.client.get(path, headers=h, **kwargs)

    async def send_event(self, body: dict[str, Any], path: str = "/v4/events/custom") -> httpx.Response:
        return await self.post(path, body)

    async def events(self, **params: Any) -> list[dict[str, Any]]:
        r = await self.get("/-/api/events", params=params)
        assert r.status_code == 200, r.text
        items: list[dict[str, Any]] = r.json()["items"]
        return items

    async def quarantine(self, **params: Any) -> list[dict[str, Any]]:
        r = await self.get("/-/api/quarantine", params=params)
        assert r.status_code == 200, r.text
        items: list[dict[str, Any]] = r.json()["items"]
        return items
