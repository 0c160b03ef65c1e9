"""CORS for browser SDKs (docs/api.md §13.8, `TRACKTION_CORS_ORIGINS`).

A page on another origin (a shop calling `/v4/events/custom` from the browser) may only read tracktion's
answers when they name its origin, and its requests with `Authorization` or a JSON body are preceded by an
`OPTIONS` preflight. With no origins configured nothing here runs: `OPTIONS` stays a 405 and no answer carries
a CORS header, exactly as before. Credentials travel in `Authorization`, never in cookies, so the answers never
say `Access-Control-Allow-Credentials`.
"""

from __future__ import annotations

from tracktion.errors import TracktionError
from tracktion.http.request import Request, Response
from tracktion.http.routing import Router

# What a browser SDK sends besides the CORS-safelisted headers (docs/api.md §1.2), and what it may read back.
ALLOW_HEADERS = b"Authorization, Content-Type, Content-Encoding, Api-Version, X-Request-Id, X-Tracktion-Lane"
EXPOSE_HEADERS = b"Location, Retry-After, Deprecation, X-Request-Id, X-Tracktion-Ignored-Keys"
MAX_AGE = b"600"  # seconds a browser may reuse a preflight answer


class Cors:
    def __init__(self, origins: tuple[str, ...]) -> None:
        self._any = "*" in origins
        self._origins = frozenset(origins)

    def allowed(self, origin: str | None) -> bool:
        return origin is not None and (self._any or origin in self._origins)

    def preflight(self, request: Request, router: Router) -> Response | None:
        """The answer to a preflight for a route that serves the method asked about; None otherwise (the
        request then goes on as any `OPTIONS`: 404 or 405)."""
        wanted = request.headers.get("access-control-request-method")
        if request.method != "OPTIONS" or wanted is None:
            return None
        try:
            route, _, _ = router.match(wanted, request.path)
        except TracktionError:
            return None
        headers = [
            (b"access-control-allow-methods", route.allow.encode()),
            (b"access-control-allow-headers", ALLOW_HEADERS),
            (b"access-control-max-age", MAX_AGE),
        ]
        return Response(204, b"", headers)  # `decorate` adds the origin, as to every answer

    @staticmethod
    def decorate(response: Response, origin: str) -> Response:
        """`response` readable by `origin` (a copy: some answers are shared constants, e.g. the 202)."""
        headers = [
            *response.headers,
            *_origin_headers(origin),
            (b"access-control-expose-headers", EXPOSE_HEADERS),
        ]
        return Response(response.status, response.body, headers)


def _origin_headers(origin: str) -> list[tuple[bytes, bytes]]:
    # The origin itself rather than `*`, with `Vary`, so a shared cache never hands one origin's answer to another.
    return [(b"access-control-allow-origin", origin.encode("latin-1")), (b"vary", b"Origin")]
