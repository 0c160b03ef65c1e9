"""The relay's fixtures: a webhook receiver (`tests.support.relay.WebhookReceiver`) and an app with fast
retries."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import pytest

from tests.support.api import API_KEY, Api
from tests.support.relay import FAST, WebhookReceiver
from tracktion.app import create_app
from tracktion.auth.jwt import SigningKey
from tracktion.settings import Settings


@pytest.fixture
def receiver() -> Iterator[WebhookReceiver]:
    r = WebhookReceiver()
    yield r
    r.close()


@pytest.fixture
def relay_settings(data_dir: Path, database_url: str | None) -> Settings:
    values = {"data_dir": data_dir, "bootstrap_api_key": API_KEY, "database_url": database_url}
    return Settings.load(values | {"sqlite_writer": "thread"} | FAST, env={})


@pytest.fixture
async def rapi(relay_settings: Settings, session_signing_key: SigningKey) -> AsyncIterator[Api]:
    """An app with the relay's retries shortened, logged in with the bootstrap key."""
    app = create_app(relay_settings, signing_key=session_signing_key)
    await app.startup()
    transport = httpx.ASGITransport(app=app, client=("203.0.113.7", 51234))
    async with httpx.AsyncClient(transport=transport, base_url="http://tracktion.test") as client:
        helper = Api(app, client)
        await helper.login()
        yield helper
    await app.shutdown()
