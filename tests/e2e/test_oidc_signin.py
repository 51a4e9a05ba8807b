"""Sign-in through the development OpenID provider, end to end, over plain HTTP.

The stack runs as `make up` runs it (the provider is one of its processes) with
short-lived access tokens and no clock leeway, so expiry can be seen. It runs twice:
with PHS's own claims (`sub`, `role`) and with a Keycloak-like layout (roles in
`realm_access.roles` under the realm's names, the person in `phs_subject`, an opaque
`sub`), every service configured to match.

What a browser app does is done here by hand: discovery, the sign-in page, PKCE
computed here, the code exchange, the tokens used against the services through
Envoy, refresh, userinfo, sign-out; and what it must not get away with: a wrong
verifier, no PKCE, an unknown redirect URI, a reused refresh token, an expired token.
"""

from __future__ import annotations

import base64
import hashlib
import html
import json
import re
import secrets
import time
import urllib.error
import urllib.parse
import urllib.request
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization

from phs_devstack import DEV_AUDIENCE, DEV_KID, Ports, Stack
from phs_devstack.oidc import CLIENT_ID, DEV_BANNER
from phs_runtime.auth import AuthenticationError, ClaimLayout, KeySet, TokenVerifier, parse_role_map
from tests.helpers import future_slot, rest, rfc3339

ACCESS_TTL_S = 8
KEYCLOAK_ENV = {
    "PHS_AUTH_SUBJECT_CLAIM": "phs_subject",
    "PHS_AUTH_ROLE_CLAIM": "realm_access.roles",
    "PHS_AUTH_ROLE_MAP": "phs-staff:admin,phs-psychologist:psychologist,phs-client:client",
}


# -- plain HTTP, redirects not followed --------------------------------------------------------


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


_OPENER = urllib.request.build_opener(_NoRedirect)


@dataclass
class Http:
    status: int
    headers: dict[str, str]
    body: bytes

    def json(self) -> Any:
        return json.loads(self.body)

    @property
    def text(self) -> str:
        return self.body.decode()


def http(
    method: str, url: str, form: dict[str, str] | None = None, headers: dict[str, str] | None = None
) -> Http:
    data = urllib.parse.urlencode(form).encode() if form is not None else None
    req = urllib.request.Request(url, data=data, method=method, headers=headers or {})
    try:
        resp = _OPENER.open(req, timeout=15)
    except urllib.error.HTTPError as err:
        resp = err
    with resp:
        return Http(resp.status, {k.lower(): v for k, v in resp.headers.items()}, resp.read())


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def pkce() -> tuple[str, str]:
    verifier = _b64(secrets.token_bytes(48))
    return verifier, _b64(hashlib.sha256(verifier.encode()).digest())


def _query(url: str) -> dict[str, str]:
    return dict(urllib.parse.parse_qsl(urllib.parse.urlsplit(url).query))


_BUTTON = re.compile(r'<button type="submit" name="person" value="([^"]+)"[^>]*>Sign in as ([^<]+)</button>')


def buttons(page: str) -> dict[str, str]:
    """The sign-in page's people: accessible name ("Sign in as ...") -> resource name."""
    return {
        f"Sign in as {html.unescape(name)}": html.unescape(value) for value, name in _BUTTON.findall(page)
    }


# -- the provider, as a browser app uses it ----------------------------------------------------


@dataclass
class Tokens:
    access: str
    refresh: str
    id_token: str
    body: dict[str, Any]


