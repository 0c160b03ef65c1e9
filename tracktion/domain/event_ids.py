"""Event UUIDs (contract §3.7, §6.3) and generated profile uuids (§9.3)."""

from __future__ import annotations

import uuid

# uuid5(NAMESPACE_URL, "tracktion:event"), spelled out so a typo in the derivation cannot go unnoticed.
EVENT_NAMESPACE = uuid.UUID("7b0fe651-8b45-5c83-84be-1b49d1448e59")


def salted_event_uuid(workspace_id: int, client_id: int, action: str, salt: str, time_ms: int) -> str:
    """Same salt, action, profile and occurrence time → same UUID, so a re-send overwrites in place."""
    return str(uuid.uuid5(EVENT_NAMESPACE, f"{workspace_id}|{client_id}|{action}|{salt}|{time_ms}"))


def random_event_uuid() -> str:
    return str(uuid.uuid4())


def event_uuid(workspace_id: int, client_id: int, action: str, salt: str | None, time_ms: int) -> str:
    if salt is None:
        return random_event_uuid()
    return salted_event_uuid(workspace_id, client_id, action, salt, time_ms)


def derived_profile_uuid(identifier: str) -> str:
    """Synerise's recommended v5 scheme: uuid5(NAMESPACE_URL, e-mail or customId as sent)."""
    return str(uuid.uuid5(uuid.NAMESPACE_URL, identifier))
