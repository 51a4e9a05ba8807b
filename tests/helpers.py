"""Small clients for the end-to-end tests: REST through Envoy, logs, polling."""

from __future__ import annotations

import datetime as dt
import json
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar
from zoneinfo import ZoneInfo

import grpc
from kafka import KafkaConsumer, TopicPartition
from kafka.consumer.fetcher import ConsumerRecord

from phs_runtime.auth import StaticToken
from phs_runtime.interceptors import ClientInterceptor

T = TypeVar("T")


@dataclass
class Response:
    status: int
    headers: dict[str, str]
    body: Any  # parsed JSON, or text when the body is not JSON

    def detail(self, type_suffix: str) -> dict[str, Any]:
        """The google.rpc.Status detail whose @type ends with `type_suffix`."""
        for d in self.body.get("details", []):
            if d["@type"].endswith(type_suffix):
                return dict(d)
        raise AssertionError(f"no {type_suffix} detail in {self.body}")


# An admin token for the test stacks' shared dev key (set by conftest); calls use it
# unless they pass their own `token` (or token=None for no authorization at all).
ADMIN_TOKEN = ""
_DEFAULT: Any = object()


def auth_headers(token: str | None) -> dict[str, str]:
    return {"authorization": f"Bearer {token}"} if token else {}


def rest(
    base: str,
    method: str,
    path: str,
    body: Any = None,
    headers: dict[str, str] | None = None,
    timeout: float = 10,
    token: str | None = _DEFAULT,
    stream: bool = False,
) -> Response:
    """`stream`: the call is a server stream; a success's body is then the list of its
    messages (the gateway sends one JSON message per line)."""
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(
        base + path,
        method=method,
        data=data,
        headers={
            "content-type": "application/json",
            **auth_headers(ADMIN_TOKEN if token is _DEFAULT else token),
            **(headers or {}),
        },
    )
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            status, hdrs, raw = resp.status, dict(resp.headers), resp.read()
    except urllib.error.HTTPError as err:
        status, hdrs, raw = err.code, dict(err.headers), err.read()
    hdrs = {k.lower(): v for k, v in hdrs.items()}
    try:
        if stream and status == 200:
            return Response(status, hdrs, [json.loads(line) for line in raw.splitlines() if line.strip()])
        parsed: Any = json.loads(raw) if raw else None
    except ValueError:
        parsed = raw.decode()
    return Response(status, hdrs, parsed)


def channel(target: str, token: str | None = _DEFAULT) -> grpc.Channel:
    """A gRPC channel that sends `token` (the admin token by default) with every call."""
    plain = grpc.insecure_channel(target)
    token = ADMIN_TOKEN if token is _DEFAULT else token
    return grpc.intercept_channel(plain, ClientInterceptor(StaticToken(token))) if token else plain


def rfc3339(value: dt.datetime) -> str:
    return value.astimezone(dt.UTC).isoformat().replace("+00:00", "Z")


# "Now" for the instants tests pick, read once per session: an instant a test derives
# twice (future_slot(31) for a booking, then for its expected end) is the same instant
# even when the suite crosses midnight UTC between the two.
SESSION_START = dt.datetime.now(dt.UTC)


def future_slot(days: int, hour: int = 15) -> dt.datetime:
    """`hour`:00 UTC on the day `days` after the session started. The weekday and the
    local time vary with the date: only for bookings that no working hours constrain
    (staff bookings, psychologists available around the clock)."""
    base = SESSION_START + dt.timedelta(days=days)
    return base.replace(hour=hour, minute=0, second=0, microsecond=0)


def local_slot(zone: ZoneInfo, weekday: int, hour: int, minute: int = 0, weeks_ahead: int = 1) -> dt.datetime:
    """`hour:minute` wall-clock time in `zone` on the first `weekday` (1 = Monday) at
    least `7 * weeks_ahead` days after the session started, as a datetime in `zone`:
    adding a timedelta to it keeps the wall-clock time (10:00 stays 10:00 across a DST
    change), which is what a weekly series or working hours mean."""
    today = SESSION_START.astimezone(zone).date()
    day = today + dt.timedelta(days=(weekday - today.isoweekday()) % 7 + 7 * weeks_ahead)
    return dt.datetime(day.year, day.month, day.day, hour, minute, tzinfo=zone)


def eventually(
    fn: Callable[[], T | None], timeout: float = 20, interval: float = 0.1, what: str = "condition"
) -> T:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = fn()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"{what} not met within {timeout}s")


def audit_consumer(bootstrap: str, topic: str, timeout_ms: int = 8000) -> KafkaConsumer:
    """A consumer of its own group reading `topic` from the start; iteration ends after
    `timeout_ms` without a message."""
    return KafkaConsumer(
        topic,
        bootstrap_servers=[bootstrap],
        group_id=f"audit-{uuid.uuid4()}",
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        consumer_timeout_ms=timeout_ms,
        session_timeout_ms=6000,
        heartbeat_interval_ms=1000,
    )


def read_topic(bootstrap: str, topic: str) -> list[ConsumerRecord] | None:
    """Every record on `topic` from the start of each partition (no group: no join to
    wait for); None while the topic does not exist (this reader never creates it)."""
    consumer = KafkaConsumer(
        bootstrap_servers=[bootstrap],
        enable_auto_commit=False,
        consumer_timeout_ms=1000,
        allow_auto_create_topics=False,
    )
    try:
        partitions = consumer.partitions_for_topic(topic)
        if not partitions:
            return None
        consumer.assign([TopicPartition(topic, p) for p in sorted(partitions)])
        consumer.seek_to_beginning()
        return list(consumer)
    finally:
        consumer.close()


def json_lines(path: Path) -> list[dict[str, Any]]:
    out = []
    for line in path.read_text().splitlines():
        line = line.strip()
        if line.startswith("{"):
            out.append(json.loads(line))
    return out
