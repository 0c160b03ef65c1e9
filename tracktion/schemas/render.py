"""The public JSON shapes of what tracktion answers, written once for the HTTP API and the CLI alike: events
(docs/api.md §8.1, §13.2), workspaces and API keys (§13.7) and event definitions (§10, §13.3).

The HTTP handlers, the live stream, `tracktion export` and the CLI's `--json` output all call these, so a
shape cannot drift between them. Only camelCase JSON is built here; nothing reads a request or a store."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from tracktion.domain.definitions import Definition
from tracktion.domain.lifecycle import Erasure, Suppression
from tracktion.domain.models import ApiKey, Workspace
from tracktion.domain.ports import StoredEvent
from tracktion.domain.timefmt import format_ms


def event_json(stored: StoredEvent, extended: bool = False) -> dict[str, Any]:
    """§8.1 shape; `extended` adds `endpoint`, `kind`, `seq`, `receivedAt` (§13.2)."""
    row = stored.row
    out: dict[str, Any] = {
        "uuid": row.uuid,
        "time": format_ms(row.time_ms),
        "action": row.action,
        "label": row.label,
        "client": {
            "id": row.client_id,
            "uuid": row.params.get("uuid"),
            "customId": stored.custom_id,
            "email": stored.email,
        },
        "params": row.params,
    }
    if extended:
        out["endpoint"] = row.endpoint
        out["kind"] = row.kind
        out["seq"] = row.seq
        # The receive time of the latest write (§7.2 `eventCreateTime`, stored with every row).
        out["receivedAt"] = row.params.get("eventCreateTime") or format_ms(row.time_ms)
    return out


def workspace_json(w: Workspace) -> dict[str, Any]:
    """§13.7: a workspace as the admin API and `tracktion workspaces … --json` print it."""
    return {
        "id": w.id,
        "guid": w.guid,
        "name": w.name,
        "createdAt": format_ms(w.created_ms),
        "retentionDays": w.retention_days,  # §15.2, null = keep forever
    }


def key_json(k: ApiKey, secret: str | None = None) -> dict[str, Any]:
    """§13.7: an API key; `apiKey` (the secret) only in the answer that created it."""
    out: dict[str, Any] = {
        "id": k.id,
        "kind": k.kind,
        "name": k.name,
        "permissions": list(k.permissions),
        "createdAt": format_ms(k.created_ms),
        "revokedAt": format_ms(k.revoked_ms) if k.revoked_ms is not None else None,
    }
    if secret is not None:
        out["apiKey"] = secret
    return out


def definition_json(d: Definition) -> dict[str, Any]:
    """§10: an action's definition with its params, as `GET /v4/events/definitions…` answers it."""
    return {
        "action": d.action,
        "kind": d.kind,
        "firstSeen": format_ms(d.first_ms),
        "lastSeen": format_ms(d.last_ms),
        "eventCount": d.event_count,
        "params": [
            {
                "name": p.name,
                "types": list(p.types),
                "firstSeen": format_ms(p.first_ms),
                "lastSeen": format_ms(p.last_ms),
            }
            for p in d.params
        ],
    }


def definitions_json(defs: Iterable[Definition]) -> list[dict[str, Any]]:
    """§10: the list answer of definitions."""
    return [definition_json(d) for d in defs]


def erasure_json(e: Erasure) -> dict[str, Any]:
    """§15.1: the receipt of an erasure; it names the profile by clientId only, never by an identifier."""
    return {
        "id": e.id,
        "state": e.state,
        "clientId": e.client_id,
        "requestedAt": format_ms(e.requested_ms),
        "completedAt": format_ms(e.completed_ms) if e.completed_ms is not None else None,
        "deleted": {
            "events": e.deleted_events,
            "quarantineRecords": e.deleted_quarantine,
            "relayFailures": e.deleted_relay_failures,
        },
    }


def suppression_json(s: Suppression) -> dict[str, Any]:
    """§15.1: one suppression (the digests of one erased profile's identifiers, which are never shown)."""
    return {"id": s.id, "createdAt": format_ms(s.created_ms), "erasureId": s.erasure_id}
