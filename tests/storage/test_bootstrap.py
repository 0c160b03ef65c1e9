"""First start: exactly one workspace, even when several stores (nodes) bootstrap the same empty database."""

from __future__ import annotations

import asyncio
from pathlib import Path

from tests.support.store import open_test_store
from tracktion.auth.api_keys import hash_secret
from tracktion.bootstrap import bootstrap


async def test_concurrent_bootstrap_creates_one_workspace(database_url: str | None, tmp_path: Path) -> None:
    stores = [open_test_store(database_url, tmp_path) for _ in range(4)]
    for store in stores:
        await store.start()
    try:
        results = await asyncio.gather(*(bootstrap(s, f"tk_node-{i}") for i, s in enumerate(stores)))
        created = [r for r in results if r is not None]
        assert len(created) == 1
        workspaces = await stores[0].workspaces()
        assert [w.id for w in workspaces] == [created[0].workspace.id]
        keys = await stores[0].api_keys(created[0].workspace.id)
        assert [k.id for k in keys] == [created[0].key.id]
        winner = results.index(created[0])
        assert (await stores[0].api_key_by_hash(hash_secret(f"tk_node-{winner}"))) is not None
    finally:
        for store in stores:
            await store.close()


async def test_bootstrap_is_idempotent(database_url: str | None, tmp_path: Path) -> None:
    store = open_test_store(database_url, tmp_path)
    await store.start()
    try:
        first = await bootstrap(store, None)
        assert first is not None and first.secret is not None  # generated, to be printed once
        assert await bootstrap(store, None) is None
        assert len(await store.workspaces()) == 1
    finally:
        await store.close()
