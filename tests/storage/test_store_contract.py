"""The `Store` contract, run against every backend (`[sqlite]`, `[postgres]`) through the interface only.

Each test asserts exact values, so both backends must agree on results, ordering and shapes.
"""

from __future__ import annotations

import dataclasses
import uuid as uuidlib

import pytest

from tests.support.store import CRED, T0, event, request
from tracktion.domain.identity import profile_for_uuid
from tracktion.domain.models import (
    ApiKey,
    ClientRef,
    Credential,
    Profile,
    ProfileIn,
    WriteItem,
    WriteRequest,
)
from tracktion.domain.ports import EventQuery, ProfileDetails, QuarantineQuery, Store
from tracktion.errors import ErrorEntry, MalformedJson, ValidationFailed
from tracktion.schemas.render import definitions_json

FIRST = 7_000_000_001
UUID_A = "0a6e0c0e-4b4b-4a53-9d0a-6a8c2b1f7a10"
UUID_B = "6d3f9a4e-2f57-4c8e-9a51-0c1b7e1d2f33"


async def _workspace(store: Store) -> int:
    return (await store.create_workspace("default", T0)).id


# -- workspaces and keys ---------------------------------------------------------------------------------
async def test_workspaces(store: Store) -> None:
    assert await store.workspaces() == []
    one = await store.create_workspace("one", T0)
    two = await store.create_workspace("two", T0 + 1)
    assert (one.id, two.id) == (1, 2)
    assert await store.workspaces() == [one, two]
    assert await store.workspace(1) == one
    assert await store.workspace("2") == two
    assert await store.workspace(two.guid) == two
    for unknown in ("3", "0", "¹", str(2**64), "9" * 5000, "no-such-guid", "a\x00b"):
        assert await store.workspace(unknown) is None, unknown


async def test_api_keys(store: Store) -> None:
    ws = await _workspace(store)
    other = await store.create_workspace("other", T0)
    k1 = ApiKey("b-key", ws, "workspace", "first", ("API_EVENTS_READ", "API_CUSTOM_EVENTS_CREATE"), T0)
    k2 = ApiKey("a-key", ws, "profile", None, (), T0)  # same created_ms: ordered by id
    k3 = ApiKey("c-key", ws, "workspace", "later", (), T0 - 5)
    k4 = ApiKey("d-key", other.id, "workspace", "elsewhere", (), T0)
    for key, secret in ((k1, "h1"), (k2, "h2"), (k3, "h3"), (k4, "h4")):
        await store.create_api_key(key, secret)
    assert await store.api_keys(ws) == [k3, k2, k1]
    assert await store.api_keys(other.id) == [k4]
    assert await store.api_key("b-key") == k1
    assert await store.api_key_by_hash("h2") == k2
    assert await store.api_key("nope") is None
    assert await store.api_key_by_hash("nope") is None
    assert await store.api_key("b\x00") is None
    assert await store.revoke_api_key("b-key", T0 + 10) is True
    assert await store.revoke_api_key("b-key", T0 + 20) is False
    assert await store.revoke_api_key("nope", T0 + 20) is False
    assert await store.revoke_api_key("a\x00", T0 + 20) is False
    assert await store.api_key("b-key") == dataclasses.replace(k1, revoked_ms=T0 + 10)


