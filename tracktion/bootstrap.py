"""First start: an empty store gets a workspace and a workspace API key carrying every permission."""

from __future__ import annotations

import uuid
from dataclasses import dataclass

from tracktion.auth.api_keys import generate_secret, hash_secret
from tracktion.auth.permissions import sorted_permissions
from tracktion.domain.models import ApiKey, Workspace
from tracktion.http.context import now_ms
from tracktion.storage.base import Store


@dataclass(frozen=True)
class Bootstrapped:
    workspace: Workspace
    key: ApiKey
    secret: str | None  # the generated secret, to print once; None when it came from the environment


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
    perms = tuple(sorted_permissions() if permissions is None else sorted(set(permissions)))
    key = ApiKey(
        id=str(uuid.uuid4()),
        workspace_id=workspace_id,
        kind=kind,
        name=name,
        permissions=perms if kind == "workspace" else (),
        created_ms=now_ms(),
    )
    await store.create_api_key(key, hash_secret(secret))
    return key, secret


async def bootstrap(store: Store, bootstrap_api_key: str | None) -> Bootstrapped | None:
    """Idempotent: does nothing once any workspace exists."""
    if await store.workspaces():
        return None
    workspace = await store.create_workspace("default", now_ms())
    key, secret = await create_key(store, workspace.id, "workspace", "bootstrap", None, bootstrap_api_key)
    return Bootstrapped(workspace, key, None if bootstrap_api_key else secret)
