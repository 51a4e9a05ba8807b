"""The web app's static server (`python -m phs_web`), run as a real process against a
fake build: security headers on every answer, caching (immutable hashed assets,
revalidated index.html), the SPA fallback and its limits (404 for a missing file with an
extension, no listing, no traversal), GET/HEAD only, /config.json, /healthz, gzip, the
JSON access log without query strings, and a clean SIGTERM. Then the same server behind
the real stack's Envoy: the app at `/`, the API still at `/v1/`."""

from __future__ import annotations

import gzip
import http.client
import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from phs_devstack import Ports, Stack, free_port
from tests.helpers import eventually, json_lines

AUTHORITY = "http://127.0.0.1:8090/realms/dev"
IDP = "http://127.0.0.1:8090"


def csp(idp: str) -> str:
    return (
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; font-src 'self'; "
        f"connect-src 'self' {idp}; frame-src {idp}; form-action 'self' {idp}; base-uri 'none'; "
        "object-src 'none'; frame-ancestors 'none'"
    )


INDEX = (
    "<!doctype html><html><head><meta charset='utf-8'><title>PHS</title>"
    "<script type='module' src='/assets/app-abc123.js'></script></head>"
    "<body><div id='root'></div>" + "<!-- padding so gzip pays -->" * 20 + "</body></html>"
).encode()
APP_JS = ("export const hello = () => 'hello';\n" * 40).encode()
SECRET = b"not for the web"


@dataclass
class Served:
    port: int
    root: Path
    log: Path
    proc: subprocess.Popen[bytes]


def request(
    port: int, method: str, path: str, headers: dict[str, str] | None = None
) -> tuple[int, dict[str, str], bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        conn.putrequest(method, path, skip_accept_encoding=True)
        for k, v in (headers or {}).items():
            conn.putheader(k, v)
        conn.endheaders()
        resp = conn.getresponse()
        got: dict[str, str] = {}
        for k, v in resp.getheaders():  # a repeated header shows as a list, as HTTP folds it
            got[k.lower()] = f"{got[k.lower()]}, {v}" if k.lower() in got else v
        return resp.status, got, resp.read()
    finally:
        conn.close()


def fake_build(root: Path) -> None:
    (root / "assets").mkdir(parents=True)
    (root / "index.html").write_bytes(INDEX)
    (root / "assets" / "app-abc123.js").write_bytes(APP_JS)
    (root / "assets" / "font-1a2b.woff2").write_bytes(b"wOF2" + bytes(300))
    (root / "icon.svg").write_bytes(b"<svg xmlns='http://www.w3.org/2000/svg'/>")
    (root / "manifest.webmanifest").write_bytes(b'{"name": "PHS"}')
    (root / ".env").write_bytes(SECRET)


def start(root: Path, log: Path, **env: str) -> Served:
    port = free_port()
    with open(log, "ab") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "phs_web"],
            env={
                **os.environ,
                "PHS_WEB_ROOT": str(root),
                "PHS_WEB_PORT": str(port),
                "PHS_WEB_OIDC_AUTHORITY": AUTHORITY,
                **env,
            },
            stdout=out,
            stderr=subprocess.STDOUT,
        )

    def up() -> bool:
        if proc.poll() is not None:
            raise AssertionError(f"phs_web exited: {log.read_text()}")
        try:
            request(port, "GET", "/config.json")
            return True
        except OSError:
            return False

    eventually(up, timeout=30, what="phs_web listening")
    return Served(port, root, log, proc)


def stop(served: Served) -> int:
    if served.proc.poll() is None:
        served.proc.send_signal(signal.SIGTERM)
    return served.proc.wait(15)


@pytest.fixture(scope="module")
def web(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Served]:
    base = tmp_path_factory.mktemp("web")
    (base / "secret.txt").write_bytes(SECRET)  # beside the root: never reachable
    fake_build(base / "dist")
    served = start(base / "dist", base / "web.log")
    try:
        yield served
    finally:
        stop(served)


def assert_status(status: int, headers: dict[str, str], body: bytes, code: int) -> None:
    """An error is a google.rpc.Status, as every error through the gateway is."""
    assert headers["content-type"] == "application/json"
    parsed = json.loads(body)
    assert parsed["code"] == code and isinstance(parsed["message"], str), (status, parsed)
    assert parsed["details"][0]["@type"] == "type.googleapis.com/google.rpc.ErrorInfo"


