"""Every setting of the notifications service, read once from the environment into
one typed object (`Settings.from_env`). Every variable is PHS_*."""

from __future__ import annotations

import datetime as dt
import os
import re
import socket
from dataclasses import dataclass

from phs_notifications.adapters.smtp import Security, SmtpConfig
from phs_notifications.domain.rules import DEFAULT_REMINDER_OFFSETS
from phs_runtime.auth import AuthConfig, SigningConfig
from phs_runtime.config import (
    ConfigError,
    DatabaseConfig,
    KafkaConfig,
    ServerConfig,
    env_float,
    env_int,
    env_str,
)

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400}
_DURATION = re.compile(r"(\d+)([smhd])")


def parse_offsets(raw: str) -> tuple[dt.timedelta, ...]:
    """'24h,2h' -> (24 h, 2 h), largest first. Units s, m, h, d; at most 8 offsets."""
    out = set()
    for part in raw.split(","):
        part = part.strip()
        if not part:
            continue
        m = _DURATION.fullmatch(part)
        if m is None or int(m.group(1)) == 0:
            raise ConfigError(
                f"PHS_NOTIFY_REMINDER_OFFSETS: {part!r} is not a positive duration like 24h or 90s"
            )
        out.add(dt.timedelta(seconds=int(m.group(1)) * _UNITS[m.group(2)]))
    if len(out) > 8:
        raise ConfigError("PHS_NOTIFY_REMINDER_OFFSETS: at most 8 reminders")
    return tuple(sorted(out, reverse=True))


def _security(raw: str) -> Security:
    try:
        return Security(raw.lower())
    except ValueError:
        raise ConfigError(f"PHS_SMTP_SECURITY must be none, starttls or tls, got {raw!r}") from None


@dataclass(frozen=True)
class Settings:
    server: ServerConfig
    kafka: KafkaConfig
    database: DatabaseConfig
    auth: AuthConfig
    # Mail is addressed from the scheduling service, called with tokens of its own.
    signing: SigningConfig
    # The consumer.
    group_id: str
    session_timeout_ms: int
    heartbeat_interval_ms: int
    fetch_max_wait_ms: int
    # The scheduling service (as a service principal).
    scheduling_target: str
    rpc_timeout_s: float
    # What the practice sends.
    reminder_offsets: tuple[dt.timedelta, ...]
    practice_name: str
    web_url: str
    smtp: SmtpConfig
    # The dispatcher.
    poll_interval_s: float
    lease: dt.timedelta
    batch_size: int
    max_attempts: int
    retry_base: dt.timedelta
    retry_cap: dt.timedelta
    # Confirmations older than this when their turn comes are skipped (stale news).
    confirmation_max_age: dt.timedelta
    instance: str  # who holds a claim (host and pid), for the claim column and logs

    @classmethod
    def from_env(cls) -> Settings:
        smtp_timeout = env_float("PHS_SMTP_TIMEOUT_SECONDS", 20.0)
        lease = dt.timedelta(seconds=env_float("PHS_NOTIFY_LEASE_SECONDS", 120.0))
        rpc_timeout = env_float("PHS_NOTIFY_RPC_TIMEOUT_SECONDS", 10.0)
        # A claim must outlast the work done under it (lookups, then one message over
        # SMTP; the dispatcher renews a batch's claims between its rounds): otherwise
        # another replica could take the row while this one still sends.
        if lease.total_seconds() <= smtp_timeout * 3 + rpc_timeout * 4:
            raise ConfigError(
                "PHS_NOTIFY_LEASE_SECONDS must exceed"
                " 3 x PHS_SMTP_TIMEOUT_SECONDS + 4 x PHS_NOTIFY_RPC_TIMEOUT_SECONDS"
            )
        sender = env_str("PHS_SMTP_FROM", "appointments@practice.invalid")
        connections = env_int("PHS_SMTP_CONNECTIONS", 4)
        if not 1 <= connections <= 16:
            raise ConfigError("PHS_SMTP_CONNECTIONS must be between 1 and 16")
        return cls(
            server=ServerConfig.from_env("notifications", grpc_port=50054, metrics_port=9104, max_workers=8),
            kafka=KafkaConfig.from_env(),
            database=DatabaseConfig.from_env("sqlite:///data/notifications.db"),
            auth=AuthConfig.from_env(),
            signing=SigningConfig.from_env(),
            group_id=env_str("PHS_NOTIFY_GROUP", "phs-notifications"),
            session_timeout_ms=env_int("PHS_KAFKA_SESSION_TIMEOUT_MS", 10000),
            heartbeat_interval_ms=env_int("PHS_KAFKA_HEARTBEAT_INTERVAL_MS", 3000),
            fetch_max_wait_ms=env_int("PHS_KAFKA_FETCH_MAX_WAIT_MS", 100),
            scheduling_target=env_str("PHS_SCHEDULING_TARGET", "127.0.0.1:50051"),
            rpc_timeout_s=rpc_timeout,
            reminder_offsets=parse_offsets(os.environ.get("PHS_NOTIFY_REMINDER_OFFSETS") or "")
            or DEFAULT_REMINDER_OFFSETS,
            practice_name=env_str("PHS_NOTIFY_PRACTICE_NAME", "Your practice"),
            web_url=env_str("PHS_NOTIFY_WEB_URL", "http://127.0.0.1:8080/"),
            smtp=SmtpConfig(
                host=env_str("PHS_SMTP_HOST", "127.0.0.1"),
                port=env_int("PHS_SMTP_PORT", 25),
                security=_security(env_str("PHS_SMTP_SECURITY", "starttls")),
                username=os.environ.get("PHS_SMTP_USERNAME", ""),
                password=os.environ.get("PHS_SMTP_PASSWORD", ""),
                sender=sender,
                sender_name=env_str("PHS_SMTP_FROM_NAME", "Appointments"),
                timeout_s=smtp_timeout,
                ca_file=os.environ.get("PHS_SMTP_CA_FILE", ""),
                connections=connections,
            ),
            poll_interval_s=env_float("PHS_NOTIFY_POLL_SECONDS", 1.0),
            lease=lease,
            batch_size=env_int("PHS_NOTIFY_BATCH_SIZE", 50),
            max_attempts=env_int("PHS_NOTIFY_MAX_ATTEMPTS", 8),
            retry_base=dt.timedelta(seconds=env_float("PHS_NOTIFY_RETRY_BASE_SECONDS", 5.0)),
            retry_cap=dt.timedelta(seconds=env_float("PHS_NOTIFY_RETRY_CAP_SECONDS", 600.0)),
            confirmation_max_age=dt.timedelta(
                seconds=env_float("PHS_NOTIFY_CONFIRMATION_MAX_AGE_SECONDS", 86400.0)
            ),
            instance=f"{socket.gethostname()}-{os.getpid()}"[:64],
        )
