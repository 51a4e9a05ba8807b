"""The consumer-group loop the report worker and the notifications service share
(phs_runtime.kafka.GroupConsumer), against a real Tansu broker: asked to stop while
the broker is gone, it stops within seconds (a pod's grace period is 30 s)."""

from __future__ import annotations

import dataclasses
import signal
import threading
import time
import uuid
from pathlib import Path

import pytest
from kafka import KafkaProducer, TopicPartition
from kafka.consumer.fetcher import ConsumerRecord
from prometheus_client import CollectorRegistry, Gauge

from phs_devstack import Ports, Stack
from phs_runtime.config import KafkaConfig
from phs_runtime.kafka import GroupConsumer
from tests.helpers import eventually

pytestmark = pytest.mark.broker  # make test-fast runs these beside the rest


def test_a_consumer_whose_broker_is_gone_stops_within_seconds(tmp_path: Path) -> None:
    broker = Stack(root=tmp_path / "stack", ports=Ports.free())
    broker.start_kafka()
    try:
        kafka = dataclasses.replace(KafkaConfig.from_env(), bootstrap_servers=broker.kafka_bootstrap)
        topic = f"phs.test.group.{uuid.uuid4().hex[:8]}"
        seen: list[bytes] = []
        stop = threading.Event()
        lag = Gauge("test_group_lag", "lag", ["topic", "partition"], registry=CollectorRegistry())

        def process(_tp: TopicPartition, record: ConsumerRecord) -> None:
            seen.append(record.value)

        group = GroupConsumer(
            kafka,
            topic,
            1,
            f"g-{uuid.uuid4().hex[:8]}",
            stop,
            process,
            lag,
            session_timeout_ms=6000,
            heartbeat_interval_ms=1000,
        )
        group.LAG_EVERY_S = 0.2  # measured on every turn of the loop, while the broker is gone too
        thread = threading.Thread(target=group.run, daemon=True)
        thread.start()
        eventually(lambda: group.consumer is not None and group.consumer.assignment(), 30, what="assigned")
        producer = KafkaProducer(bootstrap_servers=[broker.kafka_bootstrap])
        producer.send(topic, b"one").get(10)
        producer.close()
        eventually(lambda: seen == [b"one"], 20, what="the record read")

        broker.stop_proc("kafka", sig=signal.SIGKILL)
        time.sleep(1.5)  # the loop meets the broker's absence by now (the lag, a poll, a connect)
        asked = time.monotonic()
        stop.set()
        thread.join(30)
        took = time.monotonic() - asked
        assert not thread.is_alive()
        assert took < 8, f"stopped {took:.1f}s after being asked"
    finally:
        broker.stop()
