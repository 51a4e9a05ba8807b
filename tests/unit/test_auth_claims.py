"""Where tokens name the person and role (`ClaimLayout`), and the other checks a
practice's provider brings: issuer lists, `typ`, clients, service keys.

Real keys, real signatures; each layout as a provider issues it: PHS's own
(`role` string), Entra ID (`roles` list), groups (`groups`, Keycloak paths),
Keycloak realm roles (`realm_access.roles`), Auth0 (a namespaced claim whose name
holds dots). A genuine token naming no PHS role, several, or no person is
`NoAccessError` (PERMISSION_DENIED through the guard); the other refusals stay
UNAUTHENTICATED.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import grpc
import jwt
import pytest
from cryptography.hazmat.primitives import serialization

from phs_runtime.auth import (
    AT_JWT,
    AuthConfig,
    AuthenticationError,
    ClaimLayout,
    KeySet,
    NoAccessError,
    Principal,
    TokenVerifier,
    claim_at,
    generate_keys,
    parse_role_map,
)
from phs_runtime.config import ConfigError
from phs_runtime.errors import ApiError
from phs_runtime.policy import Guard

ISS = "https://idp.example.org/realms/phs"
AUD = "phs-api"
KID = "idp-1"
WORKER_KID = "worker-1"

KEYCLOAK = ClaimLayout(
    role_claim="realm_access.roles",
    role_map={"phs-staff": "admin", "phs-psychologist": "psychologist", "phs-client": "client"},
)
ENTRA = ClaimLayout(
    subject_claim="extension_phsSubject",
    role_claim="roles",
    role_map={"PHS.Admin": "admin", "PHS.Psychologist": "psychologist", "PHS.Client": "client"},
)
GROUPS = ClaimLayout(
    role_claim="groups",
    role_map={"/phs/staff": "admin", "/phs/psychologists": "psychologist", "/phs/clients": "client"},
)
AUTH0 = ClaimLayout(subject_claim="https://phs.example/subject", role_claim="https://phs.example/roles")


@pytest.fixture(scope="module")
def keys(tmp_path_factory: pytest.TempPathFactory) -> Path:
    directory = tmp_path_factory.mktemp("claims-keys")
    generate_keys(directory, KID)
    generate_keys(directory, WORKER_KID)
    return directory


def _sign(keys: Path, claims: dict[str, Any], kid: str = KID, typ: str | None = AT_JWT) -> str:
    """`claims` plus the registered ones, signed by `kid` with the given `typ` header."""
    now = int(time.time())
    body = {"iss": ISS, "aud": AUD, "iat": now, "exp": now + 600, **claims}
    key = serialization.load_pem_private_key((keys / f"{kid}.pem").read_bytes(), password=None)
    headers: dict[str, Any] = {"kid": kid, "typ": typ}
    return jwt.encode(body, key, algorithm="ES256", headers=headers)  # type: ignore[arg-type]


def _verifier(keys: Path, layout: ClaimLayout | None = None, **kw: Any) -> TokenVerifier:
    return TokenVerifier(KeySet(file=str(keys / "jwks.json")), ISS, AUD, layout=layout, **kw)


# -- each provider's layout ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("layout", "claims", "expected"),
    [
        pytest.param(
            KEYCLOAK,
            {
                "sub": "psychologists/p1",
                "realm_access": {"roles": ["offline_access", "phs-psychologist", "uma_authorization"]},
            },
            Principal("psychologists/p1", "psychologist"),
            id="keycloak-realm-roles",
        ),
        pytest.param(
            ENTRA,
            {"sub": "AAAAopaque", "extension_phsSubject": "clients/c1", "roles": ["PHS.Client"]},
            Principal("clients/c1", "client"),
            id="entra-roles",
        ),
        pytest.param(
            GROUPS,
            {"sub": "staff/alice", "groups": ["/phs/staff", "/everyone"]},
            Principal("staff/alice", "admin"),
            id="groups",
        ),
        pytest.param(
            GROUPS,
            {"sub": "staff/alice", "groups": "/phs/staff"},
            Principal("staff/alice", "admin"),
            id="groups-as-one-string",
        ),
        pytest.param(
            AUTH0,
            {
                "sub": "auth0|123",
                "https://phs.example/subject": "clients/c9",
                "https://phs.example/roles": ["client"],
            },
            Principal("clients/c9", "client"),
            id="auth0-namespaced-claims",
        ),
        pytest.param(
            ClaimLayout(role_claim="roles"),
            {"sub": "psychologists/p2", "roles": ["psychologist", "something-else"]},
            Principal("psychologists/p2", "psychologist"),
            id="roles-list-without-map",
        ),
    ],
)
def test_each_layout_names_the_person_and_role(
    keys: Path, layout: ClaimLayout, claims: dict[str, Any], expected: Principal
) -> None:
    principal = _verifier(keys, layout).verify(_sign(keys, {**claims, "jti": "j-1"}))
    assert (principal.subject, principal.role, principal.token_id) == (expected.subject, expected.role, "j-1")


@pytest.mark.parametrize("layout", [ClaimLayout(), KEYCLOAK, ENTRA, GROUPS, AUTH0], ids=str)
@pytest.mark.parametrize(
    ("subject", "role"),
    [("staff/alice", "admin"), ("psychologists/p1", "psychologist"), ("clients/c1", "client")],
)
def test_claims_for_round_trips_through_the_verifier(
    keys: Path, layout: ClaimLayout, subject: str, role: str
) -> None:
    """What the development provider issues in a layout, the services read back."""
    claims = layout.claims_for(subject, role)
    assert _verifier(keys, layout).verify(_sign(keys, claims)) == Principal(subject, role)
    if layout.subject_claim != "sub":
        assert claims["sub"] != subject  # an opaque user id, as the provider's would be


def test_claims_for_keycloak_looks_like_keycloak() -> None:
    assert KEYCLOAK.claims_for("clients/c1", "client") == {
        "sub": "clients/c1",
        "realm_access": {"roles": ["phs-client"]},
    }
    assert ClaimLayout().claims_for("clients/c1", "client") == {"sub": "clients/c1", "role": "client"}
    with pytest.raises(ConfigError, match="maps no provider value"):
        ClaimLayout(role_claim="groups", role_map={"g": "admin"}).claims_for("clients/c1", "client")


# -- refusals: no role, several, no person ---------------------------------------------------


@pytest.mark.parametrize(
    ("layout", "claims", "reason"),
    [
        (KEYCLOAK, {"sub": "staff/x", "realm_access": {"roles": ["offline_access"]}}, "role must be one of"),
        (KEYCLOAK, {"sub": "staff/x", "realm_access": {"roles": ["admin"]}}, "role must be one of"),
        (KEYCLOAK, {"sub": "staff/x", "realm_access": {}}, "role must be one of"),
        (KEYCLOAK, {"sub": "staff/x", "realm_access": "phs-staff"}, "role must be one of"),
        (KEYCLOAK, {"sub": "staff/x", "role": "admin"}, "role must be one of"),
        (GROUPS, {"sub": "staff/x", "groups": [{"name": "/phs/staff"}, 7]}, "role must be one of"),
        (GROUPS, {"sub": "staff/x", "groups": []}, "role must be one of"),
        (ClaimLayout(), {"sub": "staff/x", "role": {"admin": True}}, "role must be one of"),
        (
            KEYCLOAK,
            {"sub": "psychologists/p1", "realm_access": {"roles": ["phs-psychologist", "phs-staff"]}},
            "several roles",
        ),
        (
            ClaimLayout(role_claim="roles"),
            {"sub": "clients/c1", "roles": ["client", "admin"]},
            "several roles",
        ),
        (ENTRA, {"sub": "opaque", "roles": ["PHS.Client"]}, "names no person"),
    ],
)
def test_tokens_without_one_role_or_a_person_are_no_access(
    keys: Path, layout: ClaimLayout, claims: dict[str, Any], reason: str
) -> None:
    token = _sign(keys, claims)
    with pytest.raises(NoAccessError, match=reason) as err:
        _verifier(keys, layout).verify(token)
    assert token not in str(err.value)


def test_two_provider_values_for_one_role_are_one_role(keys: Path) -> None:
    layout = ClaimLayout(role_claim="groups", role_map={"owners": "admin", "front-desk": "admin"})
    token = _sign(keys, {"sub": "staff/o", "groups": ["owners", "front-desk"]})
    assert _verifier(keys, layout).verify(token).role == "admin"


def test_a_role_that_does_not_fit_the_subject_stays_unauthenticated(keys: Path) -> None:
    token = _sign(keys, {"sub": "clients/c1", "realm_access": {"roles": ["phs-psychologist"]}})
    with pytest.raises(AuthenticationError, match="subject must be psychologists/") as err:
        _verifier(keys, KEYCLOAK).verify(token)
    assert not isinstance(err.value, NoAccessError)


def test_the_guard_answers_no_access_with_permission_denied(keys: Path) -> None:
    guard = Guard(_verifier(keys, KEYCLOAK), {}, None)
    no_role = _sign(keys, {"sub": "staff/x", "realm_access": {"roles": ["other"]}})
    with pytest.raises(ApiError) as err:
        guard.authenticate(f"Bearer {no_role}")
    assert err.value.code == grpc.StatusCode.PERMISSION_DENIED
    assert err.value.reason == "NO_ACCESS"
    with pytest.raises(ApiError) as err:
        guard.authenticate(f"Bearer {no_role[:-4]}AAAA")  # a broken signature is still 401
    assert err.value.code == grpc.StatusCode.UNAUTHENTICATED


# -- typ, issuers, clients, service keys -------------------------------------------------------


@pytest.mark.parametrize("typ", [AT_JWT, "application/at+jwt", "AT+JWT", "JWT", None])
def test_access_token_types_are_accepted(keys: Path, typ: str | None) -> None:
    assert _verifier(keys).verify(_sign(keys, {"sub": "staff/a", "role": "admin"}, typ=typ)).role == "admin"


@pytest.mark.parametrize("typ", ["logout+jwt", "dpop+jwt", "secevent+jwt", "JOSE"])
def test_other_token_types_are_refused(keys: Path, typ: str) -> None:
    with pytest.raises(AuthenticationError, match="not an access token"):
        _verifier(keys).verify(_sign(keys, {"sub": "staff/a", "role": "admin"}, typ=typ))


@pytest.mark.parametrize("typ", ["JWT", None])
def test_at_jwt_can_be_required(keys: Path, typ: str | None) -> None:
    """An ID token (typ JWT) whose audience happens to be the API's is then refused."""
    strict = _verifier(keys, require_at_jwt=True)
    with pytest.raises(AuthenticationError, match="typ at\\+jwt"):
        strict.verify(_sign(keys, {"sub": "staff/a", "role": "admin"}, typ=typ))
    assert strict.verify(_sign(keys, {"sub": "staff/a", "role": "admin"})).role == "admin"