@dataclass
class Provider:
    stack: Stack
    layout: ClaimLayout

    @property
    def url(self) -> str:
        return self.stack.oidc_url

    @property
    def redirect_uri(self) -> str:
        return f"{self.stack.rest_url}/auth/callback"

    def authorize_params(self, challenge: str, **extra: str) -> dict[str, str]:
        return {
            "response_type": "code",
            "client_id": CLIENT_ID,
            "redirect_uri": self.redirect_uri,
            "scope": "openid profile offline_access",
            "state": secrets.token_urlsafe(12),
            "nonce": secrets.token_urlsafe(12),
            "code_challenge": challenge,
            "code_challenge_method": "S256",
            **extra,
        }

    def page(self, params: dict[str, str]) -> Http:
        return http("GET", f"{self.url}/authorize?{urllib.parse.urlencode(params)}")

    def code_for(self, subject: str, params: dict[str, str]) -> str:
        """Pick `subject` on the sign-in page; the code the redirect carries."""
        resp = http("POST", f"{self.url}/authorize", {**params, "person": subject})
        assert resp.status == 302, resp.text
        location = resp.headers["location"]
        assert location.startswith(params["redirect_uri"] + "?")
        back = _query(location)
        assert back["state"] == params["state"]
        return back["code"]

    def exchange(self, code: str, verifier: str, redirect_uri: str | None = None) -> Http:
        return http(
            "POST",
            f"{self.url}/token",
            {
                "grant_type": "authorization_code",
                "code": code,
                "redirect_uri": redirect_uri or self.redirect_uri,
                "client_id": CLIENT_ID,
                "code_verifier": verifier,
            },
        )

    def sign_in(self, subject: str) -> Tokens:
        verifier, challenge = pkce()
        params = self.authorize_params(challenge)
        assert self.page(params).status == 200
        resp = self.exchange(self.code_for(subject, params), verifier)
        assert resp.status == 200, resp.text
        body = resp.json()
        return Tokens(body["access_token"], body["refresh_token"], body["id_token"], body)

    def refresh(self, refresh_token: str) -> Http:
        form = {"grant_type": "refresh_token", "refresh_token": refresh_token, "client_id": CLIENT_ID}
        return http("POST", f"{self.url}/token", form)

    def userinfo(self, access: str) -> Http:
        return http("GET", f"{self.url}/userinfo", headers={"authorization": f"Bearer {access}"})


def _claims(token: str) -> dict[str, Any]:
    return dict(jwt.decode(token, options={"verify_signature": False}))


@pytest.fixture(scope="module", params=["plain", "keycloak"])
def provider(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Provider]:
    layout_env = KEYCLOAK_ENV if request.param == "keycloak" else {}
    stack = Stack(
        root=tmp_path_factory.mktemp(f"oidc-{request.param}"),
        ports=Ports.free(),
        extra_env={
            "PHS_OIDC_ACCESS_TOKEN_SECONDS": str(ACCESS_TTL_S),
            "PHS_AUTH_LEEWAY_SECONDS": "0",
            **layout_env,
        },
    )
    layout = ClaimLayout(
        subject_claim=layout_env.get("PHS_AUTH_SUBJECT_CLAIM", "sub"),
        role_claim=layout_env.get("PHS_AUTH_ROLE_CLAIM", "role"),
        role_map=parse_role_map(layout_env.get("PHS_AUTH_ROLE_MAP", "")),
    )
    try:
        stack.start()
        yield Provider(stack, layout)
    finally:
        stack.stop()


@dataclass
class Practice:
    """Two psychologists, a client of the first with one booked appointment."""

    admin: str
    psychologist: str
    other_psychologist: str
    client: str
    client_name: str
    appointment: str


@pytest.fixture(scope="module")
def practice(provider: Provider) -> Practice:
    admin = provider.sign_in("staff/alice").access
    base = provider.stack.rest_url

    def create(path: str, body: dict[str, Any]) -> str:
        resp = rest(base, "POST", path, body, token=admin)
        assert resp.status == 200, resp.body
        return str(resp.body["name"])

    tag = uuid.uuid4().hex[:8]
    p1 = create("/v1/psychologists", {"displayName": f"Dr Sign-in {tag}", "timeZone": "America/Toronto"})
    p2 = create("/v1/psychologists", {"displayName": f"Dr Other {tag}", "timeZone": "Europe/Paris"})
    name = f"Robin Signin-{tag}"
    client = create("/v1/clients", {"displayName": name, "email": f"{tag}@example.org", "psychologist": p1})
    appointment = create(
        f"/v1/{p1}/appointments",
        {"client": client, "sessionType": "sessionTypes/90834", "startTime": rfc3339(future_slot(3))},
    )
    return Practice(admin, p1, p2, client, name, appointment)


# -- discovery and keys ------------------------------------------------------------------------


