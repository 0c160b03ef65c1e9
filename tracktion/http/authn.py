"""From an `Authorization` header to a `Credential` (docs/api.md §2.3, §2.4), with the store checks the token
layer cannot make: workspace and key exist, the key is not revoked and is of the token's kind."""

from __future__ import annotations

import time
from dataclasses import dataclass

from tracktion.auth.api_keys import hash_secret
from tracktion.auth.basic import parse_basic
from tracktion.auth.jwt import TokenService
from tracktion.domain.models import ApiKey, Credential
from tracktion.domain.ports import Store
from tracktion.errors import BadParameter, Unauthorized
from tracktion.http.query import int64

# A revoked key stops working within this many seconds in *other* processes (the CLI, other nodes);
# revocations made through this process are applied at once (`forget`).
KEY_CACHE_SECONDS = 1.0
# Likewise a profile token's profile: an erasure (§15.1) made by another process (the CLI, another node, another
# uvicorn worker) stops its tokens within this many seconds; one made through this process, at once.
PROFILE_CACHE_SECONDS = 1.0


@dataclass(slots=True)
class _Cached:
    key: ApiKey | None
    at: float


class Authenticator:
    def __init__(self, store: Store, tokens: TokenService) -> None:
        self.store = store
        self.tokens = tokens
        self._by_id: dict[str, _Cached] = {}
        self._by_hash: dict[str, _Cached] = {}
        self._workspaces: dict[str, int] = {}  # id or guid → id; workspaces are never renamed or deleted
        # (workspace, clientId) of profile tokens → when the profile was last seen to exist; profiles are never
        # merged, but they can be erased (§15.1): an erasure made through this process drops the entry
        # (`forget_profile`), any other is noticed after `PROFILE_CACHE_SECONDS`.
        self._profiles: dict[tuple[int, int], float] = {}
        self.monotonic = time.monotonic  # the profile cache's clock (tests step it)

    def forget(self, key_id: str | None = None) -> None:
        self._by_id.clear() if key_id is None else self._by_id.pop(key_id, None)
        self._by_hash.clear()

    def forget_profile(self, workspace_id: int, client_id: int) -> None:
        self._profiles.pop((workspace_id, client_id), None)

    async def key_by_id(self, key_id: str) -> ApiKey | None:
        now = time.monotonic()
        hit = self._by_id.get(key_id)
        if hit is not None and now - hit.at < KEY_CACHE_SECONDS:
            return hit.key
        key = await self.store.api_key(key_id)
        if len(self._by_id) > 10_000:
            self._by_id.clear()
        self._by_id[key_id] = _Cached(key, now)
        return key

    async def key_by_secret(self, secret: str) -> ApiKey | None:
        digest = hash_secret(secret)
        now = time.monotonic()
        hit = self._by_hash.get(digest)
        if hit is not None and now - hit.at < KEY_CACHE_SECONDS:
            return hit.key
        # Looked up by its SHA-256: the comparison happens on the digest inside the index, so the secret
        # itself is never compared byte by byte (no timing oracle on the secret).
        key = await self.store.api_key_by_hash(digest)
        if len(self._by_hash) > 10_000:
            self._by_hash.clear()
        self._by_hash[digest] = _Cached(key, now)
        return key

    async def authenticate(self, header: str | None) -> Credential:
        if not header:
            raise Unauthorized()
        scheme, _, value = header.partition(" ")
        scheme = scheme.lower()
        value = value.strip()
        if scheme == "bearer":
            return await self._bearer(value)
        if scheme == "basic":
            return await self._basic(value)
        raise Unauthorized()

    async def _bearer(self, token: str) -> Credential:
        claims = self.tokens.verify(token)
        key = await self.key_by_id(claims.key_id)
        if (
            key is None
            or key.revoked_ms is not None
            or key.kind != claims.kind
            or key.workspace_id != claims.workspace_id
        ):
            raise Unauthorized()
        if claims.client_id is not None:
            await self._check_profile(claims.workspace_id, claims.client_id)
        return claims.credential()

    async def _check_profile(self, workspace_id: int, client_id: int) -> None:
        """§2.4: a profile token whose profile is unknown *in its workspace* (e.g. another workspace's
        clientId, or an erased profile, §15.1) is 401, on every endpoint, before anything else looks at it."""
        ref = (workspace_id, client_id)
        now = self.monotonic()
        seen = self._profiles.get(ref)
        if seen is not None and now - seen < PROFILE_CACHE_SECONDS:
            return
        if await self.store.profile(workspace_id, client_id) is None:
            self._profiles.pop(ref, None)
            raise Unauthorized()
        if len(self._profiles) >= 100_000:
            self._profiles.clear()
        self._profiles[ref] = now

    async def _basic(self, value: str) -> Credential:
        workspace_ref, secret = parse_basic(value)
        if workspace_ref.isascii() and workspace_ref.isdigit() and int64(workspace_ref) is None:
            # §12: an integer past 19 digits or int64 is a bad parameter, never looked up (`int()` of
            # thousands of digits raised in the store: a 500). Nothing of the header is echoed back.
            raise BadParameter("Workspace id must be an integer within int64", field="Authorization")
        key = await self.key_by_secret(secret)
        if key is None or key.revoked_ms is not None or key.kind != "workspace":
            raise Unauthorized()
        workspace_id = self._workspaces.get(workspace_ref)
        if workspace_id is None:
            workspace = await self.store.workspace(workspace_ref)
            if workspace is None:
                raise Unauthorized()
            workspace_id = workspace.id
            if len(self._workspaces) < 10_000:
                self._workspaces[workspace_ref] = workspace_id
        if workspace_id != key.workspace_id:
            raise Unauthorized()
        return Credential("workspace", key.workspace_id, key.id, frozenset(key.permissions))
