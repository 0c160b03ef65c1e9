"""The ports: the one narrow storage interface the domain and the HTTP layer are written against. SQLite and
PostgreSQL (`tracktion.storage`) implement it; nothing above them sees SQL, and nothing here imports them.

Two halves:
- `WriteTx`: what the domain's unit of work (`tracktion.domain.ingest`) may do inside one write
  transaction. The store runs the domain function in its writer, so identity resolution, event upserts,
  definitions and quarantine records of one request commit together (or not at all).
- `Store`: the async API the HTTP layer and the CLI call.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar

from tracktion.domain.definitions import Definition, DefinitionDelta
from tracktion.domain.lifecycle import Erasure, Suppression
from tracktion.domain.models import (
    ApiKey,
    EventRow,
    Profile,
    QuarantineRecord,
    Workspace,
    WriteRequest,
    WriteResult,
)

T = TypeVar("T")


class WriteTx(Protocol):
    def profile_by_id(self, workspace_id: int, client_id: int) -> Profile | None: ...
    def profile_by_custom_id(self, workspace_id: int, custom_id: str) -> Profile | None: ...
    def profile_by_email(self, workspace_id: int, email: str) -> Profile | None: ...
    def profile_by_uuid(self, workspace_id: int, uuid: str) -> Profile | None: ...
    def uuid_taken(self, workspace_id: int, uuid: str) -> bool: ...
    def create_profile(
        self, workspace_id: int, *, uuid: str, custom_id: str | None, email: str | None, now_ms: int
    ) -> Profile: ...
    def attach_uuid(self, profile: Profile, uuid: str, now_ms: int) -> None: ...
    def set_custom_id(self, profile: Profile, custom_id: str, now_ms: int) -> Profile: ...
    def set_email(self, profile: Profile, email: str, now_ms: int) -> Profile: ...
    def profile_data(self, profile: Profile) -> dict[str, Any]:
        """The profile's §9.6 data (`tracktion.domain.profiles`), `{}` when none; on PostgreSQL the profile row
        stays locked until commit, so a read-merge-write cannot lose a concurrent one."""
        ...

    def set_profile_data(self, profile: Profile, data: dict[str, Any], now_ms: int) -> None: ...
    def upsert_event(self, row: EventRow, salted: bool) -> bool:
        """Insert, or (salted only) replace label+params of the event with that UUID. True = inserted."""
        ...

    def merge_definitions(self, workspace_id: int, delta: DefinitionDelta) -> None: ...
    def add_quarantine(self, records: list[QuarantineRecord]) -> None: ...


@dataclass(frozen=True, slots=True)
class EventQuery:
    workspace_id: int
    client_ids: tuple[int, ...] | None = None  # None = any profile; () = no match
    actions: tuple[str, ...] = ()
    from_ms: int | None = None
    to_ms: int | None = None
    endpoint: str | None = None
    limit: int = 100
    # Keyset cursor: strictly after (time_ms, seq) in the (time desc, seq desc) order; with order "seq"
    # (newest arrivals first, docs/api.md §13.2) only its seq counts.
    after: tuple[int, int] | None = None
    order: str = "time"  # "time": (time desc, seq desc); "seq": seq desc


@dataclass(frozen=True, slots=True)
class QuarantineQuery:
    workspace_id: int
    reason: str | None = None
    endpoint: str | None = None
    from_ms: int | None = None
    to_ms: int | None = None
    limit: int = 100
    after: tuple[int, int] | None = None  # (received_ms, seq), newest first


@dataclass(frozen=True, slots=True)
class StatsQuery:
    """Counters of docs/api.md §13.6a: `by` action | kind (stored events by receive time) | reason
    (quarantine records); buckets of `width_ms` whose start lies in [`first_ms`, `last_ms`]."""

    workspace_id: int
    by: str
    width_ms: int
    first_ms: int
    last_ms: int
    top: int = 50  # keys past the `top` largest totals may come summed under `stats.OTHER`


@dataclass(frozen=True, slots=True)
class ProfileQuery:
    """A page of the workspace's profiles, newest first (docs/api.md §13.6b); `prefix` matches the start of
    the customId, the e-mail (case-insensitive) or a uuid. `after`: the clientId of the last profile of the
    previous page (newest first = clientId descending: they are given in creation order)."""

    workspace_id: int
    prefix: str | None = None
    limit: int = 100
    after: int | None = None


@dataclass(frozen=True, slots=True)
class StoredEvent:
    """An event as read back: the row plus its profile's current identifiers (§8.1)."""

    row: EventRow
    custom_id: str | None
    email: str | None


# One event of a profile's list (§8.1) as the hot read path gets it: (uuid, time_ms, action, label, params)
# with `params` the JSON text as stored (`encode_json` / `json_text`), not decoded, so the response can embed
# it as is (`tracktion.http.timeline`). A plain tuple: building a NamedTuple per row cost more than the rest
# of the row's conversion.
TimelineEvent = tuple[str, int, str, str, bytes | str]


