"""The OAuth 2 / OpenID Connect machinery of the development provider, on Authlib:
the public client, the grants (authorization code with S256 PKCE and the OpenID
extension, rotating refresh tokens), RFC 9068 JWT access tokens, revocation and
RP-initiated logout, over an in-memory store.

A sign-in is a `Session` (Authlib's "user"): the person, when it started and when
its refresh tokens stop working. Each refresh token is used once; one presented
again ends its session (someone else holds a copy). Ending a session (sign-out,
revocation) stops its refresh tokens and userinfo; its access tokens stay valid
until they expire, as JWTs do everywhere.
"""

from __future__ import annotations

import json
import secrets
import threading
import time
from dataclasses import dataclass, field
from typing import Any, ClassVar

from authlib.integrations.flask_oauth2 import AuthorizationServer
from authlib.oauth2.rfc6749 import (
    AuthorizationCodeMixin,
    ClientMixin,
    InvalidRequestError,
    TokenMixin,
    scope_to_list,
)
from authlib.oauth2.rfc6749.grants import AuthorizationCodeGrant, RefreshTokenGrant
from authlib.oauth2.rfc7009 import RevocationEndpoint
from authlib.oauth2.rfc7636 import CodeChallenge
from authlib.oauth2.rfc9068 import JWTBearerTokenGenerator
from authlib.oidc.core import UserInfo
from authlib.oidc.core.grants import OpenIDCode
from authlib.oidc.rpinitiated import EndSessionEndpoint, EndSessionRequest
from joserfc.jwk import ECKey, KeyParameters, KeySet, RSAKey

from phs_devstack.oidc import SCOPES, Person, ProviderConfig

GRANT_TYPES = ("authorization_code", "refresh_token")
_MAX_ERROR_CHARS = 200


def bounded(text: str | None) -> str | None:
    """An error description cut to a bounded length (it may quote what the caller sent)."""
    if text is None or len(text) <= _MAX_ERROR_CHARS:
        return text
    return text[:_MAX_ERROR_CHARS] + "…"


class Client(ClientMixin):  # type: ignore[misc]
    """The web app: a public client (no secret), code flow only."""

    def __init__(self, cfg: ProviderConfig) -> None:
        self.client_id = cfg.client_id
        self.redirect_uris = cfg.redirect_uris
        # What Authlib's end-session endpoint checks post-logout redirects against.
        self.client_metadata = {"post_logout_redirect_uris": list(cfg.post_logout_redirect_uris)}

    def get_client_id(self) -> str:
        return self.client_id

    def get_default_redirect_uri(self) -> None:
        return None  # every request names its redirect URI

    def get_allowed_scope(self, scope: str) -> str:
        return " ".join(s for s in scope_to_list(scope) or [] if s in SCOPES)

    def check_redirect_uri(self, redirect_uri: str) -> bool:
        return redirect_uri in self.redirect_uris

    def check_client_secret(self, client_secret: str) -> bool:
        return False

    def check_endpoint_auth_method(self, method: str, endpoint: str) -> bool:
        return method == "none"

    def check_response_type(self, response_type: str) -> bool:
        return response_type == "code"

    def check_grant_type(self, grant_type: str) -> bool:
        return grant_type in GRANT_TYPES


@dataclass
class Session:
    """One sign-in: Authlib's "user"."""

    sid: str
    person: Person
    client_id: str
    auth_time: int
    expires_at: float
    ended: bool = False

    def get_user_id(self) -> str:
        return self.person.subject

    @property
    def active(self) -> bool:
        return not self.ended and time.time() < self.expires_at


@dataclass
class Code(AuthorizationCodeMixin):  # type: ignore[misc]
    code: str
    client_id: str
    redirect_uri: str
    scope: str
    nonce: str | None
    code_challenge: str
    code_challenge_method: str
    session: Session
    expires_at: float

    def get_redirect_uri(self) -> str:
        return self.redirect_uri

    def get_scope(self) -> str:
        return self.scope

    def get_nonce(self) -> str | None:
        return self.nonce

    def get_auth_time(self) -> int:
        return self.session.auth_time

    def get_acr(self) -> None:
        return None

    def get_amr(self) -> None:
        return None


