"""The shared runtime every PHS process uses: configuration, JSON logging with
request ids, gRPC interceptors (metrics, logging, errors), health, Prometheus
metrics, database and Kafka plumbing, and graceful shutdown. One copy for all
services; a service imports what it needs."""
