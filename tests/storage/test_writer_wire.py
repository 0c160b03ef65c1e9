"""The bytes between the HTTP process and the SQLite writer process: every request and result comes back
equal to what was sent, whatever its shape, and a new field in a model cannot be dropped silently."""

from __future__ import annotations

from dataclasses import fields
from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from tracktion.domain.models import (
    ClientRef,
    Credential,
    EventIn,
    ItemOutcome,
    ProfileIn,
    TransactionIn,
    WriteItem,
    WriteRequest,
    WriteResult,
    WriteStats,
)
from tracktion.errors import ErrorEntry, PayloadTooLarge, ProfileMismatch, ValidationFailed
from tracktion.storage import writer_wire

json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**63), 2**63 - 1) | st.floats(allow_nan=False) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=12,
)
texts = st.none() | st.text(max_size=12)
clients = st.builds(ClientRef, st.none() | st.integers(1, 2**63 - 1), texts, texts, texts)
events = st.builds(
    EventIn,
    clients,
    st.text(max_size=12),
    st.text(max_size=12),
    st.integers(0, 2**53),
    texts,
    texts,
    st.dictionaries(st.text(max_size=8), json_values, max_size=4),
    st.sampled_from(["custom", "dedicated", "transaction"]),
    st.sampled_from(["client.uuid", "clientUUID"]),
)
credentials = st.builds(
    Credential,
    st.sampled_from(["workspace", "profile"]),
    st.integers(1, 9),
    st.text(max_size=8),
    st.frozensets(st.text(max_size=8), max_size=5),
    st.none() | st.integers(1, 2**40),
    texts,
    texts,
)
errors = st.sampled_from(
    [
        None,
        ValidationFailed(errors=[ErrorEntry(1003, "[1].action", "Action cannot be empty", "")]),
        ProfileMismatch("Client mismatch", field="client.id", rejected_value=7),
    ]
)


@st.composite
def items(draw: Any) -> WriteItem:
    raw = draw(json_values)
    index = draw(st.none() | st.integers(0, 999))
    prefix = draw(st.sampled_from(["", "[3]", "items[3]"]))
    shape = draw(
        st.sampled_from(
            ["event", "event-params-in-raw", "transaction", "transaction-own-body", "profile", "error"]
        )
    )
    if shape.startswith("event"):
        event = draw(events)
        if shape == "event-params-in-raw":
            # What the HTTP layer does: the validated params are the dict sent, inside the raw item.
            raw = {"action": event.action, "params": event.params}
        return WriteItem(index, raw, prefix, event=event)
    if shape.startswith("transaction"):
        body = draw(st.dictionaries(st.text(max_size=8), json_values, max_size=4))
        if shape == "transaction":
            raw = body  # what the HTTP layer does: the validated body is the object sent
        t = TransactionIn(
            draw(clients), draw(st.text(max_size=8)), draw(st.integers(0, 2**53)), None, None, body
        )
        return WriteItem(index, raw, prefix, transaction=t)
    if shape == "profile":
        return WriteItem(
            index, raw, prefix, profile=ProfileIn(draw(clients), {"firstName": "Ana"}, tags=["a"])
        )
    return WriteItem(index, raw, prefix, error=draw(errors) or ValidationFailed("x"))


requests = st.builds(
    WriteRequest,
    st.integers(1, 9),
    credentials,
    st.text(max_size=12),
    st.sampled_from(["POST", "DELETE"]),
    st.text(max_size=20),
    st.integers(0, 2**53),
    st.text(max_size=12),
    st.lists(items(), max_size=4),
    st.booleans(),
    st.sampled_from([None, PayloadTooLarge()]),
    texts,
    st.booleans(),
    st.sampled_from(["live", "bulk"]),
)


def _same(a: Any, b: Any) -> None:
    """Equal, errors included (exceptions compare by identity, so compare what they carry)."""
    if isinstance(a, Exception):
        assert type(a) is type(b) and a.errors == b.errors and a.headers == b.headers
    elif isinstance(a, WriteRequest | WriteItem | WriteResult | ItemOutcome):
        for f in fields(a):
            _same(getattr(a, f.name), getattr(b, f.name))
    elif isinstance(a, list):
        assert len(a) == len(b)
        for x, y in zip(a, b, strict=True):
            _same(x, y)
    else:
        assert a == b


