"""A process built on phs_runtime.server.GrpcProcess with one slow method, so a
test can send SIGTERM while an RPC is in flight. Run: python -m tests.slow_server."""

from __future__ import annotations

import time
from typing import Any

import grpc

from phs_runtime.config import ServerConfig
from phs_runtime.logs import setup_logging
from phs_runtime.server import GrpcProcess

SERVICE = "test.Slow"


def _sleep(request: bytes, context: grpc.ServicerContext) -> bytes:
    time.sleep(float(request.decode() or "1"))
    return b"done"


def add(server: grpc.Server) -> None:
    handler: Any = grpc.method_handlers_generic_handler(
        SERVICE,
        {"Sleep": grpc.unary_unary_rpc_method_handler(_sleep)},
    )
    server.add_generic_rpc_handlers((handler,))


if __name__ == "__main__":
    setup_logging("slow-server")
    GrpcProcess(ServerConfig.from_env("slow-server"), [SERVICE], add, {}).serve_forever()