@dataclass(frozen=True, slots=True)
class ProfileDetails:
    """A profile as §9.5 returns it: every uuid, the primary one first."""

    client_id: int
    primary_uuid: str
    uuids: list[str]
    custom_id: str | None
    email: str | None
    created_ms: int
    updated_ms: int
    data: dict[str, Any] = field(default_factory=dict)  # §9.6 profile data, see `tracktion.domain.profiles`

    @classmethod
    def from_rows(
        cls, row: tuple[Any, ...], uuids: list[tuple[str]], decode: Callable[[Any], dict[str, Any]]
    ) -> ProfileDetails:
        """From the backends' two reads: the profile row (client_id, primary uuid, customId, e-mail, created,
        updated, data) and its uuids in the order they were added."""
        cid, primary, custom_id, email, created, updated, data = row
        others = [u for (u,) in uuids if u != primary]
        return cls(
            cid,
            primary,
            [primary, *others],
            custom_id,
            email,
            created,
            updated,
            decode(data) if data is not None else {},
        )


class Store(Protocol):
    # The relay's destinations, cursors, failures and replays (§14) are `tracktion.domain.relay.RelayStore`;
    # every backend implements both (`storage.relay_store`).
    async def start(self) -> None: ...
    async def close(self) -> None: ...
    async def ready(self) -> bool: ...

    # the write path
    async def write(self, request: WriteRequest) -> WriteResult: ...
    async def transact(self, work: Callable[[WriteTx], T]) -> T: ...

    # reads
    async def events(self, query: EventQuery) -> list[StoredEvent]: ...
    async def profile_events(self, query: EventQuery) -> tuple[Profile, list[TimelineEvent]] | None:
        """The profile `query.client_ids` names (exactly one) and its events as `events` would select them, in
        one read; None when there is no such profile. For `GET /v4/events/by-client/{clientId}`."""
        ...

    async def event(self, workspace_id: int, uuid: str) -> StoredEvent | None: ...
    async def profile(self, workspace_id: int, client_id: int) -> Profile | None: ...
    async def profile_details(self, workspace_id: int, client_id: int) -> ProfileDetails | None: ...
    async def find_client_ids(
        self,
        workspace_id: int,
        *,
        client_id: int | None = None,
        uuid: str | None = None,
        custom_id: str | None = None,
        email: str | None = None,
    ) -> tuple[int, ...]: ...
    async def definitions(
        self, workspace_id: int, kind: str | None = None, prefix: str | None = None, action: str | None = None
    ) -> list[Definition]:
        """The workspace's definitions (docs/api.md §10) in bytewise action order, filtered by kind, action
        prefix, exact action."""
        ...

    async def quarantine(self, query: QuarantineQuery) -> list[tuple[int, QuarantineRecord]]: ...
    async def stats(self, query: StatsQuery) -> list[tuple[str, int, int]]:
        """(key, bucket start ms, count) of every non-empty bucket the query covers (§13.6a): one row per
        (key, bucket), each key's rows in bucket order. When more than `top` keys have counts, those past the
        `top` largest totals come summed under the key `stats.OTHER`."""
        ...

    async def profiles(self, query: ProfileQuery) -> list[ProfileDetails]:
        """A page of profiles, newest first (docs/api.md §13.6b)."""
        ...

    async def quarantine_record(self, workspace_id: int, record_id: str) -> QuarantineRecord | None: ...
    async def events_since(self, workspace_id: int, after_seq: int, limit: int) -> list[StoredEvent]: ...
    async def quarantine_since(
        self, workspace_id: int, after_seq: int, limit: int
    ) -> list[tuple[int, QuarantineRecord]]: ...
    async def latest_seqs(self) -> tuple[int, int]: ...
    async def delete_quarantine(self, workspace_id: int, record_id: str) -> bool: ...

    # workspaces and keys (§2.1, §13.7)
    async def create_workspace(self, name: str, now_ms: int) -> Workspace: ...
    async def create_first_workspace(
        self, name: str, now_ms: int, make_key: Callable[[int], tuple[ApiKey, str]]
    ) -> tuple[Workspace, ApiKey] | None:
        """Atomically: only when no workspace exists, create one and the key `make_key(workspace_id)`
        returns (with its secret hash). None when a workspace already existed."""
        ...

    async def workspaces(self) -> list[Workspace]: ...
    async def workspace(self, ident: str | int) -> Workspace | None: ...
    async def create_api_key(self, key: ApiKey, secret_hash: str) -> None: ...
    async def api_keys(self, workspace_id: int) -> list[ApiKey]: ...
    async def api_key(self, key_id: str) -> ApiKey | None: ...
    async def api_key_by_hash(self, secret_hash: str) -> ApiKey | None: ...
    async def revoke_api_key(self, key_id: str, now_ms: int) -> bool: ...

    # data lifecycle (docs/api.md §15; `tracktion.domain.lifecycle`)
    async def erase(
        self, workspace_id: int, by: str, value: Any, *, suppress: bool, now_ms: int, erasure_id: str
    ) -> Erasure | None:
        """Record the erasure of the profile `by` (clientId, customId, email, uuid) names and delete its
        profile rows in the same commit (its events vanish from every read); None when none has it."""
        ...

    async def erasure(self, workspace_id: int, erasure_id: str) -> Erasure | None: ...
    async def erasures(self, workspace_id: int) -> list[Erasure]: ...
    async def erasure_step(self, chunk_rows: int, now_ms: int) -> bool: ...
    async def retention_step(self, chunk_rows: int, now_ms: int, quarantine_retention_days: int) -> int: ...
    async def suppression_digests(self, workspace_id: int) -> tuple[bytes | None, frozenset[str]]: ...
    async def suppressions(self, workspace_id: int) -> list[Suppression]: ...
    async def delete_suppression(self, workspace_id: int, suppression_id: str) -> bool: ...
    async def set_retention(self, workspace_id: int, days: int | None) -> Workspace | None: ...