# -- events and identity ---------------------------------------------------------------------------------
async def test_first_event_creates_a_profile(store: Store) -> None:
    ws = await _workspace(store)
    client = ClientRef(custom_id="cust-1", email="Ana@Example.org", uuid=UUID_A)
    result = await store.write(request(event(client, params={"door": "front"}, original_time="t-as-sent")))
    assert result.error is None
    (outcome,) = result.outcomes
    assert outcome.status == 202 and outcome.uuid is not None

    (stored,) = await store.events(EventQuery(ws))
    row = stored.row
    assert (row.uuid, row.client_id, row.action, row.label, row.time_ms) == (
        outcome.uuid,
        FIRST,
        "door.open",
        "Door opened",
        T0,
    )
    assert (row.endpoint, row.kind, row.workspace_id) == ("/v4/events/custom", "custom", ws)
    assert row.seq > 0
    assert (stored.custom_id, stored.email) == ("cust-1", "Ana@Example.org")
    assert row.params == {
        "door": "front",
        "eventUUID": outcome.uuid,
        "time": T0,
        "eventCreateTime": "2024-03-05T10:15:31.250Z",
        "clientId": FIRST,
        "uuid": UUID_A,
        "businessProfileId": ws,
        "ip": "203.0.113.7",
        "modifiedBy": {
            "businessProfileApiKey": "key-1",
            "clientApiKey": None,
            "clientId": None,
            "userId": None,
        },
        "snr-original-time": "t-as-sent",
    }
    order = ["door", "eventUUID", "time", "eventCreateTime", "clientId", "uuid", "businessProfileId", "ip"]
    assert list(row.params) == [*order, "modifiedBy", "snr-original-time"]
    assert await store.event(ws, outcome.uuid) == stored
    assert await store.event(ws, str(uuidlib.uuid4())) is None
    assert await store.event(ws + 1, outcome.uuid) is None

    assert await store.profile(ws, FIRST) == Profile(ws, FIRST, UUID_A, "cust-1", "Ana@Example.org")
    assert await store.profile(ws, FIRST + 1) is None
    details = await store.profile_details(ws, FIRST)
    assert details == ProfileDetails(
        FIRST, UUID_A, [UUID_A], "cust-1", "Ana@Example.org", T0 + 1000, T0 + 1000
    )
    assert await store.profile_details(ws + 1, FIRST) is None


async def test_find_client_ids(store: Store) -> None:
    ws = await _workspace(store)
    await store.write(request(event(ClientRef(custom_id="c1", email="a@example.org", uuid=UUID_A))))
    await store.write(request(event(ClientRef(custom_id="c2"))))
    find = store.find_client_ids
    assert await find(ws, client_id=FIRST) == (FIRST,)
    assert await find(ws, custom_id="c1") == (FIRST,)
    assert await find(ws, custom_id="c2") == (FIRST + 1,)
    assert await find(ws, email="A@EXAMPLE.ORG") == (FIRST,)
    assert await find(ws, uuid=UUID_A.upper()) == (FIRST,)
    assert await find(ws, uuid=UUID_A, custom_id="c1", email="a@example.org", client_id=FIRST) == (FIRST,)
    # all given identifiers must name the same profile
    assert await find(ws, custom_id="c1", client_id=FIRST + 1) == ()
    for bad in (UUID_A.replace("-", ""), "{" + UUID_A + "}", "not-a-uuid", "a\x00"):
        assert await find(ws, uuid=bad) == (), bad
    assert await find(ws, custom_id="c1\x00") == ()
    assert await find(ws + 1, custom_id="c1") == ()


async def test_unowned_identifiers_are_attached(store: Store) -> None:
    ws = await _workspace(store)
    await store.write(request(event(ClientRef(email="b@example.org"))))
    derived = str(uuidlib.uuid5(uuidlib.NAMESPACE_URL, "b@example.org"))
    await store.write(
        request(event(ClientRef(email="B@example.org", uuid=UUID_B, custom_id="cb")), received_ms=T0 + 5000)
    )
    details = await store.profile_details(ws, FIRST)
    assert details == ProfileDetails(
        FIRST, derived, [derived, UUID_B], "cb", "b@example.org", T0 + 1000, T0 + 5000
    )
    # an identifier owned by another profile stays there; the event goes to the resolved profile
    await store.write(request(event(ClientRef(custom_id="other"))))
    await store.write(request(event(ClientRef(custom_id="other", uuid=UUID_B, email="x@example.org"))))
    assert await store.find_client_ids(ws, uuid=UUID_B) == (FIRST,)
    assert await store.find_client_ids(ws, custom_id="other") == (FIRST + 1,)
    assert await store.find_client_ids(ws, email="x@example.org") == (FIRST + 1,)
    events = await store.events(EventQuery(ws, client_ids=(FIRST + 1,)))
    assert [e.row.params["uuid"] for e in events] == [str(uuidlib.uuid5(uuidlib.NAMESPACE_URL, "other"))] * 2


