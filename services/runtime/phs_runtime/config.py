"""Configuration from the environment (twelve-factor). Every variable is PHS_*."""

from __future__ import annotations

import datetime as dt
import os
from dataclasses import dataclass


class ConfigError(ValueError):
    """A configuration variable is missing or malformed."""


def env_str(name: str, default: str | None = None) -> str:
    value = os.environ.get(name, default)
    if value is None or value == "":
        raise ConfigError(f"environment variable {name} is required")
    return value


def env_int(name: str, default: int) -> int:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError as exc:
        raise ConfigError(f"{name} must be an integer, got {raw!r}") from exc


def env_float(name: str, default: float) -> float:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    try:
        return float(raw)
    except ValueError as exc:
        raise ConfigError(f"{name} must be a number, got {raw!r}") from exc


def env_bool(name: str, default: bool) -> bool:
    raw = os.environ.get(name)
    if raw is None or raw == "":
        return default
    if raw.lower() in {"1", "true", "yes", "on"}:
        return True
    if raw.lower() in {"0", "false", "no", "off"}:
        return False
    raise ConfigError(f"{name} must be true or false, got {raw!r}")


@dataclass(frozen=True)
class ServerConfig:
    """What every gRPC process needs: where to listen and how to stop."""

    service: str
    grpc_port: int
    metrics_port: int
    bind_host: str
    # Threads for unary calls, and apart from them for streaming calls: a long stream
    # never holds a thread unary calls need; more streams than threads wait their turn.
    max_workers: int
    max_streams: int
    # Seconds in-flight RPCs get to finish after SIGTERM.
    shutdown_grace_s: float
    # Seconds to keep answering (while health says NOT_SERVING) before closing
    # the listener, so load balancers stop routing first.
    shutdown_drain_s: float
    health_interval_s: float
    max_message_bytes: int
    # The largest request a caller may send (every request of these APIs is small).
    max_request_bytes: int
    # Several processes may share the gRPC port (SO_REUSEPORT), the usual way to use
    # more than one core with Python gRPC. Off by default: a second copy started by
    # mistake must fail to bind, not silently split traffic.
    reuse_port: bool

    @classmethod
    def from_env(
        cls,
        service: str,
        grpc_port: int = 50051,
        metrics_port: int = 9090,
        max_workers: int = 16,
        max_streams: int = 16,
    ) -> ServerConfig:
        """`max_workers`: the service's default thread count for unary calls. Python
        threads share one GIL, so more threads only help calls that wait (network I/O);
        CPU-bound unary services serve more and faster with fewer. `max_streams`: how
        many streaming calls may run at once, each on a thread of its own."""
        return cls(
            service=service,
            grpc_port=env_int("PHS_GRPC_PORT", grpc_port),
            metrics_port=env_int("PHS_METRICS_PORT", metrics_port),
            bind_host=env_str("PHS_BIND_HOST", "0.0.0.0"),
            max_workers=env_int("PHS_GRPC_MAX_WORKERS", max_workers),
            max_streams=env_int("PHS_GRPC_MAX_STREAMS", max_streams),
            shutdown_grace_s=env_float("PHS_SHUTDOWN_GRACE_SECONDS", 10.0),
            shutdown_drain_s=env_float("PHS_SHUTDOWN_DRAIN_SECONDS", 0.0),
            health_interval_s=env_float("PHS_HEALTH_INTERVAL_SECONDS", 2.0),
            max_message_bytes=env_int("PHS_GRPC_MAX_MESSAGE_BYTES", 4 * 1024 * 1024),
            max_request_bytes=env_int("PHS_GRPC_MAX_REQUEST_BYTES", 1024 * 1024),
            reuse_port=env_bool("PHS_GRPC_REUSE_PORT", False),
        )


@dataclass(frozen=True)
class KafkaConfig:
    """Broker connection settings; nothing here is specific to a local broker."""

    bootstrap_servers: str
    security_protocol: str
    sasl_mechanism: str | None
    sasl_username: str | None
    sasl_password: str | None
    ssl_cafile: str | None
    report_jobs_topic: str
    report_jobs_partitions: int
    report_dead_letter_topic: str
    report_dead_letter_partitions: int
    appointment_events_topic: str
    appointment_events_partitions: int
    replication_factor: int

    @classmethod
    def from_env(cls) -> KafkaConfig:
        return cls(
            bootstrap_servers=env_str("PHS_KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:9092"),
            security_protocol=env_str("PHS_KAFKA_SECURITY_PROTOCOL", "PLAINTEXT"),
            sasl_mechanism=os.environ.get("PHS_KAFKA_SASL_MECHANISM") or None,
            sasl_username=os.environ.get("PHS_KAFKA_SASL_USERNAME") or None,
            sasl_password=os.environ.get("PHS_KAFKA_SASL_PASSWORD") or None,
            ssl_cafile=os.environ.get("PHS_KAFKA_SSL_CAFILE") or None,
            report_jobs_topic=env_str("PHS_REPORT_JOBS_TOPIC", "phs.reports.jobs.v1"),
            report_jobs_partitions=env_int("PHS_REPORT_JOBS_PARTITIONS", 4),
            report_dead_letter_topic=env_str("PHS_REPORT_DEAD_LETTER_TOPIC", "phs.reports.jobs.dlq.v1"),
            report_dead_letter_partitions=env_int("PHS_REPORT_DEAD_LETTER_PARTITIONS", 1),
            appointment_events_topic=env_str(
                "PHS_APPOINTMENT_EVENTS_TOPIC", "phs.scheduling.appointments.v1"
            ),
            appointment_events_partitions=env_int("PHS_APPOINTMENT_EVENTS_PARTITIONS", 4),
            replication_factor=env_int("PHS_KAFKA_REPLICATION_FACTOR", 1),
        )


@dataclass(frozen=True)
class DatabaseConfig:
    """Where a service keeps its data, and how it treats the database."""

    url: str
    # Apply pending migrations at start (one process at a time, under a lock).
    migrate: bool
    # PostgreSQL's server-side deadline for every statement (0: none), so a runaway
    # query ends with an error instead of holding a connection and a thread.
    statement_timeout_ms: int

    @classmethod
    def from_env(cls, default_url: str) -> DatabaseConfig:
        return cls(
            url=env_str("PHS_DATABASE_URL", default_url),
            migrate=env_bool("PHS_MIGRATE_ON_START", True),
            statement_timeout_ms=env_int("PHS_DB_STATEMENT_TIMEOUT_MS", 30_000),
        )


@dataclass(frozen=True)
class OutboxConfig:
    """The transactional outbox's relay. The defaults here are the relay's own too
    (phs_runtime.outbox.OutboxRelay)."""

    # Published messages are kept this long for inspection.
    retention: dt.timedelta = dt.timedelta(hours=24)
    # How often the leader checks that the broker still has what it acknowledged (0: never).
    check_s: float = 2.0

    @classmethod
    def from_env(cls) -> OutboxConfig:
        hours = env_int("PHS_OUTBOX_RETENTION_HOURS", cls.retention // dt.timedelta(hours=1))
        return cls(
            retention=dt.timedelta(hours=hours),
            check_s=env_float("PHS_OUTBOX_CHECK_SECONDS", cls.check_s),
        )
