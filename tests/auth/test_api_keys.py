import base64
import hashlib
import re

from tracktion.auth.api_keys import SECRET_PREFIX, generate_secret, hash_secret, secrets_equal


def test_secret_shape_and_entropy():
    secret = generate_secret()
    assert secret.startswith("tk_") and SECRET_PREFIX == "tk_"
    body = secret[len(SECRET_PREFIX) :]
    assert re.fullmatch(r"[A-Za-z0-9_-]+", body)  # URL-safe: fits a header, a URL, a shell argument
    assert len(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))) >= 32  # ≥ 256 bits


def test_secrets_are_unique():
    assert len({generate_secret() for _ in range(1000)}) == 1000


def test_hash_is_sha256_hex():
    assert hash_secret("abc") == "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
    secret = generate_secret()
    assert hash_secret(secret) == hashlib.sha256(secret.encode()).hexdigest()
    assert re.fullmatch(r"[0-9a-f]{64}", hash_secret(secret))
    assert hash_secret("zażółć") == hashlib.sha256("zażółć".encode()).hexdigest()


def test_secrets_equal():
    secret = generate_secret()
    assert secrets_equal(secret, str(secret))
    assert not secrets_equal(secret, secret[:-1])
    assert not secrets_equal(secret, generate_secret())
    assert not secrets_equal("", "x")
    # Non-ASCII input must not raise (hmac.compare_digest refuses non-ASCII str).
    assert secrets_equal("zażółć", "zażółć")
    assert not secrets_equal("zażółć", "zazolc")