async def test_transact_runs_domain_code(store: Store) -> None:
    ws = await _workspace(store)
    first = await store.transact(lambda tx: profile_for_uuid(tx, ws, UUID_A, T0))
    again = await store.transact(lambda tx: profile_for_uuid(tx, ws, UUID_A, T0 + 1))
    assert first == again == Profile(ws, FIRST, UUID_A, None, None)


async def test_salted_resend_overwrites_in_place(store: Store) -> None:
    ws = await _workspace(store)
    client = ClientRef(custom_id="c1")
    r1 = await store.write(request(event(client, salt="s-1", params={"v": 1}), received_ms=T0 + 1000))
    (first,) = await store.events(EventQuery(ws))
    r2 = await store.write(
        request(
            event(client, salt="s-1", label="Again", params={"w": "x"}),
            received_ms=T0 + 9000,
            endpoint="/v4/events/batch",
        )
    )
    assert r1.outcomes[0].uuid == r2.outcomes[0].uuid == first.row.uuid
    (second,) = await store.events(EventQuery(ws))
    assert second.row.uuid == first.row.uuid
    assert second.row.seq > first.row.seq
    assert (second.row.label, second.row.endpoint, second.row.time_ms) == ("Again", "/v4/events/batch", T0)
    assert "v" not in second.row.params and second.row.params["w"] == "x"
    assert second.row.params["eventCreateTime"] == "2024-03-05T10:15:39.250Z"
    (definition,) = definitions_json(await store.definitions(ws))
    assert definition["eventCount"] == 1
    assert (definition["firstSeen"], definition["lastSeen"]) == (
        "2024-03-05T10:15:31.250Z",
        "2024-03-05T10:15:39.250Z",
    )
    # another time is another event
    await store.write(request(event(client, salt="s-1", time_ms=T0 + 1)))
    assert len(await store.events(EventQuery(ws))) == 2
    assert definitions_json(await store.definitions(ws))[0]["eventCount"] == 2


async def test_duplicate_salted_items_in_one_batch(store: Store) -> None:
    ws = await _workspace(store)
    c = ClientRef(custom_id="c1")
    result = await store.write(
        request(event(c, salt="s", label="first"), event(c, salt="s", label="second"), batch=True)
    )
    assert [o.status for o in result.outcomes] == [202, 202]
    (only,) = await store.events(EventQuery(ws))
    assert only.row.label == "second"
    assert definitions_json(await store.definitions(ws))[0]["eventCount"] == 1


