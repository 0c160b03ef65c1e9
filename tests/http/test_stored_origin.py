"""docs/api.md §7.2, issue 23: a row stores its caller's params and the origin of its system params
(`tracktion.storage.event_params`); every read builds the §7.2 params back. Rows written before migration
0011 hold the full params and read the same, byte for byte, on both backends."""

from __future__ import annotations

import ipaddress
import json
import sqlite3
import uuid as uuidlib
from typing import Any

import msgspec
import psycopg
import pytest
from hypothesis import given
from hypothesis import strategies as st

from tests.http.test_timeline import BODIES
from tests.support.api import Api
from tests.support.http import Clock, Keys, client_for, event
from tracktion.domain.definitions import SYSTEM_PARAMS
from tracktion.domain.event_ids import uuid_bytes
from tracktion.domain.models import Credential
from tracktion.domain.system_params import modified_by
from tracktion.domain.timefmt import format_ms
from tracktion.relay.feed import render_item
from tracktion.relay.synerise import batch_item
from tracktion.schemas.render import event_json
from tracktion.storage.event_params import (
    compact_ip,
    full_params,
    full_params_json,
    ip_text,
    modified_by_bytes,
    modified_by_value,
)
from tracktion.storage.postgres_tx import json_text
from tracktion.storage.sqlite_tx import decode_json, encode_json

CUSTOM_IDS = ("c1", "c2", "c3", "c4", "c5", "t1", "u1")
SECOND_UUID = "0b5b6c1e-3f1a-4a43-9a53-5d1c1f6f0a11"


async def _write_everything(api: Api) -> None:
    for body in BODIES:
        assert (await api.post("/v4/events/custom", content=body)).status_code == 202
    sent = [
        event(client={"customId": "u1"}, params={}),  # empty params
        event(client={"customId": "u1"}, time="2024-03-05T11:15:30.250+01:00"),  # time as sent ≠ stored
        event(client={"customId": "u1"}, time="2024-03-05T10:15:30.250Z"),  # as sent = stored
        event(client={"customId": "u1"}, time="2024-03-05T10:15:31Z"),  # the same without milliseconds
        event(client={"customId": "u1"}, time="2024-03-05T10:15:32.000Z"),
        event(client={"customId": "u1"}, time="2999-01-01T00:00:00Z"),  # future: replaced by the receive time
        event(client={"customId": "u1", "uuid": SECOND_UUID}),  # a uuid that is not the primary one
    ]
    for sent_body in sent:
        assert (await api.post("/v4/events/custom", sent_body)).status_code == 202
    transaction = {
        "client": {"customId": "t1"},
        "orderId": "o-1",
        "value": {"amount": 10, "currency": "EUR"},
        "revenue": {"amount": 10, "currency": "EUR"},
        "products": [
            {"sku": "a", "name": "A", "quantity": 1, "finalUnitPrice": {"amount": 4, "currency": "EUR"}},
            {"sku": "b", "name": "B", "quantity": 2, "finalUnitPrice": {"amount": 3, "currency": "EUR"}},
        ],
        "eventSalt": "salt-1",
    }
    r = await api.post("/v4/transactions", transaction)
    assert r.status_code == 202, r.text


async def _answers(api: Api) -> dict[str, Any]:
    store: Any = api.app.ctx.store  # both backends' stores have the relay's reads (`RelayStore`)
    out: dict[str, Any] = {"events": (await api.get("/-/api/events", params={"limit": 1000})).content}
    for endpoint in ("/v4/events/custom", "/v4/transactions", "/v4/events/batch"):
        r = await api.get("/-/api/events", params={"limit": 1000, "endpoint": endpoint})
        out[endpoint] = r.content
    for custom_id in CUSTOM_IDS:
        (cid,) = await store.find_client_ids(1, custom_id=custom_id)
        out[custom_id] = (await api.get(f"/v4/events/by-client/{cid}")).content
    since = await store.events_since(1, 0, 1000)
    out["since"] = [event_json(e, extended=True) for e in since]
    out["one"] = [event_json(e) for s in since if (e := await store.event(1, s.row.uuid)) is not None]
    relayed = await store.relay_events(1, 0, await store.relay_horizon(), 1000)
    out["relay"] = [batch_item(e) for e in relayed]
    out["relay_created"] = [e.row.params.get("eventCreateTime") for e in relayed]
    # The live loop's rows (webhook and NATS items are rendered from them, `relay.feed`).
    rows = await store.relay_rows(1, 0, await store.relay_horizon(), 1000)
    out["relay_items"] = [json.loads(render_item(r)) for r in rows]
    return out


def _rows(api: Api) -> list[tuple[str, Any, Any, Any, str]]:
    """(uuid, params as stored decoded, created_ms, sent_time, endpoint and kind codes) of every event."""
    url = api.app.ctx.settings.database_url
    if url:
        with psycopg.connect(url) as pg:
            rows = pg.execute(
                "SELECT uuid::text, params::text, created_ms, sent_time, endpoint || kind FROM events"
            ).fetchall()
    else:
        conn = sqlite3.connect(api.app.ctx.settings.data_dir / "tracktion.db")
        try:
            rows = [
                (str(uuidlib.UUID(bytes=u)), p, c, t, k)
                for u, p, c, t, k in conn.execute(
                    "SELECT uuid, params, created_ms, sent_time, endpoint || kind FROM events"
                )
            ]
        finally:
            conn.close()
    return [(u, decode_json(p), c, t, k) for u, p, c, t, k in rows]


