"""`/-/ui/` (docs/api.md §13.6): the live event debugger's static files, served without authentication; and
the two doors a person tries first, `/` (where everything is) and `/-/ui` (redirected to `/-/ui/`).

Only the files named in `ASSETS` are served, read once from the package (`tracktion/ui/`). Any other name,
a nested path or a `..` is a plain 404: the router gives `{asset}` one path segment and the name is then
looked up in a fixed table, so nothing outside that table can ever be reached. The page itself holds no
secret; it calls the APIs with a token the user gets by signing in, kept in the tab's `sessionStorage`.
"""

from __future__ import annotations

from functools import cache
from importlib.resources import files
from typing import Any

from tracktion import __version__
from tracktion.errors import NotFound
from tracktion.http.context import Context
from tracktion.http.request import Request, Response, json_response
from tracktion.http.routing import Doc, Public, Router
from tracktion.schemas.responses import ok

INDEX = "index.html"
INDEX_PATH = "/-/ui/"
# The page's ES modules: `app.js` is the entry and imports the others by relative name (no build step).
MODULES = (
    "app.js",
    "api.js",
    "dom.js",
    "rows.js",
    "live.js",
    "event.js",
    "profiles.js",
    "definitions.js",
    "quarantine.js",
    "send.js",
    "search.js",
    "charts.js",
    "overview.js",
    "destinations.js",
)
ASSETS: dict[str, str] = {
    INDEX: "text/html; charset=utf-8",
    **{name: "text/javascript; charset=utf-8" for name in MODULES},
    "app.css": "text/css; charset=utf-8",
    "favicon.svg": "image/svg+xml",
}

# Everything from this origin only, no inline script or style, and Trusted Types with no policy: an
# assignment of a string to an HTML sink (`innerHTML`, …) throws, so the page can only insert text.
CONTENT_SECURITY_POLICY = "; ".join(
    [
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self'",
        "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'none'",
        "frame-ancestors 'none'",
        "require-trusted-types-for 'script'",
        "trusted-types 'none'",
    ]
)
SECURITY_HEADERS: list[tuple[bytes, bytes]] = [
    (b"content-security-policy", CONTENT_SECURITY_POLICY.encode()),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"no-referrer"),
    (b"x-frame-options", b"DENY"),
    (b"cross-origin-opener-policy", b"same-origin"),
    (b"cross-origin-resource-policy", b"same-origin"),
    # Small files, always revalidated: a new tracktion version is picked up by the next page load.
    (b"cache-control", b"no-cache"),
]


@cache
def asset_bytes(name: str) -> bytes:
    return (files("tracktion") / "ui" / name).read_bytes()


def _response(name: str) -> Response:
    content_type = ASSETS.get(name)
    if content_type is None:
        raise NotFound("Not found")
    return Response(200, asset_bytes(name), [(b"content-type", content_type.encode()), *SECURITY_HEADERS])


async def index(ctx: Context, request: Request, body: Any) -> Response:
    return _response(INDEX)


async def asset(ctx: Context, request: Request, body: Any) -> Response:
    return _response(request.path_params["asset"])


# What `GET /` names: paths on this server (relative to whatever scheme and host the client used).
ROOT = {
    "name": "tracktion",
    "version": __version__,
    "ui": INDEX_PATH,
    "apiReference": "/-/openapi.json",
    "health": "/-/health",
    "ready": "/-/ready",
}


async def root(ctx: Context, request: Request, body: Any) -> Response:
    """`GET /`: where the debugger, the API reference and the health checks are."""
    return json_response(ROOT)


async def redirect(ctx: Context, request: Request, body: Any) -> Response:
    """`GET /-/ui`: moved to `/-/ui/`, where the page's relative asset paths resolve."""
    return Response(308, b"", [(b"location", INDEX_PATH.encode())])


def register_ui(router: Router) -> None:
    names_doc = Doc(
        ok({"type": "object", "required": sorted(ROOT), "properties": {k: {"type": "string"} for k in ROOT}})
    )
    router.add("GET", "/", Public(root, doc=names_doc))
    moved = {
        "308": {
            "description": "The debugger is at `/-/ui/`",
            "headers": {"Location": {"required": True, "schema": {"const": INDEX_PATH}}},
        }
    }
    router.add("GET", "/-/ui", Public(redirect, doc=Doc(moved)))
    page = {"200": {"description": "The debugger", "content": {"text/html": {}}}}
    router.add("GET", INDEX_PATH, Public(index, doc=Doc(page)))
    files = {
        "200": {
            "description": "A static file of the debugger",
            "content": {content_type.split(";")[0]: {} for content_type in ASSETS.values()},
        }
    }
    names = {"asset": {"type": "string", "enum": sorted(ASSETS)}}
    router.add("GET", "/-/ui/{asset}", Public(asset, doc=Doc(files, path=names, errors=(404,))))
