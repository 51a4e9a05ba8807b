"""Prometheus metrics with the standard gRPC names (as go-grpc-prometheus and
grpc-ecosystem define them), served over HTTP at /metrics by every process."""

from __future__ import annotations

import logging

from prometheus_client import Counter, Histogram, start_http_server

log = logging.getLogger(__name__)

_LABELS = ("grpc_type", "grpc_service", "grpc_method")
_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)

SERVER_STARTED = Counter("grpc_server_started_total", "RPCs started on the server.", _LABELS)
SERVER_HANDLED = Counter(
    "grpc_server_handled_total", "RPCs completed on the server, by status code.", (*_LABELS, "grpc_code")
)
SERVER_MSG_RECEIVED = Counter("grpc_server_msg_received_total", "Stream messages received.", _LABELS)
SERVER_MSG_SENT = Counter("grpc_server_msg_sent_total", "Stream messages sent.", _LABELS)
SERVER_HANDLING = Histogram(
    "grpc_server_handling_seconds", "Time to handle an RPC on the server.", _LABELS, buckets=_BUCKETS
)

CLIENT_STARTED = Counter("grpc_client_started_total", "RPCs started by this client.", _LABELS)
CLIENT_HANDLED = Counter(
    "grpc_client_handled_total", "RPCs completed by this client, by status code.", (*_LABELS, "grpc_code")
)
CLIENT_HANDLING = Histogram(
    "grpc_client_handling_seconds",
    "Time until an RPC completed, as the client saw it.",
    _LABELS,
    buckets=_BUCKETS,
)


def split_method(full_method: str) -> tuple[str, str]:
    """'/pkg.Service/Method' -> ('pkg.Service', 'Method')."""
    _, _, rest = full_method.partition("/")
    service, _, method = rest.partition("/")
    return service or "unknown", method or "unknown"


def serve_metrics(host: str, port: int) -> None:
    """Start the /metrics HTTP endpoint in a daemon thread."""
    start_http_server(port, addr=host)
    log.info("metrics listening", extra={"metrics_port": port})
