"""Contract §3.1, §3.3–§3.8: the event envelope (body shape, label, action, time, eventSalt, params container),
the check order, null-as-absence and the server-owned params."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from tracktion.catalog import custom_row, rows_by_path
from tracktion.domain.models import ClientRef, EventIn
from tracktion.errors import ErrorEntry, ValidationFailed
from tracktion.schemas.envelope import validate_event
from tracktion.schemas.params import SERVER_OWNED_PARAMS

RECEIVE_MS = 1_709_640_000_000  # 2024-03-05T12:00:00.000Z
CUSTOM = custom_row()
HIT_TIMER = rows_by_path()["/v4/events/hit-timer"]
Entry = tuple[int, str, str, str | None]


def custom(**fields: Any) -> dict[str, Any]:
    body = {"client": {"id": 7}, "label": "Front door opened", "action": "door.open"}
    body.update(fields)
    return body


def without(body: dict[str, Any], key: str) -> dict[str, Any]:
    return {k: v for k, v in body.items() if k != key}


def validate(obj: Any, row: Any = CUSTOM, **kwargs: Any) -> EventIn:
    return validate_event(obj, row, RECEIVE_MS, **kwargs)


def errors_of(obj: Any, row: Any = CUSTOM, **kwargs: Any) -> list[Entry]:
    with pytest.raises(ValidationFailed) as info:
        validate(obj, row, **kwargs)
    assert info.value.status == 400 and info.value.code == 1001
    return [(e.code, e.field, e.message, e.rejected_value) for e in info.value.errors]


# --- §3.8 row 1: the body ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("obj", "shown"),
    [([], "[]"), ([{"a": 1}], '[{"a":1}]'), ("x", "x"), (5, "5"), (True, "true"), (None, None)],
)
def test_body_not_an_object(obj: Any, shown: str | None) -> None:
    assert errors_of(obj) == [(1001, "", "Request body must be a JSON object", shown)]
    assert errors_of(obj, item=True) == [(1001, "", "Item must be a JSON object", shown)]


def test_minimal_custom_event() -> None:
    assert validate(custom()) == EventIn(
        client=ClientRef(id=7),
        action="door.open",
        label="Front door opened",
        time_ms=RECEIVE_MS,
        original_time=None,
        salt=None,
        params={},
        kind="custom",
    )


def test_unknown_top_level_keys_are_ignored() -> None:
    assert validate(custom(type="custom", extra={"a": 1}, uuid="x")) == validate(custom())


def test_batch_prefix_composes_with_relative_fields() -> None:
    with pytest.raises(ValidationFailed) as info:
        validate(custom(label=None, client={"uuid": "x"}))
    assert [e.with_prefix("[3]").field for e in info.value.errors] == ["[3].client.uuid", "[3].label"]


def test_ai_compat_rows_are_refused() -> None:
    with pytest.raises(ValueError, match="ai-compat"):
        validate({}, rows_by_path()["/v4/events/ai-compat/recommendation.view"])


# --- §3.3 label ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("label", "code", "shown"),
    [
        (None, 1002, None),
        ("", 1003, ""),
        (5, 1004, "5"),
        (True, 1004, "true"),
        (["a"], 1004, '["a"]'),
        ({}, 1004, "{}"),
    ],
)
def test_label(label: Any, code: int, shown: str | None) -> None:
    assert errors_of(custom(label=label)) == [(code, "label", "Label is required", shown)]


def test_label_absent() -> None:
    assert errors_of(without(custom(), "label")) == [(1002, "label", "Label is required", None)]


@pytest.mark.parametrize("label", [" ", "x", "Żółć 🙂", "a" * 10_000])
def test_label_any_non_empty_string(label: str) -> None:
    assert validate(custom(label=label)).label == label


# --- §3.4 action --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("action", "expected"),
    [
        (None, (1002, "action", "Action is required", None)),
        ("", (1003, "action", "Action cannot be empty", "")),
        (5, (1004, "action", "Action must be a string", "5")),
        (["a"], (1004, "action", "Action must be a string", '["a"]')),
        ("a" * 33, (1009, "action", "Action is too long (max 32 characters)", "a" * 33)),
        ("é" * 33, (1009, "action", "Action is too long (max 32 characters)", "é" * 33)),  # length first
        ("door open", (1005, "action", "Action contains invalid characters (door open)", "door open")),
        ("door\n", (1005, "action", "Action contains invalid characters (door\n)", "door\n")),
        ("dóor", (1005, "action", "Action contains invalid characters (dóor)", "dóor")),
        ("a/b", (1005, "action", "Action contains invalid characters (a/b)", "a/b")),
    ],
)
def test_custom_action(action: Any, expected: Entry) -> None:
    assert errors_of(custom(action=action)) == [expected]


def test_custom_action_absent() -> None:
    assert errors_of(without(custom(), "action")) == [(1002, "action", "Action is required", None)]


@pytest.mark.parametrize("action", ["a", "a" * 32, "Door.Open-2_x", "0.-_"])
def test_custom_action_accepted(action: str) -> None:
    assert validate(custom(action=action)).action == action


@pytest.mark.parametrize(
    ("action", "kind"),
    [
        ("door.open", "custom"),
        ("product.addToCart", "dedicated"),
        ("client.hitTimer", "dedicated"),
        ("transaction.charge", "transaction"),
        ("product.buy", "transaction"),
    ],
)
def test_custom_endpoint_takes_any_name_kind_by_name(action: str, kind: str) -> None:
    event = validate(custom(action=action))
    assert (event.action, event.kind) == (action, kind)


@pytest.mark.parametrize("action", [None, "client.hitTimer"])
def test_dedicated_action_absent_null_or_equal(action: str | None) -> None:
    event = validate(custom(action=action), HIT_TIMER)
    assert (event.action, event.kind) == ("client.hitTimer", "dedicated")
    assert validate(without(custom(), "action"), HIT_TIMER).action == "client.hitTimer"


@pytest.mark.parametrize(
    ("action", "shown"),
    [("door.open", "door.open"), ("client.hittimer", "client.hittimer"), ("", ""), (5, "5")],
)
def test_dedicated_action_mismatch(action: Any, shown: str) -> None:
    assert errors_of(custom(action=action), HIT_TIMER) == [
        (1010, "action", "Action does not match endpoint (expected client.hitTimer)", shown)
    ]


def test_completed_transaction_is_kind_transaction() -> None:
    event = validate(without(custom(), "action"), rows_by_path()["/v4/events/completed-transaction"])
    assert (event.action, event.kind) == ("transaction.charge", "transaction")


# --- §3.5 time ----------------------------------------------------------------------------------------------


def test_time_absent_or_null_is_receive_time() -> None:
    for body in (custom(), custom(time=None)):
        event = validate(body)
        assert (event.time_ms, event.original_time) == (RECEIVE_MS, None)


@pytest.mark.parametrize(
    ("sent", "ms"),
    [
        ("2024-03-05T11:15:30+01:00", 1709633730000),
        ("2024-03-05T06:15:30.2509-0400", 1709633730250),
        ("2024-03-05T12:00:00Z", RECEIVE_MS),
    ],
)
def test_time_sent_and_kept_as_original(sent: str, ms: int) -> None:
    event = validate(custom(time=sent))
    assert (event.time_ms, event.original_time) == (ms, sent)


def test_future_time_is_receive_time_and_still_original() -> None:
    event = validate(custom(time="2024-03-05T12:00:00.001Z"))
    assert (event.time_ms, event.original_time) == (RECEIVE_MS, "2024-03-05T12:00:00.001Z")


@pytest.mark.parametrize(
    ("sent", "shown"),
    [
        ("2024-02-30T10:00:00Z", "2024-02-30T10:00:00Z"),
        ("2024-03-05", "2024-03-05"),
        ("1709633730", "1709633730"),
        (1709633730, "1709633730"),
        (True, "true"),
        ({}, "{}"),
        ("", ""),
    ],
)
def test_time_format(sent: Any, shown: str) -> None:
    assert errors_of(custom(time=sent)) == [(1005, "time", "Time is not a valid ISO8601 format", shown)]


def test_time_range() -> None:
    sent = "1970-01-01T00:30:00+01:00"
    assert errors_of(custom(time=sent)) == [(1006, "time", "Time is out of range", sent)]


# --- §3.7 eventSalt -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(("salt", "code", "shown"), [("", 1003, ""), (5, 1004, "5"), (["s"], 1004, '["s"]')])
def test_salt(salt: Any, code: int, shown: str) -> None:
    assert errors_of(custom(eventSalt=salt)) == [
        (code, "eventSalt", "Event salt must be a non-empty string", shown)
    ]


@pytest.mark.parametrize(("salt", "kept"), [(None, None), (" ", " "), ("door-0001", "door-0001")])
def test_salt_kept(salt: str | None, kept: str | None) -> None:
    assert validate(custom(eventSalt=salt)).salt == kept


# --- §3.6 params container and server-owned keys -----------------------------------------------------------


@pytest.mark.parametrize(("params", "shown"), [([], "[]"), ("x", "x"), (5, "5"), (False, "false")])
def test_params_not_an_object(params: Any, shown: str) -> None:
    assert errors_of(custom(params=params)) == [(1004, "params", "Params must be an object", shown)]


@pytest.mark.parametrize("body", [custom(), custom(params=None)])
def test_params_absent_or_null_stored_empty(body: dict[str, Any]) -> None:
    assert validate(body).params == {}


def test_params_required() -> None:
    row = rows_by_path()["/v4/events/assigned-to-company"]
    expected = [(1002, "params", "Params are required", None)]
    assert errors_of(without(custom(), "action"), row) == expected
    assert errors_of(custom(action=None, params=None), row) == expected
    assert validate(custom(action=None, params={}), row).params == {}  # {} satisfies "required"


def test_free_form_params_stored_as_sent_including_nulls() -> None:
    params = {
        "door": "front",
        "n": None,
        "nested": {"x": None, "time": 1},
        "list": [None, 1.5],
        "email": "a@b",
    }
    assert validate(custom(params=params)).params == params


def test_server_owned_params_are_dropped_without_mutating_input() -> None:
    owned = {key: "caller" for key in SERVER_OWNED_PARAMS}
    assert set(owned) == {
        "modifiedBy",
        "apiKey",
        "eventUUID",
        "ip",
        "time",
        "businessProfileId",
        "eventCreateTime",
        "clientId",
        "uuid",
        "snr-original-time",
    }
    params = {"door": "front", **owned, "Time": 5}
    body = custom(params=params)
    before = copy.deepcopy(body)
    stored = validate(body).params
    assert stored == {"door": "front", "Time": 5}
    assert body == before


def test_stored_params_are_a_new_dict() -> None:
    params = {"door": "front"}
    stored = validate(custom(params=params)).params
    assert stored == params and stored is not params


def test_custom_row_reports_action_only_once() -> None:
    # catalog.json lists `action` as a required/typed param of the custom row; the action rule covers it.
    assert errors_of(custom(action=5, params={"action": 5})) == [
        (1004, "action", "Action must be a string", "5")
    ]


# --- §3.8 order, one entry per field ------------------------------------------------------------------------


def test_every_failure_in_check_order() -> None:
    body = {
        "params": [],
        "eventSalt": "",
        "time": "yesterday",
        "action": "",
        "label": None,
        "client": {"uuid": "x", "email": "no", "customId": "", "id": True},
    }
    with pytest.raises(ValidationFailed) as info:
        validate(body)
    assert [(e.code, e.field) for e in info.value.errors] == [
        (1004, "client.id"),
        (1003, "client.customId"),
        (1005, "client.email"),
        (1005, "client.uuid"),
        (1002, "label"),
        (1003, "action"),
        (1005, "time"),
        (1003, "eventSalt"),
        (1004, "params"),
    ]
    assert info.value.message == "Request validation failed (9 errors)"


def test_client_errors_come_before_label() -> None:
    assert errors_of({"label": ""}) == [
        (1002, "client", "Client is required", None),
        (1003, "label", "Label is required", ""),
        (1002, "action", "Action is required", None),
    ]


def test_single_error_message_is_the_entry_message() -> None:
    with pytest.raises(ValidationFailed) as info:
        validate(custom(label=""))
    assert info.value.message == "Label is required"
    assert info.value.errors == [ErrorEntry(1003, "label", "Label is required", "")]