async def test_definitions_merge_types_params_and_order(store: Store) -> None:
    ws = await _workspace(store)
    c = ClientRef(custom_id="c1")
    await store.write(
        request(event(c, action="b.x", params={"n": 1, "Zeta": "z", "_u": None}), received_ms=T0)
    )
    await store.write(request(event(c, action="b.x", params={"n": 1.5, "alpha": [1]}), received_ms=T0 + 10))
    await store.write(
        request(event(c, action="B.y", params={"n": True}, kind="dedicated"), received_ms=T0 + 20)
    )
    await store.write(request(event(c, action="a.z", params={"o": {"k": 1}}), received_ms=T0 + 30))
    defs = definitions_json(await store.definitions(ws))
    assert [d["action"] for d in defs] == ["B.y", "a.z", "b.x"]  # bytewise, like SQLite
    bx = defs[2]
    assert bx == {
        "action": "b.x",
        "kind": "custom",
        "firstSeen": "2024-03-05T10:15:30.250Z",
        "lastSeen": "2024-03-05T10:15:30.260Z",
        "eventCount": 2,
        "params": [
            {
                "name": "Zeta",
                "types": ["string"],
                "firstSeen": "2024-03-05T10:15:30.250Z",
                "lastSeen": "2024-03-05T10:15:30.250Z",
            },
            {
                "name": "_u",
                "types": ["null"],
                "firstSeen": "2024-03-05T10:15:30.250Z",
                "lastSeen": "2024-03-05T10:15:30.250Z",
            },
            {
                "name": "alpha",
                "types": ["array"],
                "firstSeen": "2024-03-05T10:15:30.260Z",
                "lastSeen": "2024-03-05T10:15:30.260Z",
            },
            {
                "name": "n",
                "types": ["integer", "number"],
                "firstSeen": "2024-03-05T10:15:30.250Z",
                "lastSeen": "2024-03-05T10:15:30.260Z",
            },
        ],
    }
    assert [d["action"] for d in definitions_json(await store.definitions(ws, kind="dedicated"))] == ["B.y"]
    assert [d["action"] for d in definitions_json(await store.definitions(ws, prefix="b."))] == ["b.x"]
    assert [d["action"] for d in definitions_json(await store.definitions(ws, prefix="B"))] == ["B.y"]
    assert definitions_json(await store.definitions(ws, action="a.z")) == [defs[1]]
    assert await store.definitions(ws, action="nope") == []
    assert await store.definitions(ws, prefix="a\x00") == []
    assert await store.definitions(ws + 1) == []


async def test_values_round_trip_exactly(store: Store) -> None:
    """What SQLite returns, PostgreSQL must too: NUL in text, key order, float vs integer, unicode."""
    ws = await _workspace(store)
    params = {"z": 1, "a": 1.0, "big": 1.5e10, "nul\x00key": "a\x00b", "nested": {"y": [1, 2.5, None, "é€"]}}
    await store.write(request(event(label="with\x00nul ☃", params=params)))
    (stored,) = await store.events(EventQuery(ws))
    assert stored.row.label == "with\x00nul ☃"
    got = {k: v for k, v in stored.row.params.items() if k in params}
    assert got == params
    assert list(got) == list(params)
    assert type(got["a"]) is float and type(got["big"]) is float and type(got["z"]) is int
    (definition,) = definitions_json(await store.definitions(ws))
    assert [p["name"] for p in definition["params"]] == ["a", "big", "nested", "nul\x00key", "z"]


# -- reading events ----------------------------------------------------------------------------------------
async def test_event_order_and_cursor_paging(store: Store) -> None:
    ws = await _workspace(store)
    c1, c2 = ClientRef(custom_id="c1"), ClientRef(custom_id="c2")
    times = [T0, T0 + 5, T0, T0 - 5, T0 + 5, T0, T0 - 100]
    for i, t in enumerate(times):
        await store.write(
            request(event(c1 if i % 2 == 0 else c2, action=f"a{i % 3}", time_ms=t, params={"i": i}))
        )
    everything = await store.events(EventQuery(ws, limit=100))
    keys = [(e.row.time_ms, e.row.seq) for e in everything]
    assert keys == sorted(keys, reverse=True) and len(keys) == 7
    assert [e.row.params["i"] for e in everything] == [4, 1, 5, 2, 0, 3, 6]
    pages: list[int] = []
    after = None
    while True:
        page = await store.events(EventQuery(ws, limit=3, after=after))
        pages += [e.row.params["i"] for e in page]
        if len(page) < 3:
            break
        after = (page[-1].row.time_ms, page[-1].row.seq)
    assert pages == [4, 1, 5, 2, 0, 3, 6]
    # filters
    q = EventQuery(ws, client_ids=(FIRST,), actions=("a0", "a1"), from_ms=T0 - 5, to_ms=T0 + 5)
    assert [e.row.params["i"] for e in await store.events(q)] == [4, 0]
    assert await store.events(EventQuery(ws, client_ids=())) == []
    assert len(await store.events(EventQuery(ws, endpoint="/v4/events/custom"))) == 7
    assert await store.events(EventQuery(ws, endpoint="/v4/events/batch")) == []
    assert await store.events(EventQuery(ws, actions=("a\x00",))) == []
    assert await store.events(EventQuery(ws + 1)) == []


