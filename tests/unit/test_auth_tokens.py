"""Bearer tokens.

The verifier on its own, with real keys generated in temporary folders: what
it accepts, every way a token is refused (expiry, audience, issuer, `alg: none`,
HS256 keyed with the public key, tampering, unknown keys, missing claims, bad
roles and subjects), JWKS loading, and key rotation with the verified-token cache.

The same refusals end to end (gRPC and REST, audited): tests/e2e/test_auth_refusals.py;
keys from a JWKS URL over HTTP: tests/integration/test_jwks_url.py.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import json
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from phs_runtime.auth import AuthenticationError, KeySet, Principal, TokenVerifier, generate_keys, mint
from phs_runtime.config import ConfigError

ISS = "phs-unit"
AUD = "phs-unit-api"
EC_KID = "ec-1"
RSA_KID = "rsa-1"


# -- crafting tokens by hand ---------------------------------------------------------------


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _segment(obj: dict[str, Any]) -> str:
    return _b64(json.dumps(obj, separators=(",", ":")).encode())


def _claims(
    *,
    subject: str = "staff/alice",
    role: str = "admin",
    issuer: str = ISS,
    audience: str = AUD,
    ttl_s: int = 3600,
) -> dict[str, Any]:
    now = int(time.time())
    return {"iss": issuer, "aud": audience, "sub": subject, "role": role, "iat": now, "exp": now + ttl_s}


def _sign(claims: dict[str, Any], private_pem: bytes, kid: str) -> str:
    """`claims` exactly as given (nothing added), signed with the key's algorithm."""
    key = serialization.load_pem_private_key(private_pem, password=None)
    alg = "ES256" if isinstance(key, ec.EllipticCurvePrivateKey) else "RS256"
    return jwt.encode(claims, key, algorithm=alg, headers={"kid": kid})  # type: ignore[arg-type]


def _alg_none(claims: dict[str, Any], kid: str, alg: str = "none") -> str:
    return f"{_segment({'alg': alg, 'typ': 'JWT', 'kid': kid})}.{_segment(claims)}."


def _hs256_with(secret: bytes, claims: dict[str, Any], kid: str) -> str:
    """HS256 keyed with `secret` — for the confusion attack, the public key's PEM."""
    signing_input = f"{_segment({'alg': 'HS256', 'typ': 'JWT', 'kid': kid})}.{_segment(claims)}"
    mac = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{_b64(mac)}"


def _public_pem_from_jwks(jwks: Path, kid: str) -> bytes:
    """What an attacker can build from the published JWKS."""
    entry = next(k for k in json.loads(jwks.read_text())["keys"] if k["kid"] == kid)
    public = jwt.PyJWK(entry).key
    return bytes(
        public.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )


def _with_payload(token: str, change: Callable[[dict[str, Any]], None]) -> str:
    """The token with its payload edited and the original signature kept."""
    header, payload, signature = token.split(".")
    claims = json.loads(_unb64(payload))
    change(claims)
    return f"{header}.{_segment(claims)}.{signature}"


def _with_flipped_signature(token: str) -> str:
    header, payload, signature = token.split(".")
    raw = bytearray(_unb64(signature))
    raw[len(raw) // 2] ^= 0x01
    return f"{header}.{payload}.{_b64(bytes(raw))}"


def _make_admin(claims: dict[str, Any]) -> None:
    claims["role"] = "admin"
    claims["sub"] = "staff/mallory"


# -- the verifier on its own -----------------------------------------------------------------


def _add_rsa_key(directory: Path, kid: str) -> bytes:
    """An RS256 key pair: the public half appended to <directory>/jwks.json."""
    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(private.public_key()))
    jwk.update({"kid": kid, "alg": "RS256", "use": "sig"})
    jwks = directory / "jwks.json"
    doc = json.loads(jwks.read_text()) if jwks.exists() else {"keys": []}
    doc["keys"].append(jwk)
    jwks.write_text(json.dumps(doc))
    return private.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


@dataclass(frozen=True)
class Keys:
    jwks: Path
    ec_pem: bytes
    rsa_pem: bytes


@pytest.fixture(scope="module")
def keys(tmp_path_factory: pytest.TempPathFactory) -> Keys:
    directory = tmp_path_factory.mktemp("unit-keys")
    ec_pem_path, jwks = generate_keys(directory, EC_KID)
    rsa_pem = _add_rsa_key(directory, RSA_KID)
    return Keys(jwks, ec_pem_path.read_bytes(), rsa_pem)


