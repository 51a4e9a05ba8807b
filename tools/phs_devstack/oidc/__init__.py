"""A development OpenID Connect provider for the local stack (`make up`, tests).

FOR DEVELOPMENT ONLY: anybody who reaches its sign-in page can sign in as anybody,
without a password. Kubernetes deployments use the practice's own provider
(Keycloak, Entra ID, ...); the Helm chart has no place for this one.

It does what the web app needs from a real provider, so the app is written once:
discovery, JWKS, Authorization Code with PKCE (S256 only) for the public client
`phs-web`, RFC 9068 JWT access tokens signed with the stack's development key (the
key the services already trust), ID tokens, rotating refresh tokens, userinfo,
token revocation and RP-initiated logout, with CORS for the web app's origins.
Person and role claims follow the services' claim settings (PHS_AUTH_SUBJECT_CLAIM,
PHS_AUTH_ROLE_CLAIM, PHS_AUTH_ROLE_MAP), so its tokens look like the configured
provider's. The sign-in page lists practice staff (a fixed list) and the
psychologists and clients the scheduling service holds, read live over gRPC.

State (codes, sessions, refresh tokens) lives in memory: a restart signs everybody
out at the next refresh, which the web app must survive anyway.

This module is light (no Flask): the stack launcher imports it for the settings.
The server is `phs_devstack.oidc.app`, run by `python -m phs_devstack.oidc`.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from phs_runtime.auth import ADMIN, ClaimLayout, parse_list
from phs_runtime.config import ConfigError, env_int, env_str

if TYPE_CHECKING:
    from phs_devstack import Stack

CLIENT_ID = "phs-web"
DEFAULT_PORT = 8090
DEV_BANNER = "Development sign-in — not for real patient data"
SCOPES = ("openid", "profile", "offline_access")


@dataclass(frozen=True)
class Person:
    """Somebody who can sign in: their resource name, PHS role and display name."""

    subject: str
    role: str
    display_name: str


# Practice staff have no record in the scheduling service; these are fixed.
STAFF = (
    Person("staff/alice", ADMIN, "Alice Admin"),
    Person("staff/bob", ADMIN, "Bob Frontdesk"),
)


@dataclass(frozen=True)
class ProviderConfig:
    issuer: str
    client_id: str
    redirect_uris: tuple[str, ...]
    post_logout_redirect_uris: tuple[str, ...]
    audience: str
    signing_key_file: Path
    key_id: str
    jwks_file: Path
    scheduling_target: str
    access_ttl_s: int = 600
    # A sign-in's refresh tokens end this long after it, however often they rotate.
    session_ttl_s: int = 8 * 3600
    code_ttl_s: int = 60
    bind_host: str = "127.0.0.1"
    port: int = DEFAULT_PORT
    layout: ClaimLayout = field(default_factory=ClaimLayout)

    @classmethod
    def from_env(cls) -> ProviderConfig:
        redirect_uris = parse_list(env_str("PHS_OIDC_REDIRECT_URIS"))
        for uri in redirect_uris:
            if urlsplit(uri).scheme not in ("http", "https") or urlsplit(uri).fragment:
                raise ConfigError(f"PHS_OIDC_REDIRECT_URIS: {uri!r} is not an http(s) URL without fragment")
        return cls(
            issuer=env_str("PHS_OIDC_ISSUER").rstrip("/"),
            client_id=env_str("PHS_OIDC_CLIENT_ID", CLIENT_ID),
            redirect_uris=redirect_uris,
            post_logout_redirect_uris=parse_list(os.environ.get("PHS_OIDC_POST_LOGOUT_REDIRECT_URIS", "")),
            audience=env_str("PHS_AUTH_AUDIENCE", "phs-api"),
            signing_key_file=Path(env_str("PHS_OIDC_SIGNING_KEY_FILE")),
            key_id=env_str("PHS_OIDC_SIGNING_KEY_ID"),
            jwks_file=Path(env_str("PHS_AUTH_JWKS_FILE")),
            scheduling_target=env_str("PHS_SCHEDULING_TARGET"),
            access_ttl_s=env_int("PHS_OIDC_ACCESS_TOKEN_SECONDS", 600),
            session_ttl_s=env_int("PHS_OIDC_SESSION_SECONDS", 8 * 3600),
            bind_host=env_str("PHS_OIDC_BIND_HOST", "127.0.0.1"),
            port=env_int("PHS_OIDC_PORT", DEFAULT_PORT),
            layout=ClaimLayout.from_env(),
        )

    @property
    def allowed_origins(self) -> frozenset[str]:
        """The web app's origins (from its redirect URIs): those may call the token,
        userinfo and revocation endpoints with fetch."""
        return frozenset(_origin(u) for u in (*self.redirect_uris, *self.post_logout_redirect_uris))


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def web_uris(*origins: str) -> dict[str, str]:
    """The settings for a web app served at `origins` (callback `/auth/callback`,
    back to `/` after sign-out), as the stack passes them to the provider."""
    return {
        "PHS_OIDC_REDIRECT_URIS": ",".join(f"{o}/auth/callback" for o in origins),
        "PHS_OIDC_POST_LOGOUT_REDIRECT_URIS": ",".join(f"{o}/" for o in origins),
    }


def process_env(stack: Stack) -> dict[str, str]:
    """The provider's environment in `stack`: its issuer URL and port, the stack's
    development key and JWKS, the web app at the gateway's origin (127.0.0.1 and
    localhost) plus PHS_OIDC_WEB_ORIGINS (e.g. a Vite dev server), and the stack's
    claim settings, so the services accept what it issues."""
    from phs_devstack import DEV_AUDIENCE, DEV_KID

    port = stack.ports.rest
    origins = [f"http://127.0.0.1:{port}", f"http://localhost:{port}"]
    origins += parse_list(os.environ.get("PHS_OIDC_WEB_ORIGINS", ""))
    return {
        **os.environ,
        "PYTHONUNBUFFERED": "1",
        "PHS_OIDC_ISSUER": stack.oidc_url,
        "PHS_OIDC_PORT": str(stack.ports.oidc),
        "PHS_OIDC_SIGNING_KEY_FILE": str(stack.signing_key),
        "PHS_OIDC_SIGNING_KEY_ID": DEV_KID,
        "PHS_AUTH_JWKS_FILE": str(stack.jwks_file),
        "PHS_AUTH_AUDIENCE": DEV_AUDIENCE,
        "PHS_SCHEDULING_TARGET": stack.scheduling_target,
        **web_uris(*origins),
        **stack.extra_env,
    }
