"""Who is calling: bearer tokens (JWT, ES256 or RS256) checked against a JWKS.

Every service validates tokens itself (the gateway only forwards the
`authorization` header), so a caller that talks gRPC directly is held to the same
rules as a browser behind Envoy.

A token must carry `exp`, `iat`, `iss`, `aud` and `sub`, and name one person and
one role. The key is chosen by the header's `kid` from the configured JWKS (a file
or a URL, re-read periodically and at once when an unknown `kid` appears, so a new
key can be published before tokens signed with it arrive and two keys are valid
during a rotation). Only asymmetric algorithms are accepted and the algorithm must
match the key's type: `alg: none` and HS256 signed with a public key are refused.
A `typ` header other than `JWT` or RFC 9068's `at+jwt` (an ID token, a logout
token) is refused; `at+jwt` can be required.

Where the person and role are (`ClaimLayout`): PHS's own tokens carry them in
`sub` and `role`; a practice's identity provider may put the role in `roles`,
`groups` or `realm_access.roles` (a string or a list) under names of its own,
mapped onto admin, psychologist and client, and the person in a claim of its
choice. A genuine token that names no PHS role, or several, or no person, is
refused as PERMISSION_DENIED (`NoAccessError`): signing in again would not help.

Subjects: psychologists and clients are named by their resource name
(`psychologists/{id}`, `clients/{id}`), which is what ownership checks compare.
Internal callers (the report worker) sign their own tokens, always in the plain
layout (`sub`, `role: service`); when service key ids are configured, only those
keys may sign them and they sign nothing else.
"""

from __future__ import annotations

import contextvars
import datetime as dt
import hashlib
import json
import logging
import os
import threading
import time
import urllib.request
from collections import OrderedDict
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

# Roles and claim settings live in phs_runtime.claims (no JWT libraries: phs_web reads
# them too); re-exported here, where most callers look for them.
from phs_runtime.claims import ADMIN as ADMIN
from phs_runtime.claims import CLIENT as CLIENT
from phs_runtime.claims import PERSON_ROLES as PERSON_ROLES
from phs_runtime.claims import PSYCHOLOGIST as PSYCHOLOGIST
from phs_runtime.claims import claim_settings_from_env
from phs_runtime.claims import parse_list as parse_list
from phs_runtime.claims import parse_role_map as parse_role_map
from phs_runtime.config import ConfigError, env_bool, env_float, env_str

log = logging.getLogger(__name__)

# Internal callers (the report worker); never issued to people.
SERVICE = "service"
ROLES = frozenset({ADMIN, PSYCHOLOGIST, CLIENT, SERVICE})
# The resource collection a role's subject must name.
_SUBJECT_COLLECTION = {PSYCHOLOGIST: "psychologists", CLIENT: "clients"}

ALGORITHMS = {"ES256": "EC", "RS256": "RSA"}
AUTHORIZATION_HEADER = "authorization"
_MAX_TOKEN_BYTES = 8192
# RFC 9068 `typ` of a JWT access token; media types compare case-insensitively.
AT_JWT = "at+jwt"
_AT_JWT_TYPES = frozenset({AT_JWT, "application/at+jwt"})
_ACCEPTED_TYPES = _AT_JWT_TYPES | {"jwt"}


class AuthenticationError(Exception):
    """The token is missing or not acceptable. The message says why, for logs and
    for the caller (it never contains the token)."""


class NoAccessError(AuthenticationError):
    """The token is genuine but names no PHS role, several, or no person: the caller
    is known and has no access (PERMISSION_DENIED, where the others are
    UNAUTHENTICATED)."""


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


def claim_at(claims: Mapping[str, Any], path: str) -> Any:
    """The claim `path`: a top-level claim of exactly that name (names such as
    `https://example.org/roles` hold dots), else the dotted path through nested
    objects (`realm_access.roles`). None when absent."""
    if path in claims:
        return claims[path]
    value: Any = claims
    for part in path.split("."):
        if not isinstance(value, Mapping) or part not in value:
            return None
        value = value[part]
    return value


