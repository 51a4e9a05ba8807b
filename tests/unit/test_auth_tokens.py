"""Bearer tokens.

First the verifier on its own, with real keys generated in temporary folders: what
it accepts, every way a token is refused (expiry, audience, issuer, `alg: none`,
HS256 keyed with the public key, tampering, unknown keys, missing claims, bad
roles and subjects), JWKS loading, and key rotation with the verified-token cache.

Then end to end on the running stack: each refusal over gRPC directly and over
REST through Envoy is UNAUTHENTICATED / 401 with an ErrorInfo, never echoes the
token, and is audited; health and reflection stay open.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import hmac
import json
import re
import time
import urllib.parse
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from google.protobuf import descriptor_pool
from google.protobuf.message import Message
from google.protobuf.timestamp_pb2 import Timestamp
from google.rpc import error_details_pb2
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha.proto_reflection_descriptor_database import ProtoReflectionDescriptorDatabase
from grpc_status import rpc_status

from phs.audit.v1 import audit_pb2
from phs.reports.v1 import reports_service_pb2 as rs
from phs.reports.v1 import reports_service_pb2_grpc as rs_grpc
from phs.scheduling.v1 import resources_pb2 as sr
from phs.scheduling.v1 import scheduling_service_pb2 as ss
from phs.scheduling.v1 import scheduling_service_pb2_grpc as ss_grpc
from phs_devstack import DEV_AUDIENCE, DEV_ISSUER, DEV_KID, Stack
from phs_runtime.auth import AuthenticationError, KeySet, Principal, TokenVerifier, generate_keys, mint
from phs_runtime.config import ConfigError
from tests.conftest import token_for
from tests.helpers import channel, rest

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


# -- end to end: refusals over gRPC and REST, and their audit entries -------------------------


@dataclass(frozen=True)
class Rpc:
    service: str  # "scheduling" or "reports"
    method: str  # the full gRPC method
    request: Message
    http_method: str
    path: str
    body: Any = None

    def target(self, stack: Stack) -> str:
        return stack.scheduling_target if self.service == "scheduling" else stack.reports_target


_SCHEDULING = "/phs.scheduling.v1.SchedulingService/"
_APPOINTMENT = {"client": "clients/no-such-client", "sessionType": "sessionTypes/90834"}
RPCS = {
    "ListPsychologists": Rpc(
        "scheduling",
        _SCHEDULING + "ListPsychologists",
        ss.ListPsychologistsRequest(page_size=5),
        "GET",
        "/v1/psychologists?pageSize=5",
    ),
    # A client that does not exist: a refusal must not reveal that (401, not 404).
    "GetClient": Rpc(
        "scheduling",
        _SCHEDULING + "GetClient",
        ss.GetClientRequest(name="clients/no-such-client"),
        "GET",
        "/v1/clients/no-such-client",
    ),
    "CreateAppointment": Rpc(
        "scheduling",
        _SCHEDULING + "CreateAppointment",
        ss.CreateAppointmentRequest(
            parent="psychologists/no-such-psychologist",
            appointment=sr.Appointment(
                client=_APPOINTMENT["client"], session_type=_APPOINTMENT["sessionType"]
            ),
        ),
        "POST",
        "/v1/psychologists/no-such-psychologist/appointments",
        _APPOINTMENT,
    ),
    "ListReports": Rpc(
        "reports",
        "/phs.reports.v1.ReportService/ListReports",
        rs.ListReportsRequest(page_size=5),
        "GET",
        "/v1/reports?pageSize=5",
    ),
}


@dataclass(frozen=True)
class BadCredential:
    header: str | None  # the whole authorization header value, None for none
    secret: str  # what must never be echoed back ("" for nothing)
    reason: str  # a regex the error message matches: the check that refused it


def _bearer(token: str, reason: str) -> BadCredential:
    return BadCredential(f"Bearer {token}", token, reason)


@pytest.fixture(scope="module")
def bad_credentials(dev_keys: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, BadCredential]:
    """Every kind of unacceptable credential for the stack's development key."""
    pem = (dev_keys / f"{DEV_KID}.pem").read_bytes()
    claims = _claims(subject="staff/mallory", role="admin", issuer=DEV_ISSUER, audience=DEV_AUDIENCE)
    client_token = token_for(dev_keys, "clients/mallory", "client")
    foreign_pem = generate_keys(tmp_path_factory.mktemp("foreign-key"), DEV_KID)[0].read_bytes()
    basic = base64.b64encode(b"admin:hunter2").decode()
    return {
        "none": BadCredential(None, "", "bearer token is required"),
        "empty-bearer": BadCredential("Bearer ", "", "Bearer <JWT>"),
        "basic": BadCredential(f"Basic {basic}", basic, "Bearer <JWT>"),
        "garbage": _bearer("garbage-" + uuid.uuid4().hex, "well-formed"),
        "expired": _bearer(token_for(dev_keys, "staff/x", "admin", ttl=dt.timedelta(hours=-1)), "expired"),
        "wrong-aud": _bearer(
            mint(pem, DEV_KID, subject="staff/x", role="admin", issuer=DEV_ISSUER, audience="other-api"),
            "audience",
        ),
        "wrong-iss": _bearer(
            mint(pem, DEV_KID, subject="staff/x", role="admin", issuer="evil", audience=DEV_AUDIENCE),
            "issuer",
        ),
        "alg-none": _bearer(_alg_none(claims, DEV_KID), "ES256 or RS256"),
        "hs256-public-key": _bearer(
            _hs256_with(_public_pem_from_jwks(dev_keys / "jwks.json", DEV_KID), claims, DEV_KID),
            "ES256 or RS256",
        ),
        "tampered-role": _bearer(_with_payload(client_token, _make_admin), "signature"),
        "tampered-signature": _bearer(
            _with_flipped_signature(token_for(dev_keys, "staff/x", "admin")), "signature"
        ),
        "foreign-key": _bearer(
            mint(
                foreign_pem,
                DEV_KID,
                subject="staff/x",
                role="admin",
                issuer=DEV_ISSUER,
                audience=DEV_AUDIENCE,
            ),
            "signature",
        ),
        "bad-subject": _bearer(token_for(dev_keys, "clients/1", "psychologist"), "subject must be"),
    }


