"""The §8.1 list of a profile's events, rendered straight from the stored JSON: the hot read path.

`render.event_json` decodes every event's params and the response encoder writes them out again; here the
params JSON as stored is embedded as is (`msgspec.Raw`), and only `params["uuid"]` (shown as `client.uuid`)
is read out of it. The bytes are the same as `json_response([event_json(e) ...])` because the stored text is
msgspec's own encoding of the params, and msgspec writes back byte for byte what it reads from its own
output (tests/http/test_timeline.py holds the two paths to that).

The exception is a value the stores wrote with the stdlib fallback (an escaped lone surrogate, see
`sqlite_tx.encode_json`): its text is ASCII-escaped throughout, and today's response for a list holding
one is ASCII-escaped as a whole. `render` answers None for such lists (and for labels or identifiers msgspec
cannot encode) and the caller renders them the general way.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from typing import Any

import msgspec

from tracktion.domain.models import Profile
from tracktion.domain.ports import TimelineEvent
from tracktion.domain.timefmt import format_ms


class _Client(msgspec.Struct, rename="camel"):
    id: int
    uuid: Any
    custom_id: str | None
    email: str | None


class _Event(msgspec.Struct):
    """`render.event_json(stored)`: same keys, same order."""

    uuid: str
    time: str
    action: str
    label: str
    client: _Client
    params: msgspec.Raw


class _SystemUuid(msgspec.Struct):
    uuid: Any = None  # the other params are skipped by the decoder, not built


_read_uuid = msgspec.json.Decoder(_SystemUuid).decode
_encode = msgspec.json.Encoder().encode
_decode_any = msgspec.json.Decoder().decode


def render(profile: Profile, events: Sequence[TimelineEvent]) -> bytes | None:
    """The JSON array of `events` (all of `profile`), or None when it must be rendered the general way."""
    structs = _structs(profile, events)
    if structs is None:
        return None
    try:
        return _encode(structs)
    except UnicodeEncodeError:  # a label with an escaped lone surrogate (stored as sent)
        return None


def render_joined(
    profile: Profile, events: Sequence[TimelineEvent], room: int
) -> tuple[memoryview, int] | None:
    """`render`'s items joined by commas (the array without its brackets, not copied: one encoding for a
    whole fetch of a page, `tracktion.http.pages`) and a bound on the largest one's size (its params, its
    label and action escaped at worst, the rest). None as `render`, and without encoding anything when the
    params alone are more than `room` bytes."""
    if sum(len(e[4]) for e in events) > room:
        return None
    array = render(profile, events)
    if array is None:
        return None
    bound = max(len(params) + 6 * (len(label) + len(action)) for _, _, action, label, params in events)
    return memoryview(array)[1:-1], bound + 6 * (
        len(profile.custom_id or "") + len(profile.email or "")
    ) + 512


def render_items(profile: Profile, events: Sequence[TimelineEvent]) -> Iterator[Any] | None:
    """Each event's JSON, encoded as it is asked for (a fetch whose items are counted against the page's cap
    one by one: those past it are never encoded), or None as `render`. An event whose label msgspec cannot
    write comes as `event_dicts` makes it."""
    structs = _structs(profile, events)
    if structs is None:
        return None
    return _encoded(profile, structs, events)


def _encoded(profile: Profile, structs: list[_Event], events: Sequence[TimelineEvent]) -> Iterator[Any]:
    for struct, event in zip(structs, events, strict=True):
        try:
            yield _encode(struct)
        except UnicodeEncodeError:  # a label with an escaped lone surrogate (stored as sent)
            yield from event_dicts(profile, [event])


def _structs(profile: Profile, events: Sequence[TimelineEvent]) -> list[_Event] | None:
    out = []
    for uuid, time_ms, action, label, params in events:
        # The stdlib fallback writes every non-ASCII character as `\uXXXX`, so a surrogate as `\udXXX`;
        # msgspec writes neither (a backslash and "ud" as text also match: that only costs the general
        # path). The one-byte test keeps the three-byte search off params without any escape.
        if isinstance(params, bytes):
            if b"\\" in params and b"\\ud" in params:
                return None
        elif "\\" in params and "\\ud" in params:
            return None
        try:
            client_uuid = _read_uuid(params).uuid
        except msgspec.DecodeError:
            return None
        client = _Client(profile.client_id, client_uuid, profile.custom_id, profile.email)
        out.append(_Event(uuid, format_ms(time_ms), action, label, client, msgspec.Raw(params)))
    return out


def event_dicts(profile: Profile, events: Sequence[TimelineEvent]) -> Iterator[dict[str, Any]]:
    """The general way: what `render.event_json` makes of the same events (params decoded, escaped lone
    surrogates included), for the lists `render_items` declines; made as they are asked for."""
    for uuid, time_ms, action, label, params in events:
        decoded = decode_params(params)
        client = {
            "id": profile.client_id,
            "uuid": decoded.get("uuid"),
            "customId": profile.custom_id,
            "email": profile.email,
        }
        yield {
            "uuid": uuid,
            "time": format_ms(time_ms),
            "action": action,
            "label": label,
            "client": client,
            "params": decoded,
        }


def decode_params(params: bytes | str) -> Any:
    # msgspec refuses the escaped lone surrogates the stdlib fallback may have stored; json.loads reads them.
    try:
        return _decode_any(params)
    except msgspec.DecodeError:
        return json.loads(params)
