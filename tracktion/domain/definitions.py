"""Event definitions (contract §10): what one unit of work adds to the per-action catalogue.

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


def json_type(value: Any) -> str:
    """The JSON type name §10 lists. `integer` = a number written without fraction (decoded as int)."""
    if value is None:
        return "null"
    if value is True or value is False:
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


@dataclass(slots=True)
class ActionDelta:
    kind: str
    inserted: int = 0
    first_ms: int = 0  # receive time of the first insert in this unit (0 = only overwrites)
    last_ms: int = 0
    # param name → (types seen, first seen ms, last seen ms)
    params: dict[str, tuple[set[str], int, int]] = field(default_factory=dict)


@dataclass(slots=True)
class DefinitionDelta:
    actions: dict[str, ActionDelta] = field(default_factory=dict)

    def observe(self, action: str, kind: str, params: dict[str, Any], now_ms: int, inserted: bool) -> None:
        delta = self.actions.get(action)
        if delta is None:
            delta = self.actions[action] = ActionDelta(kind=kind)
        if inserted:
            delta.inserted += 1
            if not delta.first_ms:
                delta.first_ms = now_ms
        delta.last_ms = max(delta.last_ms, now_ms)
        seen = delta.params
        for name, value in params.items():
            if name in SYSTEM_PARAMS:
                continue
            entry = seen.get(name)
            if entry is None:
                seen[name] = ({json_type(value)}, now_ms, now_ms)
            else:
                entry[0].add(json_type(value))
                if now_ms > entry[2]:
                    seen[name] = (entry[0], entry[1], now_ms)

    def merge(self, other: DefinitionDelta) -> None:
        for action, d in other.actions.items():
            mine = self.actions.get(action)
            if mine is None:
                self.actions[action] = d
                continue
            mine.inserted += d.inserted
            if d.first_ms and not mine.first_ms:
                mine.first_ms = d.first_ms
            mine.last_ms = max(mine.last_ms, d.last_ms)
            for name, (types, first, last) in d.params.items():
                cur = mine.params.get(name)
                if cur is None:
                    mine.params[name] = (set(types), first, last)
                else:
                    cur[0].update(types)
                    mine.params[name] = (cur[0], min(cur[1], first), max(cur[2], last))

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
