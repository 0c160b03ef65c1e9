"""The `client` object and its identifiers (docs/api.md §3.2, §3.8 rows 2–4).

Validation appends `ErrorEntry`s to a caller-owned list instead of raising, so one pass over a body can report
every failing field (§1.6) and the valid path never pays for an exception.
"""

from __future__ import annotations

import re
from typing import Any

from tracktion.domain.models import ClientRef
from tracktion.domain.trimming import trim_identifier
from tracktion.errors import ErrorEntry, ValidationFailed, rejected
from tracktion.schemas.openapi_shapes import NON_EMPTY, JsonSchema, anchored, nullable

CLIENT_ID_MAX = 2**63 - 1

# §3.2 verbatim. Applies to customId, email, uuid (and ai-compat clientUUID).
_BANNED = re.compile(r"[\U00010000-\U0010FFFF\uD800-\uDFFF\r\n\u2028\u2029\u00AD\uFE00-\uFE0F\x00]")
# Synerise's e-mail pattern, un-escaped, used with fullmatch as §3.2 says.
EMAIL_RE = re.compile(
    r"""^(([^<>()\[\]\\.,;:\s@"]+(\.[^<>()\[\]\\.,;:\s@"]+)*)|(".+"))@((\[[0-9]{1,3}\.[0-9]{1,3}\.[0-9]{1,3}\."""
    r"""[0-9]{1,3}\])|(([a-zA-Z\-0-9]+\.)+[a-zA-Z]{2,}))$"""
)
# fullmatch rather than ^…$: `$` would also accept a trailing newline (rejected earlier as banned anyway).
UUID_RE = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")

EMPTY_CLIENT = ClientRef()  # frozen, so one shared instance serves every "client filled from the token" case


def trimmed(value: Any) -> Any:
    """§3.2 `trim_identifier` for a string; any other value unchanged, for its type rule to report."""
    return trim_identifier(value) if type(value) is str else value


def lookup_identifier(value: str, field: str, name: str) -> str:
    """§3.2: every lookup by identifier (§9.5 paths, §13.2 filters) trims the value first; nothing left → 400,
    1003, as for a write. Nothing else is checked: a value no profile can own simply finds nothing."""
    value_trimmed = trim_identifier(value)
    if not value_trimmed:
        raise ValidationFailed(errors=[ErrorEntry(1003, field, f"{name} cannot be empty", rejected(value))])
    return value_trimmed


def has_banned_chars(value: str) -> bool:
    # Pure-ASCII strings (the usual case; `isascii` is O(1) in CPython) can only contain CR, LF or NUL from the
    # banned set, and three substring tests are cheaper than the regex.
    if value.isascii():
        return "\n" in value or "\r" in value or "\x00" in value
    return _BANNED.search(value) is not None


def identifier_error(value: Any, field: str, name: str, sent: Any = None) -> ErrorEntry | None:
    """Type, emptiness and banned-character rules shared by every identifier string (§3.8 row 4).

    `value` is what the rules judge (trimmed, for the §3.2 identifiers); `sent`, when given, is the value as
    the caller sent it, which `rejectedValue` and messages show (§1.6: "strings as sent").
    """
    shown = value if sent is None else sent
    if type(value) is not str:
        return ErrorEntry(1004, field, f"{name} must be a string", rejected(shown))
    if not value:
        return ErrorEntry(1003, field, f"{name} cannot be empty", rejected(shown))
    if has_banned_chars(value):
        return ErrorEntry(1008, field, f"{name} contains forbidden characters", rejected(shown))
    return None


def uuid_error(value: Any, field: str, name: str = "UUID", sent: Any = None) -> ErrorEntry | None:
    """Identifier rules plus the UUID pattern; reused for ai-compat `clientUUID`."""
    error = identifier_error(value, field, name, sent)
    if error is None and UUID_RE.fullmatch(value) is None:
        shown = value if sent is None else sent
        error = ErrorEntry(1005, field, f"UUID format invalid ({shown})", rejected(shown))
    return error


def email_error(value: Any, field: str, sent: Any = None) -> ErrorEntry | None:
    error = identifier_error(value, field, "Email", sent)
    if error is None and EMAIL_RE.fullmatch(value) is None:
        shown = value if sent is None else sent
        error = ErrorEntry(1005, field, f"Email format invalid ({shown})", rejected(shown))
    return error


def validate_client(client: Any, errors: list[ErrorEntry], *, optional: bool = False) -> ClientRef:
    """Validate `client`, appending failures to `errors`; the returned ref is only meaningful if none were added.

    `optional` (profile tokens, §2.6): an absent or null `client` is filled from the token later, so it yields
    an empty ClientRef. A `client` that *is* sent still has to carry a valid identifier.
    """
    if client is None:
        if not optional:
            errors.append(ErrorEntry(1002, "client", "Client is required"))
        return EMPTY_CLIENT
    if type(client) is not dict:
        errors.append(ErrorEntry(1004, "client", "Client must be an object", rejected(client)))
        return EMPTY_CLIENT
    client_id = client.get("id")
    custom_id = client.get("customId")
    email = client.get("email")
    uuid = client.get("uuid")
    if client_id is None and custom_id is None and email is None and uuid is None:
        errors.append(ErrorEntry(1003, "client", "At least one client identifier required", rejected(client)))
        return EMPTY_CLIENT
    if client_id is not None:
        # `type(...) is int` excludes booleans, which are ints in Python but not JSON integers.
        if type(client_id) is not int:
            errors.append(
                ErrorEntry(1004, "client.id", "Client id must be a positive integer", rejected(client_id))
            )
        elif not 1 <= client_id <= CLIENT_ID_MAX:
            errors.append(
                ErrorEntry(1006, "client.id", "Client id must be a positive integer", rejected(client_id))
            )
    # §3.2: trimmed before any other rule; the stored and compared value is the trimmed one.
    if custom_id is not None:
        sent, custom_id = custom_id, trimmed(custom_id)
        if error := identifier_error(custom_id, "client.customId", "Custom id", sent):
            errors.append(error)
    if email is not None:
        sent, email = email, trimmed(email)
        if error := email_error(email, "client.email", sent):
            errors.append(error)
    if uuid is not None:
        sent, uuid = uuid, trimmed(uuid)
        if error := uuid_error(uuid, "client.uuid", sent=sent):
            errors.append(error)
        else:
            uuid = uuid.lower()
    return ClientRef(client_id, custom_id, email, uuid)


# -- the OpenAPI description of what `validate_client` accepts ---------------------------------------------
UUID: JsonSchema = {"type": "string", "pattern": anchored(UUID_RE)}
IDENTIFIER_NOTE = (
    "non-empty; no code point above U+FFFF, surrogate, CR, LF, U+2028/9, U+00AD, U+FE00–FE0F, U+0000"
)
CLIENT: JsonSchema = {
    "type": "object",
    "description": (
        "At least one identifier (§3.2), each trimmed of leading and trailing Unicode Zs and TAB before any rule."
        " Profile tokens may omit `client` (§2.6)."
    ),
    "properties": {
        "id": nullable({"type": "integer", "minimum": 1, "maximum": CLIENT_ID_MAX}),
        "customId": nullable({**NON_EMPTY, "description": IDENTIFIER_NOTE}),
        "email": nullable({"type": "string", "pattern": anchored(EMAIL_RE), "description": IDENTIFIER_NOTE}),
        "uuid": nullable(UUID),
    },
    "anyOf": [
        {"required": [k], "properties": {k: {"not": {"type": "null"}}}}
        for k in ("id", "customId", "email", "uuid")
    ],
}
