"""What a node checks and does before it serves: its token signing key must be the one the other nodes of
its database use (`check_signing_key`), and an empty store gets a workspace and a workspace API key
carrying every permission (`bootstrap`)."""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol, runtime_checkable

from tracktion.auth.api_keys import generate_secret, hash_secret
from tracktion.auth.jwt import SigningKey
from tracktion.auth.permissions import sorted_permissions
from tracktion.clock import now_ms
from tracktion.domain.models import ApiKey, Workspace
from tracktion.domain.ports import Store

log = logging.getLogger("tracktion.auth.jwt")


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


# -- the signing key of a store several nodes serve -----------------------------------------------------
class SigningKeyRefused(Exception):
    """This node must not serve: tokens it signed would fail on the other nodes of its database."""


@runtime_checkable
class SharedStore(Protocol):
    """A store that several nodes serve at once (PostgreSQL; an SQLite file has one server)."""

    async def signing_key_id(self, kid: str | None) -> str | None:
        """The recorded kid of the nodes' signing key; records `kid` first when none is and it is given."""
        ...

    async def workspaces(self) -> list[Workspace]: ...


def _accepted(key: SigningKey, path: Path) -> None:
    if key.created:
        key.created = False  # said once
        log.info("created JWT signing key %s (kid %s)", path, key.kid)


_HOW_TO = 'docs/deploying.md, "The signing key", says what to do when no node has it any more'


async def check_signing_key(store: Store, key: SigningKey, path: Path) -> None:
    """Tokens are verified locally, so every node of a database must sign with the same key. A node that
    silently made its own key (its operator forgot to copy `jwt-private.pem`) would issue tokens that
    every other node answers with a bare 401. So the database records the kid (public) of the first
    node's key, and a node with another key, or with a key it just made for a database already in use,
    refuses to start, saying which file to copy where. A key it just made is removed again, so that the
    next start finds no file and the message stays true. SQLite stores are served by one node: no check.
    """
    if not isinstance(store, SharedStore):
        return _accepted(key, path)
    where = path.resolve()
    recorded = await store.signing_key_id(None)
    if recorded is None:
        if key.created and await store.workspaces():
            # A database served before the kid was recorded (an older version): its key is on its nodes.
            path.unlink(missing_ok=True)
            raise SigningKeyRefused(
                "this node has no token signing key, and its database already has workspaces, so other "
                f"nodes sign its tokens: copy jwt-private.pem from the data dir of one of them to {where} "
                f"(mode 0600), then start again ({_HOW_TO})"
            )
        recorded = await store.signing_key_id(key.kid)
    if recorded == key.kid:
        return _accepted(key, path)
    if key.created:
        path.unlink(missing_ok=True)
        raise SigningKeyRefused(
            f"this node has no token signing key, and the nodes of its database sign tokens with key "
            f"{recorded}: copy jwt-private.pem from the data dir of one of them to {where} (mode 0600), "
            f"then start again (a key of its own would make every token it issues fail on the others "
            f"with 401; {_HOW_TO})"
        )
    raise SigningKeyRefused(
        f"{where} is not the key the nodes of this database sign tokens with (its kid is {key.kid}, "
        f"theirs {recorded}): replace it with a copy of jwt-private.pem from the data dir of one of them, "
        f"then start again ({_HOW_TO})"
    )
