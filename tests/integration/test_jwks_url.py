"""Signing keys from the identity provider's JWKS URL, served by a real HTTP server on
a loopback port (the verifier's other checks: tests/unit/test_auth_tokens.py)."""

from __future__ import annotations

import http.server
import json
import threading
from typing import Any

import pytest

from phs_runtime.auth import KeySet, TokenVerifier, generate_keys
from tests.unit.test_auth_tokens import AUD, EC_KID, ISS, RSA_KID, Keys, _add_rsa_key, _refused, _token


@pytest.fixture(scope="module")
def keys(tmp_path_factory: pytest.TempPathFactory) -> Keys:
    directory = tmp_path_factory.mktemp("url-keys")
    ec_pem_path, jwks = generate_keys(directory, EC_KID)
    rsa_pem = _add_rsa_key(directory, RSA_KID)
    return Keys(jwks, ec_pem_path.read_bytes(), rsa_pem)


def test_keys_from_a_jwks_url_with_rotation(keys: Keys) -> None:
    """The identity provider's JWKS endpoint, served over real HTTP: keys load from it,
    and a key published there later is picked up on first sight of its kid."""
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