CREDENTIALS = [
    "none",
    "empty-bearer",
    "basic",
    "garbage",
    "expired",
    "wrong-aud",
    "wrong-iss",
    "alg-none",
    "hs256-public-key",
    "tampered-role",
    "tampered-signature",
    "foreign-key",
    "bad-subject",
]


def _grpc(rpc: Rpc, target: str, metadata: list[tuple[str, str]]) -> bytes:
    """One unary call on a channel that adds no token of its own."""
    with channel(target, token=None) as ch:
        call = ch.unary_unary(
            rpc.method,
            request_serializer=lambda m: m.SerializeToString(),
            response_deserializer=lambda b: b,
        )
        return bytes(call(rpc.request, metadata=tuple(metadata), timeout=10))


def _error_info(err: grpc.RpcError) -> error_details_pb2.ErrorInfo:
    status = rpc_status.from_call(err)  # type: ignore[arg-type]
    assert status is not None, "no rich status"
    for detail in status.details:
        info = error_details_pb2.ErrorInfo()
        if detail.Unpack(info):
            return info
    raise AssertionError(f"no ErrorInfo in {status}")


def _audit_events(stack: Stack, rpc: Rpc, since: dt.datetime) -> list[Any]:
    """The log's denied events for the RPC's method since `since`, as admin."""
    start = Timestamp()
    start.FromDatetime(since)
    request = audit_pb2.ListAuditEventsRequest(
        parent=f"auditLogs/{rpc.service}",
        method=rpc.method,
        outcome=audit_pb2.AuditEvent.OUTCOME_SERIOUS_FAILURE,
        start_time=start,
        page_size=1000,
    )
    with channel(rpc.target(stack)) as ch:
        stub: Any = (
            ss_grpc.SchedulingServiceStub(ch)
            if rpc.service == "scheduling"
            else rs_grpc.ReportServiceStub(ch)
        )
        return list(stub.ListAuditEvents(request, timeout=10).audit_events)


def _assert_audited(stack: Stack, rpc: Rpc, since: dt.datetime, rid: str) -> None:
    mine = [e for e in _audit_events(stack, rpc, since) if e.request_id == rid]
    assert len(mine) == 1, f"{len(mine)} audit events for request {rid}"
    event = mine[0]
    assert event.status_code == "UNAUTHENTICATED"
    assert event.outcome == audit_pb2.AuditEvent.OUTCOME_SERIOUS_FAILURE
    assert (event.agent.subject, event.agent.role) == ("", "")
    assert event.method == rpc.method
    assert event.name.startswith(f"auditLogs/{rpc.service}/events/")


