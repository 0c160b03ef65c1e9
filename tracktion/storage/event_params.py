"""How an event row stores its §7.2 system params, on both backends (docs/api.md §7.2; issue 23).

A row written since migration 0011 holds only the caller's params in `params`, and five columns besides:

| column | holds | the §7.2 param |
|---|---|---|
| `created_ms` | the receive time; NULL marks a row written before 0011 (its `params` hold everything) | `eventCreateTime` |
| `ip` | the caller's address; on SQLite an IPv4 address in its usual spelling as its 4 bytes | `ip` |
| `modified_by` | a workspace key: its number (`api_keys.number`) on SQLite, its id's 16 bytes on PostgreSQL; else the JSON of the whole object | `modifiedBy` |
| `client_uuid` | NULL when it is the profile's primary uuid (nearly always), else that uuid | `uuid` |
| `sent_time` | NULL: `time` not sent; `''`: sent as the stored time reads; `'s'`: the same without milliseconds (`…:SSZ`); else as sent | `snr-original-time` |

`eventUUID`, `time`, `clientId` and `businessProfileId` are the row's own columns. `endpoint` and `kind`
hold a one-letter code for the common values (`ENDPOINT_CODES`, `KIND_CODES`; a real value is never one
letter long), the text otherwise and in rows written before 0011. Reads put the system
params back after the caller's, in the order the writer always wrote them (`domain.system_params`), so a
row of either form reads the same, byte for byte: old stores need no migration of their rows.
"""

from __future__ import annotations

import socket
import uuid as uuidlib
from typing import Any

import msgspec

from tracktion.domain.models import EventRow
from tracktion.domain.system_params import system_params
from tracktion.domain.timefmt import format_ms, format_ms_whole

# Append-only: a code, once written, names its value for good. ~20 bytes less per row (issue 23).
ENDPOINT_CODES = {
    "/v4/events/custom": "c",
    "/v4/events/batch": "b",
    "/v4/transactions": "t",
    "/v4/transactions/batch": "T",
    "/v4/events/ai-compat/batch": "a",
}
KIND_CODES = {"custom": "c", "dedicated": "d", "transaction": "t"}
_ENDPOINTS = {code: value for value, code in ENDPOINT_CODES.items()}
_KINDS = {code: value for value, code in KIND_CODES.items()}


def endpoint_code(endpoint: str) -> str:
    return ENDPOINT_CODES.get(endpoint, endpoint)


def kind_code(kind: str) -> str:
    return KIND_CODES.get(kind, kind)


def endpoint_value(stored: str) -> str:
    return _ENDPOINTS.get(stored, stored)


def kind_value(stored: str) -> str:
    return _KINDS.get(stored, stored)


NO_ORIGIN: tuple[None, None, None, None, None] = (None, None, None, None, None)

# The five columns as the reads select them (after the profile's primary uuid, which `uuid` may name).
ORIGIN_COLS = "e.created_ms, e.ip, e.modified_by, e.client_uuid, e.sent_time"
# SQLite stores a workspace key as its number (a byte or two instead of 16, issue 23) and reads it back as the
# key's id text; keys are never deleted (revoked only), so the number always names one.
SQLITE_ORIGIN_COLS = (
    "e.created_ms, e.ip, CASE WHEN typeof(e.modified_by) = 'integer'"
    " THEN (SELECT k.id FROM api_keys k WHERE k.number = e.modified_by) ELSE e.modified_by END,"
    " e.client_uuid, e.sent_time"
)

_encode = msgspec.json.encode
_decode = msgspec.json.decode
_KEY_ONLY = ("clientApiKey", "clientId", "userId")

# The last `modifiedBy` encoded (rows of a request share one dict) and the stored forms decoded.
_last_encoded: tuple[dict[str, Any] | None, bytes] = (None, b"")
_decoded: dict[bytes | str, dict[str, Any]] = {}
_DECODED_MAX = 1024


def origin_columns(row: EventRow) -> tuple[int | None, str | None, bytes | None, str | None, str | None]:
    """(created_ms, ip, modified_by, client_uuid, sent_time) of a row being written. A row without an
    origin (written by other code than the ingest) keeps its params as they are: all NULL."""
    origin = row.origin
    if origin is None:
        return NO_ORIGIN
    sent = origin.original_time
    if sent is not None and sent[-1:] == "Z":
        stored = format_ms(row.time_ms)
        if sent == stored:
            sent = ""
        elif len(sent) == 20 and stored.endswith(".000Z") and sent == format_ms_whole(row.time_ms):
            sent = "s"
    return origin.created_ms, origin.ip, modified_by_bytes(origin.modified_by), origin.uuid, sent


def modified_by_bytes(value: dict[str, Any]) -> bytes:
    global _last_encoded
    last = _last_encoded
    if last[0] is value:
        return last[1]
    encoded = _encode(value)
    key = value.get("businessProfileApiKey")
    if len(value) == 4 and isinstance(key, str) and all(value.get(k, 0) is None for k in _KEY_ONLY):
        try:
            parsed = uuidlib.UUID(key)
        except ValueError:
            parsed = None
        if parsed is not None and str(parsed) == key:
            encoded = parsed.bytes
    _last_encoded = (value, encoded)
    return encoded


# The last ip compacted (rows of a request share one).
_last_ip: tuple[str, str | bytes] = ("", "")


def compact_ip(ip: str) -> str | bytes:
    """SQLite's `ip` column (issue 23: 9-15 bytes → 4): an IPv4 address that reads back exactly as it was
    sent, as its 4 bytes; anything else (IPv6, odd spellings from a proxy header) as its text."""
    global _last_ip
    last = _last_ip
    if last[0] == ip:
        return last[1]
    stored: str | bytes = ip
    try:
        packed = socket.inet_pton(socket.AF_INET, ip)
    except (OSError, ValueError):
        packed = None
    if packed is not None and socket.inet_ntop(socket.AF_INET, packed) == ip:
        stored = packed
    _last_ip = (ip, stored)
    return stored