def assert_security_headers(headers: dict[str, str], idp: str = IDP) -> None:
    assert headers["content-security-policy"] == csp(idp)
    assert headers["referrer-policy"] == "no-referrer"
    assert headers["x-content-type-options"] == "nosniff"
    assert headers["cross-origin-opener-policy"] == "same-origin"
    assert "camera=()" in headers["permissions-policy"]


def test_index_is_revalidated_and_carries_the_security_headers(web: Served) -> None:
    for path in ("/", "/index.html"):
        status, headers, body = request(web.port, "GET", path)
        assert (status, body) == (200, INDEX), path
        assert headers["content-type"] == "text/html; charset=utf-8"
        assert headers["cache-control"] == "no-cache"
        assert_security_headers(headers)


def test_hashed_assets_are_immutable(web: Served) -> None:
    status, headers, body = request(web.port, "GET", "/assets/app-abc123.js")
    assert (status, body) == (200, APP_JS)
    assert headers["content-type"] == "text/javascript; charset=utf-8"
    assert headers["cache-control"] == "public, max-age=31536000, immutable"
    assert_security_headers(headers)


@pytest.mark.parametrize(
    ("path", "content_type"),
    [
        ("/assets/font-1a2b.woff2", "font/woff2"),
        ("/icon.svg", "image/svg+xml; charset=utf-8"),
        ("/manifest.webmanifest", "application/manifest+json; charset=utf-8"),
        ("/config.json", "application/json"),
    ],
)
def test_content_types(web: Served, path: str, content_type: str) -> None:
    status, headers, _ = request(web.port, "GET", path)
    assert status == 200 and headers["content-type"] == content_type


def test_app_routes_fall_back_to_index(web: Served) -> None:
    for path in ("/calendar", "/clients/c-42/appointments", "/assets", "/calendar?week=2030-W01"):
        status, headers, body = request(web.port, "GET", path)
        assert (status, body) == (200, INDEX), path
        assert headers["cache-control"] == "no-cache"
        assert_security_headers(headers)


def test_missing_files_with_an_extension_are_404(web: Served) -> None:
    for path in ("/assets/missing.js", "/favicon.png", "/assets/no-extension", "/assets/", "/.env"):
        status, headers, body = request(web.port, "GET", path)
        assert status == 404, (path, status)
        assert_status(status, headers, body, 5)
        assert INDEX not in body and SECRET not in body
        assert_security_headers(headers)


def test_no_path_leaves_the_root(web: Served) -> None:
    for path in (
        "/../secret.txt",
        "/%2e%2e/secret.txt",
        "/%2E%2E/%2e%2e/etc/passwd",
        "/assets/..%2f..%2fsecret.txt",
        "/%2e%2e%2fsecret.txt",
        "/assets/%2e%2e/%2e%2e/secret.txt",
        "/..%5csecret.txt",
        "/%00index.html",
        "/%ff",
    ):
        status, headers, body = request(web.port, "GET", path)
        assert status == 400, (path, status, body)
        assert_status(status, headers, body, 3)
        assert SECRET not in body and INDEX not in body
        assert_security_headers(headers)


def test_an_overlong_request_line_is_refused_without_echo(web: Served) -> None:
    long = "x" * 70_000
    status, headers, body = request(web.port, "GET", f"/{long}")
    assert status == 414
    assert_status(status, headers, body, 8)
    assert_security_headers(headers)
    assert long[:100].encode() not in body


def test_a_request_body_is_never_read_as_the_next_request(web: Served) -> None:
    """The server reads no body: with one, it answers and closes the connection, so the
    body cannot pass for a second request on the gateway's shared connection."""
    smuggled = b"GET /assets/app-abc123.js HTTP/1.1\r\nHost: x\r\n\r\n"
    for method in (b"GET", b"POST"):
        with socket.create_connection(("127.0.0.1", web.port), timeout=10) as s:
            s.sendall(
                method + b" / HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % len(smuggled) + smuggled
            )
            received = b""
            while chunk := s.recv(65536):
                received += chunk
        assert received.count(b"HTTP/1.1 ") == 1, received[:300]
        assert b"connection: close" in received.lower()
        assert APP_JS not in received


def test_only_get_and_head(web: Served) -> None:
    for method in ("POST", "PUT", "DELETE", "PATCH", "OPTIONS", "TRACE", "BREW"):
        status, headers, body = request(web.port, method, "/")
        assert status == 405, method
        assert headers["allow"] == "GET, HEAD"
        assert_status(status, headers, body, 12)
        assert_security_headers(headers)
        assert INDEX not in body


