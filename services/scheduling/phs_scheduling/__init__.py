"""The scheduling service: psychologists, clients, session types and appointments."""

import phs_runtime  # noqa: F401 - first, before grpc: sets gRPC's log level default

SERVICE_NAME = "phs.scheduling.v1.SchedulingService"