# -- atomic batches and the quarantine -----------------------------------------------------------------------
def _invalid(field: str = "label") -> ValidationFailed:
    return ValidationFailed(errors=[ErrorEntry(1002, field, "Label is required", None)])


async def test_refused_atomic_batch_stores_nothing_but_quarantines_everything(store: Store) -> None:
    ws = await _workspace(store)
    result = await store.write(
        request(event(ClientRef(email="new@example.org"), salt="s"), _invalid("[1].label"), batch=True)
    )
    assert result.error is not None and result.error.status == 400
    assert await store.events(EventQuery(ws)) == []
    assert await store.profile(ws, FIRST) is None
    assert await store.definitions(ws) == []
    records = [r for _, r in await store.quarantine(QuarantineQuery(ws))]
    assert sorted((r.item_index, r.reason, r.status) for r in records) == [
        (0, "batch rejected", 400),
        (1, "validation failed", 400),
    ]
    # the rolled-back profile did not burn the first clientId's visible effects
    await store.write(request(event(ClientRef(custom_id="later"))))
    assert await store.find_client_ids(ws, custom_id="later") != ()


async def test_partial_batch_and_lone_unknown_client_id(store: Store) -> None:
    ws = await _workspace(store)
    result = await store.write(
        request(event(ClientRef(id=FIRST + 40)), event(), _invalid("[2].label"), batch=True, atomic=False)
    )
    assert [o.status for o in result.outcomes] == [202, 202, 400]
    assert result.outcomes[0].quarantine_reason == "unknown clientId"
    assert len(await store.events(EventQuery(ws))) == 1
    reasons = sorted(r.reason for _, r in await store.quarantine(QuarantineQuery(ws)))
    assert reasons == ["unknown clientId", "validation failed"]


def _request_level(received_ms: int, body: str | None, endpoint: str = "/v4/events/custom") -> WriteRequest:
    req = request(event(), received_ms=received_ms, endpoint=endpoint)
    req.items = []
    req.request_error = MalformedJson()
    req.body_excerpt = body
    req.body_truncated = body is None
    return req