def test_head_has_gets_headers_and_no_body(web: Served) -> None:
    _, get_headers, _ = request(web.port, "GET", "/assets/app-abc123.js")
    status, headers, body = request(web.port, "HEAD", "/assets/app-abc123.js")
    assert (status, body) == (200, b"")
    assert headers["content-length"] == str(len(APP_JS))
    drop = {"date"}
    assert {k: v for k, v in headers.items() if k not in drop} == {
        k: v for k, v in get_headers.items() if k not in drop
    }


def test_config_json_names_the_openid_provider(web: Served) -> None:
    status, headers, body = request(web.port, "GET", "/config.json")
    assert status == 200 and headers["cache-control"] == "no-cache"
    assert json.loads(body) == {
        "oidc": {"authority": AUTHORITY, "clientId": "phs-web", "scope": "openid profile offline_access"},
        "claims": {"subject": "sub", "role": "role", "roleMap": {}},
    }
    assert_security_headers(headers)


def test_config_json_hands_the_services_claim_settings_to_the_app(tmp_path: Path) -> None:
    """A provider that names roles its own way (Keycloak's realm roles, here): the app
    reads the person and role from the same claims the services verify."""
    fake_build(tmp_path / "dist")
    served = start(
        tmp_path / "dist",
        tmp_path / "web.log",
        PHS_AUTH_SUBJECT_CLAIM="phs_subject",
        PHS_AUTH_ROLE_CLAIM="realm_access.roles",
        PHS_AUTH_ROLE_MAP="phs-staff:admin,phs-psy:psychologist",
    )
    try:
        _, _, body = request(served.port, "GET", "/config.json")
        assert json.loads(body)["claims"] == {
            "subject": "phs_subject",
            "role": "realm_access.roles",
            "roleMap": {"phs-staff": "admin", "phs-psy": "psychologist"},
        }
    finally:
        served.proc.terminate()
        served.proc.wait(15)


def test_text_is_gzipped_when_accepted(web: Served) -> None:
    for path, original in (("/assets/app-abc123.js", APP_JS), ("/", INDEX)):
        status, headers, body = request(web.port, "GET", path, {"accept-encoding": "br;q=1, gzip;q=0.5"})
        assert status == 200 and headers["content-encoding"] == "gzip", path
        assert headers["vary"] == "Accept-Encoding"
        assert int(headers["content-length"]) == len(body) < len(original)
        assert gzip.decompress(body) == original
    for accept in ("identity", "gzip;q=0", ""):
        status, headers, body = request(web.port, "GET", "/assets/app-abc123.js", {"accept-encoding": accept})
        assert "content-encoding" not in headers and body == APP_JS, accept
    # Fonts are compressed already.
    _, headers, _ = request(web.port, "GET", "/assets/font-1a2b.woff2", {"accept-encoding": "gzip"})
    assert "content-encoding" not in headers


def test_files_the_build_compressed_are_sent_as_they_are(tmp_path: Path) -> None:
    """A `.br` or `.gz` the build wrote beside a file is what goes out (the stdlib has no
    brotli); one older than the file is stale and ignored."""
    fake_build(tmp_path / "dist")
    assets = tmp_path / "dist" / "assets"
    (assets / "app-abc123.js.br").write_bytes(b"brotli bytes")
    (assets / "app-abc123.js.gz").write_bytes(gzip.compress(APP_JS))
    os.utime(assets / "app-abc123.js", ns=(1_000_000_000, 1_000_000_000))  # older than both
    served = start(tmp_path / "dist", tmp_path / "web.log")
    try:
        status, headers, body = request(
            served.port, "GET", "/assets/app-abc123.js", {"accept-encoding": "gzip, br"}
        )
        assert (status, headers["content-encoding"], body) == (200, "br", b"brotli bytes")
        _, headers, body = request(served.port, "GET", "/assets/app-abc123.js", {"accept-encoding": "gzip"})
        assert headers["content-encoding"] == "gzip" and gzip.decompress(body) == APP_JS
        # A newer build of the file makes the compressed ones stale.
        (assets / "app-abc123.js").write_bytes(APP_JS + b"// new\n")
        _, headers, body = request(served.port, "GET", "/assets/app-abc123.js", {"accept-encoding": "br"})
        assert "content-encoding" not in headers and body == APP_JS + b"// new\n"
    finally:
        stop(served)


