"""Public endpoints (contract §13.1): liveness and readiness; and the server clock (§8.3)."""

from __future__ import annotations

from typing import Any

from tracktion.auth.api_keys import secrets_equal
from tracktion.domain.timefmt import format_ms
from tracktion.errors import StorageUnavailable, Unauthorized
from tracktion.http.context import Context
from tracktion.http.request import Request, Response, json_response

_OK = json_response({"status": "ok"})


async def health(ctx: Context, request: Request, body: Any) -> Response:
    return _OK


async def ready(ctx: Context, request: Request, body: Any) -> Response:
    if not await ctx.store.ready():
        raise StorageUnavailable("Store is not accepting writes")
    return json_response({"status": "ready"})


async def metrics(ctx: Context, request: Request, body: Any) -> Response:
    """`GET /-/metrics`: Prometheus text 0.0.4; public unless `TRACKTION_METRICS_TOKEN` is set."""
    expected = ctx.settings.metrics_token
    if expected:
        scheme, _, token = (request.headers.get("authorization") or "").partition(" ")
        if scheme.lower() != "bearer" or not secrets_equal(token.strip(), expected):
            raise Unauthorized()
    return Response(
        200, ctx.metrics.render(), [(b"content-type", b"text/plain; version=0.0.4; charset=utf-8")]
    )


async def server_time(ctx: Context, request: Request, body: Any) -> Response:
    """`GET /v4/server/time`: the server's clock, which Synerise's generated clients use to correct clock skew.

    Public (§8.3): no credential is looked at, so a valid, invalid or absent `Authorization` answers the same.
    The time is the request's receive time (§3.5), the instant every write of the request would be stamped with.
    """
    return json_response({"serverTime": format_ms(request.received_ms)})
