"""Write requests and results as bytes, between the HTTP process and the SQLite writer process.

Pickle was the first encoding and cost more than it carried: ~43 µs to pickle and ~44 µs to unpickle one
5-product transaction (every class reference is looked up again for each `dumps`, a 25-permission
frozenset alone took 9 µs). Here the hot shapes (events, transactions, results) become plain tuples encoded
by msgspec's MessagePack, ~6× cheaper; anything else in them (an edge error, a profile update, a value
MessagePack cannot hold) travels as a pickle inside an extension, and a frame that still cannot be encoded
falls back to pickle whole. Both ends are this package, same version, over a private socket pair.
"""

from __future__ import annotations

import pickle
from typing import Any

import msgspec

from tracktion.domain.models import (
    ClientRef,
    Credential,
    EventIn,
    ItemOutcome,
    TransactionIn,
    WriteItem,
    WriteRequest,
    WriteResult,
    WriteStats,
)

_PICKLED = 1  # msgpack extension code: a pickle of whatever has no plain shape here
_MSGPACK = b"M"
_PICKLE = b"P"
_SAME_AS_RAW = "="  # a transaction's body or an event's params is the very object sent in `raw`: sent once


def _pickled(obj: Any) -> msgspec.msgpack.Ext:
    return msgspec.msgpack.Ext(_PICKLED, pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL))


def _enc_hook(obj: Any) -> Any:
    return _pickled(obj)  # errors and other objects msgpack has no type for


def _ext_hook(code: int, data: memoryview) -> Any:
    if code != _PICKLED:
        raise ValueError(f"unknown extension {code}")
    return pickle.loads(data)


_encoder = msgspec.msgpack.Encoder(enc_hook=_enc_hook)
_decoder = msgspec.msgpack.Decoder(ext_hook=_ext_hook)


def encode(obj: Any) -> bytes:
    """A frame for (request id, lane, weight, WriteRequest), a reply, or any other message."""
    try:
        return _MSGPACK + _encoder.encode(_plain(obj))
    except (TypeError, ValueError, OverflowError, msgspec.EncodeError):
        return _PICKLE + pickle.dumps(obj, protocol=pickle.HIGHEST_PROTOCOL)


def decode(data: bytes | bytearray | memoryview) -> Any:
    view = memoryview(data)
    if view[:1] == _PICKLE:
        return pickle.loads(view[1:])
    return _rebuild(_decoder.decode(view[1:]))


# A message is a tuple whose first element says what it is; only the two hot ones get plain shapes.
def _plain(obj: Any) -> Any:
    if type(obj) is tuple and len(obj) == 4 and type(obj[3]) is WriteRequest:
        rid, lane, weight, request = obj
        return ("req", rid, lane, weight, _request(request))
    if type(obj) is tuple and obj and obj[0] == "done":
        _, outcomes, healthy, seconds = obj
        return ("done", [(rid, ok, _result(v) if ok else v) for rid, ok, v in outcomes], healthy, seconds)
    # Anything else whole, as a pickle: msgspec would turn a dataclass inside into a plain map.
    return ("raw", _pickled(obj))


def _rebuild(msg: list[Any]) -> Any:
    tag = msg[0]
    if tag == "req":
        return (msg[1], msg[2], msg[3], _request_back(msg[4]))
    if tag == "done":
        outcomes = [(rid, ok, _result_back(v) if ok else v) for rid, ok, v in msg[1]]
        return ("done", outcomes, msg[2], msg[3])
    return msg[1]


# -- requests --
def _request(r: WriteRequest) -> tuple[Any, ...]:
    c = r.credential
    cred = (c.kind, c.workspace_id, c.key_id, list(c.permissions), c.client_id, c.uuid, c.device_id)
    items = [_item(it) for it in r.items]
    return (
        r.workspace_id,
        cred,
        r.request_id,
        r.method,
        r.endpoint,
        r.received_ms,
        r.ip,
        items,
        r.atomic,
        r.request_error,
        r.body_excerpt,
        r.body_truncated,
        r.lane,
    )


def _request_back(t: list[Any]) -> WriteRequest:
    items = [_item_back(i) for i in t[7]]
    return WriteRequest(
        t[0], _credential_back(t[1]), t[2], t[3], t[4], t[5], t[6], items, t[8], t[9], t[10], t[11], t[12]
    )