@given(requests, st.integers(1, 2**40), st.sampled_from(["live", "bulk"]), st.integers(1, 1000))
def test_requests_arrive_as_sent(request: WriteRequest, rid: int, lane: str, weight: int) -> None:
    back = writer_wire.decode(writer_wire.encode((rid, lane, weight, request)))
    assert back[:3] == (rid, lane, weight)
    _same(request, back[3])
    for sent, got in zip(request.items, back[3].items, strict=True):
        if sent.transaction is not None and sent.transaction.body is sent.raw:
            assert got.transaction is not None and got.transaction.body is got.raw  # sent once, still shared
        if sent.event is not None and type(sent.raw) is dict and sent.raw.get("params") is sent.event.params:
            assert got.event is not None and got.event.params is got.raw["params"]


outcomes = st.builds(
    ItemOutcome,
    st.none() | st.integers(0, 999),
    st.sampled_from([202, 400, 403]),
    texts,
    texts,
    errors,
    st.none() | st.integers(1, 2**40),
)
results = st.builds(
    WriteResult,
    st.lists(outcomes, max_size=5),
    errors,
    st.none()
    | st.builds(
        WriteStats,
        st.dictionaries(st.text(max_size=8), st.integers(0, 99), max_size=3),
        st.integers(0, 9),
        st.dictionaries(st.text(max_size=8), st.integers(0, 99), max_size=3),
        st.integers(0, 9),
        st.integers(0, 9),
    ),
)


@given(st.lists(st.tuples(st.integers(1, 2**40), st.booleans(), results), max_size=4), st.booleans())
def test_results_arrive_as_sent(group: list[tuple[int, bool, WriteResult]], healthy: bool) -> None:
    outcomes = [(rid, ok, r if ok else (r.error or ValidationFailed("x"))) for rid, ok, r in group]
    back = writer_wire.decode(writer_wire.encode(("done", outcomes, healthy, 0.25)))
    assert back[0] == "done" and back[2:] == (healthy, 0.25)
    _same([o[2] for o in outcomes], [o[2] for o in back[1]])
    assert [o[:2] for o in outcomes] == [o[:2] for o in back[1]]


def test_other_messages_and_values_msgpack_cannot_hold_still_arrive() -> None:
    assert writer_wire.decode(writer_wire.encode(("ready",))) == ("ready",)
    assert writer_wire.decode(writer_wire.encode(("failed", "disk I/O error"))) == (
        "failed",
        "disk I/O error",
    )
    huge = WriteRequest(
        1, Credential("workspace", 1, "k"), "r", "POST", "/x", 0, "ip", [WriteItem(None, 2**70)]
    )
    frame = writer_wire.encode((1, "live", 1, huge))
    assert frame[:1] == b"P"  # whole-frame pickle fallback
    assert writer_wire.decode(frame)[3].items[0].raw == 2**70


def test_the_wire_knows_every_field_of_the_models_it_flattens() -> None:
    """A field added to one of these models must be added to `writer_wire` too (this test then changes)."""
    expected = {
        WriteRequest: "workspace_id credential request_id method endpoint received_ms ip items atomic"
        " request_error body_excerpt body_truncated lane",
        Credential: "kind workspace_id key_id permissions client_id uuid device_id",
        WriteItem: "index raw prefix event transaction error profile suppressed",
        EventIn: "client action label time_ms original_time salt params kind uuid_field",
        TransactionIn: "client order_id time_ms original_time salt body currency",
        ClientRef: "id custom_id email uuid",
        WriteResult: "outcomes error stats",
        ItemOutcome: "index status uuid quarantine_reason error client_id",
        WriteStats: "inserted_by_kind overwritten quarantined_by_reason profiles_created quarantine_evicted",
    }
    for cls, names in expected.items():
        assert [f.name for f in fields(cls)] == names.split(), cls.__name__


def test_a_suppressed_item_stays_suppressed() -> None:
    """docs/api.md §15.1: the HTTP process marks the item, the writer process must see the mark."""
    item = WriteItem(
        0,
        {"client": {"customId": "c"}},
        "[0]",
        event=EventIn(ClientRef(custom_id="c"), "a", "l", 1, None, None, {}, "custom"),
    )
    item.suppressed = True
    request = WriteRequest(
        1, Credential("workspace", 1, "k"), "r", "POST", "/v4/events/batch", 1, "ip", [item]
    )
    back = writer_wire.decode(writer_wire.encode((1, "live", 1, request)))[3]
    assert back.items[0].suppressed is True and back.items[0].event == item.event
    item.suppressed = False
    assert writer_wire.decode(writer_wire.encode((1, "live", 1, request)))[3].items[0].suppressed is False
