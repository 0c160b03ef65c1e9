"""One write request as one unit of work (docs/api.md §1.4 steps 9–10, §3.6 `params.email`, §5.3–5.4, §7, §11).

`apply_write` runs inside the store's write transaction. It checks each item's identity (reads only) and,
if it passes, writes its profile changes and events before the next item is checked. It returns what to answer,
the quarantine records to write and the definition changes; the store rolls back the request's data
writes when `rollback` is set and always writes the quarantine records.
"""

from __future__ import annotations

import uuid as uuidlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from tracktion.domain import fanout, identity, profiles
from tracktion.domain.definitions import SERVER_OWNED_PARAMS, DefinitionDelta
from tracktion.domain.event_ids import event_uuid
from tracktion.domain.models import (
    Credential,
    EventIn,
    EventRow,
    ItemOutcome,
    Origin,
    Profile,
    ProfileIn,
    QuarantineRecord,
    TransactionIn,
    WriteItem,
    WriteRequest,
    WriteResult,
    WriteStats,
)
from tracktion.domain.ports import WriteTx
from tracktion.domain.system_params import modified_by
from tracktion.errors import ErrorEntry, ProfileMismatch, TracktionError, ValidationFailed, rejected

BATCH_REJECTED = "batch rejected"
UNKNOWN_CLIENT_ID = "unknown clientId"
SUPPRESSED = "suppressed"  # §15.1, see `tracktion.domain.lifecycle`


@dataclass(slots=True)
class Applied:
    result: WriteResult
    quarantine: list[QuarantineRecord] = field(default_factory=list)
    definitions: DefinitionDelta = field(default_factory=DefinitionDelta)
    rollback: bool = False
    stored: list[EventRow] = field(default_factory=list)
    stats: WriteStats = field(default_factory=WriteStats)

    def finish(self) -> Applied:
        """Counts for the metrics, attached to the result: what was written and what was quarantined."""
        for record in self.quarantine:
            reasons = self.stats.quarantined_by_reason
            reasons[record.reason] = reasons.get(record.reason, 0) + 1
        self.result.stats = self.stats
        return self


def apply_write(
    tx: WriteTx, req: WriteRequest, new_id: Callable[[], str] = lambda: str(uuidlib.uuid4())
) -> Applied:
    if req.request_error is not None:
        return _request_level(req, new_id)
    outcomes: list[ItemOutcome] = []
    applied = Applied(WriteResult(outcomes))
    # Items in order, each checked against what the earlier ones wrote (§5.1: a profile created by item 2
    # is found by item 5). Planning every item before writing any would let two items create the same
    # profile. A refused atomic request is undone as a whole by the store (`rollback`).
    for item in req.items:
        plan, outcome = _check_item(tx, req, item)
        outcomes.append(outcome)
        if plan is None:
            continue
        if item.event is not None:
            outcome.uuid = _store_event(tx, req, item.event, plan, applied)
        elif item.profile is not None:
            outcome.uuid, outcome.client_id = _store_profile(tx, req, item.profile, plan, applied)
        else:
            assert item.transaction is not None
            outcome.uuid = _store_transaction(tx, req, item.transaction, plan, applied)
    failed = [o for o in outcomes if o.error is not None]
    if failed and req.atomic:
        return _refuse_atomic(req, outcomes, failed, applied, new_id)
    for item, outcome in zip(req.items, outcomes, strict=True):
        if outcome.error is not None:
            applied.quarantine.append(
                _record(req, item, outcome.error.reason, outcome.error.status, outcome.error.errors, new_id)
            )
        elif outcome.quarantine_reason == UNKNOWN_CLIENT_ID:
            applied.quarantine.append(
                _record(req, item, UNKNOWN_CLIENT_ID, 202, [_unknown_entry(item)], new_id)
            )
        elif outcome.quarantine_reason == SUPPRESSED:
            applied.quarantine.append(_suppressed_record(req, item, new_id))
    return applied.finish()


def _check_item(
    tx: WriteTx, req: WriteRequest, item: WriteItem
) -> tuple[identity.IdentityPlan | None, ItemOutcome]:
    outcome = ItemOutcome(item.index, 202)
    if item.error is not None:
        outcome.status, outcome.error = item.error.status, item.error
        return None, outcome
    if item.suppressed:  # §15.1: accepted (202), not stored, the sender is not told
        outcome.quarantine_reason = SUPPRESSED
        return None, outcome
    try:
        uuid_field = item.event.uuid_field if item.event is not None else "client.uuid"
        plan = identity.plan(tx, req.workspace_id, item.client, req.credential, item.prefix, uuid_field)
    except ProfileMismatch as exc:
        outcome.status, outcome.error = exc.status, exc
        return None, outcome
    if plan is None:
        outcome.quarantine_reason = UNKNOWN_CLIENT_ID
        return None, outcome
    email_error = _params_email_error(item.event, plan, item.prefix) if item.event is not None else None
    if email_error is not None:
        outcome.status, outcome.error = email_error.status, email_error
        return None, outcome
    return plan, outcome


