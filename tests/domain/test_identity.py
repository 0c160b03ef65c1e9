"""Contract §9.2–§9.4 at the domain level: `identity.plan`/`identity.apply` and the ordering of
`ingest.apply_write`, over an in-memory `WriteTx`."""

from __future__ import annotations

import uuid as uuidlib
from dataclasses import dataclass, field, replace
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tracktion.domain import identity
from tracktion.domain.definitions import DefinitionDelta
from tracktion.domain.ingest import apply_write
from tracktion.domain.models import (
    ClientRef,
    Credential,
    EventIn,
    EventRow,
    Profile,
    QuarantineRecord,
    WriteItem,
    WriteRequest,
)

WS = 1
CRED = Credential("workspace", WS, "key-1", frozenset())
ANA_UUID = "ad33ed01-06f4-510e-9688-5157b52fbba4"


@dataclass
class FakeTx:
    """`WriteTx` in memory with the store's uniqueness rules (they raise, like the real indexes)."""

    profiles: dict[int, Profile] = field(default_factory=dict)
    uuids: dict[tuple[int, str], int] = field(default_factory=dict)
    events: dict[str, EventRow] = field(default_factory=dict)
    next_id: int = 7_000_000_001

    def profile_by_id(self, workspace_id: int, client_id: int) -> Profile | None:
        p = self.profiles.get(client_id)
        return p if p is not None and p.workspace_id == workspace_id else None

    def profile_by_custom_id(self, workspace_id: int, custom_id: str) -> Profile | None:
        return next(
            (p for p in self.profiles.values() if (p.workspace_id, p.custom_id) == (workspace_id, custom_id)),
            None,
        )

    def profile_by_email(self, workspace_id: int, email: str) -> Profile | None:
        return next(
            (
                p
                for p in self.profiles.values()
                if p.workspace_id == workspace_id and p.email is not None and p.email.lower() == email.lower()
            ),
            None,
        )

    def profile_by_uuid(self, workspace_id: int, uuid: str) -> Profile | None:
        client_id = self.uuids.get((workspace_id, uuid))
        return None if client_id is None else self.profiles[client_id]

    def uuid_taken(self, workspace_id: int, uuid: str) -> bool:
        return (workspace_id, uuid) in self.uuids

    def create_profile(
        self, workspace_id: int, *, uuid: str, custom_id: str | None, email: str | None, now_ms: int
    ) -> Profile:
        assert custom_id is None or self.profile_by_custom_id(workspace_id, custom_id) is None, (
            "customId taken"
        )
        assert email is None or self.profile_by_email(workspace_id, email) is None, "email taken"
        profile = Profile(workspace_id, self.next_id, uuid, custom_id, email)
        self.next_id += 1
        self.profiles[profile.client_id] = profile
        self.attach_uuid(profile, uuid, now_ms)
        return profile

    def attach_uuid(self, profile: Profile, uuid: str, now_ms: int) -> None:
        assert (profile.workspace_id, uuid) not in self.uuids, "uuid taken"
        self.uuids[(profile.workspace_id, uuid)] = profile.client_id

    def set_custom_id(self, profile: Profile, custom_id: str, now_ms: int) -> Profile:
        assert self.profile_by_custom_id(profile.workspace_id, custom_id) is None, "customId taken"
        self.profiles[profile.client_id] = p = replace(self.profiles[profile.client_id], custom_id=custom_id)
        return p

    def set_email(self, profile: Profile, email: str, now_ms: int) -> Profile:
        assert self.profile_by_email(profile.workspace_id, email) is None, "email taken"
        self.profiles[profile.client_id] = p = replace(self.profiles[profile.client_id], email=email)
        return p

    def upsert_event(self, row: EventRow, salted: bool) -> bool:
        inserted = row.uuid not in self.events
        self.events[row.uuid] = row
        return inserted

    def merge_definitions(self, workspace_id: int, delta: DefinitionDelta) -> None:
        pass

    def add_quarantine(self, records: list[QuarantineRecord]) -> None:
        pass

    def owner_of(self, uuid: str) -> int | None:
        return self.uuids.get((WS, uuid))


def make(tx: FakeTx, **client: Any) -> Profile:
    p = identity.plan(tx, WS, ClientRef(**client), CRED)
    assert p is not None
    profile, _ = identity.apply(tx, WS, p, 0)
    return profile


# -- plan ------------------------------------------------------------------------------------------------


def test_lone_unknown_id_plans_nothing() -> None:
    tx = FakeTx()
    assert identity.plan(tx, WS, ClientRef(id=5), CRED) is None
    assert tx.profiles == {}


def test_foreign_workspace_id_is_unknown() -> None:
    tx = FakeTx()
    p = make(tx, custom_id="c")
    assert identity.plan(tx, 2, ClientRef(id=p.client_id), CRED) is None


