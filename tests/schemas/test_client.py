"""Contract §3.2 and §3.8 rows 2–4: the `client` object and its identifiers, as validate_event reports them."""

from __future__ import annotations

from typing import Any

import pytest

from tracktion.catalog import custom_row
from tracktion.domain.models import ClientRef
from tracktion.errors import ValidationFailed
from tracktion.schemas.body import decode_json
from tracktion.schemas.client import validate_client
from tracktion.schemas.envelope import validate_event

RECEIVE_MS = 1_709_640_000_000
UUID = "ad33ed01-06f4-510e-9688-5157b52fbba4"
Entry = tuple[int, str, str, str | None]


def event(client: Any) -> dict[str, Any]:
    return {"client": client, "label": "Front door opened", "action": "door.open"}


def errors_of(obj: Any, **kwargs: Any) -> list[Entry]:
    with pytest.raises(ValidationFailed) as info:
        validate_event(obj, custom_row(), RECEIVE_MS, **kwargs)
    return [(e.code, e.field, e.message, e.rejected_value) for e in info.value.errors]


def client_of(client: Any, **kwargs: Any) -> ClientRef:
    return validate_event(event(client), custom_row(), RECEIVE_MS, **kwargs).client


# --- the client object (§3.8 row 2) ------------------------------------------------------------------------


def test_absent_client() -> None:
    body = event(None)
    del body["client"]
    assert errors_of(body) == [(1002, "client", "Client is required", None)]


def test_null_client_equals_absent() -> None:
    assert errors_of(event(None)) == [(1002, "client", "Client is required", None)]


@pytest.mark.parametrize(("client", "shown"), [("ana", "ana"), ([], "[]"), (5, "5"), (True, "true")])
def test_client_not_an_object(client: Any, shown: str) -> None:
    assert errors_of(event(client)) == [(1004, "client", "Client must be an object", shown)]


@pytest.mark.parametrize(
    ("client", "shown"),
    [
        ({}, "{}"),
        ({"id": None, "uuid": None}, '{"id":null,"uuid":null}'),
        ({"deviceId": "x"}, '{"deviceId":"x"}'),
    ],
)
def test_no_identifier(client: dict[str, Any], shown: str) -> None:
    assert errors_of(event(client)) == [(1003, "client", "At least one client identifier required", shown)]


def test_unknown_client_keys_are_ignored() -> None:
    assert client_of({"uuid": UUID, "deviceId": "x", "phone": 5}) == ClientRef(uuid=UUID)


def test_optional_client_absent_or_null_gives_an_empty_ref() -> None:
    body = event(None)
    assert client_of(None, client_optional=True) == ClientRef()
    del body["client"]
    assert validate_event(body, custom_row(), RECEIVE_MS, client_optional=True).client == ClientRef()


def test_optional_client_that_is_sent_is_still_validated() -> None:
    assert errors_of(event({}), client_optional=True) == [
        (1003, "client", "At least one client identifier required", "{}")
    ]
    assert errors_of(event({"id": 0}), client_optional=True) == [
        (1006, "client.id", "Client id must be a positive integer", "0")
    ]
    assert client_of({"id": 7}, client_optional=True) == ClientRef(id=7)


# --- client.id (§3.8 row 3) --------------------------------------------------------------------------------


@pytest.mark.parametrize("value", [1, 7000000001, 2**63 - 1])
def test_id_accepted(value: int) -> None:
    assert client_of({"id": value}) == ClientRef(id=value)


@pytest.mark.parametrize(
    ("value", "shown"), [(True, "true"), (False, "false"), (5.0, "5.0"), ("5", "5"), ([5], "[5]"), ({}, "{}")]
)
def test_id_wrong_type(value: Any, shown: str) -> None:
    assert errors_of(event({"id": value})) == [
        (1004, "client.id", "Client id must be a positive integer", shown)
    ]


@pytest.mark.parametrize(("value", "shown"), [(0, "0"), (-1, "-1"), (2**63, "9223372036854775808")])
def test_id_out_of_range(value: int, shown: str) -> None:
    assert errors_of(event({"id": value})) == [
        (1006, "client.id", "Client id must be a positive integer", shown)
    ]


# --- customId, email, uuid (§3.8 row 4) --------------------------------------------------------------------

NAMES = {"customId": "Custom id", "email": "Email", "uuid": "UUID"}
BANNED = [
    "\U0001f600",
    "\U0010ffff",
    "\ud800",
    "\udfff",
    "\r",
    "\n",
    "\u2028",
    "\u2029",
    "\u00ad",
    "\ufe00",
    "\ufe0f",
    "\x00",
]