@dataclass
class RefreshToken(TokenMixin):  # type: ignore[misc]
    value: str
    client: Client
    scope: str
    session: Session
    used: bool = False

    def check_client(self, client: Client) -> bool:
        return bool(client.get_client_id() == self.client.get_client_id())

    def get_scope(self) -> str:
        return self.scope

    def get_expires_in(self) -> int:
        return max(0, int(self.session.expires_at - time.time()))

    def is_expired(self) -> bool:
        return time.time() >= self.session.expires_at

    def is_revoked(self) -> bool:
        return self.used or self.session.ended

    def get_user(self) -> Session:
        return self.session

    def get_client(self) -> Client:
        return self.client


@dataclass
class Store:
    """Codes, sessions and refresh tokens, in memory, behind one lock."""

    codes: dict[str, Code] = field(default_factory=dict)
    sessions: dict[str, Session] = field(default_factory=dict)
    refresh_tokens: dict[str, RefreshToken] = field(default_factory=dict)
    nonces: dict[str, float] = field(default_factory=dict)  # nonce -> when it may be forgotten
    lock: threading.Lock = field(default_factory=threading.Lock)

    def new_session(self, person: Person, client_id: str, ttl_s: int) -> Session:
        now = time.time()
        session = Session(secrets.token_urlsafe(16), person, client_id, int(now), now + ttl_s)
        with self.lock:
            self._prune(now)
            self.sessions[session.sid] = session
        return session

    def end(self, sid: str) -> None:
        with self.lock:
            session = self.sessions.get(sid)
            if session is not None:
                session.ended = True

    def _prune(self, now: float) -> None:
        """Forget what can no longer be used (called under the lock)."""
        for sid in [s for s, v in self.sessions.items() if now >= v.expires_at]:
            del self.sessions[sid]
        for value in [t for t, v in self.refresh_tokens.items() if v.session.sid not in self.sessions]:
            del self.refresh_tokens[value]
        for code in [c for c, v in self.codes.items() if now >= v.expires_at]:
            del self.codes[code]
        for nonce in [n for n, until in self.nonces.items() if now >= until]:
            del self.nonces[nonce]


class Keys:
    """The signing key (private, for tokens) and the JWKS the provider publishes."""

    def __init__(self, cfg: ProviderConfig) -> None:
        pem = cfg.signing_key_file.read_bytes()
        self.pem, self.kid, self.jwks_file = pem, cfg.key_id, cfg.jwks_file
        key: ECKey | RSAKey
        try:
            key = ECKey.import_key(pem, KeyParameters(kid=cfg.key_id, use="sig", alg="ES256"))
            self.alg = "ES256"
        except ValueError:
            key = RSAKey.import_key(pem, KeyParameters(kid=cfg.key_id, use="sig", alg="RS256"))
            self.alg = "RS256"
        self.private = KeySet([key])

    def public_jwks(self) -> dict[str, Any]:
        """The published JWKS, read on every call so a key added for a rotation shows at once."""
        return dict(json.loads(self.jwks_file.read_text()))


class S256Challenge(CodeChallenge):  # type: ignore[misc]
    """PKCE is mandatory, and only with S256 (`plain` protects nothing)."""

    SUPPORTED_CODE_CHALLENGE_METHOD: ClassVar[list[str]] = ["S256"]
    DEFAULT_CODE_CHALLENGE_METHOD = "S256"

    def validate_code_challenge(self, grant: Any, redirect_uri: str) -> None:
        data = grant.request.payload.data
        if not data.get("code_challenge") or data.get("code_challenge_method") != "S256":
            raise InvalidRequestError("PKCE is required: code_challenge with code_challenge_method=S256")
        super().validate_code_challenge(grant, redirect_uri)


