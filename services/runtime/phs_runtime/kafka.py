"""Kafka plumbing: client settings from configuration (TLS/SASL for production
clusters), explicit topic creation, and a broker reachability check for health.
Nothing here depends on the local development broker's quirks."""

from __future__ import annotations

import logging
import threading
from collections.abc import Collection, Mapping
from typing import Any

from kafka import KafkaAdminClient, TopicPartition
from kafka.admin import NewTopic, OffsetSpec
from kafka.errors import TopicAlreadyExistsError

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


def ensure_topic(cfg: KafkaConfig, name: str, partitions: int) -> None:
    """Create `name` with its partition count; an existing topic is success."""
    admin = KafkaAdminClient(**client_settings(cfg), request_timeout_ms=5000, bootstrap_timeout_ms=10000)
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