def test_several_issuers(keys: Path) -> None:
    v = TokenVerifier(KeySet(file=str(keys / "jwks.json")), ["phs-dev", ISS], AUD)
    assert v.verify(_sign(keys, {"sub": "staff/a", "role": "admin"})).role == "admin"
    assert v.verify(_sign(keys, {"sub": "staff/a", "role": "admin", "iss": "phs-dev"})).role == "admin"
    with pytest.raises(AuthenticationError, match="unknown issuer"):
        v.verify(_sign(keys, {"sub": "staff/a", "role": "admin", "iss": "https://evil.example"}))


def test_client_check_reads_client_id_or_azp(keys: Path) -> None:
    v = _verifier(keys, client_ids=["phs-web"])
    person = {"sub": "staff/a", "role": "admin"}
    assert v.verify(_sign(keys, {**person, "client_id": "phs-web"})).role == "admin"  # RFC 9068
    assert v.verify(_sign(keys, {**person, "azp": "phs-web"})).role == "admin"  # OpenID Connect
    for other in ({"client_id": "other-app"}, {"azp": "other-app"}, {}):
        with pytest.raises(AuthenticationError, match="another client"):
            v.verify(_sign(keys, {**person, **other}))


def test_service_tokens_keep_the_plain_layout_and_their_own_keys(keys: Path) -> None:
    v = _verifier(keys, KEYCLOAK, client_ids=["phs-web"], service_key_ids=[WORKER_KID])
    service = {"sub": "services/reports-worker", "role": "service"}
    # The worker's token: plain layout, no client id, its own key.
    assert v.verify(_sign(keys, service, kid=WORKER_KID)) == Principal("services/reports-worker", "service")
    with pytest.raises(AuthenticationError, match="signed with a service key"):
        v.verify(_sign(keys, service))  # the provider's key cannot make a service token
    person = {"sub": "staff/a", "realm_access": {"roles": ["phs-staff"]}, "azp": "phs-web"}
    assert v.verify(_sign(keys, person)).role == "admin"
    with pytest.raises(AuthenticationError, match="service tokens only"):
        v.verify(_sign(keys, person, kid=WORKER_KID))  # the worker's key cannot make a person
    # Without service key ids, any trusted key signs service tokens (one dev key for all).
    assert _verifier(keys, KEYCLOAK).verify(_sign(keys, service)).role == "service"


