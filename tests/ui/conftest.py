"""The debugger's files do not depend on the store: the `api` fixture runs on SQLite only here."""

from __future__ import annotations

import pytest


@pytest.fixture
def store_backend() -> str:
    return "sqlite"
