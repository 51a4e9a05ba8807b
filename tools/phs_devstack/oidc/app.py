"""The development provider's HTTP face (Flask): discovery, JWKS, the sign-in
page, token, userinfo, revocation and end-session endpoints, CORS for the web app.

The sign-in page is server-rendered HTML without script: a plain GET form filters
the people, and one POST form holds a submit button per person ("Sign in as
<display name>"), carrying the authorization request in hidden fields. Only
method, path (never the query: it may hold a typed name), status and duration are
logged.
"""

from __future__ import annotations

import logging
import time
from typing import Any
from urllib.parse import urlencode

from authlib.integrations.flask_oauth2 import ResourceProtector, current_token
from authlib.oauth2 import OAuth2Error
from authlib.oauth2.rfc9068 import JWTBearerTokenValidator
from authlib.oidc.discovery import OpenIDProviderMetadata
from flask import Flask, Response, g, jsonify, render_template, request, url_for
from joserfc.jwk import KeySet

from phs_devstack.oidc import DEV_BANNER, STAFF, Person
from phs_devstack.oidc.directory import Directory, Listing, select
from phs_devstack.oidc.server import Provider, bounded
from phs_runtime.context import request_context

log = logging.getLogger("phs.oidc")

# How many people each section of the sign-in page shows (the filter finds the rest).
PAGE_LIMIT = 50
# The authorization request's parameters the sign-in forms carry along.
_AUTHORIZE_PARAMS = (
    "response_type",
    "client_id",
    "redirect_uri",
    "scope",
    "state",
    "nonce",
    "code_challenge",
    "code_challenge_method",
    "prompt",
    "response_mode",
    "max_age",
    "login_hint",
    "ui_locales",
)
_CORS_PATHS = frozenset({"/.well-known/openid-configuration", "/jwks.json", "/token", "/userinfo", "/revoke"})
_CSP = "default-src 'none'; style-src 'self'; img-src 'self'; frame-ancestors 'none'; base-uri 'none'"


class AccessTokenValidator(JWTBearerTokenValidator):  # type: ignore[misc]
    """Userinfo takes this provider's own access tokens (RFC 9068 checks by Authlib)."""

    def __init__(self, provider: Provider) -> None:
        super().__init__(issuer=provider.cfg.issuer, resource_server=provider.cfg.audience)
        self.provider = provider

    def get_jwks(self) -> KeySet:
        return KeySet.import_key_set(self.provider.keys.public_jwks())  # type: ignore[arg-type]


class Metadata(OpenIDProviderMetadata):  # type: ignore[misc]
    """Discovery, checked by Authlib, except one rule: Core 15.1 wants every OP to
    offer RS256 ID tokens, and this one signs with the stack's development key only
    (ES256; browser clients do not check ID token signatures)."""

    def validate_id_token_signing_alg_values_supported(self) -> None:
        if not self.get("id_token_signing_alg_values_supported"):
            raise ValueError('"id_token_signing_alg_values_supported" is required')


