"""Permission names (docs/api.md §2.5).

The catalog rows carry the event endpoints' permissions; the other endpoints' names are fixed here. The
catalog is the source of truth: `permission_for_event_path` states the naming rule and the tests check that
every row follows it, but routing reads `CatalogRow.permission`, never the rule.
"""

from __future__ import annotations

from collections.abc import Iterable

from tracktion.catalog import load_catalog

EVENTS_PREFIX = "/v4/events/"

# Permissions of endpoints that are not catalog rows (§2.5 table).
NON_CATALOG_PERMISSIONS = frozenset(
    {
        "API_BATCH_EVENTS_CREATE",
        "API_AI_COMPAT_BATCH_EVENTS_CREATE",
        "API_TRANSACTION_CREATE",
        "API_BATCH_TRANSACTION_CREATE",
        "API_EVENTS_READ",
        "API_CLIENT_READ",
        "API_BATCH_CLIENT_CREATE",
        "API_CLIENT_CREATE",
        "API_QUARANTINE_DELETE",
        "API_CLIENT_DELETE",  # §15 erasures and suppressions, `DELETE /v4/clients/{clientId}` (§9.7)
        "API_DESTINATIONS_READ",  # §14: the relay's destinations, their status, failures and replays
        "API_DESTINATIONS_MANAGE",
    }
)

ALL_PERMISSIONS: frozenset[str] = frozenset(r.permission for r in load_catalog()) | NON_CATALOG_PERMISSIONS


def sorted_permissions() -> list[str]:
    """Every permission name, sorted (the body of `GET /-/admin/permissions`)."""
    return sorted(ALL_PERMISSIONS)


def unknown_permissions(names: Iterable[str]) -> list[str]:
    """The names not in `ALL_PERMISSIONS`, in the order given (admin key creation answers 1007 for them)."""
    return [n for n in names if n not in ALL_PERMISSIONS]


def permission_for_event_path(path: str) -> str:
    """§2.5 rule: `/v4/events/push/clicked` → `API_PUSH_CLICKED_EVENTS_CREATE`.

    Raises `ValueError` for a path outside `/v4/events/`: a permission for it would be meaningless.
    """
    if not path.startswith(EVENTS_PREFIX) or len(path) == len(EVENTS_PREFIX):
        raise ValueError(f"not an event endpoint path: {path!r}")
    name = path[len(EVENTS_PREFIX) :].upper()
    for ch in "/-.":
        name = name.replace(ch, "_")
    return f"API_{name}_EVENTS_CREATE"
