"""PostgreSQL-only behaviour of the store: migrations under concurrency, faults and reconnects, group
retries after a deadlock, and identity races between several writers (each store = one node)."""

from __future__ import annotations

import asyncio
import random
import threading
import uuid as uuidlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest

from tests.support.api import API_KEY
from tests.support.pgproxy import PgProxy
from tests.support.postgres import fresh_schema, require_test_database
from tests.support.store import T0, event, request
from tracktion.app import create_app
from tracktion.auth.jwt import SigningKey
from tracktion.domain.identity import profile_for_uuid
from tracktion.domain.models import ClientRef, EventRow
from tracktion.domain.ports import EventQuery
from tracktion.errors import StorageUnavailable
from tracktion.settings import Settings
from tracktion.storage.postgres_schema import MIGRATIONS

# Every test here needs psycopg (the `postgres` extra): without it the module is skipped, not an import error.
psycopg = pytest.importorskip("psycopg")

from tracktion.schemas.render import definitions_json  # noqa: E402
from tracktion.storage.postgres import PostgresStore  # noqa: E402  (needs psycopg)
from tracktion.storage.postgres_backend import migrate  # noqa: E402

pytestmark = pytest.mark.postgres


@pytest.fixture
def url() -> Iterator[str]:
    with fresh_schema(require_test_database()) as u:
        yield u


# -- migrations ----------------------------------------------------------------------------------------------
def test_concurrent_migrations_apply_each_once(url: str) -> None:
    barrier = threading.Barrier(6)
    applied: list[list[str]] = []
    errors: list[BaseException] = []

    def node() -> None:
        try:
            with psycopg.connect(url, autocommit=True) as conn:
                barrier.wait()
                applied.append(migrate(conn))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=node) for _ in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors
    names = [name for run in applied for name in run]
    assert sorted(names) == sorted(name for name, _ in MIGRATIONS)  # each applied by exactly one node
    with psycopg.connect(url, autocommit=True) as conn:
        assert conn.execute("SELECT count(*) FROM tracktion_migrations").fetchone() == (len(MIGRATIONS),)
        assert migrate(conn) == []


# -- faults ----------------------------------------------------------------------------------------------------
def _backend_pids(store: PostgresStore) -> list[int]:
    """The server pids of the store's writer connection and of its idle read connections."""
    backend: Any = store.writer._backend
    reads: Any = store._reads
    return [backend.conn.info.backend_pid, *(c.info.backend_pid for c in reads._idle)]


async def test_connections_killed_while_idle_are_replaced(url: str) -> None:
    store = PostgresStore(url)
    await store.start()
    try:
        await store.create_workspace("w", T0)
        await store.write(request(event()))
        assert len(await store.events(EventQuery(1))) == 1
        with psycopg.connect(require_test_database(), autocommit=True) as admin:
            pids = _backend_pids(store)
            assert len(pids) == 2
            admin.execute("SELECT pg_terminate_backend(pid) FROM unnest(%s::int[]) AS pid", (pids,))
        # neither the writer's nor the pooled read connection's death is visible to callers
        result = await store.write(request(event()))
        assert result.outcomes[0].status == 202
        assert len(await store.events(EventQuery(1))) == 2
        assert await store.ready()
    finally:
        await store.close()


async def test_database_outage_is_503_then_recovers_without_restart(url: str) -> None:
    proxy = PgProxy(url)
    proxy.start()
    store = PostgresStore(proxy.url())
    await store.start()
    try:
        ws = (await store.create_workspace("w", T0)).id
        await store.write(request(event(params={"n": 1})))
        proxy.cut()
        with pytest.raises(StorageUnavailable):
            await store.write(request(event(params={"n": 2})))
        assert store.writer.healthy is False
        assert await store.ready() is False
        with pytest.raises(StorageUnavailable):
            await store.events(EventQuery(ws))
        proxy.start()
        assert await store.ready() is True
        await store.write(request(event(params={"n": 3})))
        assert store.writer.healthy is True
        stored = [e.row.params["n"] for e in await store.events(EventQuery(ws))]
        assert sorted(stored) == [1, 3]  # the refused write left nothing behind
    finally:
        proxy.cut()
        await store.close()