@pytest.fixture
def verifier(keys: Keys) -> TokenVerifier:
    return TokenVerifier(KeySet(file=str(keys.jwks)), ISS, AUD, leeway_s=30)


def _token(
    pem: bytes,
    kid: str,
    *,
    subject: str = "staff/alice",
    role: str = "admin",
    issuer: str = ISS,
    audience: str = AUD,
    ttl: dt.timedelta = dt.timedelta(hours=1),
    extra: dict[str, Any] | None = None,
) -> str:
    return mint(pem, kid, subject=subject, role=role, issuer=issuer, audience=audience, ttl=ttl, extra=extra)


def _refused(verifier: TokenVerifier, token: str, reason: str) -> None:
    with pytest.raises(AuthenticationError, match=reason) as err:
        verifier.verify(token)
    assert token not in str(err.value)


@pytest.mark.parametrize("kid", [EC_KID, RSA_KID])
def test_valid_es256_and_rs256_tokens_are_accepted(keys: Keys, verifier: TokenVerifier, kid: str) -> None:
    pem = keys.ec_pem if kid == EC_KID else keys.rsa_pem
    token = _token(pem, kid, subject="psychologists/p1", role="psychologist", extra={"jti": "t-1"})
    assert jwt.get_unverified_header(token)["alg"] == ("ES256" if kid == EC_KID else "RS256")
    principal = verifier.verify(token)
    assert principal == Principal(subject="psychologists/p1", role="psychologist", token_id="t-1")
    assert principal.resource_id == "p1"
    # A second time it comes from the cache, same answer.
    assert verifier.verify(token) == principal
    assert verifier.verify_header(f"Bearer {token}") == principal
    assert verifier.verify_header(f"bearer  {token} ") == principal  # the scheme is case-insensitive


@pytest.mark.parametrize(
    ("subject", "role"),
    [
        ("staff/alice", "admin"),
        ("psychologists/p-1", "psychologist"),
        ("clients/c-1", "client"),
        ("services/reports-worker", "service"),
    ],
)
def test_every_role_with_a_well_formed_subject_is_accepted(
    keys: Keys, verifier: TokenVerifier, subject: str, role: str
) -> None:
    principal = verifier.verify(_token(keys.ec_pem, EC_KID, subject=subject, role=role))
    assert (principal.subject, principal.role) == (subject, role)


@pytest.mark.parametrize("header", [None, "", "Basic dXNlcjpwYXNz", "Bearer", "Bearer   ", "Token abc"])
def test_header_without_a_bearer_token_is_refused(verifier: TokenVerifier, header: str | None) -> None:
    with pytest.raises(AuthenticationError, match=r"[Bb]earer") as err:
        verifier.verify_header(header)
    assert "dXNlcjpwYXNz" not in str(err.value)


def test_expired_beyond_leeway_is_refused_within_leeway_accepted(keys: Keys, verifier: TokenVerifier) -> None:
    _refused(verifier, _token(keys.ec_pem, EC_KID, ttl=dt.timedelta(seconds=-60)), "expired")
    _refused(verifier, _token(keys.ec_pem, EC_KID, ttl=dt.timedelta(hours=-5)), "expired")
    verifier.verify(_token(keys.ec_pem, EC_KID, ttl=dt.timedelta(seconds=-5)))  # 30 s leeway


def test_not_yet_valid_is_refused(keys: Keys, verifier: TokenVerifier) -> None:
    now = int(time.time())
    _refused(verifier, _token(keys.ec_pem, EC_KID, extra={"nbf": now + 120}), "not valid yet")
    _refused(verifier, _token(keys.ec_pem, EC_KID, extra={"iat": now + 120}), "not valid yet")
    # Clock skew within the leeway is tolerated.
    verifier.verify(_token(keys.ec_pem, EC_KID, extra={"nbf": now + 5, "iat": now + 5}))


def test_wrong_audience_and_issuer_are_refused(keys: Keys, verifier: TokenVerifier) -> None:
    _refused(verifier, _token(keys.ec_pem, EC_KID, audience="another-api"), "audience")
    _refused(verifier, _token(keys.ec_pem, EC_KID, issuer="https://evil.example"), "issuer")
    _refused(verifier, _token(keys.rsa_pem, RSA_KID, audience=ISS), "audience")