def _params_email_error(event: EventIn, plan: identity.IdentityPlan, prefix: str) -> TracktionError | None:
    """§3.6: `params.email` must equal the profile's e-mail (case-insensitively) when the profile has one."""
    sent = event.params.get("email")
    profile_email = plan.email_after
    if sent is None or profile_email is None:
        return None
    if isinstance(sent, str) and sent.lower() == profile_email.lower():
        return None
    field_path = f"{prefix}.params.email" if prefix else "params.email"
    return ValidationFailed(
        errors=[ErrorEntry(1010, field_path, "Param email does not match profile email", rejected(sent))]
    )


def _resolve_profile(
    tx: WriteTx, req: WriteRequest, plan: identity.IdentityPlan, applied: Applied
) -> tuple[Profile, str]:
    if plan.profile is None:
        applied.stats.profiles_created += 1
    return identity.apply(tx, req.workspace_id, plan, req.received_ms)


def _store_event(
    tx: WriteTx, req: WriteRequest, event: EventIn, plan: identity.IdentityPlan, applied: Applied
) -> str:
    profile, uuid_param = _resolve_profile(tx, req, plan, applied)
    event_id = event_uuid(
        req.workspace_id, profile.client_id, event.action, event.salt, event.time_ms, req.received_ms
    )
    _store_row(
        tx,
        req,
        applied,
        event_id,
        profile.client_id,
        uuid_param,
        profile.primary_uuid,
        event.action,
        event.label,
        event.time_ms,
        event.params,
        event.kind,
        event.original_time,
        event.salt is not None,
    )
    return event_id


def _store_transaction(
    tx: WriteTx, req: WriteRequest, transaction: TransactionIn, plan: identity.IdentityPlan, applied: Applied
) -> str:
    """§6.3: the charge and its products, on one profile, with one time, in this same commit."""
    profile, uuid_param = _resolve_profile(tx, req, plan, applied)
    charge_id = event_uuid(
        req.workspace_id,
        profile.client_id,
        fanout.CHARGE_ACTION,
        transaction.salt,
        transaction.time_ms,
        req.received_ms,
    )
    for derived in fanout.expand(transaction, charge_id):
        params = {k: v for k, v in derived.params.items() if k not in SERVER_OWNED_PARAMS}
        # Products of a salted charge have derived, stable UUIDs: a re-send replaces them by position.
        _store_row(
            tx,
            req,
            applied,
            derived.uuid,
            profile.client_id,
            uuid_param,
            profile.primary_uuid,
            derived.action,
            derived.label,
            transaction.time_ms,
            params,
            "transaction",
            transaction.original_time,
            transaction.salt is not None,
        )
    return charge_id


def _store_profile(
    tx: WriteTx, req: WriteRequest, update: ProfileIn, plan: identity.IdentityPlan, applied: Applied
) -> tuple[str, int]:
    """§9.6: one element upserts one profile: identity as §9.2–§9.4, then its data merged."""
    profile, _ = _resolve_profile(tx, req, plan, applied)
    current = tx.profile_data(profile)
    merged = profiles.merge(current, update)
    if merged != current:
        tx.set_profile_data(profile, merged, req.received_ms)
    return profile.primary_uuid, profile.client_id


def _store_row(
    tx: WriteTx,
    req: WriteRequest,
    applied: Applied,
    event_id: str,
    client_id: int,
    uuid_param: str,
    primary_uuid: str,
    action: str,
    label: str,
    time_ms: int,
    params: dict[str, Any],
    kind: str,
    original_time: str | None,
    salted: bool,
) -> None:
    """Upsert the row: the caller's params and what the §7.2 system params are rebuilt from when read
    (`tracktion.domain.system_params`); server-owned caller keys were dropped at the edge."""
    uuid = None if uuid_param == primary_uuid else uuid_param
    origin = Origin(req.received_ms, req.ip, _modified_by(req.credential), uuid, original_time)
    row = EventRow(
        req.workspace_id, event_id, client_id, action, label, time_ms, params, req.endpoint, kind, 0, origin
    )
    inserted = tx.upsert_event(row, salted=salted)
    applied.definitions.observe(action, kind, params, req.received_ms, inserted)
    if inserted:
        applied.stats.inserted_by_kind[kind] = applied.stats.inserted_by_kind.get(kind, 0) + 1
    else:
        applied.stats.overwritten += 1
    applied.stored.append(row)


