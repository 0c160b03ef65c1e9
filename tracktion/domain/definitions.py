"""Event definitions (docs/api.md §10): what one unit of work adds to the per-action catalogue, and the
catalogue's entries as a store reads them back (`Definition`).

The ingest collects a `DefinitionDelta` while it stores events; the store merges it in the same commit.
Collecting first means a 1000-event batch costs one upsert per action and param, not one per event.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

# §7.2 system params: never listed as definition params.
SYSTEM_PARAMS = frozenset(
    {
        "eventUUID",
        "time",
        "eventCreateTime",
        "clientId",
        "uuid",
        "businessProfileId",
        "ip",
        "modifiedBy",
        "snr-original-time",
    }
)

# §3.6: caller values for these keys are dropped (`apiKey` is never stored); the server injects its own.
SERVER_OWNED_PARAMS = SYSTEM_PARAMS | {"apiKey"}


_TYPE_NAMES: dict[type, str] = {
    str: "string",
    int: "integer",
    float: "number",
    bool: "boolean",
    list: "array",
    dict: "object",
    type(None): "null",
}


def json_type(value: Any) -> str:
    """The JSON type name §10 lists. `integer` = a number written without fraction (decoded as int)."""
    name = _TYPE_NAMES.get(type(value))  # decoded JSON holds exactly these types: one dict lookup
    if name is not None:
        return name
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int):
        return "integer"
    if isinstance(value, float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"


# What a delta keeps per param: [types seen, first seen ms, last seen ms]. A list, updated in place: the
# writer observes every stored event, so this is on the hot path.
ParamSeen = list[Any]


@dataclass(slots=True)
class ActionDelta:
    kind: str
    inserted: int = 0
    first_ms: int = 0  # receive time of the first insert in this unit (0 = only overwrites)
    last_ms: int = 0
    params: dict[str, ParamSeen] = field(default_factory=dict)
    # The param names and value types last observed, at `shape_ms`: the events of one request (one receive
    # time) mostly share them, and observing the same shape at the same time again changes nothing.
    shape: tuple[tuple[str, ...], tuple[type, ...]] | None = None
    shape_ms: int = 0


@dataclass(slots=True)
class DefinitionDelta:
    actions: dict[str, ActionDelta] = field(default_factory=dict)

    def observe(self, action: str, kind: str, params: dict[str, Any], now_ms: int, inserted: bool) -> None:
        """One stored event. `params` are the caller's (system params are never definition params)."""
        delta = self.actions.get(action)
        if delta is None:
            delta = self.actions[action] = ActionDelta(kind=kind)
        if inserted:
            delta.inserted += 1
            if not delta.first_ms:
                delta.first_ms = now_ms
        if now_ms > delta.last_ms:
            delta.last_ms = now_ms
        # Entries only ever widen (types added, first/last moved outwards), so a shape already observed at
        # this time is in them: the loop below would add nothing. Batches of one shape: 1.48 -> 0.93 µs per
        # event in-process (py-spy had put observe at 8% of the writer process's samples).
        shape = (tuple(params), tuple(map(type, params.values())))
        if shape == delta.shape and now_ms == delta.shape_ms:
            return
        delta.shape = shape
        delta.shape_ms = now_ms
        seen = delta.params
        names = _TYPE_NAMES
        for name, value in params.items():
            type_name = names.get(type(value)) or json_type(value)
            entry = seen.get(name)
            if entry is None:
                if name not in SYSTEM_PARAMS:
                    seen[name] = [{type_name}, now_ms, now_ms]
                continue
            entry[0].add(type_name)
            if now_ms > entry[2]:
                entry[2] = now_ms
            elif now_ms < entry[1]:
                entry[1] = now_ms

    def merge(self, other: DefinitionDelta) -> None:
        for action, d in other.actions.items():
            mine = self.actions.get(action)
            if mine is None:
                self.actions[action] = d
                continue
            mine.inserted += d.inserted
            if d.first_ms and not mine.first_ms:
                mine.first_ms = d.first_ms
            if d.last_ms > mine.last_ms:
                mine.last_ms = d.last_ms
            params = mine.params
            for name, (types, first, last) in d.params.items():
                cur = params.get(name)
                if cur is None:
                    params[name] = [set(types), first, last]
                    continue
                cur[0] |= types
                if first < cur[1]:
                    cur[1] = first
                if last > cur[2]:
                    cur[2] = last

    def __bool__(self) -> bool:
        return bool(self.actions)


class PendingDefinitions:
    """Definition changes of one commit group, kept per writer job until the job is released (a job that
    rolls back leaves nothing), and taken once at commit: one upsert per action and param per commit."""

    def __init__(self) -> None:
        self._job: dict[int, DefinitionDelta] = {}
        self._group: dict[int, DefinitionDelta] = {}

    def add(self, workspace_id: int, delta: DefinitionDelta) -> None:
        mine = self._job.get(workspace_id)
        if mine is None:
            self._job[workspace_id] = delta
        else:
            mine.merge(delta)

    def release_job(self) -> None:
        for workspace_id, delta in self._job.items():
            group = self._group.get(workspace_id)
            if group is None:
                self._group[workspace_id] = delta
            else:
                group.merge(delta)
        self._job = {}

    def discard_job(self) -> None:
        self._job = {}

    def take(self) -> dict[int, DefinitionDelta]:
        """The group's changes by workspace, emptied."""
        group, self._group = self._group, {}
        return group


# -- as read back ----------------------------------------------------------------------------------------
@dataclass(frozen=True, slots=True)
class DefinitionParam:
    """One param of an action (docs/api.md §10): the JSON types seen, sorted, and when (receive times)."""

    name: str
    types: tuple[str, ...]
    first_ms: int
    last_ms: int


@dataclass(frozen=True, slots=True)
class Definition:
    """An action's entry in the catalogue (docs/api.md §10), its params in bytewise name order. Plain data:
    the JSON shape is `tracktion.schemas.render.definition_json`'s."""

    action: str
    kind: str
    first_ms: int
    last_ms: int
    event_count: int
    params: tuple[DefinitionParam, ...] = ()
