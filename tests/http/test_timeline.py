"""The fast rendering of `GET /v4/events/by-client/{clientId}` (`tracktion.http.timeline`) answers exactly the
bytes of the general path, `json_response([event_json(e) for e in store.events(query)])`."""

from __future__ import annotations

from typing import Any

from hypothesis import given
from hypothesis import strategies as st

from tests.support.api import Api
from tracktion.domain.models import EventRow, Profile
from tracktion.domain.ports import EventQuery, StoredEvent
from tracktion.http import timeline
from tracktion.http.request import json_response
from tracktion.schemas.render import event_json
from tracktion.storage.sqlite_tx import decode_json, encode_json

EVENT_UUID = "79ad1afc-88ae-4dfb-9fb9-6352fb2cb72b"
T0 = 1_709_633_730_250

# Bodies as sent: escapes of every kind, an escaped lone surrogate (stored by the stdlib fallback, so its
# profile's list takes the general path), a caller `uuid` param (replaced by the system one), numbers at the
# edges of what msgspec and the body decoder accept.
BODIES = [
    b'{"action": "a.b", "label": "plain", "client": {"customId": "c1", "email": "A@x.org"}, "params": {"n": 1,'
    b' "f": 1.5e300, "neg": -0.0, "big": 9223372036854775807, "small": -9223372036854775808, "tiny": 5e-324,'
    b' "arr": [1, "two", null, true, {"deep": [[]]}], "obj": {}, "uuid": "caller"}}',
    b'{"action": "a.b", "label": "\\u00e9\\u2028\\u0000\\u001f\\"\\\\/", "client": {"customId": "c1"},'
    b' "params": {"s": "\\ud83d\\ude00 \\n\\t\\b\\f\\r \\u007f", "k\\u00e9y": "v", "nested": {"uuid": "n"}}}',
    b'{"action": "a.c", "label": "\\\\ud800 is text", "client": {"customId": "c5"}, "params": {"p": "\\\\ud800"}}',
    b'{"action": "a.b", "label": "l", "client": {"customId": "c2"}, "params": {"s": "\\ud83d"}}',
    b'{"action": "a.b", "label": "\\u00fc", "client": {"customId": "c2"}, "params": {"x": "\\u00fc"}}',
    b'{"action": "a.c", "label": "x\\ud800", "client": {"customId": "c3"}, "params": {"b": "\\u00e9"}}',
    b'{"action": "a.d", "label": "salted", "client": {"customId": "c4", "email": "\\u00fc@x.org"},'
    b' "params": {"r": 0.1}, "eventSalt": "s1", "time": "2024-03-05T10:00:00Z"}',
]


async def _general(api: Api, client_id: int, actions: tuple[str, ...] = ()) -> bytes:
    query = EventQuery(1, client_ids=(client_id,), actions=actions)
    return json_response([event_json(e) for e in await api.app.ctx.store.events(query)]).body


async def test_by_client_bytes_equal_the_general_path(api: Api) -> None:
    for body in BODIES:
        r = await api.post("/v4/events/custom", content=body)
        assert r.status_code == 202, r.text
    store = api.app.ctx.store
    fast = {}
    for custom_id in ("c1", "c2", "c3", "c4", "c5"):
        (cid,) = await store.find_client_ids(1, custom_id=custom_id)
        for params, actions in (({}, ()), ({"action": "a.b"}, ("a.b",)), ({"action": "none"}, ("none",))):
            r = await api.get(f"/v4/events/by-client/{cid}", params=params)
            assert r.status_code == 200, r.text
            assert r.headers["content-type"] == "application/json"
            assert r.content == await _general(api, cid, actions), (custom_id, params)
        found = await store.profile_events(EventQuery(1, client_ids=(cid,)))
        assert found is not None
        fast[custom_id] = timeline.render(*found) is not None
    # c2 holds an escaped lone surrogate in params, c3 in a label; c5's params hold a backslash followed by
    # `ud` as text, which the cheap test cannot tell from an escape: only those take the general path.
    assert fast == {"c1": True, "c2": False, "c3": False, "c4": True, "c5": False}


async def test_by_client_without_events_or_profile(api: Api) -> None:
    r = await api.post("/v4/events/custom", content=BODIES[0])
    assert r.status_code == 202, r.text
    (cid,) = await api.app.ctx.store.find_client_ids(1, custom_id="c1")
    assert (
        await api.get(f"/v4/events/by-client/{cid}", params={"time[to]": "2000-01-01T00:00:00Z"})
    ).json() == []
    assert (await api.get(f"/v4/events/by-client/{cid}", params={"action": "a\x00b"})).json() == []
    assert await api.app.ctx.store.profile_events(EventQuery(1, client_ids=(cid + 1,))) is None
    assert (await api.get(f"/v4/events/by-client/{cid + 1}")).status_code == 404


# -- rendering, against the general path for any params ----------------------------------------------------
# Characters msgspec escapes, writes raw or cannot write (lone surrogates), and a backslash-"ud" as text.
_PIECES = [*'aé😀\x00\x1f\x7f\n"\\/\u2028\ud800\udfff', "\\ud800"]
_TEXT = st.one_of(st.text(max_size=6), st.lists(st.sampled_from(_PIECES), max_size=3).map("".join))
_SCALAR = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**63), 2**63 - 1),
    st.floats(allow_nan=False, allow_infinity=False),
    _TEXT,
)
_JSON = st.recursive(
    _SCALAR,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(_TEXT, inner, max_size=3),
    max_leaves=10,
)


def _encodable(text: str | None) -> bool:
    return text is None or not any(0xD800 <= ord(c) <= 0xDFFF for c in text)


@given(params=st.dictionaries(_TEXT, _JSON, max_size=5), label=_TEXT, custom_id=st.none() | _TEXT)
def test_render_equals_the_general_path(params: dict[str, Any], label: str, custom_id: str | None) -> None:
    blob = encode_json(params)  # what both stores keep (`json_text` on PostgreSQL is the same text)
    profile = Profile(1, 7000000001, "u", custom_id, None)
    row = EventRow(
        1, EVENT_UUID, 7000000001, "a.b", label, T0, decode_json(blob), "/v4/events/custom", "custom"
    )
    expected = json_response([event_json(StoredEvent(row, custom_id, None))]).body
    general = b"\\ud" in blob or not _encodable(label) or not _encodable(custom_id)
    for stored in (blob, blob.decode()):  # SQLite reads bytes, PostgreSQL text
        body = timeline.render(profile, [(EVENT_UUID, T0, "a.b", label, stored)])
        assert body == (None if general else expected)


def test_one_fallback_event_sends_the_whole_list_the_general_way() -> None:
    profile = Profile(1, 7000000001, "u", "c", None)
    plain = (EVENT_UUID, T0, "a.b", "é", encode_json({"uuid": "u"}))
    escaped = (EVENT_UUID, T0, "a.b", "l", encode_json({"s": "\ud800", "t": "é"}))
    assert timeline.render(profile, [plain, plain]) is not None
    assert timeline.render(profile, [plain, escaped]) is None
