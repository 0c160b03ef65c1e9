"""What the browser tests share: the UI tests' key and server, an API client, the seed data, and `Tab`, one
browser page on the debugger (fixtures in tests/ui/conftest.py)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, NoReturn

import httpx
import pytest

from tests.support.serve_process import ServeProcess

try:
    from playwright.sync_api import Browser, Page, expect, sync_playwright
except ImportError:  # reported by the `browser` fixture: a skip locally, a failure under CI
    sync_playwright = None  # type: ignore[assignment]

CHROMIUM = Path(os.environ.get("TRACKTION_TEST_CHROMIUM", "/usr/bin/chromium"))
LAUNCH_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
]
KEY = "tk_ui-browser-key-0123456789abcdef"
LAPTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}
XSS_LABEL = "<img src=x onerror=alert(1)>"
SYSTEM_PARAMS = (
    "eventUUID",
    "time",
    "eventCreateTime",
    "clientId",
    "uuid",
    "businessProfileId",
    "ip",
    "modifiedBy",
)


def unavailable(reason: str) -> NoReturn:
    if os.environ.get("CI"):
        pytest.fail(f"{reason} while CI is set: the browser tests must run under CI", pytrace=False)
    pytest.skip(reason)


def server_for(data_dir: Path) -> ServeProcess:
    """`tracktion serve` with the UI tests' key; stop() and start() again keep port and store."""
    return ServeProcess(data_dir, api_key=KEY)


class Client:
    """The API as an app would call it, with a workspace token."""

    def __init__(self, base: str) -> None:
        self.http = httpx.Client(base_url=base, timeout=10)
        self.login()

    def login(self) -> None:
        r = self.http.post("/uauth/v2/auth/login/profile", json={"apiKey": KEY})
        assert r.status_code == 200, r.text
        self.http.headers["Authorization"] = f"Bearer {r.json()['token']}"

    def send(self, body: Any, path: str = "/v4/events/custom", status: int = 202) -> httpx.Response:
        r = self.http.post(path, json=body)
        assert r.status_code == status, r.text
        return r

    def event(self, action: str, **fields: Any) -> dict[str, Any]:
        body = {
            "action": action,
            "label": f"{action} happened",
            "client": {"customId": "ui-tester"},
            **fields,
        }
        self.send(body)
        r = self.http.get("/-/api/events", params={"action": action, "limit": 1})
        item: dict[str, Any] = r.json()["items"][0]
        return item


def seed(api: Client) -> None:
    """A small shop session, so every view (and its screenshot) shows something real."""
    ana = {"email": "ana@example.org"}
    for path in ("/", "/shoes", "/shoes/trail-runner-2"):
        api.send({"action": "page.visit", "label": "Page visit", "client": ana, "params": {"url": path}})
    api.send(
        {
            "label": "Item added to cart",
            "client": ana,
            "params": {
                "sku": "TR-2-42",
                "name": "Trail Runner 2",
                "quantity": 1,
                "finalUnitPrice": {"amount": 89.9, "currency": "EUR"},
                "source": "WEB_DESKTOP",
            },
        },
        path="/v4/events/added-to-cart",
    )
    api.send(
        {
            "action": "newsletter.signup",
            "label": "Newsletter signup",
            "client": {"customId": "cust-1042"},
            "params": {"list": "weekly", "doubleOptIn": True},
        }
    )
    api.send({"action": "page.visit", "label": "Page visit", "client": ana, "time": "yesterday"}, status=400)


class Tab:
    """One browser page on the debugger, recording dialogs and script errors."""

    def __init__(self, page: Page, base: str, shots: Path) -> None:
        self.page = page
        self.base = base
        self.shots = shots
        self.dialogs: list[str] = []
        self.errors: list[str] = []
        page.set_default_timeout(10_000)
        page.on("dialog", self._dialog)
        page.on("pageerror", lambda exc: self.errors.append(f"page error: {exc}"))
        page.on("console", self._console)

    def _dialog(self, dialog: Any) -> None:
        self.dialogs.append(dialog.message)
        dialog.dismiss()

    def _console(self, message: Any) -> None:
        text = message.text
        if "Content Security Policy" in text or "Trusted" in text:
            self.errors.append(f"console: {text}")

    def sign_in(self, view: str = "live") -> None:
        """Sign in straight into `view` (the page keeps the hash it was opened with)."""
        self.page.goto(f"{self.base}/-/ui/#/{view}")
        self.page.fill("#api-key", KEY)
        self.page.click("form button[type=submit]")
        self.wait_live()

    def wait_live(self) -> None:
        expect(self.page.locator("#stream-status")).to_have_attribute("data-state", "live")

    def nav(self, view: str) -> None:
        self.page.click(f"nav a[data-view={view}]")

    def row(self, text: str) -> Any:
        return self.page.locator("#live-rows li").filter(has_text=text)

    def shot(self, name: str, full_page: bool = True) -> Path:
        path = self.shots / f"ui-{name}.png"
        self.page.mouse.move(0, 0)  # no hover highlight in the pictures
        self.page.screenshot(path=str(path), full_page=full_page, animations="disabled")
        return path


@contextmanager
def open_tab(browser: Browser, base: str, shots: Path, **context: Any) -> Iterator[Tab]:
    ctx = browser.new_context(viewport=context.pop("viewport", LAPTOP), **context)
    try:
        tab = Tab(ctx.new_page(), base, shots)
        yield tab
        assert tab.errors == []
        assert tab.dialogs == []
    finally:
        ctx.close()


# Every element whose text is cut: wider content than its box (scrollWidth), or a box that ends past the
# viewport's right edge. Cells, badges and row parts are what a phone cuts first.
OVERFLOW_JS = """(selector) => {
  const width = document.documentElement.clientWidth;
  const cut = [];
  for (const el of document.querySelectorAll(selector)) {
    if (!el.offsetParent) continue;  // hidden
    const r = el.getBoundingClientRect();
    if (el.scrollWidth > el.clientWidth + 1 || r.right > width + 1) cut.push(el.textContent.slice(0, 60));
  }
  return cut;
}"""
CELLS = "td, th, .row-link > span, .badge, .legend li, .kv dd"


def overflowing(page: Page, selector: str = CELLS) -> list[str]:
    found: list[str] = page.evaluate(OVERFLOW_JS, selector)
    return found
