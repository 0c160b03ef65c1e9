"""Helpers shared by the dedicated, batch, ai-compat and transaction HTTP tests."""

from __future__ import annotations

import uuid
from typing import Any

import httpx

from tests.support.api import Api
from tests.support.http import bearer
from tracktion.bootstrap import create_key

# §7.2: injected by the server into every stored event's params.
SYSTEM_PARAMS = frozenset(
    {
        "eventUUID",
        "time",
        "eventCreateTime",
        "clientId",
        "uuid",
        "businessProfileId",
        "ip",
        "modifiedBy",
        "snr-original-time",
    }
)
EVENT_NS = uuid.UUID("7b0fe651-8b45-5c83-84be-1b49d1448e59")  # §3.7


def caller_params(event: dict[str, Any]) -> dict[str, Any]:
    """A stored event's params without the §7.2 system params."""
    return {k: v for k, v in event["params"].items() if k not in SYSTEM_PARAMS}


def salted_uuid(workspace_id: int, client_id: int, action: str, salt: str, time_ms: int) -> str:
    return str(uuid.uuid5(EVENT_NS, f"{workspace_id}|{client_id}|{action}|{salt}|{time_ms}"))


async def all_events(api: Api, **params: Any) -> list[dict[str, Any]]:
    return await api.events(limit="1000", **params)


async def all_quarantine(api: Api, **params: Any) -> list[dict[str, Any]]:
    """Quarantine records, oldest first (the API lists newest first)."""
    return list(reversed(await api.quarantine(limit="1000", **params)))


async def definitions(api: Api) -> dict[str, dict[str, Any]]:
    r = await api.get("/-/api/definitions")
    assert r.status_code == 200, r.text
    return {d["action"]: d for d in r.json()}


async def profile_count(api: Api, *client_ids: int) -> int:
    store = api.app.ctx.store
    return [await store.profile(1, cid) is not None for cid in client_ids].count(True)


async def profile_token(api: Api, client_uuid: str) -> str:
    """A profile token (§2.2 anonymous login) for the profile owning `client_uuid` (created if none)."""
    _, secret = await create_key(api.app.ctx.store, 1, "profile", "profile-key", None)
    r = await api.client.post(
        "/sauth/v3/auth/login/client/anonymous", json={"apiKey": secret, "uuid": client_uuid}
    )
    assert r.status_code == 200, r.text
    token: str = r.json()["token"]
    return token


async def post_as(api: Api, token: str, path: str, body: Any) -> httpx.Response:
    return await api.client.post(path, json=body, headers=bearer(token))


def wrong_value(json_type: str) -> Any:
    """A present, non-null value that is not of `json_type`."""
    return {
        "string": 5,
        "number": "5",
        "integer": 1.5,
        "boolean": "yes",
        "object": "x",
        "array": "x",
    }[json_type]


def article(json_type: str) -> str:
    return "an" if json_type[0] in "aeiou" else "a"