@pytest.fixture
def since() -> dt.datetime:
    """A little before the test's calls (record_time is the server's clock, this host's)."""
    return dt.datetime.now(dt.UTC) - dt.timedelta(seconds=2)


@pytest.mark.parametrize("credential", CREDENTIALS)
@pytest.mark.parametrize("rpc_name", list(RPCS))
def test_grpc_refuses_bad_credentials_and_audits(
    stack: Stack,
    bad_credentials: dict[str, BadCredential],
    since: dt.datetime,
    rpc_name: str,
    credential: str,
) -> None:
    rpc, bad = RPCS[rpc_name], bad_credentials[credential]
    rid = f"auth-test-{uuid.uuid4()}"
    metadata = [("x-request-id", rid)]
    if bad.header is not None:
        metadata.append(("authorization", bad.header))
    with pytest.raises(grpc.RpcError) as caught:
        _grpc(rpc, rpc.target(stack), metadata)
    err = caught.value
    assert err.code() == grpc.StatusCode.UNAUTHENTICATED, err.details()
    assert re.search(bad.reason, err.details() or ""), err.details()
    if bad.secret:
        assert bad.secret not in (err.details() or "")
        assert bad.secret not in repr(err.trailing_metadata())
    assert _error_info(err).reason == "UNAUTHENTICATED"
    _assert_audited(stack, rpc, since, rid)


@pytest.mark.parametrize("credential", CREDENTIALS)
@pytest.mark.parametrize("rpc_name", list(RPCS))
def test_rest_refuses_bad_credentials_and_audits(
    stack: Stack,
    bad_credentials: dict[str, BadCredential],
    since: dt.datetime,
    rpc_name: str,
    credential: str,
) -> None:
    rpc, bad = RPCS[rpc_name], bad_credentials[credential]
    rid = f"auth-test-{uuid.uuid4()}"
    headers = {"x-request-id": rid}
    if bad.header is not None:
        headers["authorization"] = bad.header
    resp = rest(stack.rest_url, rpc.http_method, rpc.path, rpc.body, headers, token=None)
    assert resp.status == 401, resp.body
    assert resp.body["code"] == 16  # UNAUTHENTICATED
    assert re.search(bad.reason, resp.body["message"]), resp.body
    assert resp.detail("google.rpc.ErrorInfo")["reason"] == "UNAUTHENTICATED"
    assert resp.headers.get("x-request-id") == rid
    if bad.secret:
        assert bad.secret not in json.dumps(resp.body)
        assert bad.secret not in json.dumps(resp.headers)
    _assert_audited(stack, rpc, since, rid)


@pytest.mark.parametrize("rpc_name", list(RPCS))
def test_the_same_calls_pass_authentication_with_a_valid_token(stack: Stack, rpc_name: str) -> None:
    """The control for the refusals above: the admin token gets past authentication
    (the made-up resources then end NOT_FOUND or INVALID_ARGUMENT, never OK for a write)."""
    rpc = RPCS[rpc_name]
    with channel(rpc.target(stack)) as ch:
        call = ch.unary_unary(
            rpc.method, request_serializer=lambda m: m.SerializeToString(), response_deserializer=lambda b: b
        )
        try:
            call(rpc.request, timeout=10)
            code = grpc.StatusCode.OK
        except grpc.RpcError as err:
            code = err.code()
    assert code not in (grpc.StatusCode.UNAUTHENTICATED, grpc.StatusCode.PERMISSION_DENIED)
    resp = rest(stack.rest_url, rpc.http_method, rpc.path, rpc.body)
    assert resp.status not in (401, 403), resp.body
    if rpc.http_method == "POST":
        assert resp.status >= 400 and code is not grpc.StatusCode.OK


def test_grpc_channel_with_an_expired_token_is_refused(stack: Stack, dev_keys: Path) -> None:
    """The helpers' token channel, as a gRPC client would use it."""
    expired = token_for(dev_keys, "staff/x", "admin", ttl=dt.timedelta(minutes=-10))
    with channel(stack.scheduling_target, token=expired) as ch:
        stub = ss_grpc.SchedulingServiceStub(ch)
        with pytest.raises(grpc.RpcError) as caught:
            stub.ListPsychologists(ss.ListPsychologistsRequest(), timeout=10)
    assert caught.value.code() == grpc.StatusCode.UNAUTHENTICATED
    assert "expired" in (caught.value.details() or "")
    assert expired not in (caught.value.details() or "")
    with channel(stack.reports_target, token=expired) as ch, pytest.raises(grpc.RpcError) as caught:
        rs_grpc.ReportServiceStub(ch).ListReports(rs.ListReportsRequest(), timeout=10)
    assert caught.value.code() == grpc.StatusCode.UNAUTHENTICATED


