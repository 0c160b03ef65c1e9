import base64
import hashlib
import hmac
import json
import os
import stat
import uuid
from collections.abc import Callable
from pathlib import Path

import jwt as pyjwt
import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa

from tracktion.auth import jwt as tjwt
from tracktion.auth.jwt import KEY_FILE, SigningKey, TokenClaims, TokenService, check_header, rsa_thumbprint
from tracktion.domain.models import Credential
from tracktion.errors import TokenExpired, Unauthorized

NOW = 1_700_000_000
TTL = 3600
ISSUER = "tracktion"
CLIENT_UUID = "6f0c8a2e-5b1d-4f3a-9e7c-2d4b6a8c0e1f"

# RSA generation takes ~0.1 s: two keys for the whole module, handed out instead of fresh ones.
_KEYS = [SigningKey.generate(), SigningKey.generate()]


@pytest.fixture(scope="module")
def key() -> SigningKey:
    return _KEYS[0]


@pytest.fixture(scope="module")
def other_key() -> SigningKey:
    return _KEYS[1]


class Clock:
    def __init__(self, now: float = NOW) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def service(key: SigningKey, clock: Clock) -> TokenService:
    return TokenService(key, ISSUER, TTL, clock=clock)


# -- helpers --------------------------------------------------------------------------------------------


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def b64json(value: object) -> str:
    return b64(json.dumps(value).encode())


def unb64(segment: str) -> bytes:
    return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))


def forge(header: dict, payload: dict, sign: Callable[[bytes], bytes]) -> str:
    """A compact JWS built by hand, so any header/signature combination can be produced."""
    signing_input = f"{b64json(header)}.{b64json(payload)}"
    return f"{signing_input}.{b64(sign(signing_input.encode()))}"


def rsa_signer(k: SigningKey, algorithm: hashes.HashAlgorithm, pss: bool = False) -> Callable[[bytes], bytes]:
    pad = padding.PSS(padding.MGF1(algorithm), algorithm.digest_size) if pss else padding.PKCS1v15()
    return lambda data: k.private_key.sign(data, pad, algorithm)


def header_of(k: SigningKey, **extra: object) -> dict:
    return {"alg": "RS512", "typ": "JWT", "kid": k.kid, **extra}


def sign_with_our_key(k: SigningKey, payload: dict, header: dict | None = None) -> str:
    """A correctly signed RS512 token with arbitrary claims: only the claim checks can refuse it."""
    return forge(header or header_of(k), payload, rsa_signer(k, hashes.SHA512()))


def payload_of(token: str) -> dict:
    return json.loads(unb64(token.split(".")[1]))


def workspace_payload(service: TokenService) -> dict:
    return payload_of(service.issue_workspace_token(7, "key-1", ["API_EVENTS_READ"]))


def profile_payload(service: TokenService) -> dict:
    return payload_of(service.issue_profile_token(7, "key-2", 42, CLIENT_UUID, "dev-1"))


def assert_401(service: TokenService, token: object) -> None:
    with pytest.raises(Unauthorized) as info:
        service.verify(token)  # type: ignore[arg-type]
    assert type(info.value) is Unauthorized, "expected 2001, got an expiry"
    assert info.value.code == 2001 and info.value.status == 401


def assert_expired(service: TokenService, token: str) -> None:
    with pytest.raises(TokenExpired) as info:
        service.verify(token)
    assert info.value.code == 2002 and info.value.status == 401


# -- issuing --------------------------------------------------------------------------------------------


def test_header_is_exact(service, key):
    token = service.issue_workspace_token(7, "key-1", [])
    assert json.loads(unb64(token.split(".")[0])) == {"alg": "RS512", "typ": "JWT", "kid": key.kid}


def test_workspace_claims_are_exact(service):
    token = service.issue_workspace_token(7, "key-1", ["API_EVENTS_READ", "API_CUSTOM_EVENTS_CREATE"])
    payload = payload_of(token)
    jti = payload.pop("jti")
    assert uuid.UUID(jti).version == 4
    assert payload == {
        "iss": ISSUER,
        "sub": "apikey:key-1",
        "iat": NOW,
        "exp": NOW + TTL,
        "workspaceId": 7,
        "kind": "workspace",
        "keyId": "key-1",
        "permissions": ["API_CUSTOM_EVENTS_CREATE", "API_EVENTS_READ"],
    }