# Frozen dataclasses cost ~1.5-4 µs each to build, and the same credentials and profiles come back request
# after request: the receiving side keeps the ones it built (immutable, so sharing them is safe).
_CACHE_MAX = 4096
_credentials: dict[tuple[Any, ...], Credential] = {}
_clients: dict[tuple[Any, ...], ClientRef] = {}


def _credential_back(t: list[Any]) -> Credential:
    key = (t[0], t[1], t[2], tuple(t[3]), t[4], t[5], t[6])
    cred = _credentials.get(key)
    if cred is None:
        if len(_credentials) >= _CACHE_MAX:
            _credentials.clear()
        cred = _credentials[key] = Credential(t[0], t[1], t[2], frozenset(t[3]), t[4], t[5], t[6])
    return cred


def _client(c: ClientRef) -> tuple[Any, ...]:
    return (c.id, c.custom_id, c.email, c.uuid)


def _client_back(t: list[Any]) -> ClientRef:
    key = tuple(t)
    client = _clients.get(key)
    if client is None:
        if len(_clients) >= _CACHE_MAX:
            _clients.clear()
        client = _clients[key] = ClientRef(*t)
    return client


def _item(it: WriteItem) -> tuple[Any, ...]:
    e, t = it.event, it.transaction
    if it.suppressed:
        # Rare (a write naming a suppressed identifier, docs/api.md §15.1): pickled, with its own tag.
        shape: tuple[Any, ...] = ("s", _pickled((it.event, it.transaction, it.profile)))
    elif e is not None:
        raw = it.raw
        # Usually the validated params are the very dict sent inside `raw` (no server-owned key to drop):
        # sent once, as for a transaction's body. A batch item's params are most of its bytes.
        same = type(raw) is dict and raw.get("params") is e.params
        shape = (
            "e",
            _client(e.client),
            e.action,
            e.label,
            e.time_ms,
            e.original_time,
            e.salt,
            _SAME_AS_RAW if same else e.params,
            e.kind,
            e.uuid_field,
        )
    elif t is not None:
        body = _SAME_AS_RAW if t.body is it.raw else t.body
        shape = ("t", _client(t.client), t.order_id, t.time_ms, t.original_time, t.salt, body, t.currency)
    else:
        # Rare shapes (profile updates): pickled, as msgspec would turn a dataclass into a plain map.
        shape = ("o", _pickled((it.event, it.transaction, it.profile)))
    return (it.index, it.raw, it.prefix, it.error, shape)


def _item_back(t: list[Any]) -> WriteItem:
    index, raw, prefix, error, shape = t
    tag = shape[0]
    if tag == "e":
        if shape[7] == _SAME_AS_RAW:
            shape[7] = raw["params"]
        event = EventIn(_client_back(shape[1]), *shape[2:])
        return WriteItem(index, raw, prefix, event=event, error=error)
    if tag == "t":
        body = raw if shape[6] == _SAME_AS_RAW else shape[6]
        client = _client_back(shape[1])
        transaction = TransactionIn(client, shape[2], shape[3], shape[4], shape[5], body, shape[7])
        return WriteItem(index, raw, prefix, transaction=transaction, error=error)
    event, transaction, profile = shape[1]
    return WriteItem(
        index,
        raw,
        prefix,
        event=event,
        transaction=transaction,
        error=error,
        profile=profile,
        suppressed=tag == "s",
    )


# -- results --
def _result(r: Any) -> Any:
    if type(r) is not WriteResult:
        return ("o", _pickled(r))
    outcomes = [(o.index, o.status, o.uuid, o.quarantine_reason, o.error, o.client_id) for o in r.outcomes]
    s = r.stats
    stats = (
        None
        if s is None
        else (
            s.inserted_by_kind,
            s.overwritten,
            s.quarantined_by_reason,
            s.profiles_created,
            s.quarantine_evicted,
        )
    )
    return ("r", outcomes, r.error, stats)


def _result_back(t: list[Any]) -> Any:
    if t[0] == "o":
        return t[1]
    outcomes = [ItemOutcome(*o) for o in t[1]]
    stats = None if t[3] is None else WriteStats(*t[3])
    return WriteResult(outcomes, t[2], stats)
