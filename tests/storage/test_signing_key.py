"""Nodes of one PostgreSQL database sign tokens with one key, or a node refuses to start (never silently).

The database records the kid of the first node's key (`tracktion_signing_key`); a node that has another
key, or that would make its own for a database already in use, stops with a message naming the file to
copy and where. Checked on the store API, on the app's startup, and with the real `tracktion serve`."""

from __future__ import annotations

import asyncio
import shutil
import subprocess
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path

import httpx
import psycopg
import pytest

from tests.support.api import API_KEY
from tests.support.postgres import fresh_schema, require_test_database
from tests.support.serve_process import TRACKTION, ServeProcess, clean_env, default_sigint, free_port
from tracktion.app import create_app
from tracktion.auth.jwt import KEY_FILE, SigningKey
from tracktion.bootstrap import SigningKeyRefused, bootstrap, check_signing_key
from tracktion.settings import Settings
from tracktion.storage.postgres import PostgresStore
from tracktion.storage.sqlite import SQLiteStore

pytestmark = pytest.mark.postgres


@pytest.fixture
def url() -> Iterator[str]:
    with fresh_schema(require_test_database()) as u:
        yield u


@pytest.fixture
async def store(url: str) -> AsyncIterator[PostgresStore]:
    s = PostgresStore(url)
    await s.start()
    yield s
    await s.close()


async def first_node(store: PostgresStore, data_dir: Path) -> SigningKey:
    """The first node on the empty database: makes its key, records it, creates the first workspace."""
    key = SigningKey.load_or_create(data_dir)
    await check_signing_key(store, key, data_dir / KEY_FILE)
    assert await bootstrap(store, API_KEY) is not None
    return key


async def test_the_first_node_records_its_key_and_a_copy_is_accepted(
    store: PostgresStore, tmp_path: Path
) -> None:
    key = await first_node(store, tmp_path / "a")
    assert await store.signing_key_id(None) == key.kid
    (tmp_path / "b").mkdir()
    shutil.copy2(tmp_path / "a" / KEY_FILE, tmp_path / "b" / KEY_FILE)
    copy = SigningKey.load_or_create(tmp_path / "b")
    assert not copy.created and copy.kid == key.kid
    await check_signing_key(store, copy, tmp_path / "b" / KEY_FILE)  # no exception: it may serve


async def test_a_node_without_the_key_refuses_and_says_what_to_copy(
    store: PostgresStore, tmp_path: Path
) -> None:
    key = await first_node(store, tmp_path / "a")
    path = tmp_path / "b" / KEY_FILE
    own = SigningKey.load_or_create(tmp_path / "b")  # what the node would silently have used
    assert own.created
    with pytest.raises(SigningKeyRefused) as refused:
        await check_signing_key(store, own, path)
    message = str(refused.value)
    assert f"copy jwt-private.pem from the data dir of one of them to {path.resolve()} (mode 0600)" in message
    assert key.kid in message and "401" in message
    assert not path.exists()  # the key it made is gone: the next start asks again instead of "mismatch"
    assert await store.signing_key_id(None) == key.kid


async def test_a_node_with_another_key_refuses_and_keeps_its_file(
    store: PostgresStore, tmp_path: Path
) -> None:
    key = await first_node(store, tmp_path / "a")
    SigningKey.load_or_create(tmp_path / "b")  # an earlier start, or a key copied from elsewhere
    other = SigningKey.load_or_create(tmp_path / "b")
    assert not other.created
    with pytest.raises(SigningKeyRefused, match=r"replace it with a copy of jwt-private\.pem") as refused:
        await check_signing_key(store, other, tmp_path / "b" / KEY_FILE)
    assert f"its kid is {other.kid}, theirs {key.kid}" in str(refused.value)
    assert (tmp_path / "b" / KEY_FILE).exists()  # not ours to delete