async def test_connection_lost_mid_transaction_stores_nothing(url: str) -> None:
    proxy = PgProxy(url)
    proxy.start()
    store = PostgresStore(proxy.url())
    await store.start()
    try:
        ws = (await store.create_workspace("w", T0)).id

        def work(tx: Any) -> None:
            tx.create_profile(ws, uuid=str(uuidlib.uuid4()), custom_id="lost", email=None, now_ms=T0)
            proxy.cut()
            tx.profile_by_id(ws, 1)

        with pytest.raises(StorageUnavailable):
            await store.transact(work)
        proxy.start()
        await store.write(request(event(ClientRef(custom_id="kept"))))
        assert await store.find_client_ids(ws, custom_id="lost") == ()
        assert await store.find_client_ids(ws, custom_id="kept") != ()
    finally:
        proxy.cut()
        await store.close()


async def test_http_answers_503_5001_during_an_outage(
    url: str, tmp_path: Path, session_signing_key: SigningKey
) -> None:
    proxy = PgProxy(url)
    proxy.start()
    app = create_app(
        Settings.load(
            {"data_dir": tmp_path / "d", "database_url": proxy.url(), "bootstrap_api_key": API_KEY}, env={}
        ),
        signing_key=session_signing_key,
    )
    await app.startup()
    transport = httpx.ASGITransport(app=app, client=("203.0.113.7", 1))
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://t") as client:
            r = await client.post("/uauth/v2/auth/login/profile", json={"apiKey": API_KEY})
            headers = {"Authorization": f"Bearer {r.json()['token']}"}
            body = {"action": "a.b", "label": "l", "client": {"customId": "c"}}
            assert (await client.post("/v4/events/custom", json=body, headers=headers)).status_code == 202
            proxy.cut()
            r = await client.post("/v4/events/custom", json=body, headers=headers)
            assert r.status_code == 503, r.text
            assert r.json()["errors"][0]["code"] == 5001
            assert r.headers["retry-after"] == "1"
            assert (await client.get("/-/ready")).status_code == 503
            proxy.start()
            assert (await client.get("/-/ready")).status_code == 200
            assert (await client.post("/v4/events/custom", json=body, headers=headers)).status_code == 202
            r = await client.get("/-/api/events", headers=headers)
            assert len(r.json()["items"]) == 2
    finally:
        proxy.cut()
        await app.shutdown()


# -- conflicts between nodes -------------------------------------------------------------------------------------
async def test_deadlock_between_two_nodes_is_retried(url: str) -> None:
    """Two writers lock two rows in opposite orders: PostgreSQL kills one; its group runs again."""
    assert "options=" in url
    fast = url + quote(" -cdeadlock_timeout=50ms")  # `options` is the URL's last parameter
    a, b = PostgresStore(fast), PostgresStore(fast)
    await a.start()
    await b.start()
    try:
        await a.create_workspace("one", T0)
        await a.create_workspace("two", T0)
        locked = {"a": threading.Event(), "b": threading.Event()}
        runs = {"a": 0, "b": 0}

        def work(me: str, first: int, second: int) -> Any:
            def run(tx: Any) -> str:
                runs[me] += 1
                tx.execute("UPDATE workspaces SET name = %s WHERE id = %s", (me, first))
                if runs[me] == 1:
                    locked[me].set()
                    locked["b" if me == "a" else "a"].wait(5)
                tx.execute("UPDATE workspaces SET name = %s WHERE id = %s", (me, second))
                return me

            return run

        results = await asyncio.gather(a.transact(work("a", 1, 2)), b.transact(work("b", 2, 1)))
        assert sorted(results) == ["a", "b"]
        assert sorted(runs.values()) == [1, 2]  # the deadlock victim ran again
        assert a.writer.healthy and b.writer.healthy
    finally:
        await a.close()
        await b.close()