@dataclass(frozen=True)
class ClaimLayout:
    """Where a token names the person and their role.

    `role_claim` holds a string or a list of strings; `role_map` translates the
    provider's values into PHS roles (values it does not name are ignored, as
    providers list unrelated groups and roles beside them). Without a map the
    values are PHS role names themselves. A token whose values give no PHS role,
    or more than one, is refused: a person has exactly one role here, and picking
    the strongest silently would widen access behind an operator's back.
    """

    subject_claim: str = "sub"
    role_claim: str = "role"
    role_map: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def from_env(cls) -> ClaimLayout:
        subject_claim, role_claim, role_map = claim_settings_from_env()
        return cls(subject_claim=subject_claim, role_claim=role_claim, role_map=role_map)

    def _accepted(self) -> list[str]:
        return sorted(self.role_map) if self.role_map else sorted(PERSON_ROLES)

    def role_of(self, claims: Mapping[str, Any]) -> str:
        raw = claim_at(claims, self.role_claim)
        values = [raw] if isinstance(raw, str) else raw if isinstance(raw, list) else []
        found = {
            self.role_map.get(v) if self.role_map else v if v in PERSON_ROLES else None
            for v in values
            if isinstance(v, str)
        } - {None}
        if not found:
            raise NoAccessError(
                f"the token's role must be one of {', '.join(self._accepted())} (claim {self.role_claim!r})"
            )
        if len(found) > 1:
            raise NoAccessError(
                f"the token names several roles ({', '.join(sorted(str(r) for r in found))}); "
                "a person has one role"
            )
        return str(found.pop())

    def subject_of(self, claims: Mapping[str, Any]) -> Any:
        """The person's name as the token gives it (checked by the verifier)."""
        subject = claim_at(claims, self.subject_claim)
        if subject is None:
            raise NoAccessError(f"the token names no person (claim {self.subject_claim!r})")
        return subject

    def claims_for(self, subject: str, role: str) -> dict[str, Any]:
        """The claims naming `subject` in `role` in this layout (what the development
        provider issues, so its tokens look like the configured provider's). The role
        is a list except in PHS's own `role` claim, which holds one string. With a
        subject claim of its own, `sub` is an opaque id, as a provider's user id is."""
        value = next((v for v, r in self.role_map.items() if r == role), None) if self.role_map else role
        if value is None:
            raise ConfigError(f"PHS_AUTH_ROLE_MAP maps no provider value to {role!r}")
        opaque = "u-" + hashlib.sha256(subject.encode()).hexdigest()[:24]
        claims: dict[str, Any] = {"sub": subject if self.subject_claim == "sub" else opaque}
        _put(claims, self.subject_claim, subject)
        _put(claims, self.role_claim, value if self.role_claim == "role" else [value])
        return claims


def _put(claims: dict[str, Any], path: str, value: Any) -> None:
    """Set a dotted claim path, making the nested objects on the way."""
    *parents, last = path.split(".")
    target = claims
    for part in parents:
        target = target.setdefault(part, {})
    target[last] = value


@dataclass(frozen=True)
class AuthConfig:
    # Accepted `iss` values; the first is what the services' own tokens carry.
    issuers: tuple[str, ...]
    audience: str
    jwks_file: str | None
    jwks_url: str | None
    refresh_s: float
    leeway_s: float
    layout: ClaimLayout = field(default_factory=ClaimLayout)
    # Clients (`client_id` or `azp`) whose tokens are accepted; empty: any.
    client_ids: tuple[str, ...] = ()
    # Keys that sign service tokens and nothing else; empty: any key may.
    service_key_ids: tuple[str, ...] = ()
    require_at_jwt: bool = False

    @classmethod
    def from_env(cls) -> AuthConfig:
        jwks_file = os.environ.get("PHS_AUTH_JWKS_FILE") or None
        jwks_url = os.environ.get("PHS_AUTH_JWKS_URL") or None
        if not jwks_file and not jwks_url:
            raise ConfigError("set PHS_AUTH_JWKS_FILE or PHS_AUTH_JWKS_URL (the keys that sign tokens)")
        issuers = parse_list(env_str("PHS_AUTH_ISSUER", "phs-dev"))
        if not issuers:
            raise ConfigError("PHS_AUTH_ISSUER names no issuer")
        return cls(
            issuers=issuers,
            audience=env_str("PHS_AUTH_AUDIENCE", "phs-api"),
            jwks_file=jwks_file,
            jwks_url=jwks_url,
            refresh_s=env_float("PHS_AUTH_JWKS_REFRESH_SECONDS", 300.0),
            leeway_s=env_float("PHS_AUTH_LEEWAY_SECONDS", 30.0),
            layout=ClaimLayout.from_env(),
            client_ids=parse_list(os.environ.get("PHS_AUTH_CLIENT_IDS", "")),
            service_key_ids=parse_list(os.environ.get("PHS_AUTH_SERVICE_KEY_IDS", "")),
            require_at_jwt=env_bool("PHS_AUTH_REQUIRE_AT_JWT", False),
        )


