"""Everything the reports processes (API and worker) are configured with, read from
the environment once at start (PHS_* variables; README, "Configuration"). A bad
value stops the process before it listens, with the variable's name."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from phs_reports.sweeper import SweeperConfig
from phs_runtime.auth import AuthConfig, SigningConfig
from phs_runtime.config import (
    DatabaseConfig,
    KafkaConfig,
    OutboxConfig,
    ServerConfig,
    env_float,
    env_int,
    env_str,
)

DEFAULT_DATABASE = "sqlite:///data/reports.db"


@dataclass(frozen=True)
class WorkerConfig:
    group_id: str
    scheduling_target: str
    max_attempts: int
    retry_backoff_s: float
    rpc_timeout_s: float
    session_timeout_ms: int
    heartbeat_interval_ms: int
    fetch_max_wait_ms: int
    retention: dt.timedelta
    progress_every: int

    @classmethod
    def from_env(cls) -> WorkerConfig:
        return cls(
            group_id=env_str("PHS_REPORT_WORKER_GROUP", "phs-report-workers"),
            scheduling_target=env_str("PHS_SCHEDULING_TARGET", "127.0.0.1:50051"),
            max_attempts=env_int("PHS_REPORT_MAX_ATTEMPTS", 5),
            retry_backoff_s=env_float("PHS_REPORT_RETRY_BACKOFF_SECONDS", 0.5),
            rpc_timeout_s=env_float("PHS_REPORT_RPC_TIMEOUT_SECONDS", 30.0),
            session_timeout_ms=env_int("PHS_KAFKA_SESSION_TIMEOUT_MS", 10000),
            heartbeat_interval_ms=env_int("PHS_KAFKA_HEARTBEAT_INTERVAL_MS", 3000),
            # How long a fetch may wait for new jobs: bounds pick-up latency.
            fetch_max_wait_ms=env_int("PHS_KAFKA_FETCH_MAX_WAIT_MS", 100),
            # How long results (and export files) are kept.
            retention=dt.timedelta(days=env_float("PHS_REPORT_RETENTION_DAYS", 30.0)),
            progress_every=env_int("PHS_REPORT_PROGRESS_EVERY", 5000),
        )


@dataclass(frozen=True)
class ApiSettings:
    server: ServerConfig
    database: DatabaseConfig
    kafka: KafkaConfig
    outbox: OutboxConfig
    auth: AuthConfig
    sweeper: SweeperConfig

    @classmethod
    def from_env(cls) -> ApiSettings:
        return cls(
            server=ServerConfig.from_env("reports-api"),
            database=DatabaseConfig.from_env(DEFAULT_DATABASE),
            kafka=KafkaConfig.from_env(),
            outbox=OutboxConfig.from_env(),
            auth=AuthConfig.from_env(),
            sweeper=SweeperConfig.from_env(),
        )


@dataclass(frozen=True)
class WorkerSettings:
    server: ServerConfig
    # API and worker both migrate (serialized by a lock), so either may start first.
    database: DatabaseConfig
    kafka: KafkaConfig
    worker: WorkerConfig
    # The worker reads figures from the scheduling service with tokens of its own.
    signing: SigningConfig

    @classmethod
    def from_env(cls) -> WorkerSettings:
        return cls(
            server=ServerConfig.from_env("reports-worker"),
            database=DatabaseConfig.from_env(DEFAULT_DATABASE),
            kafka=KafkaConfig.from_env(),
            worker=WorkerConfig.from_env(),
            signing=SigningConfig.from_env(),
        )
