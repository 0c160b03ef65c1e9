"""Login bodies (docs/api.md §2.2): `{"apiKey"}` of the workspace login and of a profile token's refresh, and
`{"apiKey", "uuid", "deviceId"}` of the anonymous profile login."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from tracktion.errors import ErrorEntry, ValidationFailed, rejected
from tracktion.schemas.client import IDENTIFIER_NOTE, UUID, identifier_error, trimmed, uuid_error
from tracktion.schemas.openapi_shapes import NON_EMPTY, JsonSchema, nullable


def api_key_field(body: Any) -> str:
    """The `apiKey` of a login body: 400 when missing or not a string (never echoed when it is one)."""
    if not isinstance(body, dict):
        raise ValidationFailed(errors=[ErrorEntry(1001, "", "Request body must be a JSON object")])
    api_key = body.get("apiKey")
    if api_key is None:
        raise ValidationFailed(errors=[ErrorEntry(1002, "apiKey", "Api key is required")])
    if not isinstance(api_key, str):
        raise ValidationFailed(
            errors=[ErrorEntry(1004, "apiKey", "Api key must be a string", rejected(api_key))]
        )
    return api_key


@dataclass(frozen=True, slots=True)
class AnonymousLogin:
    api_key: str
    uuid: str  # trimmed (§3.2), case as sent (the handler lower-cases it)
    device_id: str | None


def validate_anonymous_login(body: Any) -> AnonymousLogin:
    """The API key first (alone, as for every login), then `uuid` and `deviceId` together."""
    api_key = api_key_field(body)
    errors: list[ErrorEntry] = []
    sent = body.get("uuid")
    uuid = trimmed(sent)  # §3.2: token logins trim the uuid too; errors show the value as sent
    uuid_problem = (
        ErrorEntry(1002, "uuid", "UUID is required") if uuid is None else uuid_error(uuid, "uuid", sent=sent)
    )
    if uuid_problem is not None:
        errors.append(uuid_problem)
    device_id = body.get("deviceId")
    if device_id is not None and (problem := identifier_error(device_id, "deviceId", "deviceId")) is not None:
        errors.append(problem)
    if errors:
        raise ValidationFailed(errors=errors)
    return AnonymousLogin(api_key, uuid, device_id)


# -- the OpenAPI description of these bodies ----------------------------------------------------------------
LOGIN_BODY: JsonSchema = {
    "type": "object",
    "required": ["apiKey"],
    "properties": {"apiKey": {"type": "string"}},
}
ANONYMOUS_LOGIN_BODY: JsonSchema = {
    "type": "object",
    "required": ["apiKey", "uuid"],
    "properties": {
        "apiKey": {"type": "string"},
        "uuid": UUID,
        "deviceId": nullable({**NON_EMPTY, "description": IDENTIFIER_NOTE}),
    },
}
