"""Contract §3.2 "Trimming" (Synerise's identifier standardization) as the validators apply it: leading and
trailing Unicode Zs and TAB are removed from `customId`, `email`, `uuid` and `clientUUID` before any other
rule; CR, LF, U+2028 and U+2029 stay banned; nothing is folded. The HTTP tests (tests/http/test_trimming.py)
show the same on every endpoint and both backends."""

from __future__ import annotations

import sys
import unicodedata
from typing import Any

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from tracktion.catalog import custom_row, rows_by_path
from tracktion.domain.models import ClientRef
from tracktion.domain.trimming import TRIMMED_CHARS, trim_identifier
from tracktion.errors import ValidationFailed
from tracktion.schemas.ai_compat import validate_ai_compat
from tracktion.schemas.client import lookup_identifier
from tracktion.schemas.envelope import validate_event
from tracktion.schemas.profile import validate_profile
from tracktion.schemas.transaction import validate_transaction

RECEIVE_MS = 1_709_640_000_000
UUID = "ad33ed01-06f4-510e-9688-5157b52fbba4"
NAMES = {"customId": "Custom id", "email": "Email", "uuid": "UUID"}
# Characters that look like white space but are not Zs: they are not trimmed (and not banned either).
NOT_TRIMMED = ["\u200b", "\ufeff", "\u180e", "\x0b", "\x0c", "\x1c", "\x85"]
# Line breaks: never trimmed, banned wherever they are (§3.2).
LINE_BREAKS = ["\r", "\n", "\u2028", "\u2029"]
Entry = tuple[int, str, str, str | None]


def event(client: Any) -> dict[str, Any]:
    return {"client": client, "label": "Front door opened", "action": "door.open"}


def client_of(client: Any) -> ClientRef:
    return validate_event(event(client), custom_row(), RECEIVE_MS).client


def errors_of(client: Any) -> list[Entry]:
    with pytest.raises(ValidationFailed) as info:
        validate_event(event(client), custom_row(), RECEIVE_MS)
    return [(e.code, e.field, e.message, e.rejected_value) for e in info.value.errors]


def outcome(client: Any) -> ClientRef | list[tuple[int, str]]:
    """The ref, or the (code, field) of each error: what the rules decided, whatever the message says."""
    try:
        return client_of(client)
    except ValidationFailed as exc:
        return [(e.code, e.field) for e in exc.errors]


def test_trimmed_characters_are_exactly_zs_and_tab() -> None:
    zs = {chr(c) for c in range(sys.maxunicode + 1) if unicodedata.category(chr(c)) == "Zs"}
    assert set(TRIMMED_CHARS) == zs | {"\t"}
    assert not set(TRIMMED_CHARS) & set(LINE_BREAKS)


@pytest.mark.parametrize("char", sorted(TRIMMED_CHARS))
def test_every_trimmed_character_goes_at_both_ends(char: str) -> None:
    sent = {
        "customId": f"{char}{char}ws-1{char}",
        "email": f"{char}Ana@Example.org{char}",
        "uuid": f"{char}{UUID}",
    }
    assert client_of(sent) == ClientRef(custom_id="ws-1", email="Ana@Example.org", uuid=UUID)


def test_inner_white_space_is_kept() -> None:
    assert client_of({"customId": " a \t b\u3000c "}) == ClientRef(custom_id="a \t b\u3000c")


@pytest.mark.parametrize("char", NOT_TRIMMED)
def test_characters_outside_zs_are_not_trimmed(char: str) -> None:
    assert client_of({"customId": f"{char}ws-1{char}"}) == ClientRef(custom_id=f"{char}ws-1{char}")


@pytest.mark.parametrize("key", NAMES)
@pytest.mark.parametrize("value", [" ", "\t", " \t\u00a0\u3000 "])
def test_nothing_left_after_trimming_is_empty(key: str, value: str) -> None:
    # rejectedValue is the value as sent (§1.6), so the caller sees what it sent.
    assert errors_of({key: value}) == [(1003, f"client.{key}", f"{NAMES[key]} cannot be empty", value)]


@pytest.mark.parametrize("key", NAMES)
@pytest.mark.parametrize("char", LINE_BREAKS)
def test_line_breaks_at_the_ends_stay_banned(key: str, char: str) -> None:
    value = {"customId": f" ws-1{char} ", "email": f"{char}ana@example.org", "uuid": f"{UUID}{char}"}[key]
    assert errors_of({key: value}) == [
        (1008, f"client.{key}", f"{NAMES[key]} contains forbidden characters", value)
    ]