def test_a_person_layout_cannot_yield_the_service_role(keys: Path) -> None:
    with pytest.raises(ConfigError, match="roles are admin, client, psychologist"):
        parse_role_map("robots:service")
    layout = ClaimLayout(role_claim="roles")
    with pytest.raises(NoAccessError):
        _verifier(keys, layout).verify(_sign(keys, {"sub": "services/x", "roles": ["service"]}))


# -- settings ----------------------------------------------------------------------------------


def test_role_map_parsing() -> None:
    assert parse_role_map("") == {}
    assert parse_role_map(" phs-staff:admin , urn:phs:psychologist:psychologist,/phs/clients:client,") == {
        "phs-staff": "admin",
        "urn:phs:psychologist": "psychologist",
        "/phs/clients": "client",
    }
    for bad, reason in [
        ("phs-staff", "not provider-value:role"),
        (":admin", "not provider-value:role"),
        ("phs-staff:superuser", "maps to 'superuser'"),
        ("a:admin,a:client", "appears twice"),
    ]:
        with pytest.raises(ConfigError, match=reason):
            parse_role_map(bad)


def test_claim_paths() -> None:
    claims = {"realm_access": {"roles": ["r"]}, "https://x.example/roles": ["n"], "a": {"b": {"c": 1}}}
    assert claim_at(claims, "realm_access.roles") == ["r"]
    assert claim_at(claims, "https://x.example/roles") == ["n"]
    assert claim_at(claims, "a.b.c") == 1
    assert claim_at(claims, "a.x.c") is None
    assert claim_at(claims, "realm_access.roles.0") is None