@pytest.mark.parametrize("alg", ["none", "None", "NONE"])
def test_alg_none_is_refused(keys: Keys, verifier: TokenVerifier, alg: str) -> None:
    _refused(verifier, _alg_none(_claims(), EC_KID, alg), "ES256 or RS256")
    # Even with the signature of a genuine token appended.
    genuine_signature = _token(keys.ec_pem, EC_KID).split(".")[2]
    _refused(verifier, _alg_none(_claims(), EC_KID, alg) + genuine_signature, "ES256 or RS256")


@pytest.mark.parametrize("kid", [EC_KID, RSA_KID])
def test_hs256_keyed_with_the_public_key_is_refused(keys: Keys, verifier: TokenVerifier, kid: str) -> None:
    public_pem = _public_pem_from_jwks(keys.jwks, kid)
    assert b"PUBLIC KEY" in public_pem
    _refused(verifier, _hs256_with(public_pem, _claims(), kid), "ES256 or RS256")
    # The JWKS JSON of the key as the secret, too.
    entry = next(k for k in json.loads(keys.jwks.read_text())["keys"] if k["kid"] == kid)
    _refused(verifier, _hs256_with(json.dumps(entry).encode(), _claims(), kid), "ES256 or RS256")


def test_algorithm_must_match_the_key_type(keys: Keys, verifier: TokenVerifier) -> None:
    # An RS256 token naming the EC key, and an ES256 token naming the RSA key.
    _refused(verifier, _sign(_claims(), keys.rsa_pem, EC_KID), "does not match")
    _refused(verifier, _sign(_claims(), keys.ec_pem, RSA_KID), "does not match")


@pytest.mark.parametrize("kid", [EC_KID, RSA_KID])
def test_tampered_payload_is_refused(keys: Keys, verifier: TokenVerifier, kid: str) -> None:
    pem = keys.ec_pem if kid == EC_KID else keys.rsa_pem
    genuine = _token(pem, kid, subject="clients/c1", role="client")
    assert verifier.verify(genuine).role == "client"
    _refused(verifier, _with_payload(genuine, _make_admin), "signature")

    def longer(claims: dict[str, Any]) -> None:
        claims["exp"] += 86400

    _refused(verifier, _with_payload(genuine, longer), "signature")


@pytest.mark.parametrize("kid", [EC_KID, RSA_KID])
def test_tampered_signature_is_refused(keys: Keys, verifier: TokenVerifier, kid: str) -> None:
    pem = keys.ec_pem if kid == EC_KID else keys.rsa_pem
    genuine = _token(pem, kid)
    _refused(verifier, _with_flipped_signature(genuine), "signature")
    header, payload, _ = genuine.split(".")
    _refused(verifier, f"{header}.{payload}.", "signature|invalid")


def test_unknown_kid_and_foreign_key_are_refused(keys: Keys, verifier: TokenVerifier, tmp_path: Path) -> None:
    foreign_pem = generate_keys(tmp_path, "ghost")[0].read_bytes()
    _refused(verifier, _token(foreign_pem, "ghost"), "unknown key")
    # Signed with a key of the right type but not the published one, under a known kid.
    _refused(verifier, _token(foreign_pem, EC_KID), "signature")
    # No kid at all.
    no_kid = jwt.encode(
        _claims(),
        serialization.load_pem_private_key(keys.ec_pem, password=None),  # type: ignore[arg-type]
        algorithm="ES256",
    )
    _refused(verifier, no_kid, "kid")


def test_garbage_and_oversized_tokens_are_refused(keys: Keys, verifier: TokenVerifier) -> None:
    _refused(verifier, "garbage-" + uuid.uuid4().hex, "well-formed")
    _refused(verifier, "a.b.c", "well-formed|invalid")
    big = _token(keys.ec_pem, EC_KID, extra={"pad": "x" * 9000})
    _refused(verifier, big, "too large")


@pytest.mark.parametrize("claim", ["exp", "iat", "iss", "aud", "sub"])
def test_missing_required_claim_is_refused(keys: Keys, verifier: TokenVerifier, claim: str) -> None:
    claims = _claims()
    del claims[claim]
    _refused(verifier, _sign(claims, keys.ec_pem, EC_KID), repr(claim))


@pytest.mark.parametrize("role", ["superuser", "Admin", "", None])
def test_unknown_or_missing_role_is_refused(keys: Keys, verifier: TokenVerifier, role: str | None) -> None:
    claims = _claims()
    if role is None:
        del claims["role"]
    else:
        claims["role"] = role
    _refused(verifier, _sign(claims, keys.ec_pem, EC_KID), "role must be one of")


