"""Who is calling: bearer tokens (JWT, ES256 or RS256) checked against a JWKS.

Every service validates tokens itself (the gateway only forwards the
`authorization` header), so a caller that talks gRPC directly is held to the same
rules as a browser behind Envoy.

A token must carry `exp`, `iat`, `iss`, `aud`, `sub` and `role`. The key is
chosen by the header's `kid` from the configured JWKS (a file or a URL, re-read
periodically and at once when an unknown `kid` appears, so a new key can be
published before tokens signed with it arrive and two keys are valid during a
rotation). Only asymmetric algorithms are accepted and the algorithm must match
the key's type: `alg: none` and HS256 signed with a public key are refused.

Subjects: psychologists and clients are named by their resource name
(`psychologists/{id}`, `clients/{id}`), which is what ownership checks compare.
"""

from __future__ import annotations

import contextvars
import datetime as dt
import json
import logging
import os
import threading
import time
import urllib.request
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from phs_runtime.config import ConfigError, env_float, env_str

log = logging.getLogger(__name__)

ADMIN = "admin"
PSYCHOLOGIST = "psychologist"
CLIENT = "client"
# Internal callers (the report worker); never issued to people.
SERVICE = "service"
ROLES = frozenset({ADMIN, PSYCHOLOGIST, CLIENT, SERVICE})
# The resource collection a role's subject must name.
_SUBJECT_COLLECTION = {PSYCHOLOGIST: "psychologists", CLIENT: "clients"}

ALGORITHMS = {"ES256": "EC", "RS256": "RSA"}
AUTHORIZATION_HEADER = "authorization"
_MAX_TOKEN_BYTES = 8192


class AuthenticationError(Exception):
    """The token is missing or not acceptable. The message says why, for logs and
    for the caller (it never contains the token)."""


@dataclass(frozen=True)
class Principal:
    subject: str
    role: str
    token_id: str = ""

    @property
    def resource_id(self) -> str | None:
        """The id in `psychologists/{id}` or `clients/{id}` for those roles."""
        collection = _SUBJECT_COLLECTION.get(self.role)
        if collection is None:
            return None
        return self.subject.removeprefix(f"{collection}/")


_principal: contextvars.ContextVar[Principal | None] = contextvars.ContextVar("principal", default=None)


def current_principal() -> Principal | None:
    return _principal.get()


def set_principal(principal: Principal | None) -> contextvars.Token[Principal | None]:
    return _principal.set(principal)


def reset_principal(token: contextvars.Token[Principal | None]) -> None:
    _principal.reset(token)


@dataclass(frozen=True)
class AuthConfig:
    issuer: str
    audience: str
    jwks_file: str | None
    jwks_url: str | None
    refresh_s: float
    leeway_s: float

    @classmethod
    def from_env(cls) -> AuthConfig:
        jwks_file = os.environ.get("PHS_AUTH_JWKS_FILE") or None
        jwks_url = os.environ.get("PHS_AUTH_JWKS_URL") or None
        if not jwks_file and not jwks_url:
            raise ConfigError("set PHS_AUTH_JWKS_FILE or PHS_AUTH_JWKS_URL (the keys that sign tokens)")
        return cls(
            issuer=env_str("PHS_AUTH_ISSUER", "phs-dev"),
            audience=env_str("PHS_AUTH_AUDIENCE", "phs-api"),
            jwks_file=jwks_file,
            jwks_url=jwks_url,
            refresh_s=env_float("PHS_AUTH_JWKS_REFRESH_SECONDS", 300.0),
            leeway_s=env_float("PHS_AUTH_LEEWAY_SECONDS", 30.0),
        )


