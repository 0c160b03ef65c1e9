"""Migration `0005_trim_identifiers` (docs/api.md §3.2 "Trimming"), on both backends: a store holding identifiers
stored before the trimming rule, written through the store itself (which, below the validators, stores what
it is given), is migrated at start-up and by `tracktion migrate`.

"Before the rule" is made by removing the migration's ledger row after seeding: it changes no schema, so
a store without that row is exactly a store of the previous release.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from pathlib import Path

import pytest

from tests.support.store import T0, event, request
from tracktion import cli
from tracktion.domain.models import ClientRef
from tracktion.domain.ports import EventQuery, Store
from tracktion.storage.identifier_trim import MIGRATION_LOG

MIGRATION = "0005_trim_identifiers"
FIRST = 7_000_000_001


def _open(database_url: str | None, data_dir: Path) -> Store:
    """The store `tracktion migrate --data-dir data_dir [--database-url …]` opens."""
    if database_url is None:
        from tracktion.storage.sqlite import SQLiteStore

        data_dir.mkdir(exist_ok=True)
        return SQLiteStore(data_dir / "tracktion.db")
    from tracktion.storage.postgres import PostgresStore

    return PostgresStore(database_url)


def _sql(database_url: str | None, data_dir: Path, statement: str) -> None:
    if database_url is None:
        import sqlite3

        with contextlib.closing(sqlite3.connect(data_dir / "tracktion.db")) as conn, conn:
            conn.execute(statement)
        return
    import psycopg

    with psycopg.connect(database_url, autocommit=True) as pg:
        pg.execute(statement)


# What is seeded, one profile per entry in this order (so clientIds FIRST, FIRST + 1, …), and what each
# must hold after the migration: (workspace, sent identifiers, customId after, email after).
SEED: list[tuple[int, ClientRef, str | None, str | None]] = [
    (1, ClientRef(custom_id="ws-1"), "ws-1", None),  # +0 the bare owner
    (1, ClientRef(custom_id=" ws-1 "), None, None),  # +1 conflicts with +0: removed
    (1, ClientRef(custom_id="\tbob"), "bob", None),  # +2 free: trimmed
    (1, ClientRef(custom_id=" \u3000 "), None, None),  # +3 nothing left: removed
    (1, ClientRef(custom_id="carol\u00a0"), "carol", None),  # +4 first of two padded: keeps it
    (1, ClientRef(custom_id="\u2003carol"), None, None),  # +5 second: removed, +4 owns it now
    (1, ClientRef(custom_id="dan-1", email=" Dan@Example.org"), "dan-1", None),  # +6 e-mail conflicts with +7
    (1, ClientRef(email="dan@example.org"), None, "dan@example.org"),  # +7 the owner (case-insensitive)
    (1, ClientRef(email="\u3000Eve@Example.org\t"), None, "Eve@Example.org"),  # +8 trimmed, case kept
    (1, ClientRef(custom_id="a \t b"), "a \t b", None),  # +9 inner white space: untouched
    (2, ClientRef(custom_id=" ws-1 "), "ws-1", None),  # +10 another workspace: no conflict there
]
REMOVED = [
    f'workspace 1: customId " ws-1 " removed from profile {FIRST + 1} ("ws-1" belongs to profile {FIRST});'
    f" its events stay on profile {FIRST + 1}",
    f'workspace 1: customId " \\u3000 " removed from profile {FIRST + 3} (it is empty once trimmed);'
    f" its events stay on profile {FIRST + 3}",
    f'workspace 1: customId "\\u2003carol" removed from profile {FIRST + 5} ("carol" belongs to profile'
    f" {FIRST + 4}); its events stay on profile {FIRST + 5}",
    f'workspace 1: email " Dan@Example.org" removed from profile {FIRST + 6} ("Dan@Example.org" belongs to'
    f" profile {FIRST + 7}); its events stay on profile {FIRST + 6}",
    "identifier trimming (docs/api.md §3.2): 4 identifier(s) trimmed, 4 removed",
]


async def _seed(store: Store) -> None:
    await store.create_workspace("one", T0)
    await store.create_workspace("two", T0)
    for i, (workspace, client, _, _) in enumerate(SEED):
        result = await store.write(request(event(client, params={"n": i}), workspace_id=workspace))
        assert result.error is None and result.outcomes[0].status == 202


async def _check(store: Store) -> None:
    for i, (workspace, _, custom_id, email) in enumerate(SEED):
        profile = await store.profile(workspace, FIRST + i)
        assert profile is not None
        assert (profile.custom_id, profile.email) == (custom_id, email), i
        # Every event stayed on the profile it was stored on.
        (stored,) = await store.events(EventQuery(workspace, client_ids=(FIRST + i,)))
        assert stored.row.params["n"] == i
    # Lookups by the trimmed values find the profiles that kept them, and e-mail stays case-insensitive.
    assert await store.find_client_ids(1, custom_id="ws-1") == (FIRST,)
    assert await store.find_client_ids(1, custom_id="bob") == (FIRST + 2,)
    assert await store.find_client_ids(1, custom_id="carol") == (FIRST + 4,)
    assert await store.find_client_ids(1, email="eve@example.org") == (FIRST + 8,)
    assert await store.find_client_ids(1, email="DAN@example.org") == (FIRST + 7,)
    assert await store.find_client_ids(2, custom_id="ws-1") == (FIRST + 10,)
    assert await store.find_client_ids(1, custom_id=" ws-1 ") == ()


@pytest.fixture
async def seeded(make_database_url: Callable[[], str | None], tmp_path: Path) -> tuple[str | None, Path]:
    """A store of the test's backend seeded with padded identifiers, as the previous release left it."""
    database_url = make_database_url()  # a schema of its own: this test rewrites the ledger
    data_dir = tmp_path / "data"
    store = _open(database_url, data_dir)
    await store.start()
    try:
        await _seed(store)
    finally:
        await store.close()
    _sql(database_url, data_dir, f"DELETE FROM tracktion_migrations WHERE name = '{MIGRATION}'")
    return database_url, data_dir


async def test_start_up_trims_and_logs_each_removal(
    seeded: tuple[str | None, Path], caplog: pytest.LogCaptureFixture
) -> None:
    database_url, data_dir = seeded
    for attempt in range(2):
        caplog.clear()
        store = _open(database_url, data_dir)
        with caplog.at_level(logging.WARNING, logger=MIGRATION_LOG):
            await store.start()  # the automatic migration at start-up
        try:
            reported = [r.getMessage() for r in caplog.records if r.name == MIGRATION_LOG]
            # Applied once: the second start finds nothing to do and reports nothing.
            assert reported == (REMOVED if attempt == 0 else [])
            await _check(store)
        finally:
            await store.close()


async def test_tracktion_migrate_prints_each_removal(
    seeded: tuple[str | None, Path], capsys: pytest.CaptureFixture[str]
) -> None:
    database_url, data_dir = seeded
    args = ["migrate", "--data-dir", str(data_dir)]
    if database_url is not None:
        args += ["--database-url", database_url]
    # The CLI runs its own event loop (asyncio.run), which cannot start inside this test's loop.
    assert await asyncio.to_thread(cli.main, args) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[:-1] == REMOVED
    assert out[-1].startswith("migrations applied: ")
    store = _open(database_url, data_dir)
    await store.start()
    try:
        await _check(store)
    finally:
        await store.close()
    assert await asyncio.to_thread(cli.main, args) == 0  # nothing left to do: nothing printed but the summary
    assert len(capsys.readouterr().out.splitlines()) == 1