@dataclass(frozen=True)
class SigningConfig:
    """The key a service signs its own tokens with (calls to other services)."""

    key_file: str
    key_id: str
    issuer: str
    audience: str

    @classmethod
    def from_env(cls) -> SigningConfig:
        return cls(
            key_file=env_str("PHS_AUTH_SIGNING_KEY_FILE"),
            key_id=env_str("PHS_AUTH_SIGNING_KEY_ID"),
            issuer=parse_list(env_str("PHS_AUTH_ISSUER", "phs-dev"))[0],
            audience=env_str("PHS_AUTH_AUDIENCE", "phs-api"),
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

    def __init__(
        self,
        keys: KeySet,
        issuer: str | Sequence[str],
        audience: str,
        leeway_s: float = 30.0,
        *,
        layout: ClaimLayout | None = None,
        client_ids: Collection[str] = (),
        service_key_ids: Collection[str] = (),
        require_at_jwt: bool = False,
    ) -> None:
        self.keys, self.audience, self.leeway_s = keys, audience, leeway_s
        self.issuers = (issuer,) if isinstance(issuer, str) else tuple(issuer)
        self.layout = layout or ClaimLayout()
        self.client_ids = frozenset(client_ids)
        self.service_key_ids = frozenset(service_key_ids)
        self.require_at_jwt = require_at_jwt
        self._cache: OrderedDict[str, tuple[Principal, float, str, jwt.PyJWK]] = OrderedDict()
        self._cache_lock = threading.Lock()
        self._cache_size = 10_000

    @classmethod
    def from_config(cls, cfg: AuthConfig) -> TokenVerifier:
        return cls(
            KeySet(cfg.jwks_file, cfg.jwks_url, cfg.refresh_s),
            cfg.issuers,
            cfg.audience,
            cfg.leeway_s,
            layout=cfg.layout,
            client_ids=cfg.client_ids,
            service_key_ids=cfg.service_key_ids,
            require_at_jwt=cfg.require_at_jwt,
        )

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
        self._check_type(header.get("typ"))
        claims = self._verified_claims(token, key, alg)
        if self._is_service_token(claims, kid):
            _check_subject(claims["sub"], SERVICE)
            principal = Principal(subject=claims["sub"], role=SERVICE, token_id=str(claims.get("jti", "")))
        else:
            principal = self._person(claims)
        return principal, float(claims["exp"]), kid, key

    def _check_type(self, typ: Any) -> None:
        """RFC 9068: an access token says `typ: at+jwt`; plain `JWT` (or none) is what
        most providers still send. Anything else (an ID token marked as such, a logout
        token) is not an access token."""
        kind = typ.lower() if isinstance(typ, str) else None if typ is None else ""
        if self.require_at_jwt and kind not in _AT_JWT_TYPES:
            raise AuthenticationError(f"the token must be a JWT access token (typ {AT_JWT})")
        if kind is not None and kind not in _ACCEPTED_TYPES:
            raise AuthenticationError(f"the token is not an access token (typ {AT_JWT} or JWT)")

    def _verified_claims(self, token: str, key: jwt.PyJWK, alg: str) -> dict[str, Any]:
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                key.key,
                algorithms=[alg],
                audience=self.audience,
                issuer=self.issuers,
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
        return claims

    def _is_service_token(self, claims: Mapping[str, Any], kid: str) -> bool:
        """Service tokens say `role: service` in the plain layout, whatever the
        provider's; with service key ids configured, exactly those keys sign them."""
        service = claims.get("role") == SERVICE
        if self.service_key_ids:
            if kid in self.service_key_ids and not service:
                raise AuthenticationError("a service key signs service tokens only")
            if service and kid not in self.service_key_ids:
                raise AuthenticationError("a service token must be signed with a service key")
        return service

    def _person(self, claims: Mapping[str, Any]) -> Principal:
        if self.client_ids:
            client = claims.get("client_id", claims.get("azp"))
            if client not in self.client_ids:
                raise AuthenticationError("the token was issued to another client")
        role = self.layout.role_of(claims)
        subject = self.layout.subject_of(claims)
        _check_subject(subject, role)
        return Principal(subject=subject, role=role, token_id=str(claims.get("jti", "")))


def _check_subject(subject: Any, role: str) -> None:
    if not isinstance(subject, str) or not 0 < len(subject) <= 200:
        raise AuthenticationError("the token's subject is malformed")
    collection = _SUBJECT_COLLECTION.get(role)
    if collection is not None:
        rest = subject.removeprefix(f"{collection}/")
        if rest == subject or not rest or "/" in rest:
            raise AuthenticationError(f"a {role} token's subject must be {collection}/{{id}}")


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
    """A signed access token (`typ: at+jwt`, as RFC 9068 asks); the algorithm follows
    the key (ES256 for EC, RS256 for RSA)."""
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
    headers = {"kid": kid, "typ": AT_JWT}
    return jwt.encode(claims, key, algorithm=alg, headers=headers)  # type: ignore[arg-type]


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
    def from_config(cls, config: SigningConfig, subject: str) -> ServiceTokens:
        return cls(config.key_file, config.key_id, subject, config.issuer, config.audience)

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
