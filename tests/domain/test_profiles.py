"""§9.6 merge rules of profile data (`tracktion.domain.profiles`), pure."""

from __future__ import annotations

import copy

from tracktion.domain.models import ClientRef, ProfileIn
from tracktion.domain.profiles import AGREEMENTS, NATIVE_FIELDS, RESERVED_ATTRIBUTES, merge, view

CLIENT = ClientRef(custom_id="c")
DATA = {
    "firstName": "Ana",
    "city": "Kraków",
    "agreements": {"email": True, "sms": False},
    "attributes": {"a": 1, "b": {"c": [1]}},
    "tags": ["x", "y"],
}


def test_absent_fields_are_kept_and_the_input_is_not_changed() -> None:
    before = copy.deepcopy(DATA)
    assert merge(DATA, ProfileIn(CLIENT)) == DATA
    out = merge(DATA, ProfileIn(CLIENT, native={"lastName": "N"}, attributes={"b": 2}))
    out["attributes"]["a"] = 99
    assert before == DATA


def test_values_replace_nulls_reset_or_delete() -> None:
    update = ProfileIn(
        CLIENT,
        native={"firstName": None, "city": "Gdańsk", "sex": "FEMALE"},
        agreements={"email": None, "push": True},
        attributes={"a": None, "new": [None]},
        tags=["z", "z", "w"],
    )
    assert merge(DATA, update) == {
        "city": "Gdańsk",
        "sex": "FEMALE",
        "agreements": {"sms": False, "push": True},
        "attributes": {"b": {"c": [1]}, "new": [None]},
        "tags": ["z", "w"],
    }


def test_emptied_maps_and_tags_disappear() -> None:
    update = ProfileIn(
        CLIENT, agreements=dict.fromkeys(AGREEMENTS), attributes={"a": None, "b": None}, tags=[]
    )
    assert merge(DATA, update) == {"firstName": "Ana", "city": "Kraków"}
    assert merge({}, ProfileIn(CLIENT, attributes={"gone": None}, agreements={"sms": None})) == {}


def test_view_has_every_field_with_defaults() -> None:
    empty = view({})
    assert [k for k in empty if k in NATIVE_FIELDS] == list(NATIVE_FIELDS)
    assert all(empty[k] is None for k in NATIVE_FIELDS)
    assert empty["agreements"] == dict.fromkeys(AGREEMENTS, False)
    assert (empty["attributes"], empty["tags"]) == ({}, [])
    full = view(DATA)
    assert full["agreements"]["email"] is True and full["tags"] == ["x", "y"]
    full["tags"].append("mutated")
    assert DATA["tags"] == ["x", "y"]


def test_reserved_names_are_synerise_s_documented_list() -> None:
    # A few of each family of Synerise's list; identifiers and native fields are reserved too.
    for name in (
        "email",
        "clientId",
        "firstName",
        "agreements",
        "tags",
        "newsletter_agreement",
        "geo_loc_zip",
    ):
        assert name in RESERVED_ATTRIBUTES
    assert set(NATIVE_FIELDS) <= RESERVED_ATTRIBUTES
    assert "loyalty" not in RESERVED_ATTRIBUTES
