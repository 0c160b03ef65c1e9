"""API key secrets (docs/api.md §2.1): generated here, shown once, stored only as SHA-256.

A secret carries 256 bits from `secrets`, so a plain (unsalted) SHA-256 is enough: nobody can brute-force
the preimage of a uniformly random 256-bit value, and an unsalted digest lets the store look a key up by its
hash in one indexed query. Passwords would need a slow KDF; these are not passwords.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

# Recognisable prefix so leaked keys are easy to grep for (and for secret scanners to match).
SECRET_PREFIX = "tk_"
SECRET_BYTES = 32  # 256 bits of entropy


def generate_secret() -> str:
    """A fresh API key: `tk_` + 43 URL-safe base64 characters (32 random bytes)."""
    return SECRET_PREFIX + secrets.token_urlsafe(SECRET_BYTES)


def hash_secret(secret: str) -> str:
    """The stored form of a key: lower-case hex SHA-256 of its UTF-8 bytes.

    A presented secret may hold a lone surrogate (JSON `"\\ud800"` passes the body decoder): `surrogatepass`
    hashes it instead of raising (which was a 500). Such a digest matches no key, since every key we issue
    is ASCII, so the caller answers 401 like for any unknown key."""
    return hashlib.sha256(secret.encode("utf-8", "surrogatepass")).hexdigest()


def secrets_equal(a: str, b: str) -> bool:
    """Constant-time comparison. Encoded first because `compare_digest` rejects non-ASCII `str`."""
    return hmac.compare_digest(a.encode("utf-8"), b.encode("utf-8"))
