"""`/-/ui/` (docs/api.md §13.6): the debugger's files are served without credentials, with strict headers, and
nothing else is reachable under that prefix. The assets themselves load nothing from outside the server."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path
from typing import Any

import pytest

from tests.support.api import Api
from tracktion import __version__
from tracktion.http.ui import ASSETS, MODULES

UI_DIR = Path(__file__).resolve().parents[2] / "tracktion" / "ui"
PYPROJECT = Path(__file__).resolve().parents[2] / "pyproject.toml"


async def raw_get(api: Api, path: str, method: str = "GET") -> tuple[int, dict[str, str], bytes]:
    """One request straight into the ASGI app with `path` exactly as given (httpx would normalise `..`)."""
    scope = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "query_string": b"",
        "headers": [(b"host", b"tracktion.test")],
        "client": ("203.0.113.7", 51234),
        "server": ("tracktion.test", 80),
    }
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    await api.app(scope, receive, send)
    start = sent[0]
    headers = {k.decode().lower(): v.decode() for k, v in start["headers"]}
    body = b"".join(m.get("body", b"") for m in sent[1:])
    return start["status"], headers, body


def assert_security_headers(headers: Any) -> None:
    csp = headers["content-security-policy"]
    directives = {d.split()[0]: d.split()[1:] for d in (p.strip() for p in csp.split(";")) if d}
    assert directives["default-src"] == ["'self'"]
    assert directives["script-src"] == ["'self'"]
    assert directives["style-src"] == ["'self'"]
    assert directives["object-src"] == ["'none'"]
    assert directives["frame-ancestors"] == ["'none'"]
    assert directives["require-trusted-types-for"] == ["'script'"]
    assert "'unsafe-inline'" not in csp and "'unsafe-eval'" not in csp
    assert headers["x-content-type-options"] == "nosniff"
    assert headers["referrer-policy"] == "no-referrer"
    assert headers["cache-control"] == "no-cache"


async def test_index_is_served_without_credentials(api: Api) -> None:
    r = await api.client.get("/-/ui/")  # no Authorization header
    assert r.status_code == 200
    assert r.headers["content-type"] == "text/html; charset=utf-8"
    assert_security_headers(r.headers)
    assert r.content == (UI_DIR / "index.html").read_bytes()
    assert b'<script type="module" src="app.js"></script>' in r.content


@pytest.mark.parametrize(
    ("name", "content_type"),
    [
        ("index.html", "text/html; charset=utf-8"),
        *((name, "text/javascript; charset=utf-8") for name in MODULES),
        ("app.css", "text/css; charset=utf-8"),
        ("favicon.svg", "image/svg+xml"),
    ],
)
async def test_assets_have_their_content_type(api: Api, name: str, content_type: str) -> None:
    r = await api.client.get(f"/-/ui/{name}", headers={"Authorization": "Bearer not-a-token"})
    assert r.status_code == 200  # a bad credential does not matter on a public path
    assert r.headers["content-type"] == content_type
    assert_security_headers(r.headers)
    assert r.content == (UI_DIR / name).read_bytes()
    assert int(r.headers["content-length"]) == len(r.content)


@pytest.mark.parametrize(
    "path",
    [
        "/-/ui/nope.js",
        "/-/ui/APP.JS",
        "/-/ui/app.js/",
        "/-/ui/app.js.map",
        "/-/ui/.",
        "/-/ui/..",
        "/-/ui/../routes.py",
        "/-/ui/../../settings.py",
        "/-/ui/..%2Froutes.py",
        "/-/ui/%2e%2e/routes.py",
        "/-/ui/ui/app.js",
        "/-/ui/__init__.py",
        "/-/ui/ui.py",
        "/-/ui//etc/passwd",
        "/-/ui/index.html\x00",
        "/-/ui/\\..\\routes.py",
        "/-/ui/app.js?x=1/../../x",
    ],
)
async def test_anything_else_is_404(api: Api, path: str) -> None:
    status, headers, body = await raw_get(api, path)
    assert status == 404, (path, body)
    assert headers["content-type"] == "application/json"
    assert b'"code":3001' in body


async def test_only_get(api: Api) -> None:
    for path in ("/-/ui/", "/-/ui/app.js"):
        status, headers, _ = await raw_get(api, path, method="POST")
        assert status == 405
        assert headers["allow"] == "GET"


def test_every_shipped_file_is_served_and_packaged() -> None:
    shipped = {p.name for p in UI_DIR.iterdir() if p.is_file()}
    assert shipped == set(ASSETS)
    package_data = tomllib.loads(PYPROJECT.read_text())["tool"]["setuptools"]["package-data"]["tracktion"]
    assert "ui/*" in package_data


# The page works offline: no absolute URL anywhere except these, which are never fetched: the SVG namespace (an
# identifier) and the example targets the "Add a destination" form prefills (the server delivers, not the page).
NOT_FETCHED = (
    'xmlns="http://www.w3.org/2000/svg"',
    'const SVG = "http://www.w3.org/2000/svg";',
    'baseUrl: "https://api.synerise.com"',
    'url: "https://example.org/hook"',
)
ABSOLUTE_URL = re.compile(r"(?:https?:)?//[a-z0-9.-]+\.[a-z]{2,}", re.IGNORECASE)


@pytest.mark.parametrize("name", sorted(ASSETS))
def test_assets_load_nothing_from_elsewhere(name: str) -> None:
    text = (UI_DIR / name).read_text()
    for allowed in NOT_FETCHED:
        text = text.replace(allowed, "")
    assert not ABSOLUTE_URL.findall(text)
    assert "@import" not in text


def test_index_has_no_inline_script_or_style() -> None:
    html = (UI_DIR / "index.html").read_text()
    for tag in re.findall(r"<script\b[^>]*>(.*?)</script>", html, re.DOTALL):
        assert tag.strip() == ""
    assert re.findall(r"<script\b[^>]*>", html) == ['<script type="module" src="app.js">']
    assert "<style" not in html
    assert not re.search(r"\sstyle\s*=", html)
    assert not re.search(r"\son[a-z]+\s*=", html, re.IGNORECASE)


def test_every_module_imports_only_served_modules() -> None:
    """A module missing from `MODULES` would be a 404 in the browser and a blank page."""
    served = set(MODULES)
    for name in MODULES:
        text = (UI_DIR / name).read_text()
        for target in re.findall(r'^import [^;]*? from "([^"]+)";', text, re.MULTILINE | re.DOTALL):
            assert target.startswith("./") and target[2:] in served, (name, target)
        assert "import(" not in text  # no dynamic import of an unchecked name
    assert {p.name for p in UI_DIR.glob("*.js")} == served


@pytest.mark.parametrize("name", MODULES)
def test_script_never_builds_html_from_strings(name: str) -> None:
    js = (UI_DIR / name).read_text()
    for sink in ("innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval(", "new Function"):
        assert sink not in js, sink
    # The token is kept in the tab (sessionStorage) and sent as a header, never in a URL or cookie.
    assert "localStorage" not in js
    assert "document.cookie" not in js
    assert "access_token" not in js


async def test_without_the_slash_is_redirected_to_the_index(api: Api) -> None:
    """A trailing slash is a different path (§1.1), so `/-/ui` is not the page; it points there."""
    status, headers, body = await raw_get(api, "/-/ui")
    assert (status, headers["location"], body) == (308, "/-/ui/", b"")


async def test_root_names_the_debugger_the_api_reference_and_the_health_checks(api: Api) -> None:
    r = await api.client.get("/")  # no credentials
    assert r.status_code == 200 and r.headers["content-type"] == "application/json"
    assert r.json() == {
        "name": "tracktion",
        "version": __version__,
        "ui": "/-/ui/",
        "apiReference": "/-/openapi.json",
        "health": "/-/health",
        "ready": "/-/ready",
    }
    for path in ("/-/ui/", "/-/openapi.json", "/-/health", "/-/ready"):
        assert (await api.client.get(path)).status_code == 200, path