def test_audit_log_over_rest_shows_the_denied_call(stack: Stack, since: dt.datetime) -> None:
    rid = f"auth-test-{uuid.uuid4()}"
    denied = rest(stack.rest_url, "GET", "/v1/reports", headers={"x-request-id": rid}, token=None)
    assert denied.status == 401
    query = urllib.parse.urlencode(
        {
            "method": "/phs.reports.v1.ReportService/ListReports",
            "outcome": "OUTCOME_SERIOUS_FAILURE",
            "pageSize": 1000,
            "startTime": since.isoformat().replace("+00:00", "Z"),
        }
    )
    listed = rest(stack.rest_url, "GET", f"/v1/auditLogs/reports/events?{query}")
    assert listed.status == 200, listed.body
    mine = [e for e in listed.body.get("auditEvents", []) if e.get("requestId") == rid]
    assert len(mine) == 1, listed.body
    event = mine[0]
    assert event["statusCode"] == "UNAUTHENTICATED"
    assert event["outcome"] == "OUTCOME_SERIOUS_FAILURE"
    assert not event.get("agent", {}).get("subject")
    assert event["method"] == "/phs.reports.v1.ReportService/ListReports"
    # The audit log itself is admin only: without a token it is refused too.
    assert rest(stack.rest_url, "GET", f"/v1/auditLogs/reports/events?{query}", token=None).status == 401


@pytest.fixture(params=["scheduling_target", "reports_target", "worker_target"])
def open_target(request: pytest.FixtureRequest, stack: Stack) -> Iterator[str]:
    yield str(getattr(stack, request.param))


@pytest.mark.parametrize("header", [None, "Bearer garbage"])
def test_health_needs_no_token(open_target: str, header: str | None) -> None:
    metadata = [("authorization", header)] if header else []
    with channel(open_target, token=None) as ch:
        resp = health_pb2_grpc.HealthStub(ch).Check(
            health_pb2.HealthCheckRequest(service=""), metadata=metadata, timeout=5
        )
    assert resp.status == health_pb2.HealthCheckResponse.SERVING


@pytest.mark.parametrize(
    ("target_attr", "service"),
    [
        ("scheduling_target", "phs.scheduling.v1.SchedulingService"),
        ("reports_target", "phs.reports.v1.ReportService"),
    ],
)
def test_reflection_needs_no_token(stack: Stack, target_attr: str, service: str) -> None:
    with channel(getattr(stack, target_attr), token=None) as ch:
        db = ProtoReflectionDescriptorDatabase(ch)
        assert {service, "grpc.health.v1.Health"} <= set(db.get_services())
        desc = descriptor_pool.DescriptorPool(db).FindServiceByName(service)
        assert "ListAuditEvents" in {m.name for m in desc.methods}


def test_keys_from_a_jwks_url_with_rotation(keys: Keys) -> None:
    """The identity provider's JWKS endpoint, served over real HTTP: keys load from it,
    and a key published there later is picked up on first sight of its kid."""
    import http.server
    import threading

    served = {"doc": json.loads(keys.jwks.read_text())}
    only_ec = {"keys": [k for k in served["doc"]["keys"] if k["kid"] == EC_KID]}
    served["doc"] = only_ec

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = json.dumps(served["doc"]).encode()
            self.send_response(200)
            self.send_header("content-type", "application/json")
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/.well-known/jwks.json"
        key_set = KeySet(url=url)
        key_set._MIN_RELOAD_S = 0  # deterministic: reload at once on an unknown kid
        v = TokenVerifier(key_set, ISS, AUD)
        assert v.verify(_token(keys.ec_pem, EC_KID)).subject == "staff/alice"
        _refused(v, _token(keys.rsa_pem, RSA_KID), "unknown key")
        served["doc"] = json.loads(keys.jwks.read_text())  # the provider publishes the RSA key
        assert v.verify(_token(keys.rsa_pem, RSA_KID)).role == "admin"
        assert v.verify(_token(keys.ec_pem, EC_KID)).role == "admin"  # both valid at once
    finally:
        server.shutdown()
        server.server_close()