def test_profile_claims_are_exact(service):
    payload = payload_of(service.issue_profile_token(7, "key-2", 42, CLIENT_UUID, "dev-1"))
    assert uuid.UUID(payload.pop("jti")).version == 4
    assert payload == {
        "iss": ISSUER,
        "sub": "client:42",
        "iat": NOW,
        "exp": NOW + TTL,
        "workspaceId": 7,
        "kind": "profile",
        "keyId": "key-2",
        "clientId": 42,
        "uuid": CLIENT_UUID,
        "deviceId": "dev-1",
    }
    # deviceId only when given
    assert "deviceId" not in payload_of(service.issue_profile_token(7, "key-2", 42, CLIENT_UUID))


def test_iat_is_whole_seconds(service, clock):
    clock.now = NOW + 0.999
    payload = workspace_payload(service)
    assert payload["iat"] == NOW and payload["exp"] == NOW + TTL


def test_issue_refuses_what_verify_would_refuse(service):
    with pytest.raises(ValueError):
        service.issue_workspace_token(0, "key-1", [])
    with pytest.raises(ValueError):
        service.issue_profile_token(7, "", 42, CLIENT_UUID)
    with pytest.raises(TypeError):
        service.issue_workspace_token(7, "key-1", "API_EVENTS_READ")


def test_round_trip(service):
    claims = service.verify(service.issue_workspace_token(7, "key-1", ["API_EVENTS_READ", "API_EVENTS_READ"]))
    assert (claims.workspace_id, claims.kind, claims.key_id) == (7, "workspace", "key-1")
    assert claims.permissions == frozenset({"API_EVENTS_READ"})
    assert (claims.client_id, claims.uuid, claims.device_id) == (None, None, None)
    assert (claims.iat, claims.exp) == (NOW, NOW + TTL)
    assert claims.credential() == Credential("workspace", 7, "key-1", frozenset({"API_EVENTS_READ"}))

    claims = service.verify(service.issue_profile_token(7, "key-2", 42, CLIENT_UUID, "dev-1"))
    assert (claims.kind, claims.client_id, claims.uuid, claims.device_id) == (
        "profile",
        42,
        CLIENT_UUID,
        "dev-1",
    )
    assert claims.permissions == frozenset()
    assert claims.credential() == Credential("profile", 7, "key-2", frozenset(), 42, CLIENT_UUID, "dev-1")


def test_raw_claims_are_read_only(service):
    claims = service.verify(service.issue_workspace_token(7, "key-1", []))
    assert claims.raw["workspaceId"] == 7
    with pytest.raises(TypeError):
        claims.raw["workspaceId"] = 8  # type: ignore[index]


def test_token_without_kid_is_accepted(service, key):
    # §2.4 refuses a kid that is present and unknown; an absent kid is not an error.
    header = {"alg": "RS512", "typ": "JWT"}
    assert service.verify(sign_with_our_key(key, workspace_payload(service), header)).workspace_id == 7


def test_refresh_keeps_claims_and_renews_times(service, clock):
    for token in (
        service.issue_workspace_token(7, "key-1", ["API_EVENTS_READ"]),
        service.issue_profile_token(7, "key-2", 42, CLIENT_UUID, "dev-1"),
    ):
        old = service.verify(token)
        clock.now += 100
        new_token = service.refresh(old)
        new = service.verify(new_token)
        assert new.jti != old.jti
        assert (new.iat, new.exp) == (int(clock.now), int(clock.now) + TTL)
        assert new.iat > old.iat
        kept = {k: v for k, v in old.raw.items() if k not in ("iat", "exp", "jti")}
        assert {k: v for k, v in new.raw.items() if k not in ("iat", "exp", "jti")} == kept
        assert new.raw.keys() == old.raw.keys()
        assert new_token.split(".")[0] == token.split(".")[0]