def ip_text(stored: str | bytes) -> str:
    return stored if isinstance(stored, str) else socket.inet_ntop(socket.AF_INET, stored)


def modified_by_value(stored: bytes | memoryview | str) -> dict[str, Any]:
    """A fresh dict (callers may keep or change it) from the stored form (a workspace key's id as text when
    SQLite stored its number: `SQLITE_ORIGIN_COLS`)."""
    stored = stored if isinstance(stored, str) else bytes(stored)
    found = _decoded.get(stored)
    if found is None:
        if len(stored) == 16 or isinstance(stored, str):
            found = {
                "businessProfileApiKey": stored
                if isinstance(stored, str)
                else str(uuidlib.UUID(bytes=stored)),
                "clientApiKey": None,
                "clientId": None,
                "userId": None,
            }
        else:
            found = _decode(stored)
        if len(_decoded) >= _DECODED_MAX:
            _decoded.clear()
        _decoded[stored] = found
    return dict(found)


def _system(
    uuid: str, time_ms: int, client_id: int, workspace_id: int, primary_uuid: str, origin: tuple[Any, ...]
) -> dict[str, Any]:
    created_ms, ip, modified, client_uuid, sent = origin
    return system_params(
        uuid,
        time_ms,
        client_id,
        workspace_id,
        primary_uuid,
        created_ms,
        ip_text(ip),
        modified_by_value(modified),
        client_uuid,
        _sent_time(time_ms, sent),
    )


def _sent_time(time_ms: int, sent: str | None) -> str | None:
    if sent == "":
        return format_ms(time_ms)
    if sent == "s":
        return format_ms_whole(time_ms)
    return sent


def full_params(
    params: dict[str, Any],
    uuid: str,
    time_ms: int,
    client_id: int,
    workspace_id: int,
    primary_uuid: str,
    origin: tuple[Any, ...],
) -> dict[str, Any]:
    """The params as read (§7.2): `params` decoded from the row, with the system params added in place.
    `origin` is the row's five columns above; a row written before 0011 (`created_ms` NULL) is returned as
    it is."""
    if origin[0] is None:
        return params
    params.update(_system(uuid, time_ms, client_id, workspace_id, primary_uuid, origin))
    return params


def full_params_json(
    stored: bytes | str,
    uuid: str,
    time_ms: int,
    client_id: int,
    workspace_id: int,
    primary_uuid: str,
    origin: tuple[Any, ...],
) -> bytes | str:
    """`full_params` as JSON text without decoding the stored params: the system params' JSON spliced in
    before the closing brace, written piece by piece (what msgspec writes for the merged dict, byte for
    byte: tests/http/test_stored_origin.py). Bytes or str as stored. The hot read path (§8.1 lists): the
    pieces shared by many rows (ip, `modifiedBy`, a profile's uuid) are encoded once."""
    created_ms, ip, modified, client_uuid, sent = origin
    if created_ms is None:
        return stored
    if sent is None:
        sent_json = ""
    elif sent == "":
        sent_json = f',"snr-original-time":"{format_ms(time_ms)}"'
    elif sent == "s":
        sent_json = f',"snr-original-time":"{format_ms_whole(time_ms)}"'
    else:
        sent_json = ',"snr-original-time":' + _json_text(sent)
    shared = (
        created_ms,
        client_id,
        primary_uuid if client_uuid is None else client_uuid,
        workspace_id,
        ip,
        modified,
    )
    middle = _middles.get(shared)
    if middle is None:
        middle = _middle(*shared)
    tail = f'"eventUUID":"{uuid}","time":{time_ms},{middle}{sent_json}}}'
    if isinstance(stored, str):
        return "{" + tail if stored == "{}" else f"{stored[:-1]},{tail}"
    return b"{" + tail.encode() if stored == b"{}" else b"".join((stored[:-1], b",", tail.encode()))


# What rows of one write share (its receive time, ip, `modifiedBy`; the profile) → those params' JSON.
_middles: dict[tuple[Any, ...], str] = {}


def _middle(
    created_ms: int, client_id: int, uuid: str, workspace_id: int, ip: str | bytes, modified: Any
) -> str:
    if len(_middles) >= _DECODED_MAX:
        _middles.clear()
    middle = _middles[(created_ms, client_id, uuid, workspace_id, ip, modified)] = (
        f'"eventCreateTime":"{format_ms(created_ms)}","clientId":{client_id},"uuid":{_json_text(uuid)},'
        f'"businessProfileId":{workspace_id},"ip":{_json_text(ip_text(ip))},"modifiedBy":{_modified_by_json(modified)}'
    )
    return middle


_texts: dict[str, str] = {}
_modified_jsons: dict[bytes | str, str] = {}


def _json_text(value: str) -> str:
    """A string as msgspec writes it in JSON, remembered (ips, uuids and sent times repeat)."""
    found = _texts.get(value)
    if found is None:
        if len(_texts) >= _DECODED_MAX:
            _texts.clear()
        found = _texts[value] = _encode(value).decode()
    return found


def _modified_by_json(stored: bytes | memoryview | str) -> str:
    stored = stored if isinstance(stored, str) else bytes(stored)
    found = _modified_jsons.get(stored)
    if found is None:
        if len(_modified_jsons) >= _DECODED_MAX:
            _modified_jsons.clear()
        found = _modified_jsons[stored] = _encode(modified_by_value(stored)).decode()
    return found