def _make_legacy(api: Api, full: dict[str, dict[str, Any]]) -> None:
    """Turn every row into what the writer stored before 0011: the whole params, no origin columns, the
    endpoint and kind as text. `full`: extended items (§13.2) by uuid."""
    url = api.app.ctx.settings.database_url
    clear = "created_ms = NULL, ip = NULL, modified_by = NULL, client_uuid = NULL, sent_time = NULL"
    if url:
        with psycopg.connect(url) as pg:
            for uuid, e in full.items():
                pg.execute(
                    f"UPDATE events SET params = %s::json, endpoint = %s, kind = %s, {clear}"
                    " WHERE uuid = %s::uuid",
                    (json_text(e["params"]), e["endpoint"], e["kind"], uuid),
                )
        return
    conn = sqlite3.connect(api.app.ctx.settings.data_dir / "tracktion.db", isolation_level=None)
    try:
        for uuid, e in full.items():
            conn.execute(
                f"UPDATE events SET params = ?, endpoint = ?, kind = ?, {clear} WHERE uuid = ?",
                (encode_json(e["params"]), e["endpoint"], e["kind"], uuid_bytes(uuid)),
            )
    finally:
        conn.close()


async def test_rows_keep_only_the_callers_params_and_legacy_rows_read_the_same(api: Api) -> None:
    await _write_everything(api)
    before = await _answers(api)
    stored = _rows(api)
    assert len(stored) == len(before["since"]) > 10
    # Endpoint and kind as one-letter codes: custom events ("cc"), products and charges ("tt").
    assert {k for *_, k in stored} == {"cc", "tt"}
    for _, params, created_ms, *_ in stored:
        assert created_ms is not None
        assert SYSTEM_PARAMS.isdisjoint(params)
    # `time` as sent: kept only when it does not read as the stored time (with or without milliseconds).
    sent = [t for *_, t, _ in stored]
    assert sent.count("") == 2 and sent.count("s") == 2 and "2024-03-05T11:15:30.250+01:00" in sent
    # What the reads answered holds every system param, in the writer's order, after the caller's.
    for item in before["since"]:
        keys = list(item["params"])
        system = [k for k in keys if k in SYSTEM_PARAMS]
        assert keys[-len(system) :] == system
        assert system[:8] == [
            "eventUUID",
            "time",
            "eventCreateTime",
            "clientId",
            "uuid",
            "businessProfileId",
            "ip",
            "modifiedBy",
        ]
    by_uuid = {e["uuid"]: e for e in before["since"]}
    u1 = [e for e in before["since"] if e["client"]["customId"] == "u1"]
    assert [e["params"].get("snr-original-time") for e in u1] == [
        None,
        "2024-03-05T11:15:30.250+01:00",
        "2024-03-05T10:15:30.250Z",
        "2024-03-05T10:15:31Z",
        "2024-03-05T10:15:32.000Z",
        "2999-01-01T00:00:00Z",
        None,
    ]
    assert u1[-1]["params"]["uuid"] == u1[-1]["client"]["uuid"] == SECOND_UUID
    assert u1[0]["params"]["uuid"] != SECOND_UUID

    _make_legacy(api, by_uuid)
    assert all(created_ms is None for _, _, created_ms, *_ in _rows(api))
    assert await _answers(api) == before


async def test_an_overwrite_of_a_legacy_row_stores_the_new_form(api: Api, clock: Clock) -> None:
    body = event(client={"customId": "s1"}, params={"v": 1}, eventSalt="s", time="2024-03-05T10:00:00Z")
    assert (await api.post("/v4/events/custom", body)).status_code == 202
    (first,) = await api.events()
    _make_legacy(api, {first["uuid"]: first})
    body["params"] = {"v": 2}
    clock.advance(1000)
    assert (await api.post("/v4/events/custom", body)).status_code == 202
    (second,) = await api.events()
    assert second["uuid"] == first["uuid"]
    assert second["params"] == first["params"] | {"v": 2, "eventCreateTime": format_ms(clock.now_ms)}
    ((_, params, created_ms, _, codes),) = _rows(api)
    assert codes == "ccustom"  # the endpoint is replaced (as its code); the kind, like the action, stays
    assert params == {"v": 2} and created_ms is not None