def test_discovery_describes_a_code_flow_provider(provider: Provider) -> None:
    resp = http("GET", f"{provider.url}/.well-known/openid-configuration")
    assert resp.status == 200
    meta = resp.json()
    url = provider.url
    assert meta["issuer"] == url
    assert meta["authorization_endpoint"] == f"{url}/authorize"
    assert meta["token_endpoint"] == f"{url}/token"
    assert meta["userinfo_endpoint"] == f"{url}/userinfo"
    assert meta["end_session_endpoint"] == f"{url}/end_session"
    assert meta["revocation_endpoint"] == f"{url}/revoke"
    assert meta["jwks_uri"] == f"{url}/jwks.json"
    assert meta["response_types_supported"] == ["code"]
    assert meta["code_challenge_methods_supported"] == ["S256"]
    assert set(meta["grant_types_supported"]) == {"authorization_code", "refresh_token"}
    assert meta["token_endpoint_auth_methods_supported"] == ["none"]
    assert "offline_access" in meta["scopes_supported"]


def test_jwks_is_the_key_the_services_trust(provider: Provider) -> None:
    served = http("GET", f"{provider.url}/jwks.json").json()
    assert served == json.loads(provider.stack.jwks_file.read_text())
    assert DEV_KID in {k["kid"] for k in served["keys"]}
    assert not any("d" in k for k in served["keys"])


# -- the sign-in page --------------------------------------------------------------------------


def test_sign_in_page_lists_people_by_role(provider: Provider, practice: Practice) -> None:
    _, challenge = pkce()
    resp = provider.page(provider.authorize_params(challenge))
    assert resp.status == 200
    page = resp.text
    assert DEV_BANNER in page
    people = buttons(page)
    assert people["Sign in as Alice Admin"] == "staff/alice"
    assert people[f"Sign in as {practice.client_name}"] == practice.client  # created a moment ago
    assert practice.psychologist in people.values()
    for heading in ("Practice staff", "Psychologists", "Clients"):
        assert re.search(rf"<h2 id=\"[a-z]+-heading\">{heading}</h2>", page)
    # Role and resource name describe each button.
    assert f"client · {practice.client}" in page
    # Accessible without script: a labelled filter, headings, a CSP that allows no script.
    assert "<script" not in page
    assert '<label for="q">' in page and 'id="q"' in page
    assert '<html lang="en">' in page and "<h1>" in page
    assert "script-src" not in resp.headers["content-security-policy"]
    assert "default-src 'none'" in resp.headers["content-security-policy"]


def test_the_filter_finds_one_client_among_many(provider: Provider, practice: Practice) -> None:
    _, challenge = pkce()
    tag = practice.client_name.rsplit("-", 1)[1]
    page = provider.page({**provider.authorize_params(challenge), "q": f"signin-{tag.upper()}"}).text
    people = buttons(page)
    assert people == {f"Sign in as {practice.client_name}": practice.client}
    # The filter keeps the authorization request: its parameters ride along in the forms.
    assert f'name="code_challenge" value="{challenge}"' in page
    nobody = buttons(provider.page({**provider.authorize_params(challenge), "q": "no-such-" + tag}).text)
    assert nobody == {}


def test_the_providers_log_has_no_names_and_no_tokens(provider: Provider, practice: Practice) -> None:
    tokens = provider.sign_in(practice.client)
    _, challenge = pkce()
    provider.page({**provider.authorize_params(challenge), "q": practice.client_name})
    log = provider.stack.log("oidc").read_text()
    assert practice.client_name not in log
    assert practice.client_name.rsplit("-", 1)[1] not in log  # not even the filter text
    for secret in (tokens.access, tokens.refresh, tokens.id_token):
        assert secret not in log
    assert '"path": "/authorize"' in log and "not for real patient data" in log


# -- the code flow -----------------------------------------------------------------------------