def test_unknown_id_with_other_identifiers_creates() -> None:
    tx = FakeTx()
    p = identity.plan(tx, WS, ClientRef(id=5, custom_id="c"), CRED)
    assert p is not None and p.profile is None


def test_priority_order() -> None:
    tx = FakeTx()
    a = make(tx, custom_id="a")
    b = make(tx, custom_id="b")
    c = make(tx, email="c@example.org")
    d = make(tx, uuid="11111111-1111-4111-8111-111111111111")
    full: dict[str, Any] = {
        "custom_id": "b",
        "email": "c@example.org",
        "uuid": "11111111-1111-4111-8111-111111111111",
    }
    cases = [
        (ClientRef(id=a.client_id, **full), a),
        (ClientRef(**full), b),
        (ClientRef(email="C@EXAMPLE.ORG", uuid=full["uuid"]), c),
        (ClientRef(uuid=full["uuid"]), d),
    ]
    for ref, expected in cases:
        p = identity.plan(tx, WS, ref, CRED)
        assert p is not None and p.profile is not None
        assert p.profile.client_id == expected.client_id
        assert not p.attach_uuid and not p.set_custom_id and not p.set_email  # all owned already


def test_attach_flags_only_for_unowned_identifiers() -> None:
    tx = FakeTx()
    owner = make(tx, custom_id="o", email="o@example.org")
    p = identity.plan(
        tx,
        WS,
        ClientRef(custom_id="o", email="new@example.org", uuid="22222222-2222-4222-8222-222222222222"),
        CRED,
    )
    assert p is not None
    assert (p.attach_uuid, p.set_custom_id, p.set_email) == (True, False, False)  # profile has an email
    u3 = "33333333-3333-4333-8333-333333333333"
    bare = make(tx, uuid=u3)
    p = identity.plan(tx, WS, ClientRef(uuid=u3, custom_id="x", email="fresh@example.org"), CRED)
    assert p is not None and p.profile is not None and p.profile.client_id == bare.client_id
    assert (p.attach_uuid, p.set_custom_id, p.set_email) == (False, True, True)
    # A lower-priority identifier owned by another profile stays where it is.
    p = identity.plan(tx, WS, ClientRef(custom_id="o", uuid=u3), CRED)
    assert p is not None and p.profile is not None and p.profile.client_id == owner.client_id
    assert (p.attach_uuid, p.uuid_owner_id) == (False, bare.client_id)


@pytest.mark.parametrize(
    ("existing", "client", "expected"),
    [
        ({"custom_id": "c"}, {"custom_id": "c"}, None),
        ({"custom_id": "c"}, {"custom_id": "c", "email": "x@example.org"}, "x@example.org"),
        (
            {"custom_id": "c", "email": "Old@example.org"},
            {"custom_id": "c", "email": "x@example.org"},
            "Old@example.org",
        ),
        (None, {"custom_id": "new", "email": "N@example.org"}, "N@example.org"),
        (None, {"custom_id": "new"}, None),
    ],
)
def test_email_after(existing: dict[str, Any] | None, client: dict[str, Any], expected: str | None) -> None:
    tx = FakeTx()
    if existing:
        make(tx, **existing)
    p = identity.plan(tx, WS, ClientRef(**client), CRED)
    assert p is not None
    assert p.email_after == expected


# -- apply -----------------------------------------------------------------------------------------------


def test_creation_uuid_rules() -> None:
    tx = FakeTx()
    assert make(tx, email="ana@example.org").primary_uuid == ANA_UUID
    assert make(tx, custom_id="Rex").primary_uuid == str(uuidlib.uuid5(uuidlib.NAMESPACE_URL, "Rex"))
    given_uuid = "44444444-4444-4444-8444-444444444444"
    assert make(tx, custom_id="z", email="z@example.org", uuid=given_uuid).primary_uuid == given_uuid


def test_taken_generated_uuid_falls_back_to_v4() -> None:
    tx = FakeTx()
    make(tx, uuid=ANA_UUID)
    p = make(tx, email="ana@example.org")
    assert p.primary_uuid != ANA_UUID
    assert uuidlib.UUID(p.primary_uuid).version == 4


def test_apply_returns_uuid_param() -> None:
    tx = FakeTx()
    owner = make(tx, custom_id="o")
    other_uuid = "55555555-5555-4555-8555-555555555555"
    make(tx, uuid=other_uuid)
    new_uuid = "66666666-6666-4666-8666-666666666666"
    cases = [
        (ClientRef(custom_id="o"), owner.primary_uuid),
        (ClientRef(custom_id="o", uuid=new_uuid), new_uuid),  # attached now
        (ClientRef(custom_id="o", uuid=new_uuid), new_uuid),  # owned since the previous line
        (ClientRef(custom_id="o", uuid=other_uuid), owner.primary_uuid),  # another's: stays there
    ]
    for ref, expected in cases:
        p = identity.plan(tx, WS, ref, CRED)
        assert p is not None
        profile, uuid_param = identity.apply(tx, WS, p, 0)
        assert profile.client_id == owner.client_id
        assert uuid_param == expected
    assert tx.owner_of(other_uuid) != owner.client_id


