"""A real `tracktion serve` process on a free loopback port for the command-line tools' end-to-end tests
(helpers in tests/support/tools.py)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.tools import Server


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """One server per test module; tests keep apart by using their own actions and identifiers."""
    s = Server(tmp_path_factory.mktemp("tools-server") / "data")
    s.start()
    try:
        yield s
    finally:
        s.stop()


@pytest.fixture
def fresh_server(tmp_path: Path) -> Iterator[Server]:
    """A server of the test's own (for restarts and for an empty target store)."""
    s = Server(tmp_path / "fresh-data")
    s.start()
    try:
        yield s
    finally:
        s.stop()
