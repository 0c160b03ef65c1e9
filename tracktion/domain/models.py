"""Typed structures passed between layers. Plain dataclasses: no web framework, decoder or driver here."""

from __future__ import annotations

import operator
from dataclasses import dataclass, field, fields
from typing import Any, TypeVar

from tracktion.errors import ErrorEntry, TracktionError

C = TypeVar("C", bound=type)


def pickled_as_fields(cls: C) -> C:
    """Pickle instances as `(cls, (field values…))`. Write requests and results cross a process boundary
    (the SQLite writer process); the default for slots dataclasses calls `dataclasses.fields` in Python
    for every object: a 1000-event request took > 9 ms to pickle and 7.5 ms to unpickle, 3.8 and 3.4 ms
    this way."""
    get = operator.attrgetter(*(f.name for f in fields(cls)))

    def reduce(self: Any) -> tuple[Any, tuple[Any, ...]]:
        return (cls, get(self))

    setattr(cls, "__reduce__", reduce)  # noqa: B010 (mypy refuses assigning to a method)
    return cls


# Actions whose definitions are `transaction` (§10) regardless of the endpoint that produced them.
TRANSACTION_ACTIONS = frozenset({"transaction.charge", "product.buy"})


@pickled_as_fields
@dataclass(frozen=True, slots=True)
class ClientRef:
    """The validated identifiers of one event or transaction (§3.2). `uuid` is already lower-cased."""

    id: int | None = None
    custom_id: str | None = None
    email: str | None = None
    uuid: str | None = None

    def is_lone_id(self) -> bool:
        return self.id is not None and self.custom_id is None and self.email is None and self.uuid is None


@pickled_as_fields
@dataclass(frozen=True, slots=True)
class Credential:
    """Who is calling: a workspace key (login token or Basic) or a profile token."""

    kind: str  # "workspace" | "profile"
    workspace_id: int
    key_id: str
    permissions: frozenset[str] = frozenset()
    client_id: int | None = None  # profile tokens only
    uuid: str | None = None
    device_id: str | None = None

    def as_json(self) -> dict[str, Any]:
        return {"kind": self.kind, "keyId": self.key_id}


@pickled_as_fields
@dataclass(slots=True)
class EventIn:
    """One event validated at the edge (§3), waiting for identity resolution (§9)."""

    client: ClientRef
    action: str
    label: str
    time_ms: int  # stored occurrence time; future times already replaced by the receive time
    original_time: str | None  # the `time` string as sent, when sent and accepted (snr-original-time)
    salt: str | None
    params: dict[str, Any]  # caller params with the server-owned keys already dropped
    kind: str  # custom | dedicated | transaction (§10, by action name)
    uuid_field: str = "client.uuid"  # where errors about the uuid point: ai-compat bodies send `clientUUID`


@pickled_as_fields
@dataclass(slots=True)
class TransactionIn:
    """One transaction validated at the edge (§6.2); expanded into events after identity resolution."""

    client: ClientRef
    order_id: str
    time_ms: int  # stored time from `recordedAt` (§3.5 rules)
    original_time: str | None
    salt: str | None
    body: dict[str, Any]  # the validated request; the fan-out reads its fields
    # The reference currency (§6.2: the first valid one), found once by the validator, which checks every
    # other currency against it; the fan-out writes it as the charge's `$currency`.
    currency: str | None = None


@pickled_as_fields
@dataclass(slots=True)
class ProfileIn:
    """One element of `POST /v4/clients/batch` validated at the edge (§9.6), waiting for identity resolution;
    its data is merged by `tracktion.domain.profiles.merge`."""

    client: ClientRef
    native: dict[str, str | None] = field(default_factory=dict)  # None = reset the field
    agreements: dict[str, bool | None] = field(default_factory=dict)  # None = reset that agreement
    attributes: dict[str, Any] = field(default_factory=dict)  # None = delete that attribute
    tags: list[str] | None = None  # None = not sent; [] = clear


