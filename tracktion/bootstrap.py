"""First start: an empty store gets a workspace and a workspace API key carrying every permission."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from tracktion.auth.api_keys import generate_secret, hash_secret
from tracktion.auth.permissions import sorted_permissions
from tracktion.clock import now_ms
from tracktion.domain.models import ApiKey, Workspace
from tracktion.domain.ports import Store


@dataclass(frozen=True)
class Bootstrapped:
    workspace: Workspace
    key: ApiKey
    secret: str | None  # the generated secret, to print once; None when it came from the environment


def new_key(workspace_id: int, kind: str, name: str | None, permissions: list[str] | None) -> ApiKey:
    """A key record; `permissions=None` on a workspace key means every permission."""
    perms = tuple(sorted_permissions() if permissions is None else sorted(set(permissions)))
    return ApiKey(
        id=str(uuid.uuid4()),
        workspace_id=workspace_id,
        kind=kind,
        name=name,
        permissions=perms if kind == "workspace" else (),
        created_ms=now_ms(),
    )


async def create_key(
    store: Store,
    workspace_id: int,
    kind: str,
    name: str | None,
    permissions: list[str] | None,
    secret: str | None = None,
) -> tuple[ApiKey, str]:
    """Create a key; returns it with its secret (shown once, stored only as SHA-256)."""
    secret = secret or generate_secret()
    key = new_key(workspace_id, kind, name, permissions)
    await store.create_api_key(key, hash_secret(secret))
    return key, secret


async def bootstrap(store: Store, bootstrap_api_key: str | None) -> Bootstrapped | None:
    """Idempotent, and safe when several nodes start together on an empty store: only one creates."""
    if await store.workspaces():
        return None
    secret = bootstrap_api_key or generate_secret()
    created = await store.create_first_workspace(
        "default",
        now_ms(),
        lambda workspace_id: (new_key(workspace_id, "workspace", "bootstrap", None), hash_secret(secret)),
    )
    if created is None:
        return None
    workspace, key = created
    return Bootstrapped(workspace, key, None if bootstrap_api_key else secret)
