"""The relay's partitioner picks the partition Kafka's own clients pick for a key:
a consumer relies on one appointment's events sharing a partition, in order, whoever
produced them."""

from __future__ import annotations

import random

from hypothesis import given
from hypothesis import strategies as st
from kafka.partitioner.default import DefaultPartitioner
from kafka.partitioner.default import murmur2 as kafka_murmur2

from phs_runtime.kafka import KeyPartitioner, murmur2


@given(st.binary(max_size=300))
def test_hash_is_kafkas(data: bytes) -> None:
    assert murmur2(data) == kafka_murmur2(data)


def test_hash_of_every_tail_length() -> None:
    rng = random.Random(7)
    for length in range(0, 64):
        data = bytes(rng.randrange(256) for _ in range(length))
        assert murmur2(data) == kafka_murmur2(data), length


class Cluster:
    def __init__(self, partitions: dict[str, set[int]]) -> None:
        self.partitions = partitions

    def topics(self) -> set[str]:
        return set(self.partitions)

    def partitions_for_topic(self, topic: str) -> set[int] | None:
        return self.partitions.get(topic)

    def available_partitions_for_topic(self, topic: str) -> set[int] | None:
        return self.partitions.get(topic)


@given(st.text(min_size=1, max_size=120), st.integers(min_value=1, max_value=48))
def test_partition_is_the_default_partitioners(key: str, count: int) -> None:
    cluster = Cluster({"appointment-events": set(range(count))})
    raw = key.encode()
    ours = KeyPartitioner().partition("appointment-events", key, raw, None, None, cluster)
    theirs = DefaultPartitioner().partition("appointment-events", key, raw, None, None, cluster)
    assert ours == theirs


def test_known_partition_of_a_key() -> None:
    # Pinned so that a change to both implementations at once still shows.
    assert murmur2(b"21") == 0xFFFFFFFF & -973932308
    assert murmur2(b"") == 275646681
