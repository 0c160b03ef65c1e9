"""The relay's records (docs/api.md §14) and the part of the storage port that keeps them.

A destination's progress is a durable cursor over the workspace's committed writes (§7 `seq`). The store
is the outbox: the relay reads committed events, delivers them and moves the cursor in the same database,
fenced by the destination's lease so that only the node delivering a destination can move it (§14.4).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, NamedTuple, Protocol

from tracktion.domain.ports import StoredEvent

# §14.2's four states. `paused` is the user's; the other three are written by the delivering node.
RUNNING, BACKING_OFF, PAUSED, FAILING = "running", "backing-off", "paused", "failing"


@dataclass(frozen=True, slots=True)
class RelayEvent(StoredEvent):
    """A stored event as the relay reads it: also its profile's primary uuid (the `synerise` type names the
    profile on the target by it, §14.1)."""

    primary_uuid: str = ""


class RelayRow(NamedTuple):
    """A write as the relay's live loop reads it: its columns as they are, the params still their stored
    JSON text, decoded only for a destination that needs them (`relay.feed.Item`). Building a `RelayEvent`
    (a frozen dataclass in a frozen dataclass, params decoded) cost ~13 µs of CPU per event, measured; a
    webhook or NATS destination sends the params as stored."""

    seq: int
    workspace_id: int
    uuid: str
    client_id: int
    action: str
    label: str
    time_ms: int
    params: str | bytes  # JSON text
    endpoint: str
    kind: str
    custom_id: str | None
    email: str | None
    primary_uuid: str


@dataclass(frozen=True, slots=True)
class Destination:
    workspace_id: int
    id: str
    name: str
    type: str
    config: dict[str, Any]  # secrets included: never answered or logged as they are (§14.1)
    filter: dict[str, Any]  # {"actions"?: [...], "kinds"?: [...]}; {} = everything
    paused: bool
    created_ms: int
    cursor: int = 0  # every write of the workspace up to this seq is delivered (or recorded as failed)
    delivered: int = 0
    failed: int = 0
    state: str = RUNNING  # as the delivering node last wrote it
    next_attempt_ms: int | None = None
    last_success_ms: int | None = None
    last_error: dict[str, Any] | None = None  # {"at": ms, "status": int | None, "message": str}
    lease_owner: str | None = None
    lease_until_ms: int | None = None
    version: int = 1  # bumped by every change of config, filter or pause, so a worker reloads

    @property
    def public_state(self) -> str:
        return PAUSED if self.paused else self.state


@dataclass(frozen=True, slots=True)
class Failure:
    """A permanently rejected event (§14.2): one record per destination and event, updated when it fails
    again."""

    id: str
    event_uuid: str
    seq: int
    failed_ms: int
    attempts: int
    status: int | None
    response: str


@dataclass(frozen=True, slots=True)
class Replay:
    workspace_id: int
    destination_id: str
    id: str
    from_ms: int | None
    to_ms: int | None
    actions: tuple[str, ...]
    only_failed: bool
    upto: int  # the highest seq it covers: the cursor when it was asked for
    created_ms: int
    state: str = "pending"  # pending | running | done
    position: int = 0  # seq scanned so far
    matched: int = 0
    delivered: int = 0
    failed: int = 0


@dataclass(frozen=True, slots=True)
class ErasureNotice:
    """A destination is to be told that a person was erased (§15.1). It carries their identifiers in clear
    (what the destination needs to find them): the only copy left once the erasure is done, deleted when
    the destination acknowledged it (or when the destination is deleted)."""

    workspace_id: int
    destination_id: str
    erasure_id: str
    identifiers: dict[str, Any]  # clientId, customId, email, uuid (primary), uuids; None when absent
    created_ms: int

    def public_identifiers(self) -> dict[str, Any]:
        """What destinations are sent: every key, null when the profile had none."""
        i = self.identifiers
        uuids = list(i.get("uuids") or [])
        return {
            "clientId": i.get("clientId"),
            "customId": i.get("customId"),
            "email": i.get("email"),
            "uuid": i.get("uuid") or (uuids[0] if uuids else None),
            "uuids": uuids,
        }


@dataclass(slots=True)
class Progress:
    """What one step of delivery changes on the destination row, in one fenced statement."""

    cursor: int | None = None  # None: unchanged
    delivered: int = 0
    failed: int = 0
    state: str | None = None
    next_attempt_ms: int | None = None
    last_success_ms: int | None = None
    last_error: dict[str, Any] | None = None
    clear_error: bool = False
    failures: list[Failure] = field(default_factory=list)
    resolved: list[str] = field(default_factory=list)  # event uuids whose failure records are delivered now


class RelayStore(Protocol):
    async def create_destination(self, destination: Destination) -> bool:
        """False when the workspace already has a destination of that name."""
        ...

    async def destinations(self, workspace_id: int | None = None) -> list[Destination]:
        """The workspace's destinations by creation, or every workspace's (None: the relay's scan)."""
        ...

    async def destination(self, workspace_id: int, destination_id: str) -> Destination | None: ...
    async def update_destination(self, destination: Destination) -> bool | None:
        """Name, config, filter, paused as given (version bumped). None: no such destination; False: name
        taken."""
        ...

    async def delete_destination(self, workspace_id: int, destination_id: str) -> bool: ...
    async def take_lease(
        self, workspace_id: int, destination_id: str, owner: str, now_ms: int, until_ms: int
    ) -> bool:
        """Take or renew the lease: only when free, expired, or already this owner's."""
        ...

    async def release_lease(self, workspace_id: int, destination_id: str, owner: str) -> None: ...
    async def record_progress(
        self, workspace_id: int, destination_id: str, owner: str, progress: Progress
    ) -> bool:
        """Apply `progress` only while `owner` holds the lease; False when it does not (stop delivering)."""
        ...

    async def relay_horizon(self) -> int:
        """The highest event seq at or below which every write is final (committed or never will be)."""
        ...

    async def relay_events(
        self, workspace_id: int, after_seq: int, upto_seq: int, limit: int
    ) -> list[RelayEvent]:
        """The workspace's writes in (after_seq, upto_seq], by seq."""
        ...

    async def relay_rows(
        self, workspace_id: int, after_seq: int, upto_seq: int, limit: int
    ) -> list[RelayRow]:
        """`relay_events`, as `RelayRow`s."""
        ...

    async def relay_lag(self, workspace_id: int, after_seq: int) -> tuple[int, int | None, int | None]:
        """(writes after `after_seq`, seq of the oldest and of the newest of them, or None)."""
        ...

    async def failures(
        self, workspace_id: int, destination_id: str, after_seq: int, limit: int
    ) -> list[Failure]: ...
    async def failed_events(
        self, workspace_id: int, destination_id: str, after_seq: int, upto_seq: int, limit: int
    ) -> list[RelayEvent]:
        """The stored events that have a failure record, by seq (a replay of failures only)."""
        ...

    async def erasure_notices(
        self, workspace_id: int, destination_id: str, limit: int
    ) -> list[ErasureNotice]:
        """The destination's notices not yet acknowledged, oldest first (§15.1)."""
        ...

    async def ack_erasure_notice(
        self, workspace_id: int, destination_id: str, erasure_id: str, owner: str, progress: Progress
    ) -> bool:
        """Delete the notice (it was acknowledged, or refused for good) and apply `progress`, only while
        `owner` holds the lease; False when it does not."""
        ...

    async def create_replay(self, replay: Replay) -> None: ...
    async def replay(self, workspace_id: int, destination_id: str, replay_id: str) -> Replay | None: ...
    async def open_replays(self, workspace_id: int, destination_id: str) -> list[Replay]: ...
    async def update_replay(self, replay: Replay) -> None: ...


def relay_store(store: object) -> RelayStore:
    """Every `Store` is also a `RelayStore` (the SQL backends share `storage.relay_store`); the port keeps them
    apart only so that `ports` need not know the relay."""
    return store  # type: ignore[return-value]
