"""docs/api.md §3.7 (event UUIDs), §6.3 (product UUIDs) and §9.3 (generated profile uuids): vectors and
algebraic properties."""

from __future__ import annotations

import hashlib
import uuid

from hypothesis import given
from hypothesis import strategies as st

from tracktion.domain.event_ids import (
    EVENT_NAMESPACE,
    derived_profile_uuid,
    event_uuid,
    ordered_product_uuid,
    random_event_uuid,
    salted_event_uuid,
    time_ordered_uuid,
    uuid5_text,
    uuid_bytes,
)

workspace_ids = st.integers(min_value=1, max_value=2**63 - 1)
client_ids = st.integers(min_value=1, max_value=2**63 - 1)
actions = st.from_regex(r"[a-zA-Z0-9.\-_]{1,32}", fullmatch=True)
salts = st.text(min_size=1)
times = st.integers(min_value=0, max_value=253_402_300_799_999)  # up to 9999-12-31T23:59:59.999Z


def test_namespace_is_uuid5_of_tracktion_event() -> None:
    assert uuid.uuid5(uuid.NAMESPACE_URL, "tracktion:event") == EVENT_NAMESPACE
    assert str(EVENT_NAMESPACE) == "7b0fe651-8b45-5c83-84be-1b49d1448e59"


def test_contract_vector() -> None:
    assert salted_event_uuid(1, 7000000001, "door.open", "door-0001", 1709633730250) == (
        "17044965-767f-5e64-9494-32f11a8d437e"
    )


def test_profile_uuid_vector() -> None:
    assert derived_profile_uuid("ana@example.org") == "ad33ed01-06f4-510e-9688-5157b52fbba4"


@given(workspace_ids, client_ids, actions, salts, times)
def test_salted_uuid_is_uuid5_of_the_joined_fields(
    ws: int, client: int, action: str, salt: str, t: int
) -> None:
    expected = str(uuid.uuid5(EVENT_NAMESPACE, f"{ws}|{client}|{action}|{salt}|{t}"))
    assert salted_event_uuid(ws, client, action, salt, t) == expected
    assert event_uuid(ws, client, action, salt, t, t + 5) == expected  # the arrival time plays no part
    parsed = uuid.UUID(expected)
    assert parsed.version == 5
    assert str(parsed) == expected  # canonical lower-case text


@given(workspace_ids, client_ids, actions, salts, times)
def test_salted_uuid_is_deterministic(ws: int, client: int, action: str, salt: str, t: int) -> None:
    assert salted_event_uuid(ws, client, action, salt, t) == salted_event_uuid(ws, client, action, salt, t)


@given(workspace_ids, client_ids, actions, salts, times, st.data())
def test_changing_any_component_changes_the_uuid(
    ws: int, client: int, action: str, salt: str, t: int, data: st.DataObject
) -> None:
    base = salted_event_uuid(ws, client, action, salt, t)
    assert salted_event_uuid(ws + 1, client, action, salt, t) != base
    assert salted_event_uuid(ws, client + 1 if client < 2**63 - 1 else client - 1, action, salt, t) != base
    other_action = data.draw(actions.filter(lambda a: a != action))
    assert salted_event_uuid(ws, client, other_action, salt, t) != base
    other_salt = data.draw(salts.filter(lambda s: s != salt))
    assert salted_event_uuid(ws, client, action, other_salt, t) != base
    assert salted_event_uuid(ws, client, action, salt, t + 1) != base


received = st.integers(min_value=0, max_value=2**48 - 1)


@given(workspace_ids, client_ids, actions, times, received)
def test_without_salt_a_fresh_v7_of_the_arrival_every_time(
    ws: int, client: int, action: str, t: int, arrived: int
) -> None:
    a, b = event_uuid(ws, client, action, None, t, arrived), event_uuid(ws, client, action, None, t, arrived)
    assert a != b
    for text in (a, b):
        parsed = uuid.UUID(text)
        assert parsed.version == 7 and parsed.variant == uuid.RFC_4122
        assert parsed.int >> 80 == arrived  # the first 48 bits: the receive time in ms, not the event time
        assert str(parsed) == text


@given(received, received)
def test_v7_uuids_sort_by_arrival(first: int, second: int) -> None:
    a, b = time_ordered_uuid(first), time_ordered_uuid(second)
    if first < second:
        assert a < b and uuid_bytes(a) < uuid_bytes(b)  # as text and as the stored bytes


