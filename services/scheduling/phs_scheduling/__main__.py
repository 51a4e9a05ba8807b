"""`python -m phs_scheduling`: the scheduling gRPC server."""

from __future__ import annotations

import logging

import grpc

from phs.scheduling.v1 import scheduling_service_pb2_grpc as s_grpc
from phs_runtime.config import ServerConfig, env_bool, env_str
from phs_runtime.logs import setup_logging
from phs_runtime.server import GrpcProcess
from phs_scheduling import SERVICE_NAME
from phs_scheduling.service import SchedulingServicer
from phs_scheduling.store import Store

log = logging.getLogger("phs_scheduling")


def main() -> None:
    setup_logging("scheduling")
    config = ServerConfig.from_env("scheduling")
    store = Store.open(
        env_str("PHS_DATABASE_URL", "sqlite:///data/scheduling.db"),
        migrate=env_bool("PHS_MIGRATE_ON_START", True),
    )
    servicer = SchedulingServicer(store)

    def add(server: grpc.Server) -> None:
        s_grpc.add_SchedulingServiceServicer_to_server(servicer, server)

    process = GrpcProcess(config, [SERVICE_NAME], add, {"database": store.ping})
    process.on_stop(store.close)
    process.serve_forever()


if __name__ == "__main__":
    main()
