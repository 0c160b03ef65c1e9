"""Helpers of the security tests: hand-made JWTs, a second workspace, raw store access, SSE reads."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import hashlib
import hmac
import json
import sqlite3
from collections.abc import Awaitable
from typing import Any

import httpx
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa

from tests.support.api import Api
from tracktion.auth.permissions import sorted_permissions
from tracktion.bootstrap import create_key

ANONYMOUS = "/sauth/v3/auth/login/client/anonymous"
CLIENT_REFRESH = "/sauth/v3/auth/refresh/client"
LOGIN = "/uauth/v2/auth/login/profile"


# -- JWTs made by hand --------------------------------------------------------------------------------------


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def segment(obj: Any) -> str:
    return b64url(json.dumps(obj, separators=(",", ":")).encode())


def parts(token: str) -> tuple[dict[str, Any], dict[str, Any], str]:
    """Header, payload and signature segment of a compact JWS (no verification)."""
    h, p, s = token.split(".")
    pad = lambda x: x + "=" * (-len(x) % 4)  # noqa: E731
    return json.loads(base64.urlsafe_b64decode(pad(h))), json.loads(base64.urlsafe_b64decode(pad(p))), s


def unsigned(header: dict[str, Any], payload: dict[str, Any], signature: str = "") -> str:
    return f"{segment(header)}.{segment(payload)}.{signature}"


def hmac_signed(header: dict[str, Any], payload: dict[str, Any], secret: bytes, digest: Any) -> str:
    signing_input = f"{segment(header)}.{segment(payload)}".encode()
    return f"{signing_input.decode()}.{b64url(hmac.new(secret, signing_input, digest).digest())}"


def rsa_signed(
    header: dict[str, Any], payload: dict[str, Any], key: rsa.RSAPrivateKey, digest: hashes.HashAlgorithm
) -> str:
    signing_input = f"{segment(header)}.{segment(payload)}".encode()
    signature = key.sign(signing_input, padding.PKCS1v15(), digest)
    return f"{signing_input.decode()}.{b64url(signature)}"


def server_key(api: Api) -> rsa.RSAPrivateKey:
    return api.app.ctx.signing_key.private_key


def signed_by_server(api: Api, payload: dict[str, Any], **header: Any) -> str:
    """A token signed with the server's own key (RS512): only its claims can make it fail."""
    head = {"alg": "RS512", "typ": "JWT", "kid": api.app.ctx.signing_key.kid, **header}
    return rsa_signed(head, payload, server_key(api), hashes.SHA512())


def public_key_encodings(api: Api) -> dict[str, bytes]:
    """What an attacker can derive from `/-/jwks.json` and try as an HMAC secret."""
    public = api.app.ctx.signing_key.public_key
    return {
        "pem-spki": public.public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        ),
        "pem-pkcs1": public.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.PKCS1),
        "der-spki": public.public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        ),
        "jwk": json.dumps(api.app.ctx.signing_key.public_jwk()).encode(),
    }


# -- workspaces, keys, profiles -----------------------------------------------------------------------------


class Workspace:
    """A workspace with a workspace key (all permissions) and a profile key, driven through the test's app."""

    def __init__(self, api: Api, workspace_id: int, guid: str, secret: str, profile_secret: str) -> None:
        self.api = api
        self.id = workspace_id
        self.guid = guid
        self.secret = secret
        self.profile_secret = profile_secret
        self.token = ""

    @classmethod
    async def create(cls, api: Api, name: str = "second") -> Workspace:
        store = api.app.ctx.store
        ws = await store.create_workspace(name, 0)
        _, secret = await create_key(store, ws.id, "workspace", "all", sorted_permissions())
        _, profile_secret = await create_key(store, ws.id, "profile", "app", None)
        out = cls(api, ws.id, ws.guid, secret, profile_secret)
        r = await api.client.post(LOGIN, json={"apiKey": secret})
        assert r.status_code == 200, r.text
        out.token = r.json()["token"]
        return out

    def headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.token}"}

    async def get(self, path: str, **params: Any) -> httpx.Response:
        return await self.api.client.get(path, params=params, headers=self.headers())

    async def post(self, path: str, body: Any, **params: Any) -> httpx.Response:
        return await self.api.client.post(path, json=body, params=params, headers=self.headers())