# -- algorithm confusion ----------------------------------------------------------------------------------


@pytest.mark.parametrize("alg", ["none", "None", "NONE", "nOnE"])
@pytest.mark.parametrize("signature", [b"", b"x"])
def test_alg_none_is_refused(service, key, alg, signature):
    payload = workspace_payload(service)
    assert_401(service, forge({"alg": alg, "typ": "JWT", "kid": key.kid}, payload, lambda _: signature))
    assert_401(service, forge({"alg": alg, "typ": "JWT"}, payload, lambda _: signature))


@pytest.mark.parametrize(("alg", "digest"), [("HS256", hashlib.sha256), ("HS512", hashlib.sha512)])
@pytest.mark.parametrize("fmt", ["pem", "pkcs1", "jwk-n"])
def test_hmac_with_public_key_as_secret_is_refused(service, key, alg, digest, fmt):
    """The classic confusion: a verifier that lets the header pick HMAC would verify with our public key."""
    secret = {
        "pem": key.public_key.public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        ),
        "pkcs1": key.public_key.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.PKCS1),
        "jwk-n": key.n.encode(),
    }[fmt]
    token = forge(
        header_of(key, alg=alg), workspace_payload(service), lambda d: hmac.new(secret, d, digest).digest()
    )
    assert_401(service, token)


@pytest.mark.parametrize(
    ("alg", "hash_alg", "pss"),
    [
        ("RS256", hashes.SHA256(), False),
        ("RS384", hashes.SHA384(), False),
        ("PS512", hashes.SHA512(), True),
        ("rs512", hashes.SHA512(), False),  # "exactly RS512": case matters
    ],
)
def test_other_rsa_algorithms_with_our_real_key_are_refused(service, key, alg, hash_alg, pss):
    token = forge(header_of(key, alg=alg), workspace_payload(service), rsa_signer(key, hash_alg, pss))
    assert_401(service, token)


def test_ecdsa_token_is_refused(service, key):
    ec_key = ec.generate_private_key(ec.SECP521R1())
    token = pyjwt.encode(workspace_payload(service), ec_key, algorithm="ES512", headers={"kid": key.kid})
    assert_401(service, token)


@pytest.mark.parametrize(
    "header",
    [
        {"alg": "RS512", "typ": "JWT", "kid": "KID"},
        {"alg": "none", "typ": "JWT", "kid": "KID"},
        {"alg": "HS512", "typ": "JWT", "kid": "KID"},
        {"alg": "RS256", "typ": "JWT", "kid": "KID"},
        {"typ": "JWT", "kid": "KID"},
        {"alg": None, "typ": "JWT", "kid": "KID"},
        {"alg": ["RS512"], "typ": "JWT", "kid": "KID"},
        {"alg": "RS512", "kid": "other"},
        {"alg": "RS512", "kid": None},
        {"alg": "RS512", "kid": "KID", "crit": ["exp"]},
        {"alg": "RS512", "kid": "KID", "jku": "https://evil.example/jwks.json"},
        {"alg": "RS512", "kid": "KID", "b64": False, "crit": ["b64"]},
        ["RS512"],
        "RS512",
    ],
)
def test_check_header_alone(header):
    """Our own header check, tested without pyjwt's `algorithms` list behind it."""
    segment = b64json(header)
    if header == {"alg": "RS512", "typ": "JWT", "kid": "KID"}:
        check_header(segment, "KID")
        check_header(b64json({"alg": "RS512"}), "KID")
        return
    with pytest.raises(Unauthorized):
        check_header(segment, "KID")


def test_pyjwt_algorithm_list_alone_refuses_confusion(service, key, monkeypatch):
    """The second lock: with our header check disabled, pyjwt (algorithms=["RS512"]) still refuses."""
    monkeypatch.setattr(tjwt, "check_header", lambda segment, kid: None)
    payload = workspace_payload(service)
    pem = key.public_key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    assert_401(
        service, forge(header_of(key, alg="HS512"), payload, lambda d: hmac.new(pem, d, "sha512").digest())
    )
    assert_401(service, forge(header_of(key, alg="none"), payload, lambda _: b"x"))
    assert_401(service, forge(header_of(key, alg="RS256"), payload, rsa_signer(key, hashes.SHA256())))