async def test_quarantine_records_filters_paging_and_delete(store: Store) -> None:
    ws = await _workspace(store)
    await store.write(_request_level(T0, "{bad\x00json ☃"))
    await store.write(_request_level(T0 + 10, None, endpoint="/v4/events/batch"))
    await store.write(request(_invalid(), received_ms=T0 + 10))
    await store.write(_request_level(T0 + 20, "x", endpoint="/v4/events/batch"))
    listing = await store.quarantine(QuarantineQuery(ws))
    assert [(r.received_ms, r.reason) for _, r in listing] == [
        (T0 + 20, "malformed json"),
        (T0 + 10, "validation failed"),
        (T0 + 10, "malformed json"),
        (T0, "malformed json"),
    ]
    seqs = [s for s, _ in listing]
    assert seqs[1] > seqs[2]
    oldest = listing[-1][1]
    assert oldest.body == "{bad\x00json ☃" and oldest.item is None and not oldest.has_item
    assert oldest.errors == [ErrorEntry(1000, "", "Malformed JSON", None)]
    assert oldest.credential == {"kind": "workspace", "keyId": "key-1"}
    assert (oldest.method, oldest.endpoint, oldest.item_index, oldest.status) == (
        "POST",
        "/v4/events/custom",
        None,
        400,
    )
    assert listing[2][1].body is None and listing[2][1].body_truncated is True
    item_record = listing[1][1]
    assert item_record.has_item and item_record.item == {"item": 0} and item_record.body is None

    page1 = await store.quarantine(QuarantineQuery(ws, limit=2))
    after = (page1[-1][1].received_ms, page1[-1][0])
    page2 = await store.quarantine(QuarantineQuery(ws, limit=2, after=after))
    assert [r.id for _, r in page1 + page2] == [r.id for _, r in listing]

    assert len(await store.quarantine(QuarantineQuery(ws, reason="malformed json"))) == 3
    assert len(await store.quarantine(QuarantineQuery(ws, endpoint="/v4/events/batch"))) == 2
    assert len(await store.quarantine(QuarantineQuery(ws, from_ms=T0 + 10, to_ms=T0 + 10))) == 2
    assert await store.quarantine(QuarantineQuery(ws + 1)) == []

    assert await store.quarantine_record(ws, oldest.id) == oldest
    assert await store.quarantine_record(ws + 1, oldest.id) is None
    assert await store.quarantine_record(ws, "a\x00") is None
    assert await store.delete_quarantine(ws + 1, oldest.id) is False
    assert await store.delete_quarantine(ws, oldest.id) is True
    assert await store.delete_quarantine(ws, oldest.id) is False
    assert await store.delete_quarantine(ws, "a\x00") is False
    assert await store.quarantine_record(ws, oldest.id) is None


async def test_profile_token_writes_land_on_the_token_profile(store: Store) -> None:
    ws = await _workspace(store)
    owner = await store.transact(lambda tx: profile_for_uuid(tx, ws, UUID_A, T0))
    cred = Credential("profile", ws, "pkey", client_id=owner.client_id, uuid=UUID_A)
    await store.write(request(event(ClientRef(uuid=UUID_A, email="p@example.org")), credential=cred))
    (stored,) = await store.events(EventQuery(ws))
    assert stored.row.client_id == owner.client_id and stored.email == "p@example.org"
    assert stored.row.params["modifiedBy"] == {
        "businessProfileApiKey": None,
        "clientApiKey": "pkey",
        "clientId": owner.client_id,
        "userId": None,
    }


@pytest.mark.parametrize("n", [1, 3, 250])
async def test_batches_of_unsalted_events(store: Store, n: int) -> None:
    """One row, a few, many: every item stored once, in item order (seq increasing)."""
    ws = await _workspace(store)
    c = ClientRef(custom_id="c1")
    items = [event(c, params={"i": i}) for i in range(n)]
    result = await store.write(request(*items, batch=True))
    assert [o.status for o in result.outcomes] == [202] * n
    stored = await store.events(EventQuery(ws, limit=1000))
    assert [e.row.params["i"] for e in stored] == list(reversed(range(n)))
    assert {e.row.uuid for e in stored} == {o.uuid for o in result.outcomes}
    assert definitions_json(await store.definitions(ws))[0]["eventCount"] == n


async def test_other_workspaces_do_not_see_each_other(store: Store) -> None:
    one = await _workspace(store)
    two = (await store.create_workspace("two", T0)).id
    c = ClientRef(custom_id="shared")
    await store.write(request(event(c), workspace_id=one))
    await store.write(
        request(event(c), workspace_id=two, credential=dataclasses.replace(CRED, workspace_id=two))
    )
    assert await store.find_client_ids(one, custom_id="shared") == (FIRST,)
    assert await store.find_client_ids(two, custom_id="shared") == (FIRST + 1,)
    assert await store.profile(two, FIRST) is None
    assert len(await store.events(EventQuery(one))) == len(await store.events(EventQuery(two))) == 1