def create_app(provider: Provider, directory: Directory) -> Flask:
    app = Flask(__name__)
    cfg = provider.cfg
    provider.init_app(app)
    protector = ResourceProtector()
    protector.register_token_validator(AccessTokenValidator(provider))
    metadata = Metadata(provider.metadata())
    metadata.validate()

    @app.before_request
    def _start() -> Response | None:
        g.started = time.perf_counter()
        # The request id reaches this request's log lines and its gRPC calls to scheduling.
        g.request_context = request_context(request.headers.get("x-request-id"))
        g.request_id = g.request_context.__enter__()
        if request.method == "OPTIONS":  # a CORS preflight: _finish adds the headers
            return Response(status=204)
        return None

    @app.teardown_request
    def _end(_exc: BaseException | None) -> None:
        context = g.pop("request_context", None)
        if context is not None:
            context.__exit__(None, None, None)

    @app.after_request
    def _finish(resp: Response) -> Response:
        origin = request.headers.get("origin")
        if origin in cfg.allowed_origins and request.path in _CORS_PATHS:
            resp.headers["Access-Control-Allow-Origin"] = origin
            resp.headers["Access-Control-Allow-Methods"] = "GET, POST"
            resp.headers["Access-Control-Allow-Headers"] = "Authorization, Content-Type"
            resp.headers["Access-Control-Max-Age"] = "600"
        resp.headers.add("Vary", "Origin")
        resp.headers["X-Request-ID"] = g.request_id
        if resp.mimetype == "text/html":
            resp.headers["Content-Security-Policy"] = _CSP
            resp.headers["X-Frame-Options"] = "DENY"
            resp.headers["Referrer-Policy"] = "no-referrer"
            resp.headers["Cache-Control"] = "no-store"
        log.info(
            "http request",
            extra={
                "http_method": request.method,
                "path": request.path,
                "status": resp.status_code,
                "duration_ms": round((time.perf_counter() - g.started) * 1000, 2),
            },
        )
        return resp

    @app.route("/")
    def home() -> Any:
        return _message(
            200,
            "Development OpenID provider",
            f"Sign in through the web app; it sends you here. Issuer {cfg.issuer}, client {cfg.client_id}.",
        )

    @app.route("/.well-known/openid-configuration")
    def discovery() -> Response:
        return jsonify(dict(metadata))

    @app.route("/jwks.json")
    def jwks() -> Response:
        return jsonify(provider.keys.public_jwks())

    @app.route("/authorize", methods=["GET", "POST"])
    def authorize() -> Any:
        """GET shows the sign-in page; POST is a person's button on it."""
        try:
            grant = provider.get_consent_grant(end_user=None)
        except OAuth2Error as error:
            return _authorize_error(provider, error)
        if request.method == "GET":
            return _signin_page(directory, grant, request.args.get("q", "")[:200])
        person = directory.find(request.form.get("person", ""))
        if person is None:
            return _message(
                400, "Unknown person", "Nobody by that name exists (any more). Go back and pick again."
            )
        session = provider.store.new_session(person, cfg.client_id, cfg.session_ttl_s)
        log.info("signed in", extra={"subject": person.subject, "role": person.role, "sid": session.sid})
        return provider.create_authorization_response(grant_user=session, grant=grant)

    @app.route("/token", methods=["POST"])
    def token() -> Any:
        return provider.create_token_response()

    @app.route("/revoke", methods=["POST"])
    def revoke() -> Any:
        return provider.create_endpoint_response("revocation")

    @app.route("/userinfo", methods=["GET", "POST"])
    def userinfo() -> Any:
        return _userinfo(provider, protector)

    @app.route("/end_session", methods=["GET", "POST"])
    def end_session() -> Any:
        try:
            req = provider.validate_endpoint_request("end_session")
        except OAuth2Error as error:
            return _message(400, "Sign-out refused", bounded(error.description) or error.error)
        done = provider.create_endpoint_response("end_session", req)
        if done is not None:
            return done
        return _message(200, "Signed out", "You are signed out of the development provider.")

    return app


def _authorize_error(provider: Provider, error: OAuth2Error) -> Any:
    """Errors about the client or its redirect URI are shown here (never redirected
    to an unverified URI); the others go back to the web app, as the spec says."""
    if getattr(error, "redirect_uri", None):
        return provider.handle_error_response(None, error)
    return _message(400, "Sign-in request refused", bounded(error.description) or error.error)


def _userinfo(provider: Provider, protector: ResourceProtector) -> Any:
    @protector("openid")  # type: ignore[untyped-decorator]
    def answer() -> Any:
        claims: dict[str, Any] = dict(current_token)
        session = provider.store.sessions.get(str(claims.get("sid", "")))
        if session is None or not session.active:
            resp = jsonify({"error": "invalid_token", "error_description": "the sign-in has ended"})
            resp.status_code = 401
            resp.headers["WWW-Authenticate"] = 'Bearer error="invalid_token"'
            return resp
        return jsonify(provider.user_info(session, str(claims.get("scope", ""))))

    return answer()


def _signin_page(directory: Directory, grant: Any, query: str) -> Any:
    params = [(k, request.args[k]) for k in _AUTHORIZE_PARAMS if k in request.args]
    sections: list[tuple[str, str, Listing]] = [
        ("staff", "Practice staff", select(list(STAFF), query, PAGE_LIMIT)),
        ("psychologists", "Psychologists", select(directory.psychologists(), query, PAGE_LIMIT)),
        ("clients", "Clients", select(directory.clients(), query, PAGE_LIMIT)),
    ]
    return render_template(
        "signin.html",
        banner=DEV_BANNER,
        params=params,
        query=query,
        sections=sections,
        client_id=grant.client.get_client_id(),
        describe=_describe,
        reset_url=f"{url_for('authorize')}?{urlencode(params)}",
    )


def _describe(person: Person) -> str:
    return f"{person.role} · {person.subject}"


def _message(status: int, title: str, text: str) -> Any:
    return render_template("message.html", banner=DEV_BANNER, title=title, text=text), status
