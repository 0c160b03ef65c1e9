"""Issue 23: `tracktion serve` freezes what start-up built out of the garbage collector's passes; an app
built for tests (or embedded) does not, since its short life would keep its cycles for good."""

from __future__ import annotations

import gc
from pathlib import Path

from tests.support.api import API_KEY
from tracktion.app import create_app
from tracktion.auth.jwt import SigningKey
from tracktion.settings import Settings


async def _frozen_after_startup(settings: Settings, watch_signals: bool) -> int:
    gc.unfreeze()
    app = create_app(settings, signing_key=SigningKey.generate(), watch_signals=watch_signals)
    await app.startup()
    try:
        return gc.get_freeze_count()
    finally:
        await app.shutdown()
        gc.unfreeze()


async def test_only_serve_freezes_the_start_up_objects(tmp_path: Path) -> None:
    values = {"bootstrap_api_key": API_KEY, "sqlite_writer": "thread"}
    served = Settings.load(values | {"data_dir": tmp_path / "a"}, env={})
    embedded = Settings.load(values | {"data_dir": tmp_path / "b"}, env={})
    assert await _frozen_after_startup(served, watch_signals=True) > 0
    assert await _frozen_after_startup(embedded, watch_signals=False) == 0