# -- apply_write: items in order ---------------------------------------------------------------------------


def item(index: int, params: dict[str, Any] | None = None, **client: Any) -> WriteItem:
    ev = EventIn(ClientRef(**client), "a", "l", 0, None, None, params or {}, "custom")
    return WriteItem(index, {}, f"[{index}]", event=ev)


def request(*items: WriteItem, atomic: bool = True) -> WriteRequest:
    return WriteRequest(
        WS, CRED, "rq", "POST", "/v4/events/batch", 1000, "203.0.113.7", list(items), atomic=atomic
    )


def test_profile_created_by_an_item_is_found_by_later_items() -> None:
    tx = FakeTx()
    applied = apply_write(
        tx,
        request(
            item(0, custom_id="new"),
            item(1, custom_id="new"),
            item(2, email="e@example.org", custom_id="new"),
        ),
    )
    assert applied.result.error is None
    assert len(tx.profiles) == 1
    (p,) = tx.profiles.values()
    assert p.email == "e@example.org"
    assert {r.client_id for r in tx.events.values()} == {p.client_id}


def test_uuid_attached_by_an_item_is_owned_for_later_items() -> None:
    tx = FakeTx()
    u = "77777777-7777-4777-8777-777777777777"
    applied = apply_write(tx, request(item(0, custom_id="a", uuid=u), item(1, custom_id="b", uuid=u)))
    assert applied.result.error is None
    assert len(tx.profiles) == 1  # item 1 resolves by the uuid item 0 created
    assert [o.status for o in applied.result.outcomes] == [202, 202]


def test_params_email_checked_against_earlier_items() -> None:
    tx = FakeTx()
    applied = apply_write(
        tx,
        request(
            item(0, email="x@example.org"),
            item(1, params={"email": "y@example.org"}, email="x@example.org"),
            atomic=False,
        ),
    )
    assert [o.status for o in applied.result.outcomes] == [202, 400]
    assert applied.result.outcomes[1].error is not None
    assert applied.result.outcomes[1].error.errors[0].field == "[1].params.email"
    assert len(applied.quarantine) == 1


def test_refused_atomic_request_reports_nothing_stored() -> None:
    tx = FakeTx()
    applied = apply_write(
        tx,
        request(
            item(0, custom_id="ok", params={"p": 1}),
            item(1, email="x@example.org", params={"email": "no@example.org"}),
        ),
    )
    assert applied.rollback is True
    assert applied.result.error is not None and applied.result.error.status == 400
    assert not applied.definitions
    assert applied.stored == []
    assert all(o.uuid is None for o in applied.result.outcomes)
    assert [r.reason for r in applied.quarantine] == ["batch rejected", "validation failed"]


IDENTS = st.fixed_dictionaries(
    {},
    optional={
        "custom_id": st.sampled_from("abc"),
        "email": st.sampled_from(["a@x.org", "B@x.org", "b@x.org"]),
        "uuid": st.sampled_from(
            ["88888888-8888-4888-8888-888888888888", "99999999-9999-4999-8999-999999999999"]
        ),
    },
).filter(bool)


def owns(tx: FakeTx, profile: Profile, client: dict[str, Any]) -> bool:
    return (
        (client.get("custom_id") is not None and profile.custom_id == client["custom_id"])
        or (client.get("email") is not None and (profile.email or "").lower() == client["email"].lower())
        or (client.get("uuid") is not None and tx.owner_of(client["uuid"]) == profile.client_id)
    )


@settings(max_examples=80, deadline=None)
@given(st.lists(IDENTS, min_size=1, max_size=8))
def test_any_sequence_of_items_keeps_identity_invariants(clients: list[dict[str, Any]]) -> None:
    """Whatever identifiers a batch repeats, in any order: the unit of work never asks the store for a
    duplicate customId, e-mail or uuid (the fake asserts it), every item is stored, each event's profile owns
    one of the identifiers the item sent, and its uuid param is the sent uuid exactly when that profile owns it."""
    tx = FakeTx()
    applied = apply_write(tx, request(*(item(i, **c) for i, c in enumerate(clients))))
    assert applied.result.error is None
    assert len(tx.events) == len(clients)
    for outcome, c in zip(applied.result.outcomes, clients, strict=True):
        row = tx.events[outcome.uuid or ""]
        profile = tx.profiles[row.client_id]
        assert owns(tx, profile, c)
        sent = c.get("uuid")
        # The row keeps the uuid param only when it is not the profile's primary uuid (§7.2, issue 23).
        assert row.origin is not None
        uuid_param = row.origin.uuid or profile.primary_uuid
        if sent is not None and tx.owner_of(sent) == profile.client_id:
            assert uuid_param == sent
        else:
            assert uuid_param == profile.primary_uuid
        assert row.origin.uuid != profile.primary_uuid
