"""Stores opened directly (no HTTP), one per backend (helpers in tests/support/store.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.support.store import open_test_store
from tracktion.domain.ports import Store


@pytest.fixture
async def store(database_url: str | None, tmp_path: Path) -> AsyncIterator[Store]:
    """An empty store of the test's backend (`[sqlite]` / `[postgres]`), started."""
    s = open_test_store(database_url, tmp_path)
    await s.start()
    yield s
    await s.close()