class CodeGrant(AuthorizationCodeGrant):  # type: ignore[misc]
    TOKEN_ENDPOINT_AUTH_METHODS: ClassVar[list[str]] = ["none"]
    server: Provider

    def save_authorization_code(self, code: str, request: Any) -> None:
        data, server = request.payload.data, self.server
        now = time.time()
        with server.store.lock:
            server.store.codes[code] = Code(
                code=code,
                client_id=request.client.get_client_id(),
                redirect_uri=request.payload.redirect_uri,
                scope=request.payload.scope,
                nonce=data.get("nonce"),
                code_challenge=data["code_challenge"],
                code_challenge_method=data["code_challenge_method"],
                session=request.user,
                expires_at=now + server.cfg.code_ttl_s,
            )
            if data.get("nonce"):
                server.store.nonces[data["nonce"]] = now + server.cfg.session_ttl_s

    def query_authorization_code(self, code: str, client: Client) -> Code | None:
        with self.server.store.lock:
            found = self.server.store.codes.get(code)
        if found is None or found.client_id != client.get_client_id() or time.time() >= found.expires_at:
            return None
        return found

    def delete_authorization_code(self, authorization_code: Code) -> None:
        with self.server.store.lock:
            self.server.store.codes.pop(authorization_code.code, None)

    def authenticate_user(self, authorization_code: Code) -> Session | None:
        session = authorization_code.session
        return session if session.active else None


class RefreshGrant(RefreshTokenGrant):  # type: ignore[misc]
    TOKEN_ENDPOINT_AUTH_METHODS: ClassVar[list[str]] = ["none"]
    INCLUDE_NEW_REFRESH_TOKEN = True
    server: Provider

    def authenticate_refresh_token(self, refresh_token: str) -> RefreshToken | None:
        store = self.server.store
        with store.lock:
            token = store.refresh_tokens.get(refresh_token)
        if token is None:
            return None
        if token.used:
            store.end(token.session.sid)  # a rotated-out token came back: a copy is loose
            return None
        if token.is_revoked() or token.is_expired():
            return None
        return token

    def authenticate_user(self, refresh_token: RefreshToken) -> Session:
        return refresh_token.session

    def revoke_old_credential(self, refresh_token: RefreshToken) -> None:
        refresh_token.used = True


class IdTokens(OpenIDCode):  # type: ignore[misc]
    """ID tokens: signed with the development key, carrying the person and role in
    the configured claims, `sid` for logout, and `name` with the `profile` scope."""

    def __init__(self, provider: Provider) -> None:
        super().__init__(require_nonce=False)
        self.provider = provider
        self.DEFAULT_EXPIRES_IN = provider.cfg.access_ttl_s

    def exists_nonce(self, nonce: str, request: Any) -> bool:
        with self.provider.store.lock:
            return nonce in self.provider.store.nonces

    def resolve_client_private_key(self, client: Client) -> KeySet:
        return self.provider.keys.private

    def get_client_algorithm(self, client: Client) -> str:
        return self.provider.keys.alg

    def get_encode_header(self, client: Client) -> dict[str, str]:
        return {"alg": self.provider.keys.alg, "kid": self.provider.keys.kid, "typ": "JWT"}

    def get_client_claims(self, client: Client) -> dict[str, Any]:
        # One audience, as a string: Authlib's end-session endpoint finds the client by it.
        return {"iss": self.provider.cfg.issuer, "aud": client.get_client_id()}

    def generate_user_info(self, user: Session, scope: str) -> UserInfo:
        return UserInfo({**self.provider.user_info(user, scope), "sid": user.sid})


class AccessTokens(JWTBearerTokenGenerator):  # type: ignore[misc]
    """RFC 9068 access tokens (`typ: at+jwt`) for the PHS API audience."""

    def __init__(self, provider: Provider) -> None:
        cfg = provider.cfg
        super().__init__(
            cfg.issuer,
            alg=provider.keys.alg,
            refresh_token_generator=lambda *_args, **_kw: secrets.token_urlsafe(36),
            expires_generator=lambda _client, _grant_type: cfg.access_ttl_s,
        )
        self.provider = provider

    def get_jwks(self) -> KeySet:
        return self.provider.keys.private

    def get_audiences(self, client: Client, user: Session, scope: str) -> str:
        return self.provider.cfg.audience

    def get_auth_time(self, user: Session) -> int:
        return user.auth_time

    def get_extra_claims(self, client: Client, grant_type: str, user: Session, scope: str) -> dict[str, Any]:
        # No display name: access tokens travel to every service; names stay out of them.
        return {**self.provider.cfg.layout.claims_for(user.person.subject, user.person.role), "sid": user.sid}