# One value per request (or per run of requests) instead of one per stored row: the last answer is kept.
# A tuple is swapped in whole, so a reader on another thread never sees half of an update.
_last_modified_by: tuple[Credential | None, dict[str, Any]] = (None, {})


def _modified_by(cred: Credential) -> dict[str, Any]:
    """§7.2 `modifiedBy`, shared by the rows of a request (never changed in place)."""
    global _last_modified_by
    last = _last_modified_by
    if last[0] is cred:
        return last[1]
    value = modified_by(cred)
    _last_modified_by = (cred, value)
    return value


def _refuse_atomic(
    req: WriteRequest,
    outcomes: list[ItemOutcome],
    failed: list[ItemOutcome],
    applied: Applied,
    new_id: Callable[[], str],
) -> Applied:
    """§5.3: nothing is stored; every item goes to the quarantine so the request can be recovered."""
    # What the valid items wrote is rolled back by the store: none of it is reported or merged.
    applied.definitions = DefinitionDelta()
    applied.stored.clear()
    applied.stats = WriteStats()
    for outcome in outcomes:
        outcome.uuid = outcome.client_id = None
    any_400 = any(o.status == 400 for o in failed)
    entries = [e for o in failed if o.error is not None for e in o.error.errors]
    error: TracktionError = ValidationFailed(errors=entries) if any_400 else ProfileMismatch(errors=entries)
    if len(req.items) == 1 and req.items[0].index is None:
        error = failed[0].error or error  # a single body answers with its own error class
    status = error.status
    for item, outcome in zip(req.items, outcomes, strict=True):
        if outcome.error is not None:
            applied.quarantine.append(
                _record(req, item, outcome.error.reason, outcome.error.status, outcome.error.errors, new_id)
            )
        elif outcome.quarantine_reason == UNKNOWN_CLIENT_ID:
            applied.quarantine.append(
                _record(req, item, UNKNOWN_CLIENT_ID, 202, [_unknown_entry(item)], new_id)
            )
        elif outcome.quarantine_reason == SUPPRESSED:
            applied.quarantine.append(_suppressed_record(req, item, new_id))
        else:
            note = ErrorEntry(entries[0].code, item.prefix, "Batch rejected because other items failed")
            applied.quarantine.append(_record(req, item, BATCH_REJECTED, status, [note], new_id))
    applied.result.error = error
    applied.rollback = True
    return applied.finish()


def _unknown_entry(item: WriteItem) -> ErrorEntry:
    client_id = item.client.id if item.error is None else None
    name = "clientId" if item.profile is not None else "client.id"  # a profile element names it at its top
    field_path = f"{item.prefix}.{name}" if item.prefix else name
    return ErrorEntry(3001, field_path, "Profile not found (unknown clientId)", rejected(client_id))


def _record(
    req: WriteRequest,
    item: WriteItem,
    reason: str,
    status: int,
    errors: list[ErrorEntry],
    new_id: Callable[[], str],
) -> QuarantineRecord:
    return QuarantineRecord(
        id=new_id(),
        workspace_id=req.workspace_id,
        received_ms=req.received_ms,
        request_id=req.request_id,
        method=req.method,
        endpoint=req.endpoint,
        item_index=item.index,
        reason=reason,
        status=status,
        errors=list(errors),
        credential=req.credential.as_json(),
        item=item.raw,
        has_item=True,
    )


def _suppressed_record(req: WriteRequest, item: WriteItem, new_id: Callable[[], str]) -> QuarantineRecord:
    """§15.1: the record says that something was dropped and where, never what: no item, no body, and an
    error entry without the rejected value (it would be the suppressed identifier)."""
    record = _record(
        req, item, SUPPRESSED, 202, [ErrorEntry(3001, item.prefix, "Identifier suppressed")], new_id
    )
    record.item, record.has_item = None, False
    return record


def _request_level(req: WriteRequest, new_id: Callable[[], str]) -> Applied:
    error = req.request_error
    assert error is not None
    record = QuarantineRecord(
        id=new_id(),
        workspace_id=req.workspace_id,
        received_ms=req.received_ms,
        request_id=req.request_id,
        method=req.method,
        endpoint=req.endpoint,
        item_index=None,
        reason=error.reason,
        status=error.status,
        errors=list(error.errors),
        credential=req.credential.as_json(),
        body=req.body_excerpt,
        body_truncated=req.body_truncated,
    )
    return Applied(WriteResult([], error=error), quarantine=[record]).finish()


__all__ = ["Applied", "apply_write"]