# -- signature, kid, tampering ---------------------------------------------------------------------------


def test_bad_signature_is_refused(service, key, other_key):
    # Signed by another RSA key while claiming our kid.
    assert_401(
        service, forge(header_of(key), workspace_payload(service), rsa_signer(other_key, hashes.SHA512()))
    )
    # A token of another tracktion instance with its own kid.
    other = TokenService(other_key, ISSUER, TTL, clock=Clock())
    assert_401(service, other.issue_workspace_token(7, "key-1", []))


def test_tampered_payload_is_refused(service):
    token = service.issue_workspace_token(7, "key-1", ["API_EVENTS_READ"])
    header, _, signature = token.split(".")
    for change in ({"workspaceId": 8}, {"permissions": ["API_EVENTS_READ", "API_QUARANTINE_DELETE"]}):
        payload = {**payload_of(token), **change}
        assert_401(service, f"{header}.{b64json(payload)}.{signature}")


def test_tampered_signature_is_refused(service):
    token = service.issue_workspace_token(7, "key-1", [])
    head, body, signature = token.split(".")
    raw = bytearray(unb64(signature))
    raw[10] ^= 1
    assert_401(service, f"{head}.{body}.{b64(bytes(raw))}")
    assert_401(service, f"{head}.{body}.{b64(unb64(signature)[:-1])}")


def test_unknown_kid_is_refused(service, key):
    payload = workspace_payload(service)
    assert_401(service, sign_with_our_key(key, payload, header_of(key, kid="not-our-kid")))
    assert_401(service, sign_with_our_key(key, payload, header_of(key, kid="")))


@pytest.mark.parametrize(
    "extra", [{"jku": "https://evil.example/jwks.json"}, {"crit": ["exp"]}, {"x5u": "https://evil.example/c"}]
)
def test_unexpected_header_parameters_are_refused(service, key, extra):
    assert_401(service, sign_with_our_key(key, workspace_payload(service), header_of(key, **extra)))


# -- expiry ----------------------------------------------------------------------------------------------


def test_expiry(service, clock):
    token = service.issue_workspace_token(7, "key-1", [])
    clock.now = NOW + TTL - 0.001
    assert service.verify(token).workspace_id == 7
    clock.now = NOW + TTL  # exp == now: expired, no leeway
    assert_expired(service, token)
    clock.now = NOW + TTL + 1
    assert_expired(service, token)


def test_expiry_of_a_fresh_service_without_cache(key, clock):
    token = TokenService(key, ISSUER, TTL, clock=clock).issue_workspace_token(7, "key-1", [])
    clock.now = NOW + TTL
    assert_expired(TokenService(key, ISSUER, TTL, clock=clock), token)


def test_missing_exp_is_2001(service, key):
    payload = workspace_payload(service)
    del payload["exp"]
    assert_401(service, sign_with_our_key(key, payload))


# -- claims ----------------------------------------------------------------------------------------------

WORKSPACE_CLAIMS = ["iss", "sub", "iat", "exp", "jti", "workspaceId", "kind", "keyId", "permissions"]
PROFILE_CLAIMS = ["iss", "sub", "iat", "exp", "jti", "workspaceId", "kind", "keyId", "clientId", "uuid"]


@pytest.mark.parametrize("claim", WORKSPACE_CLAIMS)
def test_missing_workspace_claim(service, key, claim):
    payload = workspace_payload(service)
    assert service.verify(sign_with_our_key(key, payload))  # the unmodified payload is fine
    del payload[claim]
    assert_401(service, sign_with_our_key(key, payload))


@pytest.mark.parametrize("claim", PROFILE_CLAIMS)
def test_missing_profile_claim(service, key, claim):
    payload = profile_payload(service)
    assert service.verify(sign_with_our_key(key, payload))
    del payload[claim]
    assert_401(service, sign_with_our_key(key, payload))