def test_auth_config_from_env(monkeypatch: pytest.MonkeyPatch, keys: Path) -> None:
    env = {
        "PHS_AUTH_JWKS_FILE": str(keys / "jwks.json"),
        "PHS_AUTH_ISSUER": f"phs-dev, {ISS}",
        "PHS_AUTH_SUBJECT_CLAIM": "phs_subject",
        "PHS_AUTH_ROLE_CLAIM": "realm_access.roles",
        "PHS_AUTH_ROLE_MAP": "phs-staff:admin,phs-client:client",
        "PHS_AUTH_CLIENT_IDS": "phs-web",
        "PHS_AUTH_SERVICE_KEY_IDS": WORKER_KID,
        "PHS_AUTH_REQUIRE_AT_JWT": "true",
    }
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    cfg = AuthConfig.from_env()
    assert cfg.issuers == ("phs-dev", ISS)
    assert cfg.layout == ClaimLayout(
        "phs_subject", "realm_access.roles", {"phs-staff": "admin", "phs-client": "client"}
    )
    assert (cfg.client_ids, cfg.service_key_ids, cfg.require_at_jwt) == (("phs-web",), (WORKER_KID,), True)
    v = TokenVerifier.from_config(cfg)
    token = _sign(
        keys,
        {
            "sub": "opaque",
            "phs_subject": "clients/c1",
            "realm_access": {"roles": ["phs-client"]},
            "azp": "phs-web",
        },
    )
    assert v.verify(token) == Principal("clients/c1", "client")
    monkeypatch.setenv("PHS_AUTH_ROLE_MAP", "phs-staff:root")
    with pytest.raises(ConfigError):
        AuthConfig.from_env()
    monkeypatch.setenv("PHS_AUTH_ROLE_MAP", "")
    monkeypatch.setenv("PHS_AUTH_ISSUER", " , ")
    with pytest.raises(ConfigError, match="names no issuer"):
        AuthConfig.from_env()
