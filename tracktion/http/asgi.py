"""The ASGI entry point: route, then the checks of docs/api.md §1.4 in order, then the handler; every failure
rendered by the one error renderer, request-level failures of write endpoints quarantined (§11)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from typing import Any

from tracktion.domain.models import Credential, WriteRequest
from tracktion.domain.timefmt import format_ms
from tracktion.errors import (
    InternalError,
    PermissionDenied,
    TokenKindNotAllowed,
    TracktionError,
    error_body,
)
from tracktion.http.admin import check_admin
from tracktion.http.context import Context
from tracktion.http.cors import Cors
from tracktion.http.headers import API_VERSIONED_PREFIXES, check_api_version, check_content_type
from tracktion.http.request import Request, Response, json_response, send
from tracktion.http.routing import Admin, Authenticated, Endpoint, Public, Router
from tracktion.http.writes import RecordedRefusal
from tracktion.observability.logs import access_log
from tracktion.schemas.body import decode_json, gunzip_limited

log = logging.getLogger("tracktion.http")
QUARANTINE_BODY_MAX = 64 * 1024


def error_response(exc: TracktionError, path: str, now_ms: int) -> Response:
    headers = [(k.encode(), v.encode()) for k, v in exc.headers.items()]
    return json_response(error_body(exc.status, exc.errors, path, format_ms(now_ms)), exc.status, headers)


class HttpApp:
    def __init__(self, ctx: Context, router: Router) -> None:
        self.ctx = ctx
        self.router = router
        # A 1 MiB batch decodes into ~6 MB of Python objects. Bounding how many large bodies are read and
        # processed at once bounds memory; the others wait with their bytes still in the socket (flow
        # control), which is back-pressure, not loss.
        self._large_bodies = asyncio.Semaphore(ctx.settings.max_large_requests)
        self._cors = Cors(ctx.settings.cors_origins) if ctx.settings.cors_origins else None

    async def __call__(self, scope: dict[str, Any], receive: Any, send_fn: Any) -> None:
        started = time.perf_counter()
        request = Request(scope, receive, self.ctx.clock_ms(), self.ctx.settings.trusted_proxies)
        cors = self._cors
        origin = request.headers.get("origin") if cors is not None else None
        if cors is not None and not cors.allowed(origin):
            cors = None
        try:
            preflight = cors.preflight(request, self.router) if cors else None
            response = preflight or await self.dispatch(request)
        except TracktionError as exc:
            response = error_response(exc, request.path, self.ctx.clock_ms())
            if exc.status >= 500:
                log.warning(
                    "%s %s -> %s %s [request %s]",
                    request.method,
                    request.path,
                    exc.status,
                    exc.errors[0].message,
                    request.request_id,
                )
        except Exception:
            log.exception("unhandled error [request %s]", request.request_id)
            response = error_response(InternalError(), request.path, self.ctx.clock_ms())
        if cors is not None and origin is not None:
            response = cors.decorate(response, origin)
        self.ctx.in_flight += 1
        try:
            await send(send_fn, response, request.request_id, receive)
        finally:
            self.ctx.in_flight -= 1
            self._observe(request, response.status, time.perf_counter() - started)

    def _observe(self, request: Request, status: int, seconds: float) -> None:
        metrics = self.ctx.metrics
        metrics.requests.inc((("route", request.route), ("method", request.method), ("status", str(status))))
        metrics.duration.observe(seconds, (("route", request.route),))
        if self.ctx.settings.access_log:
            access_log(request, status, seconds)

    async def dispatch(self, request: Request) -> Response:
        route, endpoint, params = self.router.match(request.method, request.path)  # (1) 404 / 405
        request.path_params = params
        request.route = route.template
        if not isinstance(endpoint, Authenticated):
            if isinstance(endpoint, Admin):
                check_admin(self.ctx, request)  # (2) 401
            return await self._unauthenticated(request, endpoint)
        credential = await self.ctx.authn.authenticate(request.headers.get("authorization"))  # (2) 401
        request.workspace_id = credential.workspace_id
        try:
            if endpoint.body and _large(request):
                # Read first, at the client's pace, holding no slot: a client sending slowly (or never
                # finishing) would otherwise keep a slot and stall every other large body. Raw bytes are
                # ≤ 1 MiB + 1; the slots bound the decoded objects.
                await _read_quietly(request)
                async with self._large_bodies:
                    response = await self._handle(request, endpoint, credential)
            else:
                response = await self._handle(request, endpoint, credential)
        except RecordedRefusal as refusal:
            # The store refused the write and quarantined it itself: answer its error, record nothing more.
            self.ctx.changes.notify(credential.workspace_id)
            raise refusal.error from None
        except TracktionError as exc:
            # The rest of a write's refusals (headers, body, batch envelope) become one request-level
            # quarantine record here. Storage failures can't be.
            if endpoint.write and exc.status < 500:
                await self.quarantine_request(request, credential, exc)
                self.ctx.changes.notify(credential.workspace_id)
            raise
        if endpoint.write:
            self.ctx.changes.notify(credential.workspace_id)  # wake this workspace's live streams
        return response

    async def _handle(self, request: Request, endpoint: Authenticated, credential: Credential) -> Response:
        if credential.kind not in endpoint.kinds:  # (3)
            raise TokenKindNotAllowed()
        if (  # (4)
            endpoint.permission is not None
            and credential.kind == "workspace"
            and endpoint.permission not in credential.permissions
            and credential.permissions.isdisjoint(endpoint.also_permitted)
        ):
            raise PermissionDenied(f"Permission {endpoint.permission} missing")
        payload = await self._payload(request, endpoint)  # (5)–(7)
        return await endpoint.handler(self.ctx, request, credential, payload)  # (8)–(10)

    async def _unauthenticated(self, request: Request, endpoint: Public | Admin) -> Response:
        """Public paths, logins and the admin API: the same steps, without a credential."""
        if endpoint.body and _large(request):
            await _read_quietly(request)  # no slot while reading, as in `dispatch` (and no credential needed)
            async with self._large_bodies:
                return await endpoint.handler(self.ctx, request, await self._payload(request, endpoint))
        return await endpoint.handler(self.ctx, request, await self._payload(request, endpoint))

    async def _payload(self, request: Request, endpoint: Endpoint) -> Any:
        if request.path.startswith(API_VERSIONED_PREFIXES):
            check_api_version(request.headers.get("api-version"))
        if not endpoint.body:
            return None
        gzip = check_content_type(
            request.headers.get("content-type"), request.headers.get("content-encoding")
        )
        body = await request.read_body()
        if gzip:
            body = request.body = gunzip_limited(body)
        return body if endpoint.body_kind == "raw" else decode_json(body)

    async def quarantine_request(self, request: Request, credential: Credential, exc: TracktionError) -> None:
        """A write refused before its items were looked at: one record with the body as received."""
        await _read_quietly(request)  # bounded; a refused request still leaves its body in the quarantine
        body = request.body
        excerpt = body[:QUARANTINE_BODY_MAX].decode("utf-8", errors="replace")
        await self.ctx.write(
            WriteRequest(
                workspace_id=credential.workspace_id,
                credential=credential,
                request_id=request.request_id,
                method=request.method,
                endpoint=request.path,
                received_ms=request.received_ms,
                ip=request.ip,
                request_error=exc,
                body_excerpt=excerpt,
                body_truncated=len(body) > QUARANTINE_BODY_MAX or request.body_over_limit,
            )
        )


async def _read_quietly(request: Request) -> None:
    # Too large: what was read is kept as the excerpt.
    with contextlib.suppress(TracktionError):
        await request.read_body()


LARGE_BODY = 64 * 1024


def _large(request: Request) -> bool:
    declared = request.headers.get("content-length")
    return declared is None or not declared.isdigit() or int(declared) > LARGE_BODY