async def test_identity_and_salt_races_between_writers(url: str) -> None:
    """Three stores (three writer connections = three nodes) get the same new identifiers at once.

    Each node sees them in another order, so the nodes' group transactions also deadlock; a short
    deadlock_timeout (default 1 s; docs/deploying.md suggests lowering it) keeps the test quick."""
    stores = [PostgresStore(url + quote(" -cdeadlock_timeout=20ms")) for _ in range(3)]
    for s in stores:
        await s.start()
    try:
        ws = (await stores[0].create_workspace("w", T0)).id
        pairs = 12
        per_node: list[list[Any]] = [[], [], []]
        for i in range(pairs):
            email = f"user{i}@example.org"
            for n, s in enumerate(stores):
                client = ClientRef(email=email.upper() if n == 1 else email, uuid=str(uuidlib.uuid4()))
                per_node[n].append(lambda s=s, c=client, i=i: s.write(request(event(c, params={"i": i}))))
                # the same new uuid alone, and the same salted event, from every node
                per_node[n].append(
                    lambda s=s, i=i: s.write(request(event(ClientRef(uuid=_u(i)), action="lone", salt="s")))
                )
                per_node[n].append(
                    lambda s=s, i=i: s.transact(lambda tx: profile_for_uuid(tx, ws, _u(100 + i), T0))
                )
        # each node sees the same identifiers in another order: groups overlap in every direction
        random.Random(7).shuffle(per_node[1])
        per_node[2].reverse()
        writes = [make() for calls in zip(*per_node, strict=True) for make in calls]
        results = await asyncio.gather(*writes)
        assert all(getattr(r, "error", None) is None for r in results)
        # every e-mail and every uuid on exactly one profile; one profile per e-mail pair
        for i in range(pairs):
            (owner,) = await stores[1].find_client_ids(ws, email=f"user{i}@example.org")
            events = await stores[2].events(EventQuery(ws, client_ids=(owner,), actions=("door.open",)))
            assert len(events) == 3
            details = await stores[0].profile_details(ws, owner)
            assert (
                details is not None and len(details.uuids) == 3
            )  # the first request's, then the others attached
            assert len(await stores[0].find_client_ids(ws, uuid=_u(i))) == 1
            assert len(await stores[0].find_client_ids(ws, uuid=_u(100 + i))) == 1
            lone = await stores[0].events(EventQuery(ws, actions=("lone",), client_ids=None))
        assert len(lone) == pairs  # one salted event per uuid, however many nodes sent it
        defs = {d["action"]: d["eventCount"] for d in definitions_json(await stores[0].definitions(ws))}
        assert defs == {"door.open": 3 * pairs, "lone": pairs}
    finally:
        for s in stores:
            await s.close()


def _u(i: int) -> str:
    return str(uuidlib.UUID(int=0x5EED_0000_0000_4000_8000_0000_0000_0000 + i))


async def test_stream_never_skips_a_seq_that_commits_late(url: str) -> None:
    """Node A draws a seq and commits after node B, which drew a higher one: readers wait for A."""
    a, b = PostgresStore(url), PostgresStore(url)
    await a.start()
    await b.start()
    try:
        ws = (await a.create_workspace("w", T0)).id
        owner = await a.transact(lambda tx: profile_for_uuid(tx, ws, str(uuidlib.uuid4()), T0))
        inserted, release = threading.Event(), threading.Event()

        def slow(tx: Any) -> None:
            row = EventRow(ws, str(uuidlib.uuid4()), owner.client_id, "slow", "l", T0, {}, "/x", "custom")
            tx.upsert_event(row, True)
            inserted.set()
            release.wait(10)

        pending = asyncio.ensure_future(a.transact(slow))
        assert await asyncio.to_thread(inserted.wait, 10)
        await b.write(request(event(action="fast")))  # a higher seq, committed first
        assert await b.events_since(ws, 0, 10) == []  # held back: a lower seq is still in flight
        start, _ = await b.latest_seqs()
        release.set()
        await pending
        for _ in range(100):  # another node's commit shows after the shared horizon expires (≤ 50 ms)
            stream = await b.events_since(ws, 0, 10)
            if stream:
                break
            await asyncio.sleep(0.01)
        assert [e.row.action for e in stream] == ["slow", "fast"]
        assert all(e.row.seq > start for e in stream)  # a stream started meanwhile misses neither
    finally:
        release.set()
        await a.close()
        await b.close()


