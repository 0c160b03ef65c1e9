"""The §7.2 system params of a stored event (docs/api.md §7.2), built when an event is read, not stored.

Four of them repeat the row's own columns (`eventUUID`, `time`, `clientId`, `businessProfileId`) and the
others are the same for a whole request (`eventCreateTime`, `ip`, `modifiedBy`) or for a whole profile
(`uuid`, usually the profile's primary uuid). Writing them into every row's params cost ~400 of the 477
bytes of a typical row (issue 23), written twice (WAL, checkpoint) and fsync'd. A row keeps its caller's
params and an `Origin`; reads put the §7.2 params back, after the caller's, in the order they were always
written (so every answer stays byte for byte what it was).
"""

from __future__ import annotations

from typing import Any

from tracktion.domain.models import Credential, Origin
from tracktion.domain.timefmt import format_ms


def modified_by(cred: Credential) -> dict[str, Any]:
    """§7.2 `modifiedBy` of a write made with `cred`."""
    return {
        "businessProfileApiKey": cred.key_id if cred.kind == "workspace" else None,
        "clientApiKey": cred.key_id if cred.kind == "profile" else None,
        "clientId": cred.client_id if cred.kind == "profile" else None,
        "userId": None,
    }


def system_params(
    event_uuid: str,
    time_ms: int,
    client_id: int,
    workspace_id: int,
    primary_uuid: str,
    created_ms: int,
    ip: str,
    modified: dict[str, Any],
    uuid: str | None,
    original_time: str | None,
) -> dict[str, Any]:
    """The §7.2 params in the order they follow the caller's params (the order the writer always used)."""
    params: dict[str, Any] = {
        "eventUUID": event_uuid,
        "time": time_ms,
        "eventCreateTime": format_ms(created_ms),
        "clientId": client_id,
        "uuid": primary_uuid if uuid is None else uuid,
        "businessProfileId": workspace_id,
        "ip": ip,
        "modifiedBy": modified,
    }
    if original_time is not None:
        params["snr-original-time"] = original_time
    return params


__all__ = ["Origin", "modified_by", "system_params"]