def test_sigterm_drains_before_the_listener_closes(tmp_path: Path) -> None:
    """Readiness turns 503 first (the gateway and Kubernetes stop sending), files are still
    served during the drain, then the process exits 0."""
    fake_build(tmp_path / "dist")
    # A drain long enough that a loaded machine still sees readiness turn before it ends.
    served = start(tmp_path / "dist", tmp_path / "web.log", PHS_SHUTDOWN_DRAIN_SECONDS="6")
    served.proc.send_signal(signal.SIGTERM)
    eventually(lambda: request(served.port, "GET", "/healthz")[0] == 503, timeout=5, what="not ready")
    assert request(served.port, "GET", "/")[0] == 200
    assert request(served.port, "GET", "/livez")[0] == 200
    assert served.proc.wait(15) == 0


def test_a_known_etag_is_304(web: Served) -> None:
    _, headers, _ = request(web.port, "GET", "/assets/app-abc123.js")
    tag = {"if-none-match": headers["etag"]}
    status, again, body = request(web.port, "GET", "/assets/app-abc123.js", tag)
    assert (status, body) == (304, b"")
    assert again["cache-control"] == "public, max-age=31536000, immutable"
    assert "content-length" not in again and again["etag"] == headers["etag"]
    # A changed file has another tag.
    (web.root / "assets" / "app-abc123.js").write_bytes(APP_JS + b"// changed\n")
    try:
        status, _, body = request(web.port, "GET", "/assets/app-abc123.js", tag)
        assert (status, body) == (200, APP_JS + b"// changed\n")
    finally:
        (web.root / "assets" / "app-abc123.js").write_bytes(APP_JS)


def test_keep_alive_requests_do_not_wait_for_delayed_acks(web: Served) -> None:
    """Headers and body leave in two writes; with Nagle's algorithm on, each keep-alive
    request would wait for the client's delayed ACK (40 ms or more on Linux): 40 requests
    would take over 1.6 s. Without it they take a few milliseconds each."""
    conn = http.client.HTTPConnection("127.0.0.1", web.port, timeout=10)
    try:
        started = time.monotonic()
        for _ in range(40):
            conn.request("GET", "/assets/app-abc123.js")
            resp = conn.getresponse()
            assert resp.read() == APP_JS
        took = time.monotonic() - started
    finally:
        conn.close()
    assert took < 1.2, f"40 keep-alive requests took {took:.2f}s"


def test_health_is_serving_with_a_build(web: Served) -> None:
    status, headers, body = request(web.port, "GET", "/healthz")
    assert (status, json.loads(body)) == (200, {"status": "SERVING"})
    assert headers["cache-control"] == "no-store"


def test_access_log_is_json_without_query_strings(web: Served) -> None:
    request(web.port, "GET", "/clients?name=Alice%20Example&code=secret-code", {"x-request-id": "web-log-1"})

    def line() -> dict[str, object] | None:
        for entry in json_lines(web.log):
            if entry.get("request_id") == "web-log-1":
                return entry
        return None

    entry = eventually(line, timeout=10, what="access log line")
    assert entry["http_method"] == "GET" and entry["path"] == "/clients" and entry["status"] == 200
    assert entry["bytes"] == len(INDEX) and entry["service"] == "web"
    text = web.log.read_text()
    assert "Alice" not in text and "secret-code" not in text
    for raw in text.splitlines():
        json.loads(raw)  # every line is JSON


def test_without_a_build_it_says_so_and_is_not_ready(tmp_path: Path) -> None:
    root = tmp_path / "dist"
    root.mkdir()
    served = start(root, tmp_path / "web.log")
    try:
        status, headers, body = request(served.port, "GET", "/")
        assert status == 503 and b"make web" in body
        assert headers["content-type"] == "text/html; charset=utf-8"
        assert_security_headers(headers)
        assert request(served.port, "GET", "/calendar")[0] == 503
        assert request(served.port, "GET", "/healthz")[0] == 503
        assert request(served.port, "GET", "/livez")[0] == 200  # a restart would not help
        assert request(served.port, "GET", "/config.json")[0] == 200
        # A build that appears later is served without a restart (make web, Tilt's sync).
        fake_build(root)
        assert request(served.port, "GET", "/healthz")[0] == 200
        assert request(served.port, "GET", "/")[2] == INDEX
    finally:
        assert stop(served) == 0
    assert served.proc.returncode == 0


def test_sigterm_stops_it_cleanly(tmp_path: Path) -> None:
    fake_build(tmp_path / "dist")
    served = start(tmp_path / "dist", tmp_path / "web.log")
    # An idle keep-alive connection must not hold the exit up.
    idle = http.client.HTTPConnection("127.0.0.1", served.port, timeout=10)
    idle.request("GET", "/healthz")
    idle.getresponse().read()
    try:
        assert stop(served) == 0
    finally:
        idle.close()
    messages = [e.get("message") for e in json_lines(served.log)]
    assert "stopped" in messages