@pytest.mark.parametrize("key", NAMES)
@pytest.mark.parametrize(("value", "shown"), [(5, "5"), (True, "true"), (["a"], '["a"]'), ({}, "{}")])
def test_identifier_wrong_type(key: str, value: Any, shown: str) -> None:
    assert errors_of(event({key: value})) == [
        (1004, f"client.{key}", f"{NAMES[key]} must be a string", shown)
    ]


@pytest.mark.parametrize("key", NAMES)
def test_identifier_empty(key: str) -> None:
    assert errors_of(event({key: ""})) == [(1003, f"client.{key}", f"{NAMES[key]} cannot be empty", "")]


@pytest.mark.parametrize("key", NAMES)
@pytest.mark.parametrize("char", BANNED)
def test_identifier_banned_character(key: str, char: str) -> None:
    # For email and uuid the 1008 check comes before the format check (§3.8 row 4 order).
    value = {"customId": f"c{char}1", "email": f"ana{char}@example.org", "uuid": UUID[:-1] + char}[key]
    assert errors_of(event({key: value})) == [
        (1008, f"client.{key}", f"{NAMES[key]} contains forbidden characters", value)
    ]


# Inner spaces and TABs are not trimmed (§3.2 trims only the ends; tests/schemas/test_trimming.py).
@pytest.mark.parametrize("value", ["a b", "Zoë", "a\tb", "\ufe10", "\uffff", "\ufeff", "a\u2027b", "ÄÖÜ-42"])
def test_custom_id_allowed_characters_kept_as_sent(value: str) -> None:
    assert client_of({"customId": value}) == ClientRef(custom_id=value)


def test_lone_surrogate_from_json_reaches_1008() -> None:
    obj = decode_json(b'{"client": {"customId": "a\\ud800"}, "label": "L", "action": "a"}')
    assert errors_of(obj) == [(1008, "client.customId", "Custom id contains forbidden characters", "a\ud800")]


@pytest.mark.parametrize(
    "value",
    [
        "ana@example.org",
        "ANA@Example.ORG",
        "a.b-c+d@sub.example.co.uk",
        '"ana maria"@example.org',
        "ana@[192.168.0.1]",
        "x@a-b.io",
        "ünïcödé@example.org",
    ],
)
def test_email_accepted_as_sent(value: str) -> None:
    assert client_of({"email": value}) == ClientRef(email=value)


@pytest.mark.parametrize(
    "value",
    [
        "ana",
        "ana@",
        "@example.org",
        "ana@example",
        "ana@example.o",
        "ana maria@example.org",
        "ana@exa_mple.org",
        "ana..b@example.org",
        ".ana@example.org",
        "ana@@example.org",
        "ana@example.org.",
        "ana@[1.2.3]",
        "a,b@x.org",
    ],
)
def test_email_format(value: str) -> None:
    assert errors_of(event({"email": value})) == [
        (1005, "client.email", f"Email format invalid ({value})", value)
    ]


def test_uuid_lower_cased() -> None:
    assert client_of({"uuid": UUID.upper()}) == ClientRef(uuid=UUID)


@pytest.mark.parametrize(
    "value",
    [
        "x",
        UUID.replace("-", ""),
        "{" + UUID + "}",
        UUID[:-1] + "g",
        UUID + "0",
        UUID[1:],
        "ad33ed01_06f4_510e_9688_5157b52fbba4",
        "٠" + UUID[1:],
    ],
)
def test_uuid_format(value: str) -> None:
    assert errors_of(event({"uuid": value})) == [
        (1005, "client.uuid", f"UUID format invalid ({value})", value)
    ]


def test_all_identifiers_kept() -> None:
    client = {"id": 7, "customId": "C-1", "email": "Ana@Example.org", "uuid": UUID.upper()}
    assert client_of(client) == ClientRef(7, "C-1", "Ana@Example.org", UUID)


def test_identifier_errors_in_check_order_one_per_field() -> None:
    client = {"uuid": "nope", "email": "", "customId": 5, "id": 0}
    assert errors_of(event(client)) == [
        (1006, "client.id", "Client id must be a positive integer", "0"),
        (1004, "client.customId", "Custom id must be a string", "5"),
        (1003, "client.email", "Email cannot be empty", ""),
        (1005, "client.uuid", "UUID format invalid (nope)", "nope"),
    ]


def test_null_identifiers_equal_absent() -> None:
    assert client_of({"id": 7, "customId": None, "email": None, "uuid": None}) == ClientRef(id=7)


def test_validate_client_appends_without_raising() -> None:
    errors: list[Any] = []
    assert validate_client({"uuid": UUID}, errors) == ClientRef(uuid=UUID)
    assert errors == []
    validate_client(None, errors)
    assert [e.code for e in errors] == [1002]