@pickled_as_fields
@dataclass(slots=True)
class WriteItem:
    """One event (or later one transaction) of a write request: valid at the edge, or its edge error."""

    index: int | None  # 0-based batch position; None for single-body endpoints
    raw: Any  # the JSON value as sent, kept for the quarantine
    prefix: str = ""  # error-path prefix of this item: "" (single body), "[3]", "items[3]"
    event: EventIn | None = None
    transaction: TransactionIn | None = None
    error: TracktionError | None = None
    profile: ProfileIn | None = None  # `POST /v4/clients/batch` elements
    suppressed: bool = False  # names a suppressed identifier (§15.1): not stored, quarantined without item

    @property
    def client(self) -> ClientRef:
        source = self.event or self.transaction or self.profile
        assert source is not None, "only valid items have a client"
        return source.client


@pickled_as_fields
@dataclass(slots=True)
class WriteRequest:
    """Everything one HTTP write produced, applied by the store in one unit of work."""

    workspace_id: int
    credential: Credential
    request_id: str
    method: str
    endpoint: str
    received_ms: int
    ip: str
    items: list[WriteItem] = field(default_factory=list)
    atomic: bool = True
    # A request-level failure (bad header, malformed body, …): only a quarantine record is written.
    request_error: TracktionError | None = None
    body_excerpt: str | None = None
    body_truncated: bool = False
    lane: str = "live"  # "bulk" (header `X-Tracktion-Lane: bulk`): the writer's lower-priority queue


@pickled_as_fields
@dataclass(slots=True)
class ItemOutcome:
    index: int | None
    status: int  # 202, 400 or 403
    uuid: str | None = None
    quarantine_reason: str | None = None  # set for 202 items sent to the quarantine
    error: TracktionError | None = None
    client_id: int | None = None  # profile items: the upserted profile (§9.6)


@pickled_as_fields
@dataclass(slots=True)
class WriteResult:
    outcomes: list[ItemOutcome]
    # The error that decides the HTTP answer in atomic mode (None = 202).
    error: TracktionError | None = None
    stats: WriteStats | None = None


@pickled_as_fields
@dataclass(slots=True)
class WriteStats:
    """What one request changed, for the metrics (§13.1): counted by the ingest, reported after commit."""

    inserted_by_kind: dict[str, int] = field(default_factory=dict)
    overwritten: int = 0
    quarantined_by_reason: dict[str, int] = field(default_factory=dict)
    profiles_created: int = 0
    quarantine_evicted: int = 0


@dataclass(frozen=True, slots=True)
class Profile:
    workspace_id: int
    client_id: int
    primary_uuid: str
    custom_id: str | None
    email: str | None


@dataclass(slots=True)
class Origin:
    """What an event's §7.2 system params hold beyond its row's columns (`tracktion.domain.system_params`).

    Not frozen, like `EventRow` which holds it: one is built per stored event in the writer, and a frozen
    dataclass's `__init__` cost 1.3-1.5 µs against 0.3-0.4 (measured); nothing hashes or shares one."""

    created_ms: int  # the receive time: `eventCreateTime`
    ip: str
    modified_by: dict[str, Any]  # `modifiedBy`, see `modified_by`
    uuid: str | None  # the `uuid` param when it is not the profile's primary uuid; None when it is
    original_time: str | None  # `snr-original-time`: the `time` as sent, when sent


@dataclass(slots=True)
class EventRow:
    """A stored event (§7) as the storage layer writes and reads it."""

    workspace_id: int
    uuid: str
    client_id: int
    action: str
    label: str
    time_ms: int
    params: dict[str, Any]
    endpoint: str
    kind: str
    seq: int = 0
    # Written: `params` are the caller's and `origin` the rest of §7.2; read back: `params` are all of them
    # (the caller's, then the system params) and `origin` is None.
    origin: Origin | None = None


@dataclass(slots=True)
class QuarantineRecord:
    """§11. Either `item` (single body or batch item) or `body` (request-level failure) is set."""

    id: str
    workspace_id: int
    received_ms: int
    request_id: str
    method: str
    endpoint: str
    item_index: int | None
    reason: str
    status: int
    errors: list[ErrorEntry]
    credential: dict[str, Any]
    item: Any = None
    has_item: bool = False
    body: str | None = None
    body_truncated: bool = False


@dataclass(frozen=True, slots=True)
class Workspace:
    id: int
    guid: str
    name: str
    created_ms: int
    retention_days: int | None = None  # §15.2; None = keep forever


@dataclass(frozen=True, slots=True)
class ApiKey:
    id: str
    workspace_id: int
    kind: str  # workspace | profile
    name: str | None
    permissions: tuple[str, ...]
    created_ms: int
    revoked_ms: int | None = None