async def test_stream_reads_follow_seq(store: Store) -> None:
    """`events_since` / `quarantine_since` (the live stream, §13.5): oldest first, strictly after a seq."""
    ws = await _workspace(store)
    assert await store.events_since(ws, 0, 10) == []
    for i in range(3):
        await store.write(request(event(params={"i": i}, time_ms=T0 - i)))
    await store.write(_request_level(T0, "{"))
    await store.write(_request_level(T0, "["))
    stream = await store.events_since(ws, 0, 10)
    assert [e.row.params["i"] for e in stream] == [0, 1, 2]
    seqs = [e.row.seq for e in stream]
    assert seqs == sorted(seqs)
    assert [e.row.params["i"] for e in await store.events_since(ws, seqs[0], 10)] == [1, 2]
    assert [e.row.params["i"] for e in await store.events_since(ws, 0, 2)] == [0, 1]
    assert await store.events_since(ws + 1, 0, 10) == []
    records = await store.quarantine_since(ws, 0, 10)
    assert [r.body for _, r in records] == ["{", "["]
    assert [r.body for _, r in await store.quarantine_since(ws, records[0][0], 10)] == ["["]
    latest_event, latest_record = await store.latest_seqs()
    assert latest_event >= seqs[-1] and latest_record >= records[-1][0]
    assert await store.events_since(ws, latest_event, 10) == []
    assert await store.quarantine_since(ws, latest_record, 10) == []
    # an overwrite is a new write: it comes again, with a new seq
    await store.write(request(event(salt="s", params={"i": 9})))
    await store.write(request(event(salt="s", params={"i": 10})))
    (again,) = await store.events_since(ws, latest_event, 10)
    assert again.row.params["i"] == 10


# -- profile data (§9.6) ---------------------------------------------------------------------------------
async def test_profile_data_round_trips_and_merges(store: Store) -> None:
    ws = await _workspace(store)
    other = await store.create_workspace("other", T0)
    odd = {"nul": "a\x00b", "float": 1.0, "big": 1.5e10, "nested": {"z": [1, None, "é"]}, "emoji": "🙂"}

    def profile_request(workspace_id: int, update: ProfileIn, at: int = T0) -> WriteRequest:
        item = WriteItem(0, {}, "[0]", profile=update)
        return WriteRequest(workspace_id, CRED, "req", "POST", "/v4/clients/batch", at, "203.0.113.7", [item])

    first = ProfileIn(ClientRef(custom_id="c"), native={"firstName": "Ana"}, attributes=odd, tags=["t"])
    result = await store.write(profile_request(ws, first))
    (outcome,) = result.outcomes
    assert (outcome.client_id, outcome.uuid) == (FIRST, str(uuidlib.uuid5(uuidlib.NAMESPACE_URL, "c")))
    details = await store.profile_details(ws, FIRST)
    assert details is not None
    assert details.data == {"firstName": "Ana", "attributes": odd, "tags": ["t"]}
    assert details.updated_ms == T0

    update = ProfileIn(ClientRef(id=FIRST), native={"firstName": None}, agreements={"sms": True}, tags=[])
    await store.write(profile_request(ws, update, T0 + 5))
    details = await store.profile_details(ws, FIRST)
    assert details is not None
    assert details.data == {"attributes": odd, "agreements": {"sms": True}}
    assert (details.created_ms, details.updated_ms) == (T0, T0 + 5)
    # Another workspace naming that clientId alone creates nothing and changes nothing.
    result = await store.write(profile_request(other.id, ProfileIn(ClientRef(id=FIRST), tags=["x"])))
    assert result.outcomes[0].quarantine_reason == "unknown clientId"
    assert await store.profile_details(other.id, FIRST) is None
    assert (await store.profile_details(ws, FIRST)) == details
    # A profile without data has `{}`.
    await store.write(request(event(ClientRef(custom_id="plain"))))
    (plain,) = await store.find_client_ids(ws, custom_id="plain")
    plain_details = await store.profile_details(ws, plain)
    assert plain_details is not None and plain_details.data == {}