def _spec_v8(charge: uuid.UUID, index: int) -> str:
    """§6.3 written out with the uuid module, independently of the implementation."""
    digest = int.from_bytes(hashlib.sha1(charge.bytes + str(index).encode()).digest(), "big")
    bits74 = digest >> (160 - 74)
    rand_a, rand_b = bits74 >> 62, bits74 & ((1 << 62) - 1)
    value = (charge.int >> 80) << 80 | 0x8 << 76 | rand_a << 64 | 0b10 << 62 | rand_b
    return str(uuid.UUID(int=value))


@given(received, st.integers(min_value=0, max_value=10_000))
def test_products_of_an_unsalted_charge_are_v8_of_the_charge_and_position(arrived: int, index: int) -> None:
    charge = uuid.UUID(time_ordered_uuid(arrived))
    product = ordered_product_uuid(charge.bytes, index)
    parsed = uuid.UUID(product)
    assert product == _spec_v8(charge, index)
    assert parsed.version == 8 and parsed.variant == uuid.RFC_4122
    assert parsed.int >> 80 == charge.int >> 80 == arrived  # ordered by the charge's arrival
    assert ordered_product_uuid(charge.bytes, index) == product  # deterministic
    assert ordered_product_uuid(charge.bytes, index + 1) != product


def test_v8_product_vector() -> None:
    charge = uuid.UUID("018e0e2c-6e8a-7c3b-9a1d-2f3e4a5b6c7d")
    assert ordered_product_uuid(charge.bytes, 0) == _spec_v8(charge, 0)
    assert ordered_product_uuid(charge.bytes, 0) == "018e0e2c-6e8a-8cc3-9c1a-939c66cae3b0"
    assert ordered_product_uuid(charge.bytes, 1) == "018e0e2c-6e8a-8cf6-860b-7dfbb8dc815b"


def test_random_event_uuid_is_canonical_v4_text() -> None:
    seen = set()
    for _ in range(2000):
        text = random_event_uuid()
        parsed = uuid.UUID(text)
        assert parsed.version == 4 and parsed.variant == uuid.RFC_4122
        assert str(parsed) == text  # lower-case, dashed: the form stored and answered
        seen.add(text)
    assert len(seen) == 2000


@given(st.text(min_size=1))
def test_profile_uuid_is_uuid5_url_of_the_identifier_as_sent(identifier: str) -> None:
    expected = str(uuid.uuid5(uuid.NAMESPACE_URL, identifier))
    assert derived_profile_uuid(identifier) == expected
    if identifier.lower() != identifier:  # e-mail "as sent": no case folding
        assert derived_profile_uuid(identifier.lower()) != expected


@given(st.uuids(), st.text())
def test_uuid5_text_is_the_uuid_modules_uuid5(namespace: uuid.UUID, name: str) -> None:
    assert uuid5_text(namespace.bytes, name) == str(uuid.uuid5(namespace, name))


@given(st.uuids())
def test_uuid_bytes_of_any_uuid_text(value: uuid.UUID) -> None:
    assert uuid_bytes(str(value)) == value.bytes
    assert uuid_bytes(str(value).upper()) == value.bytes
    assert uuid_bytes("{" + str(value) + "}") == value.bytes


def test_random_event_uuids_are_unique_across_threads() -> None:
    """The event loop (request ids) and the writer (event ids) draw from one buffer at the same time."""
    import threading

    results: list[list[str]] = [[] for _ in range(4)]

    def draw(out: list[str]) -> None:
        for _ in range(20_000):
            out.append(random_event_uuid())

    threads = [threading.Thread(target=draw, args=(out,)) for out in results]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    everything = [u for out in results for u in out]
    assert len(set(everything)) == len(everything) == 80_000


def test_a_forked_child_does_not_reuse_the_parents_random_bytes() -> None:
    import os

    random_event_uuid()  # the buffer now holds chunks the parent may still hand out
    read, write = os.pipe()
    pid = os.fork()
    if pid == 0:  # pragma: no cover - the child
        os.write(write, random_event_uuid().encode())
        os._exit(0)
    os.waitpid(pid, 0)
    child = os.read(read, 64).decode()
    parent = [random_event_uuid() for _ in range(256)]
    assert child not in parent