COMMON_BAD = [
    ("iss", "other"),
    ("iss", None),
    ("iat", "1700000000"),
    ("iat", 1_700_000_000.5),
    ("iat", None),
    ("exp", "1800000000"),
    ("exp", 1_800_000_000.0),
    ("exp", True),
    ("exp", None),
    ("jti", 1),
    ("jti", ""),
    ("workspaceId", "7"),
    ("workspaceId", 7.0),
    ("workspaceId", True),
    ("workspaceId", 0),
    ("workspaceId", -7),
    ("workspaceId", None),
    ("keyId", 1),
    ("keyId", ""),
    ("kind", "admin"),
    ("kind", None),
    ("kind", "Workspace"),
]


@pytest.mark.parametrize(
    ("claim", "value"),
    [
        *COMMON_BAD,
        ("permissions", "API_EVENTS_READ"),
        ("permissions", [1]),
        ("permissions", [""]),
        ("permissions", {"API_EVENTS_READ": True}),
        ("permissions", None),
        ("sub", "apikey:other"),
        ("sub", "client:42"),
        ("sub", None),
        ("kind", "profile"),  # a workspace token's claims under the profile kind
        ("clientId", 42),  # claims of the other kind
        ("uuid", CLIENT_UUID),
        ("deviceId", "dev-1"),
    ],
)
def test_mistyped_workspace_claim(service, key, claim, value):
    assert_401(service, sign_with_our_key(key, {**workspace_payload(service), claim: value}))


@pytest.mark.parametrize(
    ("claim", "value"),
    [
        *COMMON_BAD,
        ("clientId", "42"),
        ("clientId", True),
        ("clientId", 0),
        ("clientId", 42.0),
        ("clientId", None),
        ("uuid", 5),
        ("uuid", ""),
        ("uuid", None),
        ("deviceId", 5),
        ("deviceId", None),
        ("sub", "client:43"),
        ("sub", "apikey:key-2"),
        ("kind", "workspace"),
        ("permissions", []),
    ],
)
def test_mistyped_profile_claim(service, key, claim, value):
    assert_401(service, sign_with_our_key(key, {**profile_payload(service), claim: value}))


def test_unknown_claims_are_ignored(service, key):
    assert (
        service.verify(sign_with_our_key(key, {**workspace_payload(service), "future": 1})).workspace_id == 7
    )


def test_wrong_issuer(service, key, clock):
    foreign = TokenService(key, "someone-else", TTL, clock=clock).issue_workspace_token(7, "key-1", [])
    assert_401(service, foreign)


@pytest.mark.parametrize("payload", [[1, 2], "x", 5, None])
def test_payload_not_an_object(service, key, payload):
    assert_401(service, forge(header_of(key), payload, rsa_signer(key, hashes.SHA512())))  # type: ignore[arg-type]


# -- malformed tokens ------------------------------------------------------------------------------------


def _garbage(token: str) -> list[object]:
    head, body, sig = token.split(".")
    not_utf8 = b64(b"\xff\xfe")
    return [
        "",
        "garbage",
        "a.b",
        f"{head}.{body}",
        f"{head}.{body}.{sig}.{sig}",
        f"{head}..{sig}",
        f".{body}.{sig}",
        f"{head}.{body}.",
        f"{head}.{body}.{sig}=",  # padding is not allowed in JWS compact
        f"{head}.{body}.{sig}==",  # ... and pyjwt alone would accept this one
        f"{head}.{body}.{sig[:-4]}+/{sig[-2:]}",  # standard, not URL-safe, alphabet
        f"{head}.{body}.{sig} ",
        f" {token}",
        f"{head}.{body}.{sig[:10]}$${sig[10:]}",  # the base64 decoder would skip these silently
        f"{b64(b'not json')}.{body}.{sig}",
        f"{not_utf8}.{body}.{sig}",
        f"{b64json([1])}.{body}.{sig}",
        f"{head}.{b64(b'not json')}.{sig}",
        f"{head}.{body}{'A' * 20000}.{sig}",
        "A" * 20000,
        None,
        token.encode(),
        123,
    ]


