"""Public endpoints (docs/api.md §13.1): liveness, readiness and metrics; and the server clock (§8.3)."""

from __future__ import annotations

import ipaddress
from typing import Any

from tracktion.auth.api_keys import secrets_equal
from tracktion.domain.timefmt import format_ms
from tracktion.errors import NotFound, StorageUnavailable, Unauthorized
from tracktion.http.context import Context
from tracktion.http.request import Request, Response, json_response
from tracktion.settings import IPNetwork

_OK = json_response({"status": "ok"})


def _local_or_trusted(request: Request, trusted: tuple[IPNetwork, ...]) -> bool:
    """The TCP peer itself (never `X-Forwarded-For`, which anyone can write) is loopback or a trusted proxy."""
    client = request.scope.get("client")
    try:
        peer = ipaddress.ip_address(client[0]) if client else None
    except ValueError:
        return False
    if peer is None:
        return False
    if isinstance(peer, ipaddress.IPv6Address) and peer.ipv4_mapped is not None:
        peer = peer.ipv4_mapped  # ::ffff:127.0.0.1 on a dual-stack socket
    return peer.is_loopback or any(peer.version == net.version and peer in net for net in trusted)


async def health(ctx: Context, request: Request, body: Any) -> Response:
    return _OK


async def ready(ctx: Context, request: Request, body: Any) -> Response:
    if not await ctx.store.ready():
        raise StorageUnavailable("Store is not accepting writes")
    return json_response({"status": "ready"})


async def metrics(ctx: Context, request: Request, body: Any) -> Response:
    """`GET /-/metrics` (§13.1): Prometheus text 0.0.4. With `TRACKTION_METRICS_TOKEN` set, that bearer token
    is required (401), from anywhere. Unset, only loopback peers and trusted proxies are answered; anyone
    else gets the 404 of a path that does not exist: the series show every workspace's volume together."""
    expected = ctx.settings.metrics_token
    if expected:
        scheme, _, token = (request.headers.get("authorization") or "").partition(" ")
        if scheme.lower() != "bearer" or not secrets_equal(token.strip(), expected):
            raise Unauthorized()
    elif not _local_or_trusted(request, ctx.settings.trusted_proxies):
        raise NotFound("Not found")
    return Response(
        200, ctx.metrics.render(), [(b"content-type", b"text/plain; version=0.0.4; charset=utf-8")]
    )


async def server_time(ctx: Context, request: Request, body: Any) -> Response:
    """`GET /v4/server/time`: the server's clock, which Synerise's generated clients use to correct clock skew.

    Public (§8.3): no credential is looked at, so a valid, invalid or absent `Authorization` answers the same.
    The time is the request's receive time (§3.5), the instant every write of the request would be stamped with.
    """
    return json_response({"serverTime": format_ms(request.received_ms)})