@pytest.mark.parametrize(
    ("subject", "role"),
    [
        ("clients/c1", "psychologist"),
        ("psychologists/", "psychologist"),
        ("psychologists/p1/appointments/a1", "psychologist"),
        ("p1", "psychologist"),
        ("staff/psychologists/p1", "psychologist"),
        ("psychologists/p1", "client"),
        ("clients", "client"),
    ],
)
def test_subject_must_name_the_roles_collection(
    keys: Keys, verifier: TokenVerifier, subject: str, role: str
) -> None:
    _refused(verifier, _token(keys.ec_pem, EC_KID, subject=subject, role=role), "subject must be")


def test_malformed_subject_is_refused(keys: Keys, verifier: TokenVerifier) -> None:
    _refused(verifier, _token(keys.ec_pem, EC_KID, subject=""), "subject|sub")
    _refused(verifier, _token(keys.ec_pem, EC_KID, subject="s" * 201), "subject is malformed")


# -- JWKS loading ----------------------------------------------------------------------------


def _write_jwks(path: Path, *entries: dict[str, Any]) -> Path:
    path.write_text(json.dumps({"keys": list(entries)}))
    return path


def _ec_jwk(kid: str, private: bool = False) -> dict[str, Any]:
    key = ec.generate_private_key(ec.SECP256R1())
    jwk = json.loads(jwt.algorithms.ECAlgorithm.to_jwk(key if private else key.public_key()))
    jwk.update({"kid": kid, "alg": "ES256", "use": "sig"})
    return dict(jwk)


def _rsa_private_jwk(kid: str) -> dict[str, Any]:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(key))
    jwk.update({"kid": kid, "alg": "RS256", "use": "sig"})
    return dict(jwk)


def test_jwks_with_private_key_parts_is_refused_at_load(tmp_path: Path) -> None:
    ec_private = _ec_jwk("leaked", private=True)
    assert "d" in ec_private
    with pytest.raises(ConfigError, match="private"):
        KeySet(file=str(_write_jwks(tmp_path / "ec.json", _ec_jwk("ok"), ec_private)))
    rsa_private = _rsa_private_jwk("leaked")
    assert {"d", "p", "q"} <= rsa_private.keys()
    with pytest.raises(ConfigError, match="private"):
        KeySet(file=str(_write_jwks(tmp_path / "rsa.json", rsa_private)))


def test_jwks_with_a_private_key_lacking_alg_is_refused_at_load(tmp_path: Path) -> None:
    """A private key in the published JWKS is a leak whatever else the entry lacks:
    it must stop the service, not be skipped with a generic warning."""
    leaked = _ec_jwk("leaked", private=True)
    del leaked["alg"]
    with pytest.raises(ConfigError, match="private"):
        KeySet(file=str(_write_jwks(tmp_path / "jwks.json", _ec_jwk("ok"), leaked)))


def test_jwks_without_a_usable_asymmetric_key_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError):
        KeySet(file=str(_write_jwks(tmp_path / "empty.json")))
    oct_key = {"kty": "oct", "kid": "sym", "alg": "HS256", "k": _b64(b"0123456789abcdef0123456789abcdef")}
    with pytest.raises(ConfigError):
        KeySet(file=str(_write_jwks(tmp_path / "oct.json", oct_key)))
    mislabelled = {**_ec_jwk("ec"), "alg": "RS256"}  # an EC key claiming RS256
    with pytest.raises(ConfigError):
        KeySet(file=str(_write_jwks(tmp_path / "mislabelled.json", mislabelled)))
    with pytest.raises(ConfigError):
        KeySet()


# -- key rotation and the verified-token cache ----------------------------------------------


@dataclass
class Rotation:
    directory: Path
    keyset: KeySet
    verifier: TokenVerifier

    def pem(self, kid: str) -> bytes:
        return (self.directory / f"{kid}.pem").read_bytes()

    def token(self, kid: str, **kw: Any) -> str:
        return _token(self.pem(kid), kid, **kw)

    def withdraw(self, kid: str) -> None:
        jwks = self.directory / "jwks.json"
        doc = json.loads(jwks.read_text())
        doc["keys"] = [k for k in doc["keys"] if k["kid"] != kid]
        jwks.write_text(json.dumps(doc))


