"""Erasure is physical (docs/api.md §15.1): after `done`, nothing of the person is left in the store, not
even in SQLite's free pages or WAL; and the deletion goes in bounded chunks. Both backends; the number of
events is 50,000 on SQLite and `TRACKTION_TEST_ERASURE_EVENTS` (default 3,000) on PostgreSQL."""

from __future__ import annotations

import os
import re
import uuid as uuidlib
from pathlib import Path
from typing import Any

from tests.support.store import T0, event, request
from tracktion.domain.models import ClientRef, WriteItem
from tracktion.domain.ports import EventQuery, Store
from tracktion.errors import ErrorEntry, ValidationFailed

PERSON = ClientRef(
    custom_id="cust-erase-4711", email="Erin.Erased@Example.org", uuid="5f0c9b1e-8a5e-4f7b-9d64-2c1e0a7b3d42"
)
OTHER = ClientRef(custom_id="cust-keep-0815")
EXTRA_UUID = "9b2d4c6e-1f3a-4b5c-8d7e-0a1b2c3d4e5f"


async def _fill(store: Store, n: int) -> None:
    """`n` events of PERSON, 1000 per request (the bulk path), plus a few of OTHER."""
    ws = (await store.create_workspace("default", T0)).id
    assert ws == 1
    first = await store.write(request(event(PERSON), received_ms=T0))
    assert first.error is None
    cid = first.outcomes[0].client_id or (await store.find_client_ids(1, custom_id=PERSON.custom_id))[0]
    await store.write(request(event(ClientRef(id=cid, uuid=EXTRA_UUID))))  # a second uuid of theirs
    done = 2
    while done < n:
        size = min(1000, n - done)
        batch = [
            event(ClientRef(id=cid), action="page.view", time_ms=T0 + done + i, params={"i": done + i})
            for i in range(size)
        ]
        result = await store.write(request(*batch, batch=True, endpoint="/v4/events/batch"))
        assert result.error is None
        done += size
    await store.write(request(event(OTHER), received_ms=T0))
    # Quarantine records: one naming the person's e-mail (item), one request-level body naming the
    # customId, and one of someone else.
    bad = ValidationFailed(errors=[ErrorEntry(1002, "label", "Label is required", None)])
    naming = request(bad)
    naming.items[0] = WriteItem(None, {"client": {"email": PERSON.email}, "action": "x"}, error=bad)
    await store.write(naming)
    body = request(bad)
    body.items = []
    body.request_error = bad
    body.body_excerpt = f'{{"client": {{"customId": "{PERSON.custom_id}"'
    await store.write(body)
    other = request(bad)
    other.items[0] = WriteItem(None, {"client": {"customId": OTHER.custom_id}}, error=bad)
    await store.write(other)


async def _erase_and_finish(store: Store, chunk: int) -> tuple[Any, int, list[int]]:
    (cid,) = await store.find_client_ids(1, custom_id=PERSON.custom_id)
    erasure = await store.erase(1, "customId", PERSON.custom_id, suppress=True, now_ms=T0, erasure_id="er-1")
    assert erasure is not None and erasure.client_id == cid
    seen: list[int] = []
    steps = 0
    while await store.erasure_step(chunk, T0 + 1):
        steps += 1
        found = await store.erasure(1, "er-1")
        assert found is not None
        seen.append(found.deleted_events)
    return await store.erasure(1, "er-1"), steps, seen


async def test_erasure_leaves_nothing_behind(store: Store, database_url: str | None, tmp_path: Path) -> None:
    n = 50_000 if database_url is None else int(os.environ.get("TRACKTION_TEST_ERASURE_EVENTS", "3000"))
    chunk = 10_000 if database_url is None else 1_000
    await _fill(store, n)
    person_events = await store.events(
        EventQuery(1, client_ids=await store.find_client_ids(1, custom_id=PERSON.custom_id), limit=n + 10)
    )
    assert len(person_events) == n
    event_uuids = [e.row.uuid for e in person_events]

    erasure, steps, seen = await _erase_and_finish(store, chunk)
    assert erasure.state == "done" and erasure.completed_ms == T0 + 1
    assert (erasure.deleted_events, erasure.deleted_quarantine) == (n, 2)
    assert erasure.identifiers == {}  # the receipt keeps the clientId only
    # Bounded chunks: each step deleted at most `chunk` events.
    increments = [b - a for a, b in zip([0, *seen], seen, strict=False)]
    assert max(increments) <= chunk and steps >= n // chunk
    # Someone else's data is untouched.
    assert len(await store.events(EventQuery(1, limit=10))) == 1
    assert len(await store.quarantine(_q())) == 1

    needles = [PERSON.custom_id, PERSON.email, PERSON.email.lower(), PERSON.uuid, EXTRA_UUID]
    if database_url is None:
        # The database and its WAL as they are on disk (the erasure truncated the WAL when it finished).
        raw = b"".join(p.read_bytes() for p in sorted(tmp_path.glob("contract.db*")))
        for needle in needles:
            assert needle.encode() not in raw, needle
        present = _uuids_in(raw)
        (kept,) = await store.events(EventQuery(1, limit=10))
        assert kept.row.uuid in present  # the search does find what is still stored
        hits = present & set(event_uuids)
        assert hits == set(), f"{len(hits)} event uuids still in the files"
    else:
        rows = await _pg_rows(database_url)
        for needle in needles:
            assert not any(needle.lower() in r for r in rows), needle
        hits = [u for u in event_uuids if any(u in r for r in rows)]
        assert hits == []