class KeySet:
    """The JWKS, re-read every `refresh_s` and (at most every few seconds) when a
    token names a key id it does not know yet."""

    _MIN_RELOAD_S = 5.0

    def __init__(self, file: str | None = None, url: str | None = None, refresh_s: float = 300.0) -> None:
        if not file and not url:
            raise ConfigError("a JWKS file or URL is required")
        self.file, self.url, self.refresh_s = file, url, refresh_s
        self._lock = threading.Lock()
        self._keys: dict[str, jwt.PyJWK] = {}
        self._loaded_at = -1e9
        self._load()  # fail fast on a broken configuration

    def _read(self) -> dict[str, Any]:
        if self.file:
            return dict(json.loads(Path(self.file).read_text()))
        assert self.url
        with urllib.request.urlopen(self.url, timeout=5) as resp:  # noqa: S310 - configured URL
            return dict(json.loads(resp.read()))

    def _load(self) -> None:
        doc = self._read()
        keys: dict[str, jwt.PyJWK] = {}
        for raw in doc.get("keys", []):
            if any(k in raw for k in ("d", "p", "q", "dp", "dq", "qi", "oth", "k")):
                raise ConfigError(
                    f"JWKS key {raw.get('kid')!r} contains private parts; publish public keys only"
                )
            kid, alg = raw.get("kid"), raw.get("alg")
            if not kid or ALGORITHMS.get(alg) != raw.get("kty"):
                log.warning("JWKS entry skipped: it needs a kid and alg ES256 (EC) or RS256 (RSA)")
                continue
            keys[kid] = jwt.PyJWK(raw, algorithm=alg)
        if not keys:
            raise ConfigError("the JWKS holds no usable key")
        self._keys = keys
        self._loaded_at = time.monotonic()

    def get(self, kid: str) -> jwt.PyJWK | None:
        now = time.monotonic()
        key = self._keys.get(kid)
        stale = now - self._loaded_at > self.refresh_s
        if key is None or stale:
            with self._lock:
                if (stale or kid not in self._keys) and now - self._loaded_at > self._MIN_RELOAD_S:
                    try:
                        self._load()
                    except Exception as exc:  # noqa: BLE001 - keep the last good keys
                        log.warning(
                            "JWKS reload failed; keeping the previous keys", extra={"error": str(exc)}
                        )
                        self._loaded_at = now
            key = self._keys.get(kid)
        return key


class TokenVerifier:
    """Checks bearer tokens; remembers recent good ones (a signature check costs more
    than the RPC it guards), always re-checking expiry."""

    def __init__(self, keys: KeySet, issuer: str, audience: str, leeway_s: float = 30.0) -> None:
        self.keys, self.issuer, self.audience, self.leeway_s = keys, issuer, audience, leeway_s
        self._cache: OrderedDict[str, tuple[Principal, float, str, jwt.PyJWK]] = OrderedDict()
        self._cache_lock = threading.Lock()
        self._cache_size = 10_000

    @classmethod
    def from_config(cls, cfg: AuthConfig) -> TokenVerifier:
        return cls(KeySet(cfg.jwks_file, cfg.jwks_url, cfg.refresh_s), cfg.issuer, cfg.audience, cfg.leeway_s)

    def verify_header(self, value: str | None) -> Principal:
        if not value:
            raise AuthenticationError("a bearer token is required (authorization: Bearer <JWT>)")
        scheme, _, token = value.strip().partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise AuthenticationError("the authorization header must be 'Bearer <JWT>'")
        return self.verify(token.strip())

    def verify(self, token: str) -> Principal:
        if len(token) > _MAX_TOKEN_BYTES:
            raise AuthenticationError("the token is too large")
        now = time.time()
        with self._cache_lock:
            hit = self._cache.get(token)
            if hit is not None:
                self._cache.move_to_end(token)
        if hit is not None:
            principal, exp, kid, key = hit
            if now > exp + self.leeway_s:
                raise AuthenticationError("the token has expired")
            if self.keys.get(kid) is key:  # a key withdrawn or replaced in the JWKS ends its tokens
                return principal
        principal, exp, kid, key = self._decode(token)
        with self._cache_lock:
            self._cache[token] = (principal, exp, kid, key)
            if len(self._cache) > self._cache_size:
                self._cache.popitem(last=False)
        return principal

    def _decode(self, token: str) -> tuple[Principal, float, str, jwt.PyJWK]:
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError:
            raise AuthenticationError("the token is not a well-formed JWT") from None
        alg, kid = header.get("alg"), header.get("kid")
        if alg not in ALGORITHMS:
            raise AuthenticationError(f"tokens must be signed with {' or '.join(sorted(ALGORITHMS))}")
        if not isinstance(kid, str) or not kid:
            raise AuthenticationError("the token header names no key (kid)")
        key = self.keys.get(kid)
        if key is None:
            raise AuthenticationError("the token is signed with an unknown key")
        if key.key_type != ALGORITHMS[alg]:
            raise AuthenticationError("the token's algorithm does not match its key")
        try:
            claims = jwt.decode(
                token,
                key.key,
                algorithms=[alg],
                audience=self.audience,
                issuer=self.issuer,
                leeway=self.leeway_s,
                options={"require": ["exp", "iat", "iss", "aud", "sub"]},
            )
        except jwt.ExpiredSignatureError:
            raise AuthenticationError("the token has expired") from None
        except jwt.ImmatureSignatureError:
            raise AuthenticationError("the token is not valid yet") from None
        except jwt.InvalidAudienceError:
            raise AuthenticationError("the token is for another audience") from None
        except jwt.InvalidIssuerError:
            raise AuthenticationError("the token comes from an unknown issuer") from None
        except jwt.MissingRequiredClaimError as exc:
            raise AuthenticationError(f"the token lacks the {exc.claim!r} claim") from None
        except jwt.InvalidSignatureError:
            raise AuthenticationError("the token's signature is invalid") from None
        except jwt.PyJWTError:
            raise AuthenticationError("the token is invalid") from None
        if claims["iat"] > time.time() + self.leeway_s:
            raise AuthenticationError("the token is not valid yet")
        role, subject = claims.get("role"), claims.get("sub")
        if role not in ROLES:
            raise AuthenticationError(f"the token's role must be one of {', '.join(sorted(ROLES))}")
        if not isinstance(subject, str) or not 0 < len(subject) <= 200:
            raise AuthenticationError("the token's subject is malformed")
        collection = _SUBJECT_COLLECTION.get(role)
        if collection is not None:
            rest = subject.removeprefix(f"{collection}/")
            if rest == subject or not rest or "/" in rest:
                raise AuthenticationError(f"a {role} token's subject must be {collection}/{{id}}")
        principal = Principal(subject=subject, role=role, token_id=str(claims.get("jti", "")))
        return principal, float(claims["exp"]), kid, key


