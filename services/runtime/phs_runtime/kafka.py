"""Kafka plumbing: client settings from configuration (TLS/SASL for production
clusters), explicit topic creation, a broker reachability check for health, and the
consumer-group loop the workers share.
Nothing here depends on the local development broker's quirks."""

from __future__ import annotations

import logging
import struct
import threading
import time
from collections.abc import Callable, Collection, Mapping
from typing import Any

from kafka import KafkaAdminClient, KafkaConsumer, OffsetAndMetadata, TopicPartition
from kafka.admin import NewTopic, OffsetSpec
from kafka.consumer.fetcher import ConsumerRecord
from kafka.errors import TopicAlreadyExistsError
from kafka.partitioner import DefaultPartitioner
from prometheus_client import Gauge

from phs_runtime.config import KafkaConfig

log = logging.getLogger(__name__)


def client_settings(cfg: KafkaConfig) -> dict[str, Any]:
    """Keyword arguments common to producers, consumers and admin clients."""
    settings: dict[str, Any] = {
        "bootstrap_servers": cfg.bootstrap_servers.split(","),
        "security_protocol": cfg.security_protocol,
    }
    if cfg.sasl_mechanism:
        settings["sasl_mechanism"] = cfg.sasl_mechanism
        settings["sasl_plain_username"] = cfg.sasl_username
        settings["sasl_plain_password"] = cfg.sasl_password
    if cfg.ssl_cafile:
        settings["ssl_cafile"] = cfg.ssl_cafile
    return settings


_M = 0x5BD1E995
_MASK = 0xFFFFFFFF


def murmur2(data: bytes) -> int:
    """Kafka's key hash (the Java client's `Utils.murmur2`, as kafka-python's own
    `murmur2`, which the tests compare it with), reading the input four bytes at a
    time instead of one: kafka-python's took a large share of the relay's time."""
    length = len(data)
    h = 0x9747B28C ^ length
    whole = length & ~3
    for k in struct.unpack_from(f"<{length >> 2}I", data):
        k = (k * _M) & _MASK
        k = ((k ^ (k >> 24)) * _M) & _MASK
        h = ((h * _M) & _MASK) ^ k
    extra = length & 3
    if extra >= 3:
        h ^= data[whole + 2] << 16
    if extra >= 2:
        h ^= data[whole + 1] << 8
    if extra >= 1:
        h = ((h ^ data[whole]) * _M) & _MASK
    h = ((h ^ (h >> 13)) * _M) & _MASK
    return h ^ (h >> 15)


class KeyPartitioner(DefaultPartitioner):  # type: ignore[misc]
    """The default partitioner's choice for a keyed message (the same partition a
    Java or kafka-python producer would pick), by the faster hash; unkeyed ones as
    before."""

    def partition(
        self,
        topic: str,
        key: Any,
        serialized_key: bytes | None,
        value: Any,
        serialized_value: Any,
        cluster: Any,
    ) -> int:
        if serialized_key is None:
            return int(super().partition(topic, key, serialized_key, value, serialized_value, cluster))
        partitions = cluster.partitions_for_topic(topic)
        if not partitions:
            raise ValueError(f"Topic {topic} not found in ClusterMetadata")
        ordered = sorted(partitions)
        return int(ordered[(murmur2(serialized_key) & 0x7FFFFFFF) % len(ordered)])


def ensure_topic(cfg: KafkaConfig, name: str, partitions: int, bootstrap_timeout_ms: int = 10000) -> None:
    """Create `name` with its partition count; an existing topic is success."""
    admin = KafkaAdminClient(
        **client_settings(cfg), request_timeout_ms=5000, bootstrap_timeout_ms=bootstrap_timeout_ms
    )
    try:
        admin.create_topics(
            [NewTopic(name=name, num_partitions=partitions, replication_factor=cfg.replication_factor)]
        )
        log.info("topic created", extra={"topic": name, "partitions": partitions})
    except TopicAlreadyExistsError:
        pass
    finally:
        admin.close()


def admin_client(cfg: KafkaConfig, timeout_ms: int = 5000) -> KafkaAdminClient:
    return KafkaAdminClient(
        **client_settings(cfg), request_timeout_ms=timeout_ms, bootstrap_timeout_ms=timeout_ms
    )


def log_ends(
    admin: KafkaAdminClient, wanted: Mapping[str, Collection[int]]
) -> tuple[dict[tuple[str, int], int], set[str]]:
    """The end offset (the next offset to be written) of each wanted partition, 0 for a
    partition the broker does not have; and the wanted topics it does not have at all."""
    described = admin.describe_topics(list(wanted))
    present = {
        t["name"]: {p["partition_index"] for p in t["partitions"]} for t in described if t["error_code"] == 0
    }
    ends = {(topic, p): 0 for topic, partitions in wanted.items() for p in partitions}
    asked = {
        TopicPartition(topic, p): OffsetSpec.LATEST
        for topic, partitions in wanted.items()
        for p in partitions
        if p in present.get(topic, ())
    }
    if asked:
        for tp, found in admin.list_partition_offsets(asked).items():
            ends[(tp.topic, tp.partition)] = found.offset
    return ends, set(wanted) - set(present)