def test_code_flow_issues_rfc9068_access_and_id_tokens(provider: Provider, practice: Practice) -> None:
    verifier, challenge = pkce()
    params = provider.authorize_params(challenge)
    resp = provider.exchange(provider.code_for(practice.client, params), verifier)
    assert resp.status == 200, resp.text
    assert resp.headers["cache-control"] == "no-store"
    body = resp.json()
    assert body["token_type"].lower() == "bearer"
    assert body["expires_in"] == ACCESS_TTL_S
    assert {"access_token", "refresh_token", "id_token"} <= body.keys()

    header = jwt.get_unverified_header(body["access_token"])
    assert (header["typ"], header["kid"], header["alg"]) == ("at+jwt", DEV_KID, "ES256")
    access = _claims(body["access_token"])
    assert access["iss"] == provider.url and access["aud"] == DEV_AUDIENCE
    assert access["client_id"] == CLIENT_ID and access["jti"]
    assert access["exp"] - access["iat"] == ACCESS_TTL_S
    assert "name" not in access  # display names stay out of access tokens
    expected = provider.layout.claims_for(practice.client, "client")
    assert {k: access[k] for k in expected} == expected
    if provider.layout.subject_claim != "sub":
        assert access["phs_subject"] == practice.client and access["sub"] != practice.client
        assert access["realm_access"] == {"roles": ["phs-client"]}

    id_token = _claims(body["id_token"])
    assert id_token["iss"] == provider.url and id_token["aud"] == CLIENT_ID
    assert id_token["nonce"] == params["nonce"]
    assert id_token["name"] == practice.client_name
    assert {k: id_token[k] for k in expected} == expected
    assert id_token["sid"] == access["sid"]
    assert id_token["at_hash"]


def test_access_tokens_work_through_envoy(provider: Provider, practice: Practice) -> None:
    base = provider.stack.rest_url
    client = provider.sign_in(practice.client).access
    mine = rest(base, "GET", "/v1/psychologists/-/appointments", token=client)
    assert mine.status == 200, mine.body
    assert [a["name"] for a in mine.body["appointments"]] == [practice.appointment]
    assert rest(base, "GET", "/v1/clients", token=client).status == 403

    psychologist = provider.sign_in(practice.other_psychologist).access
    own = rest(base, "GET", f"/v1/{practice.other_psychologist}/appointments", token=psychologist)
    assert own.status == 200, own.body
    theirs = rest(base, "GET", f"/v1/{practice.psychologist}/appointments", token=psychologist)
    assert theirs.status in (403, 404), theirs.body
    assert rest(base, "GET", f"/v1/{practice.client}", token=psychologist).status in (403, 404)


def test_a_token_in_another_claim_layout_has_no_access(provider: Provider) -> None:
    """A genuine token whose role the services cannot read is 403, not 401: signing
    in again would not help."""
    other = ClaimLayout() if provider.layout.role_map else ClaimLayout(**_keycloak_layout())
    now = int(time.time())
    claims = {"iss": provider.url, "aud": DEV_AUDIENCE, "iat": now, "exp": now + 300}
    key = serialization.load_pem_private_key(provider.stack.signing_key.read_bytes(), password=None)
    foreign = jwt.encode(
        {**claims, **other.claims_for("staff/alice", "admin")},
        key,  # type: ignore[arg-type]
        algorithm="ES256",
        headers={"kid": DEV_KID, "typ": "at+jwt"},
    )
    resp = rest(provider.stack.rest_url, "GET", "/v1/psychologists", token=foreign)
    assert resp.status == 403, resp.body
    assert resp.detail("google.rpc.ErrorInfo")["reason"] == "NO_ACCESS"


def _keycloak_layout() -> dict[str, Any]:
    return {
        "subject_claim": KEYCLOAK_ENV["PHS_AUTH_SUBJECT_CLAIM"],
        "role_claim": KEYCLOAK_ENV["PHS_AUTH_ROLE_CLAIM"],
        "role_map": parse_role_map(KEYCLOAK_ENV["PHS_AUTH_ROLE_MAP"]),
    }


def test_userinfo_names_the_person(provider: Provider, practice: Practice) -> None:
    tokens = provider.sign_in(practice.psychologist)
    resp = provider.userinfo(tokens.access)
    assert resp.status == 200, resp.text
    info = resp.json()
    expected = provider.layout.claims_for(practice.psychologist, "psychologist")
    assert {k: info[k] for k in expected} == expected
    assert info["name"].startswith("Dr Sign-in")
    assert provider.userinfo("not-a-token").status == 401
    assert provider.userinfo(tokens.id_token).status == 401  # an ID token is not an access token


# -- refresh, sign-out, revocation -----------------------------------------------------------


