"""`python -m phs_devstack.oidc`: the development OpenID provider as a process
(settings from PHS_OIDC_* and PHS_AUTH_* variables; see the package docstring)."""

from __future__ import annotations

import logging
import threading
from typing import Any

from werkzeug.serving import WSGIRequestHandler, make_server

from phs_devstack.oidc import DEV_BANNER, ProviderConfig
from phs_devstack.oidc.app import create_app
from phs_devstack.oidc.directory import AdminTokens, Directory
from phs_devstack.oidc.server import Provider
from phs_runtime.logs import setup_logging
from phs_runtime.signals import stop_on_signals, wait_for

log = logging.getLogger("phs.oidc")


class _QuietHandler(WSGIRequestHandler):
    """Werkzeug logs request lines with their query strings (a typed name, a state);
    the app logs each request itself, without them."""

    def log_request(self, *args: Any, **kwargs: Any) -> None:
        pass


def main() -> None:
    setup_logging("dev-oidc")
    cfg = ProviderConfig.from_env()
    provider = Provider(cfg)
    tokens = AdminTokens(cfg.signing_key_file.read_bytes(), cfg.key_id, cfg.issuer, cfg.audience, cfg.layout)
    app = create_app(provider, Directory(cfg.scheduling_target, tokens))
    server = make_server(cfg.bind_host, cfg.port, app, threaded=True, request_handler=_QuietHandler)
    stop = stop_on_signals()
    threading.Thread(target=server.serve_forever, name="http", daemon=True).start()
    log.warning(
        f"{DEV_BANNER}: development OpenID provider, never deploy it",
        extra={"issuer": cfg.issuer, "client_id": cfg.client_id, "access_token_seconds": cfg.access_ttl_s},
    )
    wait_for(stop)
    server.shutdown()
    log.info("stopped")


if __name__ == "__main__":
    main()