def test_garbage_is_refused(service):
    token = service.issue_workspace_token(7, "key-1", [])
    for bad in _garbage(token):
        assert_401(service, bad)
    assert service.verify(token)


# -- cache -----------------------------------------------------------------------------------------------


def _count_decodes(monkeypatch) -> list[str]:
    calls: list[str] = []
    real = tjwt._DECODER.decode

    def counting(token, *args, **kwargs):
        calls.append(token)
        return real(token, *args, **kwargs)

    monkeypatch.setattr(tjwt._DECODER, "decode", counting)
    return calls


def test_cache_skips_rsa_but_not_expiry(service, clock, monkeypatch):
    calls = _count_decodes(monkeypatch)
    token = service.issue_workspace_token(7, "key-1", [])
    first = service.verify(token)
    assert service.verify(token) is first
    assert len(calls) == 1
    clock.now = NOW + TTL
    assert_expired(service, token)
    assert len(calls) == 1


def test_cache_is_bounded_lru(key, clock, monkeypatch):
    service = TokenService(key, ISSUER, TTL, clock=clock, cache_size=2)
    calls = _count_decodes(monkeypatch)
    a, b, c = (service.issue_workspace_token(i, "key-1", []) for i in (1, 2, 3))
    service.verify(a)
    service.verify(b)
    service.verify(a)  # a is now the most recent
    service.verify(c)  # evicts b
    assert len(service._cache) == 2 and b not in service._cache
    assert len(calls) == 3
    service.verify(a)
    assert len(calls) == 3
    service.verify(b)
    assert len(calls) == 4


def test_refused_and_expired_tokens_are_not_cached(service, key, clock):
    bad = sign_with_our_key(key, {**workspace_payload(service), "workspaceId": "7"})
    assert_401(service, bad)
    assert_401(service, bad)
    token = service.issue_workspace_token(7, "key-1", [])
    clock.now = NOW + TTL
    assert_expired(service, token)
    assert len(service._cache) == 0


def test_cache_is_per_service(key, clock):
    # A token cached by one service is still checked against the other's issuer.
    a = TokenService(key, ISSUER, TTL, clock=clock)
    b = TokenService(key, "other", TTL, clock=clock)
    token = a.issue_workspace_token(7, "key-1", [])
    a.verify(token)
    assert_401(b, token)


# -- key file and JWKS -----------------------------------------------------------------------------------


@pytest.fixture
def fake_generate(monkeypatch) -> list[SigningKey]:
    """Hand out the pre-generated keys in turn (a second generation would yield a different kid)."""
    handed: list[SigningKey] = []

    def generate(cls):
        handed.append(_KEYS[len(handed) % 2])
        return handed[-1]

    monkeypatch.setattr(SigningKey, "generate", classmethod(generate))
    return handed


@pytest.mark.parametrize("umask", [0o022, 0o000, 0o277])
def test_key_file_created_0600_and_reused(tmp_path, fake_generate, umask):
    data_dir = tmp_path / "nested" / "data"
    old = os.umask(umask)
    try:
        first = SigningKey.load_or_create(data_dir)
    finally:
        os.umask(old)
    path = data_dir / KEY_FILE
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert os.listdir(data_dir) == [KEY_FILE]  # no temporary file left behind
    content = path.read_bytes()
    assert content.startswith(b"-----BEGIN PRIVATE KEY-----")

    second = SigningKey.load_or_create(data_dir)
    assert second.kid == first.kid
    assert path.read_bytes() == content
    assert len(fake_generate) == 1


def test_temporary_file_is_never_readable_by_others(tmp_path, fake_generate, monkeypatch):
    modes: list[int] = []
    real_link = os.link

    def spying_link(src, dst, *args, **kwargs):
        modes.append(stat.S_IMODE(os.stat(src).st_mode))
        return real_link(src, dst, *args, **kwargs)

    monkeypatch.setattr(os, "link", spying_link)
    SigningKey.load_or_create(tmp_path)
    assert modes == [0o600]


