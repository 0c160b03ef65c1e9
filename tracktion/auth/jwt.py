"""RS512 tokens (docs/api.md §2.4) and the signing key behind them (§13.1 `/-/jwks.json`).

Pure: no HTTP, no store. `TokenService.verify` proves a token is ours, well-formed and unexpired and hands
back its claims; whether the workspace, key and profile still exist and the key is active and of the right
kind is the caller's check against the store.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import logging
import os
import re
import secrets
import threading
import time
import uuid as uuid_mod
from collections import OrderedDict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from tracktion.domain.models import Credential
from tracktion.errors import TokenExpired, Unauthorized

log = logging.getLogger(__name__)

ALGORITHM = "RS512"
KEY_FILE = "jwt-private.pem"
RSA_BITS = 2048
CACHE_SIZE = 10_000
# Our largest token (every permission) is about 2.5 KB; anything far bigger is not ours and is refused
# before any decoding work.
MAX_TOKEN_LENGTH = 16_384

# JWS compact segments are unpadded base64url. Checked here rather than left to pyjwt: pyjwt accepts a
# trailing `==` (so two strings would verify as one token) and older releases silently skipped characters
# outside the alphabet.
_SEGMENT = re.compile(r"[A-Za-z0-9_-]+")
_HEADER_KEYS = frozenset({"alg", "typ", "kid"})

# pyjwt checks the signature only: every claim rule (including `exp`, against the injectable clock and with
# no leeway) is ours, in `_parse_claims`.
_DECODER = jwt.PyJWT(
    options={
        "verify_signature": True,
        "verify_exp": False,
        "verify_nbf": False,
        "verify_iat": False,
        "verify_aud": False,
        "verify_iss": False,
        "verify_sub": False,
        "verify_jti": False,
    }
)


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _b64url_decode(segment: str) -> bytes:
    return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))


def _uint_b64url(n: int) -> str:
    """RFC 7518 §6.3.1: unsigned big-endian, minimal length."""
    return _b64url(n.to_bytes(max(1, (n.bit_length() + 7) // 8), "big"))


def rsa_thumbprint(n: str, e: str) -> str:
    """RFC 7638 JWK thumbprint of an RSA key: SHA-256 of the required members, sorted, no whitespace."""
    canonical = json.dumps({"e": e, "kty": "RSA", "n": n}, separators=(",", ":"), sort_keys=True)
    return _b64url(hashlib.sha256(canonical.encode("ascii")).digest())


class SigningKey:
    """The server's one RSA key pair. `kid` is its RFC 7638 thumbprint, so it changes only with the key."""

    def __init__(self, private_key: rsa.RSAPrivateKey) -> None:
        self.created = False  # made by this process just now (load_or_create found no file)
        if private_key.key_size < RSA_BITS:
            raise ValueError(f"RSA key of {private_key.key_size} bits; at least {RSA_BITS} required")
        self.private_key = private_key
        self.public_key = private_key.public_key()
        numbers = self.public_key.public_numbers()
        self.n = _uint_b64url(numbers.n)
        self.e = _uint_b64url(numbers.e)
        self.kid = rsa_thumbprint(self.n, self.e)

    @classmethod
    def generate(cls) -> SigningKey:
        return cls(rsa.generate_private_key(public_exponent=65537, key_size=RSA_BITS))

    @classmethod
    def load_or_create(cls, data_dir: Path) -> SigningKey:
        """Load `<data_dir>/jwt-private.pem`, creating it (mode 0600) on first start."""
        path = Path(data_dir) / KEY_FILE
        try:
            pem = path.read_bytes()
        except FileNotFoundError:
            return cls._create(path)
        _tighten_mode(path)
        return cls._from_pem(pem, path)

    @classmethod
    def _from_pem(cls, pem: bytes, path: Path) -> SigningKey:
        key = serialization.load_pem_private_key(pem, password=None)
        if not isinstance(key, rsa.RSAPrivateKey):
            raise ValueError(f"{path}: not an RSA private key")
        return cls(key)

    @classmethod
    def _create(cls, path: Path) -> SigningKey:
        path.parent.mkdir(parents=True, exist_ok=True)
        key = cls.generate()
        pem = key.private_key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        # Written under a temporary name created 0600 from the start (never readable by others, not even
        # between create and chmod), then published in one step so no reader sees a half-written key.
        tmp = path.with_name(f".{path.name}.{secrets.token_hex(8)}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0), 0o600)
        try:
            with os.fdopen(fd, "wb") as f:
                os.fchmod(f.fileno(), 0o600)  # the umask may have cleared owner bits; make the mode exact
                f.write(pem)
                f.flush()
                os.fsync(f.fileno())
            try:
                # link() publishes without replacing: if two processes start at once, the loser adopts the
                # winner's key instead of silently overwriting it (tokens it signed would then not verify).
                os.link(tmp, path)
            except FileExistsError:
                return cls._from_pem(path.read_bytes(), path)
            except OSError:
                os.rename(tmp, path)  # filesystem without hard links: rename is still atomic
            _fsync_dir(path.parent)
        finally:
            tmp.unlink(missing_ok=True)
        key.created = True  # logged once the node may use it (`tracktion.bootstrap.check_signing_key`)
        return key

    def public_jwk(self) -> dict[str, str]:
        return {"kty": "RSA", "use": "sig", "alg": ALGORITHM, "kid": self.kid, "n": self.n, "e": self.e}

    def jwks(self) -> dict[str, list[dict[str, str]]]:
        """The body of `GET /-/jwks.json`."""
        return {"keys": [self.public_jwk()]}


def _tighten_mode(path: Path) -> None:
    """An existing key readable by group/others (restored backup, manual copy) is put back to 0600."""
    mode = path.stat().st_mode & 0o777
    if mode & 0o077:
        try:
            path.chmod(0o600)
            log.warning("%s had mode %o; changed to 600", path, mode)
        except OSError:
            log.warning("%s has mode %o and cannot be changed; it should be 600", path, mode)


def _fsync_dir(directory: Path) -> None:
    """Make the new directory entry durable, so a crash cannot lose the key tokens were signed with."""
    try:
        fd = os.open(directory, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


@dataclass(frozen=True, slots=True)
class TokenClaims:
    """A verified token's claims. `raw` is the whole payload, read-only because cached instances are shared
    (its `permissions`, for the same reason, is a tuple rather than the JSON list)."""

    workspace_id: int
    kind: str  # "workspace" | "profile"
    key_id: str
    permissions: frozenset[str]  # empty for profile tokens
    client_id: int | None
    uuid: str | None
    device_id: str | None
    iat: int
    exp: int
    jti: str
    raw: Mapping[str, Any] = field(repr=False, compare=False)

    def credential(self) -> Credential:
        return Credential(
            kind=self.kind,
            workspace_id=self.workspace_id,
            key_id=self.key_id,
            permissions=self.permissions,
            client_id=self.client_id,
            uuid=self.uuid,
            device_id=self.device_id,
        )


class TokenService:
    """Issues and verifies tokens signed with one `SigningKey`."""

    def __init__(
        self,
        key: SigningKey,
        issuer: str,
        ttl_seconds: int,
        clock: Callable[[], float] = time.time,
        cache_size: int = CACHE_SIZE,
    ) -> None:
        if ttl_seconds <= 0:
            raise ValueError("ttl_seconds must be positive")
        self.key = key
        self.issuer = issuer
        self.ttl_seconds = ttl_seconds
        self._clock = clock
        # LRU from the exact token string to its verified claims: a client re-sending one token pays the
        # RSA verification once. Only tokens that passed every check (but expiry, re-checked per call) enter.
        self._cache: OrderedDict[str, TokenClaims] = OrderedDict()
        self._cache_size = cache_size
        self._lock = threading.Lock()

    # -- issuing ---------------------------------------------------------------------------------------

    def issue_workspace_token(self, workspace_id: int, key_id: str, permissions: Iterable[str]) -> str:
        if isinstance(permissions, str):  # a str is an Iterable[str] of characters: surely a caller bug
            raise TypeError("permissions must be a collection of names, not a str")
        payload = self._base(workspace_id, key_id, "workspace", f"apikey:{key_id}")
        payload["permissions"] = sorted(set(permissions))
        return self._sign(payload)

    def issue_profile_token(
        self, workspace_id: int, key_id: str, client_id: int, uuid: str, device_id: str | None = None
    ) -> str:
        payload = self._base(workspace_id, key_id, "profile", f"client:{client_id}")
        payload["clientId"] = client_id
        payload["uuid"] = uuid
        if device_id is not None:
            payload["deviceId"] = device_id
        return self._sign(payload)

    def refresh(self, claims: TokenClaims) -> str:
        """Same claims, new `iat`/`exp`/`jti`. Kind rules (§2.2) and store checks are the caller's."""
        payload = dict(claims.raw)
        payload.update(self._times())
        if "permissions" in payload:
            payload["permissions"] = list(payload["permissions"])  # kept as a tuple in `raw`
        return self._sign(payload)

    def _times(self) -> dict[str, Any]:
        iat = int(self._clock())
        return {"iat": iat, "exp": iat + self.ttl_seconds, "jti": str(uuid_mod.uuid4())}

    def _base(self, workspace_id: int, key_id: str, kind: str, sub: str) -> dict[str, Any]:
        return {
            "iss": self.issuer,
            "sub": sub,
            **self._times(),
            "workspaceId": workspace_id,
            "kind": kind,
            "keyId": key_id,
        }

    def _sign(self, payload: dict[str, Any]) -> str:
        # Refuse to mint a token verify() would reject: bad input surfaces here, not as a client's 401.
        try:
            _parse_claims(dict(payload), self.issuer)  # a copy: parsing swaps in the shared tuple
        except Unauthorized as exc:
            raise ValueError(f"invalid token claims: {payload!r}") from exc
        # pyjwt writes `alg` itself; `typ` is passed explicitly so a pyjwt default change cannot drop it.
        return jwt.encode(
            payload, self.key.private_key, algorithm=ALGORITHM, headers={"typ": "JWT", "kid": self.key.kid}
        )

    # -- verifying -------------------------------------------------------------------------------------

    def verify(self, token: str) -> TokenClaims:
        """Claims of a valid token; `Unauthorized` (2001) if it is not ours or malformed, `TokenExpired` (2002)
        if `exp <= now` (no leeway, checked on every call, cached or not)."""
        if type(token) is not str:
            raise Unauthorized()
        now = self._clock()
        with self._lock:
            claims = self._cache.get(token)
            if claims is not None:
                self._cache.move_to_end(token)
        if claims is None:
            claims = self._verify_uncached(token)
            if claims.exp > now:  # an expired token is never useful again: do not spend a slot on it
                self._remember(token, claims)
        if claims.exp <= now:
            raise TokenExpired()
        return claims

    def _remember(self, token: str, claims: TokenClaims) -> None:
        with self._lock:
            self._cache[token] = claims
            self._cache.move_to_end(token)
            while len(self._cache) > self._cache_size:
                self._cache.popitem(last=False)

    def _verify_uncached(self, token: str) -> TokenClaims:
        if len(token) > MAX_TOKEN_LENGTH:
            raise Unauthorized()
        parts = token.split(".")
        if len(parts) != 3 or not all(_SEGMENT.fullmatch(p) for p in parts):
            raise Unauthorized()
        check_header(parts[0], self.key.kid)
        try:
            # algorithms is fixed: the header never chooses the algorithm (no `none`, no HMAC keyed with
            # our public key). check_header has already refused anything but RS512; this is the second lock.
            payload = _DECODER.decode(token, self.key.public_key, algorithms=[ALGORITHM])
        except (jwt.PyJWTError, ValueError, TypeError):
            raise Unauthorized() from None
        return _parse_claims(payload, self.issuer)


def check_header(segment: str, kid: str) -> None:
    """The JOSE header must be a JSON object with `alg` exactly RS512, `kid` (if present) ours, and nothing
    beyond alg/typ/kid: we only read our own tokens, so `crit`, `jku`, `jwk`, `b64`… can only be an attack."""
    try:
        header = json.loads(_b64url_decode(segment))
    except (ValueError, binascii.Error):
        raise Unauthorized() from None
    if not isinstance(header, dict) or header.get("alg") != ALGORITHM or not header.keys() <= _HEADER_KEYS:
        raise Unauthorized()
    if "kid" in header and header["kid"] != kid:
        raise Unauthorized()


def _is_int(value: Any) -> bool:
    return type(value) is int  # bool is an int subclass; `true` is not a workspace id


def _is_str(value: Any) -> bool:
    return type(value) is str and value != ""


# Tokens of one key carry the same list; a full cache of them would otherwise hold 10,000 copies of ~35
# names (about 7 KB a token). One tuple and one frozenset per distinct list are shared instead.
_PERMISSION_SETS: dict[tuple[str, ...], tuple[tuple[str, ...], frozenset[str]]] = {}
_PERMISSION_SETS_MAX = 1024


def _shared_permissions(names: list[str]) -> tuple[tuple[str, ...], frozenset[str]]:
    key = tuple(names)
    shared = _PERMISSION_SETS.get(key)
    if shared is None:
        if len(_PERMISSION_SETS) >= _PERMISSION_SETS_MAX:
            _PERMISSION_SETS.clear()  # only sharing is lost, never correctness
        shared = _PERMISSION_SETS[key] = (key, frozenset(key))
    return shared


_WORKSPACE_ONLY = ("permissions",)
_PROFILE_ONLY = ("clientId", "uuid", "deviceId")


def _parse_claims(payload: Any, issuer: str) -> TokenClaims:
    """Every claim of the §2.4 table present and typed for the token's kind, else 401 (2001)."""

    def need(ok: bool) -> None:
        if not ok:
            raise Unauthorized()

    need(isinstance(payload, dict))
    need(payload.get("iss") == issuer)
    iat, exp, jti = payload.get("iat"), payload.get("exp"), payload.get("jti")
    need(_is_int(iat) and _is_int(exp) and _is_str(jti))
    workspace_id, kind, key_id = payload.get("workspaceId"), payload.get("kind"), payload.get("keyId")
    need(_is_int(workspace_id) and workspace_id > 0 and _is_str(key_id))
    sub = payload.get("sub")
    permissions: frozenset[str] = frozenset()
    client_id = uuid = device_id = None
    if kind == "workspace":
        need(sub == f"apikey:{key_id}" and not any(k in payload for k in _PROFILE_ONLY))
        names = payload.get("permissions")
        need(isinstance(names, list) and all(_is_str(n) for n in names))
        payload["permissions"], permissions = _shared_permissions(names)
    elif kind == "profile":
        client_id, uuid, device_id = payload.get("clientId"), payload.get("uuid"), payload.get("deviceId")
        need(_is_int(client_id) and client_id > 0 and _is_str(uuid))
        need("deviceId" not in payload or type(device_id) is str)
        need(sub == f"client:{client_id}" and not any(k in payload for k in _WORKSPACE_ONLY))
    else:
        raise Unauthorized()
    return TokenClaims(
        workspace_id=workspace_id,
        kind=kind,
        key_id=key_id,
        permissions=permissions,
        client_id=client_id,
        uuid=uuid,
        device_id=device_id,
        iat=iat,
        exp=exp,
        jti=jti,
        raw=MappingProxyType(payload),
    )