# -- minting: development tokens and the services' own tokens ----------------------------


def generate_keys(directory: Path, kid: str = "dev-1") -> tuple[Path, Path]:
    """A new P-256 key pair: `<kid>.pem` (private, 0600) and `jwks.json` (public).
    An existing JWKS keeps its other keys, so a second key can be added for a rotation."""
    directory.mkdir(parents=True, exist_ok=True)
    private = ec.generate_private_key(ec.SECP256R1())
    pem_path = directory / f"{kid}.pem"
    pem_path.touch(mode=0o600)
    pem_path.write_bytes(
        private.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    jwk = json.loads(jwt.algorithms.ECAlgorithm.to_jwk(private.public_key()))
    jwk.update({"kid": kid, "alg": "ES256", "use": "sig"})
    jwks_path = directory / "jwks.json"
    existing = json.loads(jwks_path.read_text())["keys"] if jwks_path.exists() else []
    keys = [k for k in existing if k.get("kid") != kid] + [jwk]
    jwks_path.write_text(json.dumps({"keys": keys}, indent=2) + "\n")
    return pem_path, jwks_path


def mint(
    private_key_pem: bytes,
    kid: str,
    *,
    subject: str,
    role: str,
    issuer: str,
    audience: str,
    ttl: dt.timedelta = dt.timedelta(hours=1),
    extra: dict[str, Any] | None = None,
) -> str:
    """A signed token; the algorithm follows the key (ES256 for EC, RS256 for RSA)."""
    key = serialization.load_pem_private_key(private_key_pem, password=None)
    alg = "ES256" if isinstance(key, ec.EllipticCurvePrivateKey) else "RS256"
    now = int(time.time())
    claims = {
        "iss": issuer,
        "aud": audience,
        "sub": subject,
        "role": role,
        "iat": now,
        "exp": now + int(ttl.total_seconds()),
        **(extra or {}),
    }
    return jwt.encode(claims, key, algorithm=alg, headers={"kid": kid})  # type: ignore[arg-type]


class TokenSource(Protocol):
    """Gives the `authorization` header value for an outgoing call."""

    def header(self) -> str: ...


@dataclass(frozen=True)
class StaticToken:
    token: str

    def header(self) -> str:
        return f"Bearer {self.token}"


class ServiceTokens:
    """A service's own short-lived token, re-minted before it expires."""

    def __init__(
        self, key_file: str, kid: str, subject: str, issuer: str, audience: str, ttl_s: float = 300.0
    ) -> None:
        self._pem = Path(key_file).read_bytes()
        self.kid, self.subject, self.issuer, self.audience, self.ttl_s = kid, subject, issuer, audience, ttl_s
        self._token = ""
        self._renew_at = 0.0
        self._lock = threading.Lock()

    @classmethod
    def from_env(cls, subject: str) -> ServiceTokens:
        return cls(
            env_str("PHS_AUTH_SIGNING_KEY_FILE"),
            env_str("PHS_AUTH_SIGNING_KEY_ID"),
            subject,
            env_str("PHS_AUTH_ISSUER", "phs-dev"),
            env_str("PHS_AUTH_AUDIENCE", "phs-api"),
        )

    def header(self) -> str:
        with self._lock:
            if time.monotonic() >= self._renew_at:
                self._token = mint(
                    self._pem,
                    self.kid,
                    subject=self.subject,
                    role=SERVICE,
                    issuer=self.issuer,
                    audience=self.audience,
                    ttl=dt.timedelta(seconds=self.ttl_s),
                )
                self._renew_at = time.monotonic() + self.ttl_s / 2
            return f"Bearer {self._token}"