def test_modified_by_is_stored_in_16_bytes_for_a_workspace_key() -> None:
    workspace = Credential("workspace", 1, "8d3c1c1e-9b0e-4d8e-8f5e-2f3a4b5c6d7e")
    profile = Credential("profile", 1, "8d3c1c1e-9b0e-4d8e-8f5e-2f3a4b5c6d7f", client_id=7_000_000_001)
    odd = Credential("workspace", 1, "not-a-uuid")
    upper = Credential("workspace", 1, "8D3C1C1E-9B0E-4D8E-8F5E-2F3A4B5C6D7E")
    for cred in (workspace, profile, odd, upper):
        value = modified_by(cred)
        stored = modified_by_bytes(value)
        assert (len(stored) == 16) == (cred is workspace)
        assert msgspec.json.encode(modified_by_value(stored)) == msgspec.json.encode(value)
    copy = modified_by_value(modified_by_bytes(modified_by(workspace)))
    copy["userId"] = 5  # a caller may change what it got: the next read is not affected
    assert modified_by_value(modified_by_bytes(modified_by(workspace)))["userId"] is None


def test_the_spliced_json_is_what_encoding_the_merged_params_writes() -> None:
    key = uuidlib.UUID("8d3c1c1e-9b0e-4d8e-8f5e-2f3a4b5c6d7e").bytes
    other = modified_by_bytes(modified_by(Credential("profile", 1, "k-é", client_id=7)))
    t = 1_709_633_730_000
    for caller in ({}, {"a": 1}, {"s": 'é"\\\n\u2028', "n": [1.5, None, {"x": True}]}):
        for origin in (
            (t + 5, "127.0.0.1", key, None, None),
            # SQLite's compact forms: an IPv4 address's 4 bytes, a numbered key read back as its id text.
            (t + 5, b"\x7f\x00\x00\x01", "8d3c1c1e-9b0e-4d8e-8f5e-2f3a4b5c6d7e", None, None),
            (t, b"\xc6\x33\x64\x17", key, None, "s"),
            (t, "::1", other, 'uuid "odd" é', ""),
            (t, "", key, None, "s"),
            (t, "peer\u00e9\x01", other, None, "2024-03-05T11:15:30+01:00"),
        ):
            args = ("79ad1afc-88ae-4dfb-9fb9-6352fb2cb72b", t, 7_000_000_001, 3, "primary-uuid", origin)
            merged = msgspec.json.encode(full_params(dict(caller), *args))
            assert full_params_json(msgspec.json.encode(caller), *args) == merged
            assert full_params_json(msgspec.json.encode(caller).decode(), *args) == merged.decode()


@given(
    st.one_of(
        st.ip_addresses().map(str), st.text(max_size=40), st.from_regex(r"[0-9]{1,4}(\.[0-9]{1,4}){0,4}")
    )
)
def test_an_ip_reads_back_as_it_was_stored(ip: str) -> None:
    stored = compact_ip(ip)
    assert ip_text(stored) == ip
    # Only an IPv4 address in its usual spelling (as a socket or a proxy header gives it) is packed.
    assert isinstance(stored, bytes) == (_is_ipv4(ip) and str(ipaddress.ip_address(ip)) == ip)


def _is_ipv4(text: str) -> bool:
    try:
        return isinstance(ipaddress.ip_address(text), ipaddress.IPv4Address)
    except ValueError:
        return False


async def test_sqlite_stores_a_workspace_key_as_its_number_and_an_ipv4_peer_as_4_bytes(
    api: Api, keys: Keys
) -> None:
    if api.app.ctx.settings.database_url:
        pytest.skip("SQLite's row forms (PostgreSQL stores the key's 16 bytes and the text)")
    bootstrap = (await keys.bootstrap_key()).id
    key, secret = await keys.create(None)
    other = client_for(api, ("198.51.100.23", 4000))
    other.token = await keys.login(secret)
    ipv6 = client_for(api, ("2001:db8::1", 4000))
    assert (await api.post("/v4/events/custom", event(client={"customId": "a"}))).status_code == 202
    assert (await other.post("/v4/events/custom", event(client={"customId": "b"}))).status_code == 202
    assert (await ipv6.post("/v4/events/custom", event(client={"customId": "c"}))).status_code == 202
    conn = sqlite3.connect(api.app.ctx.settings.data_dir / "tracktion.db")
    try:
        numbers = dict(conn.execute("SELECT id, number FROM api_keys"))
        stored = conn.execute(
            "SELECT p.custom_id, typeof(e.modified_by), e.modified_by, typeof(e.ip), length(e.ip)"
            " FROM events e JOIN profiles p USING (workspace_id, client_id) ORDER BY e.seq"
        ).fetchall()
    finally:
        conn.close()
    assert sorted(numbers.values()) == [1, 2] and numbers[key.id] == 2
    assert stored == [
        ("a", "integer", numbers[bootstrap], "blob", 4),
        ("b", "integer", 2, "blob", 4),
        ("c", "integer", numbers[bootstrap], "text", len("2001:db8::1")),
    ]
    seen = {e["client"]["customId"]: e["params"] for e in await api.events()}
    assert seen["a"]["modifiedBy"]["businessProfileApiKey"] == bootstrap
    assert seen["b"]["modifiedBy"]["businessProfileApiKey"] == key.id
    assert [seen[c]["ip"] for c in "abc"] == [
        "203.0.113.7",
        "198.51.100.23",
        "2001:db8::1",
    ]  # each client's peer