async def anonymous_login(api: Api, profile_secret: str, uuid: str) -> str:
    r = await api.client.post(ANONYMOUS, json={"apiKey": profile_secret, "uuid": uuid})
    assert r.status_code == 200, r.text
    token: str = r.json()["token"]
    return token


async def profile_secret(api: Api, workspace_id: int = 1) -> str:
    _, secret = await create_key(api.app.ctx.store, workspace_id, "profile", "app", None)
    return secret


# -- raw store access ---------------------------------------------------------------------------------------


def sql(api: Api, query: str, params: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Run SQL on the app's store (either backend), outside the app, as another process would."""
    settings = api.app.ctx.settings
    if settings.database_url:
        import psycopg

        with psycopg.connect(settings.database_url, autocommit=True) as conn:
            cur = conn.execute(query.replace("?", "%s"), params)
            return cur.fetchall() if cur.description else []
    with contextlib.closing(sqlite3.connect(settings.data_dir / "tracktion.db")) as conn:
        rows = conn.execute(query, params).fetchall()
        conn.commit()
        return rows


def store_text(api: Api) -> str:
    """Every row of every table as text, to look for what must not be kept in clear."""
    settings = api.app.ctx.settings
    if settings.database_url:
        tables = [
            r[0] for r in sql(api, "SELECT tablename FROM pg_tables WHERE schemaname = current_schema()")
        ]
        return "\n".join(str(row) for t in tables for row in sql(api, f'SELECT t::text FROM "{t}" t'))
    tables = [r[0] for r in sql(api, "SELECT name FROM sqlite_master WHERE type = 'table'")]
    files = b"".join(p.read_bytes() for p in sorted(settings.data_dir.glob("tracktion.db*")))
    rows = "\n".join(str(row) for t in tables for row in sql(api, f'SELECT * FROM "{t}"'))
    return rows + files.decode("latin-1")


def sha256(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


# -- server-sent events -------------------------------------------------------------------------------------


def stream_scope(path: str, headers: dict[str, str]) -> dict[str, Any]:
    """The ASGI scope of a `GET path` stream request (raw ASGI: httpx would wait for the end)."""
    raw_path, _, query = path.partition("?")
    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": raw_path,
        "raw_path": raw_path.encode(),
        "query_string": query.encode(),
        "headers": [(k.lower().encode(), v.encode()) for k, v in headers.items()],
        "client": ("203.0.113.7", 51234),
        "server": ("tracktion.test", 80),
    }


async def sse(
    api: Api,
    path: str,
    headers: dict[str, str],
    seconds: float = 0.3,
    *,
    connected: asyncio.Event | None = None,
    until: Awaitable[Any] | None = None,
) -> bytes:
    """The bytes a `/-/api/stream` client receives in `seconds` (raw ASGI: httpx would wait for the end).

    `connected` is set when the stream says `: connected` (its starting point is fixed: later writes are
    live); with `until`, the stream stays open until that is done and the `seconds` count from then."""
    scope = stream_scope(path, headers)
    gone = asyncio.Event()
    sent_request = False

    async def receive() -> dict[str, Any]:
        nonlocal sent_request
        if not sent_request:
            sent_request = True
            return {"type": "http.request", "body": b"", "more_body": False}
        await gone.wait()
        return {"type": "http.disconnect"}

    chunks: list[bytes] = []
    status: list[int] = []

    async def send(message: dict[str, Any]) -> None:
        if message["type"] == "http.response.start":
            status.append(message["status"])
        elif message["type"] == "http.response.body":
            chunks.append(message.get("body", b""))
            if connected is not None and b": connected" in chunks[-1]:
                connected.set()

    task = asyncio.ensure_future(api.app(scope, receive, send))
    try:
        if until is not None:
            await until
        await asyncio.sleep(seconds)
    finally:
        gone.set()
        await asyncio.wait_for(task, 5)
    assert status == [200], (status, b"".join(chunks))
    return b"".join(chunks)