def test_diacritics_are_never_folded() -> None:
    assert client_of({"email": " josé@example.com "}) == ClientRef(email="josé@example.com")
    assert client_of({"customId": "\tZoë\t"}) == ClientRef(custom_id="Zoë")


def test_format_rules_judge_the_trimmed_value_and_show_the_sent_one() -> None:
    assert client_of({"uuid": f" {UUID.upper()}\t"}) == ClientRef(uuid=UUID)  # trimmed, then lower-cased
    assert errors_of({"email": " ana maria@example.org "}) == [
        (1005, "client.email", "Email format invalid ( ana maria@example.org )", " ana maria@example.org ")
    ]


def test_ai_compat_client_uuid_is_trimmed() -> None:
    row = rows_by_path()["/v4/events/ai-compat/recommendation.click"]
    body = {"clientUUID": f"\u3000{UUID.upper()} ", "correlationId": "c", "item": "i"}
    assert validate_ai_compat(body, row, RECEIVE_MS).client == ClientRef(uuid=UUID)
    with pytest.raises(ValidationFailed) as info:
        validate_ai_compat({**body, "clientUUID": " \t"}, row, RECEIVE_MS)
    (error,) = info.value.errors
    assert (error.code, error.field, error.message) == (1003, "clientUUID", "Client UUID cannot be empty")


def test_transaction_client_is_trimmed() -> None:
    body = {"client": {"customId": " ws-1 ", "email": "\tana@example.org"}, "orderId": "o-1"}
    assert validate_transaction(body, RECEIVE_MS).client == ClientRef(
        custom_id="ws-1", email="ana@example.org"
    )


def test_profile_identifiers_are_trimmed() -> None:
    update = validate_profile({"customId": " ws-1 ", "email": " Ana@Example.org ", "uuid": f" {UUID} "})
    assert update.client == ClientRef(custom_id="ws-1", email="Ana@Example.org", uuid=UUID)
    with pytest.raises(ValidationFailed) as info:
        validate_profile({"customId": "\u2003"})
    (error,) = info.value.errors
    assert (error.code, error.field, error.rejected_value) == (1003, "customId", "\u2003")


def test_lookup_trims_and_refuses_nothing_left() -> None:
    assert lookup_identifier(" Ana@Example.org\t", "email", "Email") == "Ana@Example.org"
    with pytest.raises(ValidationFailed) as info:
        lookup_identifier("\u00a0", "customId", "Custom id")
    (error,) = info.value.errors
    assert (error.code, error.field, error.message) == (1003, "customId", "Custom id cannot be empty")


# --- properties ---------------------------------------------------------------------------------------------

trim_chars = st.text(alphabet=st.sampled_from(TRIMMED_CHARS), max_size=4)
any_text = st.text(max_size=12)


@given(left=trim_chars, core=any_text, right=trim_chars)
@example(left=" ", core="ws-1", right=" ")
@example(left="", core="\n", right="\t")
def test_trimming_removes_exactly_the_padding(left: str, core: str, right: str) -> None:
    full = left + core + right
    # A reference written out by hand: skip trimmed characters from each end, keep everything between.
    start, end = 0, len(full)
    while start < end and full[start] in TRIMMED_CHARS:
        start += 1
    while end > start and full[end - 1] in TRIMMED_CHARS:
        end -= 1
    result = trim_identifier(full)
    assert result == full[start:end]  # no folding, no inner change
    assert result == trim_identifier(core)  # the padding around a value never matters
    assert trim_identifier(result) == result  # idempotent


@given(value=any_text)
def test_values_without_padding_are_untouched(value: str) -> None:
    if not value or (value[0] not in TRIMMED_CHARS and value[-1] not in TRIMMED_CHARS):
        assert trim_identifier(value) == value


@given(key=st.sampled_from(sorted(NAMES)), left=trim_chars, core=any_text, right=trim_chars)
@example(key="email", left="\t", core="Ana@Example.org", right="\u3000")
@example(key="uuid", left=" ", core=UUID.upper(), right="")
@example(key="customId", left=" ", core="", right=" ")
def test_padding_never_changes_what_the_rules_decide(key: str, left: str, core: str, right: str) -> None:
    # §3.2: trimming comes before every other rule, so a padded value is judged exactly as the bare one.
    assert outcome({key: left + core + right}) == outcome({key: trim_identifier(core)})


@given(left=any_text, brk=st.sampled_from(LINE_BREAKS), right=any_text)
def test_a_line_break_anywhere_is_banned(left: str, brk: str, right: str) -> None:
    assert outcome({"customId": left + brk + right}) == [(1008, "client.customId")]
