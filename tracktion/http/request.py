"""Minimal ASGI request/response primitives.

tracktion speaks raw ASGI instead of going through a framework: on this hot path a framework's route stack
was measured to cost more than validation and storage together, and the contract needs exact control over
headers, body limits and error rendering anyway (docs/api.md §1.2, §1.3, §1.6).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
from collections.abc import AsyncIterator
from typing import Any
from urllib.parse import parse_qsl

import msgspec

from tracktion.domain.event_ids import random_event_uuid
from tracktion.errors import PayloadTooLarge
from tracktion.http.headers import caller_ip
from tracktion.settings import IPNetwork

MAX_BODY = 1_048_576
REQUEST_ID_RE = re.compile(r"^[A-Za-z0-9._-]{1,128}$")


class Request:
    __slots__ = (
        "_body_read",
        "_ip",
        "_query",
        "_trusted_proxies",
        "body",
        "body_over_limit",
        "headers",
        "method",
        "path",
        "path_params",
        "receive",
        "received_ms",
        "request_id",
        "route",
        "scope",
        "workspace_id",
    )

    def __init__(
        self,
        scope: dict[str, Any],
        receive: Any,
        received_ms: int,
        trusted_proxies: tuple[IPNetwork, ...] = (),
    ) -> None:
        self.scope = scope
        self.receive = receive
        self.method: str = scope["method"]
        self.path: str = scope["path"]
        self.received_ms = received_ms
        headers: dict[str, str] = {}
        for name, value in scope["headers"]:
            # Later duplicates win, except we never need repeated headers here.
            headers[name.decode("latin-1").lower()] = value.decode("latin-1")
        self.headers = headers
        rid = headers.get("x-request-id")
        self.request_id = rid if rid is not None and REQUEST_ID_RE.match(rid) else random_event_uuid()
        self.path_params: dict[str, str] = {}
        self.route = "unmatched"  # the route template once matched: the only path form metrics and logs use
        self.workspace_id: int | None = None
        self._query: list[tuple[str, str]] | None = None
        self.body = b""
        self.body_over_limit = False
        self._body_read = False
        self._trusted_proxies = trusted_proxies
        self._ip: str | None = None

    @property
    def ip(self) -> str:
        """The caller's address (`caller_ip`), worked out on first use: a write and the quarantine record of
        its refusal both name it, and each request pays for it at most once."""
        ip = self._ip
        if ip is None:
            client = self.scope.get("client")
            ip = self._ip = caller_ip(
                client[0] if client else None, self.headers.get("x-forwarded-for"), self._trusted_proxies
            )
        return ip

    @property
    def query(self) -> list[tuple[str, str]]:
        if self._query is None:
            raw = self.scope.get("query_string", b"").decode("latin-1")
            self._query = parse_qsl(raw, keep_blank_values=True)
        return self._query

    def query_one(self, name: str) -> str | None:
        value = None
        for k, v in self.query:
            if k == name:
                value = v
        return value

    def query_all(self, name: str) -> list[str]:
        return [v for k, v in self.query if k == name]

    async def read_body(self, limit: int = MAX_BODY) -> bytes:
        """Read the body, keeping at most `limit` + 1 bytes (enough to know it is too large and to keep an
        excerpt for the quarantine). Raises PayloadTooLarge after the read when the limit is passed.
        Reading twice returns the same outcome (the ASGI stream can be consumed only once)."""
        if self._body_read:
            if self.body_over_limit:
                raise PayloadTooLarge()
            return self.body
        self._body_read = True
        declared = self.headers.get("content-length")
        if declared is not None and declared.isdigit() and int(declared) > limit:
            self.body_over_limit = True
        chunks: list[bytes] = []
        size = 0
        more = True
        # Even when the declared length is already too large, up to `limit` + 1 bytes are read: the
        # quarantine record of the refused request keeps the start of the body (§11).
        while more and size <= limit:
            message = await self.receive()
            if message["type"] == "http.disconnect":
                break
            chunk = message.get("body", b"")
            if chunk:
                chunks.append(chunk)
                size += len(chunk)
            more = message.get("more_body", False)
        if size > limit:
            self.body_over_limit = True
        self.body = b"".join(chunks)[: limit + 1]
        if self.body_over_limit:
            raise PayloadTooLarge()
        return self.body


class Response:
    __slots__ = ("body", "headers", "status")

    def __init__(
        self, status: int, body: bytes = b"", headers: list[tuple[bytes, bytes]] | None = None
    ) -> None:
        self.status = status
        self.body = body
        self.headers = headers or []


_JSON_HEADER = (b"content-type", b"application/json")
_encode = msgspec.json.encode


def json_response(data: Any, status: int = 200, headers: list[tuple[bytes, bytes]] | None = None) -> Response:
    try:
        body = _encode(data)
    except UnicodeEncodeError:
        # An escaped lone surrogate the client sent (a rejectedValue, a quarantined item): msgspec cannot
        # write it as UTF-8, so it goes back out escaped as it came in.
        body = json.dumps(data, ensure_ascii=True, separators=(",", ":")).encode()
    return Response(status, body, [_JSON_HEADER, *(headers or [])])


ACCEPTED = Response(202)


class StreamResponse(Response):
    """A body produced chunk by chunk (server-sent events); sent until the iterator ends or the client leaves."""

    __slots__ = ("chunks",)

    def __init__(
        self, chunks: AsyncIterator[bytes], headers: list[tuple[bytes, bytes]] | None = None
    ) -> None:
        super().__init__(200, b"", headers)
        self.chunks = chunks


async def send(send_fn: Any, response: Response, request_id: str, receive: Any = None) -> None:
    if isinstance(response, StreamResponse):
        await _send_stream(send_fn, response, request_id, receive)
        return
    headers = [
        (b"content-length", str(len(response.body)).encode()),
        (b"x-request-id", request_id.encode()),
        *response.headers,
    ]
    await send_fn({"type": "http.response.start", "status": response.status, "headers": headers})
    await send_fn({"type": "http.response.body", "body": response.body})


async def _send_stream(send_fn: Any, response: StreamResponse, request_id: str, receive: Any) -> None:
    await send_fn(
        {
            "type": "http.response.start",
            "status": response.status,
            "headers": [(b"x-request-id", request_id.encode()), *response.headers],
        }
    )

    async def pump() -> None:
        async for chunk in response.chunks:
            await send_fn({"type": "http.response.body", "body": chunk, "more_body": True})

    async def disconnected() -> None:
        while receive is not None:
            if (await receive())["type"] == "http.disconnect":
                return
        await asyncio.Event().wait()

    pumping, watching = asyncio.ensure_future(pump()), asyncio.ensure_future(disconnected())
    try:
        await asyncio.wait({pumping, watching}, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in (pumping, watching):
            task.cancel()
        await asyncio.gather(pumping, watching, return_exceptions=True)
    if pumping.done() and not pumping.cancelled() and pumping.exception() is None:
        with contextlib.suppress(Exception):
            await send_fn({"type": "http.response.body", "body": b"", "more_body": False})
