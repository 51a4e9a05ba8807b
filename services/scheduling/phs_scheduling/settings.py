"""Everything the scheduling process is configured with, read from the environment
once at start (PHS_* variables; README, "Configuration"). A bad value stops the
process before it listens, with the variable's name."""

from __future__ import annotations

import os
from dataclasses import dataclass

from phs_runtime.auth import AuthConfig
from phs_runtime.config import DatabaseConfig, KafkaConfig, OutboxConfig, ServerConfig, env_float, env_int


@dataclass(frozen=True)
class Settings:
    server: ServerConfig
    database: DatabaseConfig
    kafka: KafkaConfig
    outbox: OutboxConfig
    auth: AuthConfig
    # An appointment watch's process keeps reading the topic this long after its last
    # watcher left, so a page reload does not start over.
    watch_linger_s: float
    # Below the gateway's idle timeout for the watch route (services/gateway/envoy.yaml.tmpl).
    watch_heartbeat_s: float
    # Where calendar apps reach the gateway, for the feed addresses RotateCalendarFeed
    # answers (empty: the address is a path on the web app's origin).
    calendar_feed_base_url: str
    # Fetches of one feed: a burst, then so many a minute (per process).
    calendar_feed_per_minute: float
    calendar_feed_burst: int

    @classmethod
    def from_env(cls) -> Settings:
        return cls(
            # Three threads for unary calls: fewer threads fight less for the GIL and the
            # cores, and bench/rest_booking.py served more bookings, with a shorter tail,
            # with 3 than with 4 or 8 (README, "Benchmarks"). Scale out with processes
            # (replicas), not threads. Streams (exports read by report workers, health
            # watches, appointment watches) run on threads of their own; a watch holds
            # its thread while it lasts (waiting, not computing), so watches may take all
            # but four, which stay for exports and health watches.
            server=ServerConfig.from_env("scheduling", max_workers=3, max_streams=4 + 64),
            database=DatabaseConfig.from_env("sqlite:///data/scheduling.db"),
            kafka=KafkaConfig.from_env(),
            outbox=OutboxConfig.from_env(),
            auth=AuthConfig.from_env(),
            watch_linger_s=env_float("PHS_WATCH_LINGER_SECONDS", 60.0),
            watch_heartbeat_s=env_float("PHS_WATCH_HEARTBEAT_SECONDS", 15.0),
            calendar_feed_base_url=os.environ.get("PHS_CALENDAR_FEED_BASE_URL", ""),
            calendar_feed_per_minute=env_float("PHS_CALENDAR_FEED_PER_MINUTE", 6.0),
            calendar_feed_burst=env_int("PHS_CALENDAR_FEED_BURST", 10),
        )
