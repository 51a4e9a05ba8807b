"""The shared runtime every PHS process uses: configuration, JSON logging with
request ids, the gRPC server pipeline and client interceptor, health, Prometheus
metrics, database and Kafka plumbing, and graceful shutdown. One copy for all
services; a service imports what it needs."""

import os

# gRPC's C core reads its log level once, when grpc is imported. Unset, it lets its
# traces and INFO lines through; a process that wants them sets GRPC_VERBOSITY itself.
# Service packages import this package first, before anything imports grpc.
os.environ.setdefault("GRPC_VERBOSITY", "ERROR")