def test_refresh_rotates_and_a_reused_refresh_token_ends_the_sign_in(
    provider: Provider, practice: Practice
) -> None:
    first = provider.sign_in(practice.client)
    resp = provider.refresh(first.refresh)
    assert resp.status == 200, resp.text
    second = resp.json()
    assert second["refresh_token"] != first.refresh
    assert second["access_token"] != first.access
    assert _claims(second["access_token"])["sid"] == _claims(first.access)["sid"]
    ok = rest(
        provider.stack.rest_url, "GET", "/v1/psychologists/-/appointments", token=second["access_token"]
    )
    assert ok.status == 200, ok.body

    # The old refresh token again: refused, and it takes the new one down with it.
    reused = provider.refresh(first.refresh)
    assert reused.status == 400 and reused.json()["error"] == "invalid_grant"
    assert provider.refresh(second["refresh_token"]).json()["error"] == "invalid_grant"
    assert provider.userinfo(second["access_token"]).status == 401


def test_sign_out_ends_the_sign_in_and_returns_to_the_app(provider: Provider, practice: Practice) -> None:
    tokens = provider.sign_in(practice.client)
    post_logout = f"{provider.stack.rest_url}/"
    query = urllib.parse.urlencode(
        {"id_token_hint": tokens.id_token, "post_logout_redirect_uri": post_logout, "state": "bye"}
    )
    resp = http("GET", f"{provider.url}/end_session?{query}")
    assert resp.status == 302, resp.text
    assert resp.headers["location"] == f"{post_logout}?state=bye"
    assert provider.refresh(tokens.refresh).json()["error"] == "invalid_grant"
    assert provider.userinfo(tokens.access).status == 401

    # An unregistered return address: signed out, but not sent there.
    other = provider.sign_in(practice.client)
    query = urllib.parse.urlencode(
        {"id_token_hint": other.id_token, "post_logout_redirect_uri": "https://evil.example/"}
    )
    resp = http("GET", f"{provider.url}/end_session?{query}")
    assert resp.status == 200 and "location" not in resp.headers
    assert "Signed out" in resp.text
    assert provider.refresh(other.refresh).status == 400

    # POST, with the hint out of the URL.
    third = provider.sign_in(practice.client)
    form = {"id_token_hint": third.id_token, "post_logout_redirect_uri": post_logout}
    resp = http("POST", f"{provider.url}/end_session", form)
    assert resp.status == 302 and resp.headers["location"] == post_logout
    assert provider.refresh(third.refresh).status == 400


def test_revoking_the_refresh_token_ends_the_sign_in(provider: Provider, practice: Practice) -> None:
    tokens = provider.sign_in(practice.client)
    form = {"token": tokens.refresh, "token_type_hint": "refresh_token", "client_id": CLIENT_ID}
    assert http("POST", f"{provider.url}/revoke", form).status == 200
    assert provider.refresh(tokens.refresh).json()["error"] == "invalid_grant"


def test_an_expired_access_token_is_refused_and_refresh_recovers(
    provider: Provider, practice: Practice
) -> None:
    tokens = provider.sign_in(practice.client)
    path = "/v1/psychologists/-/appointments"
    assert rest(provider.stack.rest_url, "GET", path, token=tokens.access).status == 200
    time.sleep(_claims(tokens.access)["exp"] - time.time() + 1.5)
    expired = rest(provider.stack.rest_url, "GET", path, token=tokens.access)
    assert expired.status == 401, expired.body
    assert "expired" in expired.body["message"]
    fresh = provider.refresh(tokens.refresh).json()["access_token"]
    assert rest(provider.stack.rest_url, "GET", path, token=fresh).status == 200


# -- what a client must not get away with -----------------------------------------------------


def test_a_wrong_pkce_verifier_is_refused(provider: Provider, practice: Practice) -> None:
    verifier, challenge = pkce()
    code = provider.code_for(practice.client, provider.authorize_params(challenge))
    resp = provider.exchange(code, pkce()[0])
    assert resp.status == 400 and resp.json()["error"] == "invalid_grant"
    missing = http(
        "POST",
        f"{provider.url}/token",
        {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": provider.redirect_uri,
            "client_id": CLIENT_ID,
        },
    )
    assert missing.status == 400
    # The right verifier still redeems it, once.
    assert provider.exchange(code, verifier).status == 200
    assert provider.exchange(code, verifier).json()["error"] == "invalid_grant"


