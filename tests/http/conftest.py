"""Extra fixtures for the HTTP behaviour tests.

The shared `api` fixture (tests/conftest.py) is one app logged in with the bootstrap key. What lives here:
apps with other settings (`make_api`), keys with chosen permissions (`keys`) and clocks under the test's
control (`clock`, `token_clock`). The helpers they use are in tests/support/http.py.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.support.api import API_KEY, Api
from tests.support.http import PEER, Clock, Keys, MakeApi, SecondsClock, install_token_clock
from tracktion.app import TracktionApp, create_app
from tracktion.auth.jwt import SigningKey
from tracktion.settings import Settings


@pytest.fixture
def clock(api: Api) -> Clock:
    """Freezes the app's receive time at 2024-03-06T00:00:00.000Z (after the contract's example times)."""
    c = Clock(1_709_683_200_000)
    api.app.ctx.clock_ms = c
    return c


@pytest.fixture
def token_clock(api: Api) -> SecondsClock:
    c = SecondsClock(1_700_000_000)
    install_token_clock(api.app, c)
    return c


@pytest.fixture
def keys(api: Api) -> Keys:
    return Keys(api)


@pytest.fixture
async def make_api(
    tmp_path: Path, make_database_url: Callable[[], str | None], session_signing_key: SigningKey
) -> AsyncIterator[MakeApi]:
    """Apps with other settings (trusted proxies, token TTL, …), each on its own fresh store of the test's
    backend. They sign with the session's key, unless `key_file=True`: then the app loads (or creates)
    `<data_dir>/jwt-private.pem` as `tracktion serve` does."""
    made: list[tuple[TracktionApp, httpx.AsyncClient]] = []

    async def make(
        *, peer: tuple[str, int] = (PEER, 51234), login: bool = True, key_file: bool = False, **overrides: Any
    ) -> Api:
        values = {
            "data_dir": tmp_path / f"app-{len(made)}",
            "bootstrap_api_key": API_KEY,
            "database_url": make_database_url(),
            "sqlite_writer": "thread",
            **overrides,
        }
        signing_key = None if key_file else session_signing_key
        app = create_app(Settings.load(values, env={}), signing_key=signing_key)
        await app.startup()
        client = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app, client=peer), base_url="http://tracktion.test"
        )
        made.append((app, client))
        helper = Api(app, client)
        if login:
            await helper.login()
        return helper

    yield make
    for app, client in made:
        await client.aclose()
        await app.shutdown()