class Revocation(RevocationEndpoint):  # type: ignore[misc]
    """RFC 7009: revoking a refresh token ends its sign-in. Access tokens are JWTs
    and cannot be recalled (the answer is 200 all the same, as the RFC asks)."""

    CLIENT_AUTH_METHODS: ClassVar[list[str]] = ["none"]
    server: Provider

    def query_token(self, token_string: str, token_type_hint: str | None) -> RefreshToken | None:
        with self.server.store.lock:
            return self.server.store.refresh_tokens.get(token_string)

    def revoke_token(self, token: RefreshToken, request: Any) -> None:
        self.server.store.end(token.session.sid)


class EndSession(EndSessionEndpoint):  # type: ignore[misc]
    """RP-initiated logout: with the ID token as hint, the sign-in it names ends."""

    server: Provider

    def get_server_jwks(self) -> dict[str, Any]:
        return self.server.keys.public_jwks()

    def end_session(self, end_session_request: EndSessionRequest) -> None:
        claims = end_session_request.id_token_claims or {}
        if isinstance(claims.get("sid"), str):
            self.server.store.end(claims["sid"])


class Provider(AuthorizationServer):  # type: ignore[misc]
    """Authlib's Flask authorization server with this provider's parts plugged in."""

    def __init__(self, cfg: ProviderConfig) -> None:
        super().__init__()
        self.cfg, self.store, self.keys, self.client = cfg, Store(), Keys(cfg), Client(cfg)
        self._query_client = lambda client_id: self.client if client_id == cfg.client_id else None
        self._save_token = self._save
        self.register_token_generator("default", AccessTokens(self))
        self.scopes_supported = None  # unknown scopes are dropped, not refused (Client.get_allowed_scope)
        self.register_grant(CodeGrant, [S256Challenge(required=True), IdTokens(self)])
        self.register_grant(RefreshGrant)
        self.register_endpoint(Revocation)
        self.register_endpoint(EndSession)

    def handle_error_response(self, request: Any, error: Any) -> Any:
        error.description = bounded(error.description)  # Authlib quotes request values in some
        return super().handle_error_response(request, error)

    def load_config(self, config: Any) -> None:
        """Called by init_app: keep the JWT generator registered above, not Authlib's
        default (opaque) one."""

    def _save(self, token: dict[str, Any], request: Any) -> None:
        if "refresh_token" in token:
            record = RefreshToken(token["refresh_token"], self.client, token.get("scope", ""), request.user)
            with self.store.lock:
                self.store.refresh_tokens[record.value] = record

    def user_info(self, session: Session, scope: str) -> dict[str, Any]:
        """The person's claims for the ID token and userinfo: the configured person
        and role claims, and the display name with the `profile` scope."""
        person = session.person
        claims: dict[str, Any] = self.cfg.layout.claims_for(person.subject, person.role)
        if "profile" in (scope_to_list(scope) or []):
            claims["name"] = person.display_name
        return claims

    def metadata(self) -> dict[str, Any]:
        """The discovery document (OpenID Connect Discovery 1.0, RFC 8414)."""
        iss = self.cfg.issuer
        return {
            "issuer": iss,
            "authorization_endpoint": f"{iss}/authorize",
            "token_endpoint": f"{iss}/token",
            "userinfo_endpoint": f"{iss}/userinfo",
            "jwks_uri": f"{iss}/jwks.json",
            "end_session_endpoint": f"{iss}/end_session",
            "revocation_endpoint": f"{iss}/revoke",
            "scopes_supported": list(SCOPES),
            "response_types_supported": ["code"],
            "response_modes_supported": ["query"],
            "grant_types_supported": list(GRANT_TYPES),
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": [self.keys.alg],
            "token_endpoint_auth_methods_supported": ["none"],
            "revocation_endpoint_auth_methods_supported": ["none"],
            "code_challenge_methods_supported": ["S256"],
            "prompt_values_supported": ["none", "login"],
            "claims_supported": sorted(
                {"sub", "name", "sid", "iss", "aud", "exp", "iat", "auth_time", "nonce"}
                | {self.cfg.layout.subject_claim.split(".")[0], self.cfg.layout.role_claim.split(".")[0]}
            ),
        }