class BrokerCheck:
    """Health check: the broker answers a metadata request. Keeps one admin client."""

    def __init__(self, cfg: KafkaConfig, timeout_ms: int = 2000) -> None:
        self._cfg = cfg
        self._timeout_ms = timeout_ms
        self._admin: KafkaAdminClient | None = None
        self._lock = threading.Lock()

    def __call__(self) -> None:
        with self._lock:
            try:
                if self._admin is None:
                    self._admin = KafkaAdminClient(
                        **client_settings(self._cfg),
                        request_timeout_ms=self._timeout_ms,
                        bootstrap_timeout_ms=self._timeout_ms,
                    )
                self._admin.list_topics()
            except Exception:
                self.close_locked()
                raise

    def close_locked(self) -> None:
        if self._admin is not None:
            try:
                self._admin.close()
            except Exception:  # closing a broken client may fail too
                log.debug("admin close failed", exc_info=True)
            self._admin = None

    def close(self) -> None:
        with self._lock:
            self.close_locked()


class GroupConsumer:
    """One member of a consumer group reading one topic, for a worker thread: connect
    (creating the topic if needed), poll, hand every record to `process` (which commits
    through `commit` once its effect is durable), and measure the lag every few seconds.
    Any error (the broker or the database away) closes the consumer, waits (0.5 s,
    doubling up to 10 s) and connects again, so an outage is waited out, never fatal."""

    LAG_EVERY_S = 5.0
    # While the broker is away no call may hold the thread (and so a SIGTERM) for long:
    # the clients' own defaults are 30 s. A failed connect is tried again anyway, and the
    # lag is only a metric.
    CONNECT_TIMEOUT_MS = 5000
    LAG_TIMEOUT_MS = 2000

    def __init__(
        self,
        kafka: KafkaConfig,
        topic: str,
        partitions: int,
        group_id: str,
        stop: threading.Event,
        process: Callable[[TopicPartition, ConsumerRecord], None],
        lag: Gauge,
        **consumer_settings: Any,
    ) -> None:
        self.kafka, self.topic, self.partitions, self.group_id = kafka, topic, partitions, group_id
        self.stop, self.process, self.lag = stop, process, lag
        self.settings = consumer_settings  # KafkaConsumer keywords: timeouts, max_poll_records, ...
        self.consumer: KafkaConsumer | None = None
        self._lag_measured = 0.0

    def _connect(self) -> KafkaConsumer:
        ensure_topic(self.kafka, self.topic, self.partitions, self.CONNECT_TIMEOUT_MS)
        consumer = KafkaConsumer(
            **client_settings(self.kafka),
            bootstrap_timeout_ms=self.CONNECT_TIMEOUT_MS,
            group_id=self.group_id,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            **self.settings,
        )
        consumer.subscribe([self.topic])
        return consumer

    def run(self) -> None:
        """Until `stop` is set."""
        backoff = 0.5
        while not self.stop.is_set():
            try:
                if self.consumer is None:
                    self.consumer = self._connect()
                    log.info("consumer started", extra={"topic": self.topic, "group": self.group_id})
                batch = self.consumer.poll(timeout_ms=500)
                backoff = 0.5
                for tp, records in batch.items():
                    for record in records:
                        self.process(tp, record)
                self._measure_lag()
            except Exception as exc:  # noqa: BLE001 - broker or database outage: reconnect and retry
                log.warning(
                    "consumer error; retrying", extra={"error": type(exc).__name__, "retry_in_s": backoff}
                )
                self.close()
                self.stop.wait(backoff)
                backoff = min(10.0, backoff * 2)
        self.close()

    def commit(self, tp: TopicPartition, record: ConsumerRecord) -> None:
        """The record's effect is durable: the group moves past it."""
        assert self.consumer is not None
        self.consumer.commit({tp: OffsetAndMetadata(record.offset + 1, "", -1)})

    def _measure_lag(self) -> None:
        """End offset minus position per assigned partition, every LAG_EVERY_S."""
        now = time.monotonic()
        if self.consumer is None or now - self._lag_measured < self.LAG_EVERY_S:
            return
        self._lag_measured = now
        assigned = list(self.consumer.assignment())
        if not assigned:
            return
        ends = self.consumer.end_offsets(assigned, timeout_ms=self.LAG_TIMEOUT_MS)
        for tp in assigned:
            self.lag.labels(tp.topic, str(tp.partition)).set(
                max(0, ends.get(tp, 0) - self.consumer.position(tp))
            )

    def close(self) -> None:
        if self.consumer is not None:
            try:
                self.consumer.close()
            except Exception:
                log.debug("consumer close failed", exc_info=True)
            self.consumer = None
