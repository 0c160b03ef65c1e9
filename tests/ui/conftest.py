"""The debugger's files do not depend on the store: the `api` fixture runs on SQLite only here.

The browser tests (Playwright for Python driving Debian's `chromium`, never a downloaded browser, against a real
`tracktion serve` on a loopback port) share one chromium and one seeded server per module.
Without playwright or chromium they skip locally, and fail when `CI` is set. Each view is screenshotted; the
PNGs go to `$TRACKTION_UI_SCREENSHOTS` when set (`docs/images` to refresh the committed ones, see docs/ui.md),
else to a temporary directory, so a plain test run leaves the work tree alone.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.serve_process import ServeProcess
from tests.ui.browser import (
    CHROMIUM,
    LAUNCH_ARGS,
    Client,
    Tab,
    open_tab,
    seed,
    server_for,
    sync_playwright,
    unavailable,
)

try:
    from playwright.sync_api import Browser
except ImportError:  # reported by the `browser` fixture
    Browser = object  # type: ignore[assignment,misc]


@pytest.fixture
def store_backend() -> str:
    return "sqlite"


# Per module, not per session: sync Playwright runs its own event loop, which async tests after it would meet.
@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if sync_playwright is None:
        unavailable("playwright is not installed (pip install -e '.[dev]')")
    if not CHROMIUM.exists():
        unavailable(f"{CHROMIUM} is missing (apt-get install chromium)")
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(CHROMIUM), args=LAUNCH_ARGS)
        yield b
        b.close()


@pytest.fixture(scope="module")
def server(browser: Browser, tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServeProcess]:
    s = server_for(tmp_path_factory.mktemp("ui-server") / "data")
    s.start()
    try:
        seed(Client(s.url))
        yield s
    finally:
        s.stop()


@pytest.fixture(scope="module")
def client(server: ServeProcess) -> Client:
    """The API as an app calls it (named `client`: `api` is the in-process app of tests/conftest.py)."""
    return Client(server.url)


@pytest.fixture(scope="module")
def shots(tmp_path_factory: pytest.TempPathFactory) -> Path:
    target = os.environ.get("TRACKTION_UI_SCREENSHOTS")
    path = Path(target) if target else tmp_path_factory.mktemp("ui-screenshots")
    path.mkdir(parents=True, exist_ok=True)
    return path


@pytest.fixture
def tab(browser: Browser, server: ServeProcess, shots: Path) -> Iterator[Tab]:
    with open_tab(browser, server.url, shots) as t:
        yield t