# -- round trips of a commit group ------------------------------------------------------------------------------
class _Statements:
    """Counts what the writer connection sends (statements, COPYs) while patched in."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self.sent: list[str] = []
        self.pipelined: list[str] = []  # those sent inside a pipeline: no round trip of their own
        # Connection.execute goes through Cursor.execute: counting the cursor counts everything once.
        for name in ("execute", "executemany", "copy"):
            monkeypatch.setattr(psycopg.Cursor, name, self._counting(getattr(psycopg.Cursor, name)))

    def _counting(self, method: Any) -> Any:
        def counted(obj: Any, query: Any, *args: Any, **kwargs: Any) -> Any:
            text = str(query)[:40]
            self.sent.append(text)
            if obj.connection.info.pipeline_status != psycopg.pq.PipelineStatus.OFF:
                self.pipelined.append(text)
            return method(obj, query, *args, **kwargs)

        return counted


def _group(backend: Any, requests: list[Any]) -> list[Any]:
    from tracktion.storage.postgres_tx import RequestJob
    from tracktion.storage.writer import run_group

    outcomes, healthy = run_group(backend, [RequestJob(r, 0) for r in requests])
    assert healthy
    return [value for ok, value in outcomes if ok]


def test_events_of_known_profiles_cost_no_round_trip_of_their_own(
    url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from tracktion.storage.postgres_backend import PostgresBackend

    backend = PostgresBackend(url)
    backend.open()
    try:
        _group(backend, [request(event(ClientRef(custom_id=f"c{i}"))) for i in range(3)])  # the profiles
        counts = []
        for jobs in (1, 4, 12):
            statements = _Statements(monkeypatch)
            group = [request(event(ClientRef(custom_id=f"c{i % 3}"), params={"n": i})) for i in range(jobs)]
            results = _group(backend, group)
            assert [r.error for r in results] == [None] * jobs
            counts.append(len(statements.sent))
            # The definitions and COMMIT (and a lone row's INSERT) share one round trip; a COPY cannot.
            pipelined = [s.split(" (")[0] for s in statements.pipelined]
            assert pipelined == (["INSERT INTO events"] if jobs == 1 else []) + [
                "INSERT INTO definitions",
                "INSERT INTO definition_params",
                "INSERT INTO event_counts",  # the §13.6a counters, in the same round trip
                "COMMIT",
            ], statements.pipelined
            monkeypatch.undo()
        # prefetch, BEGIN, one COPY (one INSERT for one row), definitions and their params, the counters,
        # COMMIT: the same for 4 jobs as for 12.
        assert counts == [7, 7, 7], counts
        with psycopg.connect(url, autocommit=True) as conn:
            assert conn.execute("SELECT count(*) FROM events").fetchone() == (3 + 1 + 4 + 12,)
            assert conn.execute("SELECT count(*) FROM profiles").fetchone() == (3,)
    finally:
        backend.close()


def test_a_profile_created_early_in_a_group_is_found_by_the_jobs_after_it(url: str) -> None:
    from tracktion.storage.postgres_backend import PostgresBackend

    backend = PostgresBackend(url)
    backend.open()
    try:
        # Job 0 creates "fresh" (the group's prefetch said nobody owns it); jobs 1-3 must land on it, and
        # job 2 adds an e-mail to it that job 3 then finds.
        results = _group(
            backend,
            [
                request(event(ClientRef(custom_id="fresh"))),
                request(event(ClientRef(custom_id="fresh"))),
                request(event(ClientRef(custom_id="fresh", email="Fresh@Example.org"))),
                request(event(ClientRef(email="fresh@example.org"))),
            ],
        )
        assert [r.error for r in results] == [None] * 4
        with psycopg.connect(url, autocommit=True) as conn:
            assert conn.execute("SELECT count(*), min(email) FROM profiles").fetchone() == (
                1,
                "Fresh@Example.org",
            )
            assert conn.execute("SELECT count(DISTINCT client_id), count(*) FROM events").fetchone() == (1, 4)
    finally:
        backend.close()


def test_the_salted_lookup_is_planned_for_its_values_not_prepared(url: str) -> None:
    """A prepared statement's generic plan is made once: made while `events` was small and not analyzed, the
    salted lookup walked `events_by_time` over every row of the workspace (~5 ms per salted event at 30,000
    events, growing; auto_explain). The overwrite's lookup is planned for its values each time (the unique
    index); a new salted event is one INSERT, whose conflict check is the unique index anyway."""
    from tracktion.storage.postgres_backend import PostgresBackend

    backend = PostgresBackend(url)
    backend.open()
    try:
        for i in range(12):  # 3 new events, 9 overwrites: both past psycopg's prepare threshold (5)
            (result,) = _group(backend, [request(event(ClientRef(custom_id="c"), salt=f"s{i % 3}"))])
            assert result.error is None
            assert result.stats is not None and result.stats.overwritten == (i >= 3)
        assert backend.conn is not None
        prepared = [s for (s,) in backend.conn.execute("SELECT statement FROM pg_prepared_statements")]
        assert any("INSERT INTO events" in s for s in prepared), prepared  # the others are prepared
        assert not [s for s in prepared if "FOR UPDATE" in s and "FROM events" in s], prepared
    finally:
        backend.close()