def test_pkce_is_required_and_only_s256(provider: Provider) -> None:
    _, challenge = pkce()
    for change in ({"code_challenge_method": "plain"}, {"code_challenge": "", "code_challenge_method": ""}):
        params = {k: v for k, v in {**provider.authorize_params(challenge), **change}.items() if v}
        resp = provider.page(params)
        assert resp.status == 302, resp.text  # back to the (registered) app with the error
        back = _query(resp.headers["location"])
        assert back["error"] == "invalid_request" and back["state"] == params["state"]


def test_an_unknown_redirect_uri_is_refused_without_redirecting(
    provider: Provider, practice: Practice
) -> None:
    _, challenge = pkce()
    for uri in (
        "https://evil.example/auth/callback",
        provider.redirect_uri + "/../steal",
        provider.redirect_uri + "x",
    ):
        params = provider.authorize_params(challenge, redirect_uri=uri)
        resp = provider.page(params)
        assert resp.status == 400 and "location" not in resp.headers, uri
        assert "Sign-in request refused" in resp.text
        post = http("POST", f"{provider.url}/authorize", {**params, "person": practice.client})
        assert post.status == 400 and "location" not in post.headers
    unknown_client = provider.page({**provider.authorize_params(challenge), "client_id": "someone-else"})
    assert unknown_client.status == 400 and "location" not in unknown_client.headers
    # The refusal quotes what was sent only so far.
    huge = provider.page(
        provider.authorize_params(challenge, redirect_uri="https://evil.example/" + "x" * 5000)
    )
    assert huge.status == 400 and "x" * 300 not in huge.text


def test_the_code_is_bound_to_its_redirect_uri(provider: Provider, practice: Practice) -> None:
    verifier, challenge = pkce()
    code = provider.code_for(practice.client, provider.authorize_params(challenge))
    localhost = provider.redirect_uri.replace("127.0.0.1", "localhost")  # registered too
    assert provider.exchange(code, verifier, redirect_uri=localhost).json()["error"] == "invalid_grant"


def test_prompt_none_without_a_session_is_login_required(provider: Provider) -> None:
    _, challenge = pkce()
    params = provider.authorize_params(challenge, prompt="none")
    resp = provider.page(params)
    assert resp.status == 302
    assert _query(resp.headers["location"])["error"] == "login_required"


def test_an_unknown_person_cannot_sign_in(provider: Provider) -> None:
    _, challenge = pkce()
    params = provider.authorize_params(challenge)
    for subject in ("clients/no-such-client", "staff/mallory", "psychologists/x/y", ""):
        resp = http("POST", f"{provider.url}/authorize", {**params, "person": subject})
        assert resp.status == 400 and "location" not in resp.headers, subject


def test_cors_only_for_the_web_apps_origins(provider: Provider) -> None:
    for origin in (provider.stack.rest_url, provider.stack.rest_url.replace("127.0.0.1", "localhost")):
        pre = http(
            "OPTIONS",
            f"{provider.url}/token",
            headers={"origin": origin, "access-control-request-method": "POST"},
        )
        assert pre.status in (200, 204)
        assert pre.headers["access-control-allow-origin"] == origin
        meta = http("GET", f"{provider.url}/.well-known/openid-configuration", headers={"origin": origin})
        assert meta.headers["access-control-allow-origin"] == origin
    evil = http("OPTIONS", f"{provider.url}/token", headers={"origin": "https://evil.example"})
    assert "access-control-allow-origin" not in evil.headers
    # The sign-in page itself is never readable cross-origin.
    _, challenge = pkce()
    page = http(
        "GET",
        f"{provider.url}/authorize?{urllib.parse.urlencode(provider.authorize_params(challenge))}",
        headers={"origin": provider.stack.rest_url},
    )
    assert "access-control-allow-origin" not in page.headers


def test_services_can_load_the_providers_jwks_by_url(provider: Provider) -> None:
    """PHS_AUTH_JWKS_URL pointed at the provider: its tokens verify, its ID tokens do not."""
    keys = KeySet(url=f"{provider.url}/jwks.json")
    verifier = TokenVerifier(keys, provider.url, DEV_AUDIENCE, layout=provider.layout, require_at_jwt=True)
    tokens = provider.sign_in("staff/alice")
    assert verifier.verify(tokens.access).role == "admin"
    with pytest.raises(AuthenticationError, match="access token"):
        verifier.verify(tokens.id_token)