def test_a_malformed_issuer_is_refused_at_start(tmp_path: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "phs_web"],
        env={**os.environ, "PHS_WEB_ROOT": str(tmp_path), "PHS_WEB_OIDC_AUTHORITY": "javascript:alert(1)"},
        capture_output=True,
        timeout=30,
        check=False,
    )
    assert proc.returncode != 0
    assert b"PHS_WEB_OIDC_AUTHORITY" in proc.stdout + proc.stderr


# -- behind the gateway ------------------------------------------------------------------


@pytest.fixture(scope="module")
def gateway(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """The stack's own code path (Stack.start_web, Envoy's template) with a fake build:
    the broker, both APIs, the web server and Envoy."""
    root = tmp_path_factory.mktemp("web-gateway")
    fake_build(root / "dist")
    s = Stack(root=root, ports=Ports.free(), web_root=root / "dist")
    try:
        s.start_backends()
        s.start_web()
        s.start_envoy()
        yield s
    finally:
        s.stop()


def test_the_gateway_serves_the_app_beside_the_api(gateway: Stack) -> None:
    port = gateway.ports.rest
    # Envoy's health check admits the web server within a second or so of its start.
    eventually(lambda: request(port, "GET", "/")[0] == 200, timeout=15, what="the app through Envoy")
    for path in ("/", "/calendar/2030-01-07", "/assets/app-abc123.js"):
        status, headers, body = request(port, "GET", path, {"accept-encoding": "gzip"})
        assert status == 200, (path, status, body[:200])
        assert gzip.decompress(body) in (INDEX, APP_JS)
        assert_security_headers(headers, gateway.oidc_url)
        assert headers["x-request-id"]  # Envoy's, passed to the web server's access log
    status, headers, body = request(port, "HEAD", "/")
    assert (status, body) == (200, b"") and headers["content-type"] == "text/html; charset=utf-8"
    status, _, body = request(port, "GET", "/config.json")
    assert status == 200 and json.loads(body)["oidc"]["authority"] == gateway.oidc_url
    # A missing asset is the web server's 404, not the API's.
    status, headers, _ = request(port, "GET", "/assets/missing.js")
    assert status == 404 and "content-security-policy" in headers


def test_the_api_keeps_v1(gateway: Stack) -> None:
    port = gateway.ports.rest
    token = gateway.token("staff/web-test", "admin")
    status, headers, body = request(port, "GET", "/v1/sessionTypes", {"authorization": f"Bearer {token}"})
    assert status == 200, body[:300]
    assert "sessionTypes" in json.loads(body) and "content-security-policy" not in headers
    for method, path in (("GET", "/v1/nope"), ("GET", "/v1/"), ("HEAD", "/v1/nope"), ("POST", "/calendar")):
        status, headers, body = request(port, method, path, {"authorization": f"Bearer {token}"})
        assert status == 404, (method, path, status)
        assert headers["content-type"].startswith("application/json"), (method, path, headers)
        if method != "HEAD":
            parsed = json.loads(body)
            assert parsed["code"] == 5 and parsed["details"][0]["reason"] == "NOT_FOUND", parsed
        assert "content-security-policy" not in headers  # the gateway's reply, not the app


def test_the_web_servers_access_log_has_the_gateways_request_id(gateway: Stack) -> None:
    request(gateway.ports.rest, "GET", "/clients?name=Someone%20Private", {"x-request-id": "web-gw-1"})

    def line() -> dict[str, object] | None:
        for entry in json_lines(gateway.log("web")):
            if entry.get("request_id") == "web-gw-1":
                return entry
        return None

    entry = eventually(line, timeout=10, what="the web server's access line")
    assert entry["path"] == "/clients" and entry["status"] == 200
    assert "Private" not in gateway.log("web").read_text()
    assert "Private" not in gateway.log("envoy").read_text()


@pytest.fixture(scope="module")
def gateway_without_web(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    """Envoy alone: nobody listens where the web server should be."""
    s = Stack(root=tmp_path_factory.mktemp("web-missing"), ports=Ports.free())
    try:
        s.start_envoy()
        yield s
    finally:
        s.stop()


def test_without_a_web_server_the_gateway_says_unavailable_safely(gateway_without_web: Stack) -> None:
    status, headers, body = request(gateway_without_web.ports.rest, "GET", "/calendar")
    assert status == 503
    assert_status(status, headers, body, 14)
    assert headers["content-security-policy"] == "default-src 'none'; frame-ancestors 'none'"
    assert headers["x-content-type-options"] == "nosniff" and headers["referrer-policy"] == "no-referrer"