@pytest.fixture
def rotation(tmp_path: Path) -> Rotation:
    _, jwks = generate_keys(tmp_path, "k1")
    keyset = KeySet(file=str(jwks), refresh_s=300)
    # Reload on every unknown kid, not at most every few seconds: deterministic.
    keyset._MIN_RELOAD_S = 0
    return Rotation(tmp_path, keyset, TokenVerifier(keyset, ISS, AUD, leeway_s=0))


def test_unknown_kid_reloads_are_rate_limited(tmp_path: Path) -> None:
    _, jwks = generate_keys(tmp_path, "k1")
    keyset = KeySet(file=str(jwks), refresh_s=300)
    assert KeySet._MIN_RELOAD_S >= 1
    generate_keys(tmp_path, "k2")
    # Just loaded: a burst of unknown kids does not re-read the JWKS each time.
    assert keyset.get("k2") is None
    keyset._MIN_RELOAD_S = 0
    assert keyset.get("k2") is not None


def test_key_rotation_without_restart(rotation: Rotation) -> None:
    old = rotation.token("k1")
    assert rotation.verifier.verify(old).subject == "staff/alice"

    # Publish a second key next to the first; a token signed with it works at once.
    generate_keys(rotation.directory, "k2")
    assert {k["kid"] for k in json.loads((rotation.directory / "jwks.json").read_text())["keys"]} == {
        "k1",
        "k2",
    }
    new = rotation.token("k2", subject="staff/bob")
    assert rotation.verifier.verify(new).subject == "staff/bob"
    # Both keys are valid during the rotation, cached or not.
    assert rotation.verifier.verify(old).subject == "staff/alice"
    assert rotation.verifier.verify(rotation.token("k1", subject="staff/carol")).subject == "staff/carol"

    # Withdraw the old key; the next reload (here: a third key's first token) ends its tokens,
    # including the one already verified and cached.
    rotation.withdraw("k1")
    generate_keys(rotation.directory, "k3")
    assert rotation.verifier.verify(rotation.token("k3")).role == "admin"
    _refused(rotation.verifier, old, "unknown key")
    _refused(rotation.verifier, rotation.token("k1"), "unknown key")
    assert rotation.verifier.verify(new).subject == "staff/bob"


def test_periodic_refresh_withdraws_a_cached_token(tmp_path: Path) -> None:
    _, jwks = generate_keys(tmp_path, "k1")
    generate_keys(tmp_path, "k2")
    keyset = KeySet(file=str(jwks), refresh_s=0.2)
    keyset._MIN_RELOAD_S = 0
    verifier = TokenVerifier(keyset, ISS, AUD, leeway_s=0)
    old = _token((tmp_path / "k1.pem").read_bytes(), "k1")
    verifier.verify(old)
    verifier.verify(old)  # cached

    doc = json.loads(jwks.read_text())
    jwks.write_text(json.dumps({"keys": [k for k in doc["keys"] if k["kid"] != "k1"]}))
    time.sleep(0.3)  # past refresh_s: the next look-up re-reads the file
    _refused(verifier, old, "unknown key")


def test_cache_honours_expiry(rotation: Rotation) -> None:
    exp = int(time.time()) + 2
    token = rotation.token("k1", extra={"exp": exp})
    assert rotation.verifier.verify(token).role == "admin"
    assert rotation.verifier.verify(token).role == "admin"  # now cached
    while time.time() <= exp + 0.05:
        time.sleep(0.05)
    _refused(rotation.verifier, token, "expired")


def test_cache_honours_a_key_replaced_under_the_same_kid(rotation: Rotation) -> None:
    """Re-generating a (compromised) key under the same kid withdraws the old key: a
    token signed with it must be refused whether or not this verifier has seen it."""
    old = rotation.token("k1")
    rotation.verifier.verify(old)  # cached

    generate_keys(rotation.directory, "k1")  # replaces k1
    generate_keys(rotation.directory, "k2")  # any reload will do
    rotation.verifier.verify(rotation.token("k2"))
    assert rotation.verifier.verify(rotation.token("k1")).role == "admin"  # the new k1 works

    fresh = TokenVerifier(KeySet(file=str(rotation.directory / "jwks.json")), ISS, AUD, leeway_s=0)
    _refused(fresh, old, "signature")  # a verifier that never saw it refuses it
    _refused(rotation.verifier, old, "signature")  # so must the one that cached it