# A UUID as text, or as the 16 bytes SQLite keeps in `events.uuid` (version 1-8 nibble, RFC 4122 variant);
# found with overlapping matches, in C: 50,000 separate `in` searches of a 30 MB file would take minutes.
_UUID_TEXT = re.compile(rb"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
_UUID_BYTES = re.compile(rb"(?s)(?=(.{6}[\x10-\x8f].[\x80-\xbf].{7}))")


def _uuids_in(raw: bytes) -> set[str]:
    found = {m.group().decode() for m in _UUID_TEXT.finditer(raw)}
    found.update(str(uuidlib.UUID(bytes=m.group(1))) for m in _UUID_BYTES.finditer(raw))
    return found


def _q() -> Any:
    from tracktion.domain.ports import QuarantineQuery

    return QuarantineQuery(1)


async def _pg_rows(database_url: str) -> list[str]:
    """Every row of the tables that can hold personal data, as lower-case text."""
    import psycopg

    out: list[str] = []
    async with await psycopg.AsyncConnection.connect(database_url) as conn:
        for table in ("events", "profiles", "profile_uuids", "profile_data", "quarantine", "erasures"):
            cur = await conn.execute(f"SELECT t::text FROM {table} t")
            out.extend(str(r[0]).lower() for r in await cur.fetchall())
    return out


async def test_erasure_of_unknown_or_foreign_identifiers(store: Store) -> None:
    await store.create_workspace("one", T0)
    await store.create_workspace("two", T0)
    await store.write(request(event(ClientRef(custom_id="theirs")), workspace_id=2))
    for by, value in (
        ("customId", "theirs"),
        ("email", "no@example.org"),
        ("uuid", "not-a-uuid"),
        ("clientId", 7000000001),
        ("customId", "a\x00b"),
    ):
        assert await store.erase(1, by, value, suppress=True, now_ms=T0, erasure_id=f"e-{by}") is None
    assert await store.erasures(1) == []
    assert await store.erasure_step(100, T0) is False
    assert len(await store.events(EventQuery(2))) == 1


async def test_suppression_digests_and_lifting(store: Store) -> None:
    from tracktion.domain.lifecycle import client_keys, digest

    await store.create_workspace("one", T0)
    assert await store.suppression_digests(1) == (None, frozenset())
    await store.write(request(event(PERSON)))
    await store.erase(1, "uuid", PERSON.uuid.upper(), suppress=True, now_ms=T0, erasure_id="er-9")
    secret, digests = await store.suppression_digests(1)
    assert secret is not None and len(secret) == 32
    for ref in (
        ClientRef(email=PERSON.email.upper()),
        ClientRef(custom_id=PERSON.custom_id),
        ClientRef(uuid=PERSON.uuid),
    ):
        assert digest(secret, client_keys(ref)[0]) in digests
    assert digest(secret, client_keys(ClientRef(custom_id="CUST-ERASE-4711"))[0]) not in digests  # exact
    (s,) = await store.suppressions(1)
    assert (s.erasure_id, s.created_ms) == ("er-9", T0)
    assert await store.delete_suppression(2, s.id) is False
    assert await store.delete_suppression(1, s.id) is True
    assert (
        await store.suppression_digests(1) == (secret, frozenset())
        or (await store.suppression_digests(1))[1] == frozenset()
    )
    # A new profile never gets the erased clientId (§9.1).
    await store.write(request(event(ClientRef(custom_id="next"))))
    (cid,) = await store.find_client_ids(1, custom_id="next")
    assert cid > 7_000_000_001


def test_migration_names_stay_ordered_on_both_backends() -> None:
    """The lifecycle migration is `0006_lifecycle` on both backends (`0005_*` is left to other branches):
    each list is applied in its order, by name, so a gap is harmless but the names must stay sorted."""
    from tracktion.storage import postgres_schema, sqlite_schema

    for migrations in (sqlite_schema.MIGRATIONS, postgres_schema.MIGRATIONS):
        names = [name for name, _ in migrations]
        assert names == sorted(names) and len(set(names)) == len(names)
        assert "0006_lifecycle" in names


async def test_the_relay_reads_nothing_past_the_retention(store: Store) -> None:
    """Events past the workspace's retention are gone from every read at once (§15.2), the relay's too
    (live loop, replays, failures), before the background deletion reaches them."""
    from tracktion.domain.relay import relay_store

    ws = (await store.create_workspace("default", T0)).id
    day = 86_400_000
    store.clock_ms = lambda: T0 + 40 * day  # type: ignore[attr-defined]
    for label, t in (("old", T0), ("new", T0 + 39 * day)):
        result = await store.write(request(event(label=label, time_ms=t)))
        assert result.error is None
    relay = relay_store(store)
    upto = await relay.relay_horizon()
    assert [e.row.label for e in await relay.relay_events(ws, 0, upto, 100)] == ["old", "new"]
    await store.set_retention(ws, 30)
    assert [e.row.label for e in await relay.relay_events(ws, 0, upto, 100)] == ["new"]
    assert [r.label for r in await relay.relay_rows(ws, 0, upto, 100)] == ["new"]