async def test_a_database_served_before_kids_were_recorded(
    url: str, store: PostgresStore, tmp_path: Path
) -> None:
    """An older version's database: workspaces but no recorded kid. A node with a key of its own records
    it (it may be the only node); a node that would make one refuses."""
    await first_node(store, tmp_path / "a")
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("DELETE FROM tracktion_signing_key")
    fresh = SigningKey.load_or_create(tmp_path / "b")
    with pytest.raises(SigningKeyRefused, match="already has workspaces, so other nodes sign its tokens"):
        await check_signing_key(store, fresh, tmp_path / "b" / KEY_FILE)
    assert not (tmp_path / "b" / KEY_FILE).exists()
    assert await store.signing_key_id(None) is None
    existing = SigningKey.load_or_create(tmp_path / "a")
    await check_signing_key(store, existing, tmp_path / "a" / KEY_FILE)
    assert await store.signing_key_id(None) == existing.kid


async def test_nodes_racing_on_an_empty_database_agree_on_one_key(url: str, tmp_path: Path) -> None:
    stores = [PostgresStore(url) for _ in range(4)]
    for s in stores:
        await s.start()
    try:
        keys = [SigningKey.load_or_create(tmp_path / f"n{i}") for i in range(4)]
        results = await asyncio.gather(
            *(
                check_signing_key(s, k, tmp_path / f"n{i}" / KEY_FILE)
                for i, (s, k) in enumerate(zip(stores, keys, strict=True))
            ),
            return_exceptions=True,
        )
        served = [k for k, r in zip(keys, results, strict=True) if r is None]
        assert len(served) == 1, results
        assert all(isinstance(r, SigningKeyRefused) for r in results if r is not None)
        assert await stores[0].signing_key_id(None) == served[0].kid
        assert sorted(p.parent.name for p in tmp_path.glob(f"*/{KEY_FILE}")) == [f"n{keys.index(served[0])}"]
    finally:
        for s in stores:
            await s.close()


async def test_the_app_refuses_at_startup(store: PostgresStore, url: str, tmp_path: Path) -> None:
    """The same check guards every app start (each --workers process), not only `tracktion serve`."""
    await first_node(store, tmp_path / "a")
    app = create_app(Settings.load({"data_dir": tmp_path / "b", "database_url": url}, env={}))
    with pytest.raises(SigningKeyRefused):
        await app.startup()
    await app.ctx.store.close()


async def test_sqlite_has_one_node_and_no_check(tmp_path: Path) -> None:
    """A SQLite store is served by one node, its key beside it; a new key only ends tokens early."""
    store = SQLiteStore(tmp_path / "tracktion.db")
    await store.start()
    try:
        await bootstrap(store, API_KEY)
        key = SigningKey.load_or_create(tmp_path / "new")
        await check_signing_key(store, key, tmp_path / "new" / KEY_FILE)
        assert (tmp_path / "new" / KEY_FILE).exists()
    finally:
        await store.close()


@pytest.mark.e2e
def test_tracktion_serve_refuses_then_serves_with_the_copied_key(url: str, tmp_path: Path) -> None:
    a = ServeProcess(tmp_path / "a", url, api_key=API_KEY, capture_output=True)
    a.start()
    try:
        b_dir = tmp_path / "b"
        started = time.monotonic()
        refused = subprocess.run(
            [str(TRACKTION), "serve", "--port", str(free_port()), "--data-dir", str(b_dir)],
            env=clean_env(TRACKTION_DATABASE_URL=url),
            capture_output=True,
            text=True,
            timeout=60,
            preexec_fn=default_sigint,
        )
        assert refused.returncode == 1
        assert refused.stderr.startswith("tracktion: this node has no token signing key, and the nodes of")
        assert f"to {(b_dir / KEY_FILE).resolve()} (mode 0600)" in refused.stderr
        assert refused.stderr.count("\n") == 1 and "Traceback" not in refused.stderr
        assert time.monotonic() - started < 20
        assert not (b_dir / KEY_FILE).exists()

        shutil.copy2(tmp_path / "a" / KEY_FILE, b_dir / KEY_FILE)  # what the message says
        b = ServeProcess(b_dir, url, api_key=API_KEY, capture_output=True)
        b.start()
        try:
            token = {"Authorization": f"Bearer {a.token()}"}  # issued by node a
            r = httpx.get(f"{b.url}/-/api/events", headers=token, timeout=30)
            assert r.status_code == 200, r.text
        finally:
            b.stop()
    finally:
        a.stop()