def test_concurrent_creation_keeps_the_first_key(tmp_path, fake_generate):
    winner = SigningKey.load_or_create(tmp_path)
    # A second process that found no file a moment ago now publishes: it must adopt the winner's key.
    loser = SigningKey._create(tmp_path / KEY_FILE)
    assert len(fake_generate) == 2 and fake_generate[1].kid != winner.kid
    assert loser.kid == winner.kid
    assert os.listdir(tmp_path) == [KEY_FILE]


def test_existing_key_with_loose_mode_is_tightened(tmp_path, fake_generate):
    first = SigningKey.load_or_create(tmp_path)
    (tmp_path / KEY_FILE).chmod(0o644)
    assert SigningKey.load_or_create(tmp_path).kid == first.kid
    assert stat.S_IMODE((tmp_path / KEY_FILE).stat().st_mode) == 0o600


def test_non_rsa_key_file_is_refused(tmp_path):
    pem = ec.generate_private_key(ec.SECP256R1()).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    (tmp_path / KEY_FILE).write_bytes(pem)
    with pytest.raises(ValueError):
        SigningKey.load_or_create(tmp_path)


def test_small_rsa_key_is_refused():
    with pytest.raises(ValueError):
        SigningKey(rsa.generate_private_key(public_exponent=65537, key_size=1024))


def test_kid_is_rfc7638_thumbprint(key):
    # RFC 7638 §3.1 example.
    n = (
        "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4"
        "n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d"
        "0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44"
        "-csFCur-kEgU8awapJzKnqDKgw"
    )
    assert rsa_thumbprint(n, "AQAB") == "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"
    canonical = '{"e":"' + key.e + '","kty":"RSA","n":"' + key.n + '"}'
    assert key.kid == b64(hashlib.sha256(canonical.encode()).digest())


def test_jwks_reconstructs_a_verifying_public_key(service, key):
    jwks = key.jwks()
    assert list(jwks) == ["keys"] and len(jwks["keys"]) == 1
    jwk = jwks["keys"][0]
    assert set(jwk) == {"kty", "use", "alg", "kid", "n", "e"}
    assert (jwk["kty"], jwk["use"], jwk["alg"], jwk["kid"]) == ("RSA", "sig", "RS512", key.kid)
    assert jwk["e"] == "AQAB" and not unb64(jwk["n"]).startswith(b"\x00")  # minimal big-endian
    json.dumps(jwks)  # serialisable as is

    numbers = rsa.RSAPublicNumbers(
        int.from_bytes(unb64(jwk["e"]), "big"), int.from_bytes(unb64(jwk["n"]), "big")
    )
    public = numbers.public_key()
    token = service.issue_workspace_token(7, "key-1", ["API_EVENTS_READ"])
    claims = pyjwt.decode(token, public, algorithms=["RS512"], issuer=ISSUER, options={"verify_exp": False})
    assert claims["workspaceId"] == 7
    # A standard JWKS consumer (pyjwt's PyJWK) accepts it too.
    assert pyjwt.decode(token, pyjwt.PyJWK(jwk).key, algorithms=["RS512"], options={"verify_exp": False})


def test_token_claims_is_frozen(service):
    claims = service.verify(service.issue_workspace_token(7, "key-1", []))
    assert isinstance(claims, TokenClaims)
    with pytest.raises(AttributeError):
        claims.workspace_id = 8  # type: ignore[misc]


def test_ttl_must_be_positive(key):
    with pytest.raises(ValueError):
        TokenService(key, ISSUER, 0)


def test_default_clock_is_wall_time(key):
    service = TokenService(key, ISSUER, TTL)
    assert service.verify(service.issue_workspace_token(7, "key-1", [])).workspace_id == 7


def test_key_path_is_pathlike(tmp_path, fake_generate):
    assert SigningKey.load_or_create(Path(str(tmp_path))).kid == fake_generate[0].kid
