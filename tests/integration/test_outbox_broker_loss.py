"""The outbox relay notices a broker that lost messages it had acknowledged, and
publishes them again; a broker that keeps them never gets a second copy. A real
Tansu broker (restarted: it keeps nothing), both databases."""

from __future__ import annotations

import dataclasses
import datetime as dt
import signal
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Engine, select

from phs_devstack import Ports, Stack
from phs_reports.store import Store
from phs_reports.tables import outbox
from phs_runtime import db
from phs_runtime import outbox as outbox_mod
from phs_runtime.config import KafkaConfig
from phs_runtime.kafka import ensure_topic
from phs_runtime.outbox import OUTBOX_REPUBLISHED, OutboxMessage, OutboxRelay
from tests.helpers import eventually, read_topic

TOPIC = "phs.test.loss.v1"
pytestmark = pytest.mark.broker  # make test-fast runs these beside the rest


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    store = Store.open(db_url)  # any service schema with an outbox will do
    yield store.engine
    store.close()


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[Stack]:
    stack = Stack(root=tmp_path / "stack", ports=Ports.free())
    stack.start_kafka()
    yield stack
    stack.stop()


def relay_kafka(broker: Stack) -> KafkaConfig:
    return dataclasses.replace(KafkaConfig.from_env(), bootstrap_servers=broker.kafka_bootstrap)


def _relay(engine: Engine, broker: Stack, partitions: int, check_s: float) -> OutboxRelay:
    return OutboxRelay(engine, outbox, relay_kafka(broker), {TOPIC: partitions}, check_s=check_s, idle_s=0.2)


def _enqueue(engine: Engine, keys: list[str]) -> None:
    with db.write_transaction(engine) as conn:
        for key in keys:
            outbox_mod.enqueue(conn, outbox, OutboxMessage(TOPIC, key, key.encode()), dt.datetime.now(dt.UTC))


def _published(engine: Engine) -> None:
    eventually(lambda: outbox_mod.backlog(engine, outbox) == 0, 20, 0.05, what="outbox published")


def _keys_on_topic(broker: Stack) -> Counter[str]:
    return Counter(r.key.decode() for r in read_topic(broker.kafka_bootstrap, TOPIC) or [])


def _restart(broker: Stack) -> None:
    broker.stop_proc("kafka", sig=signal.SIGKILL)
    broker.start_kafka()


def _republished() -> float:
    return float(OUTBOX_REPUBLISHED.labels(TOPIC)._value.get())


def test_a_broker_that_keeps_its_messages_never_gets_a_second_copy(engine: Engine, broker: Stack) -> None:
    """Batches of many records on several partitions, checked every 0.2 s for a while."""
    relay = _relay(engine, broker, partitions=3, check_s=0.2)
    before = _republished()
    relay.start()
    try:
        for burst in range(4):
            _enqueue(engine, [f"b{burst}-{i}" for i in range(25)])
            relay.wake()
            _published(engine)
        time.sleep(3)  # some fifteen checks
    finally:
        relay.stop()
    assert _republished() == before
    on_topic = _keys_on_topic(broker)
    assert len(on_topic) == 100 and set(on_topic.values()) == {1}
    with engine.connect() as conn:
        rows = conn.execute(select(outbox.c.kafka_partition, outbox.c.kafka_offset)).all()
    assert len(rows) == 100 and all(p is not None and o is not None for p, o in rows)


def test_a_restarted_broker_gets_every_acknowledged_message_again(engine: Engine, broker: Stack) -> None:
    relay = _relay(engine, broker, partitions=3, check_s=0.5)
    relay.start()
    try:
        keys = [f"m-{i}" for i in range(20)]
        _enqueue(engine, keys)
        relay.wake()
        _published(engine)
        assert sum(_keys_on_topic(broker).values()) == 20
        before = _republished()
        _restart(broker)  # empty: no topic, no messages

        def all_there_again() -> bool:
            return _keys_on_topic(broker) == Counter(keys)  # each once

        eventually(all_there_again, 20, 0.2, what="every message on the new broker")
        assert _republished() - before == 20
    finally:
        relay.stop()


def test_offsets_handed_out_again_are_noticed_without_the_check(engine: Engine, broker: Stack) -> None:
    """With the periodic check off, a new message acknowledged at an offset the partition
    had already given an older one tells the relay that the older ones are gone."""
    relay = _relay(engine, broker, partitions=1, check_s=0)
    relay.start()
    try:
        _enqueue(engine, [f"old-{i}" for i in range(5)])
        relay.wake()
        _published(engine)
        before = _republished()
        _restart(broker)
        # The broker is back with the topic, empty. (Created here: a producer's metadata
        # request would have Tansu create it with partitions of its own choosing, and
        # "new" could land on a partition the old ones never used.)
        ensure_topic(relay_kafka(broker), TOPIC, 1)
        _enqueue(engine, ["new"])
        relay.wake()
        eventually(lambda: _republished() - before == 5, 30, 0.1, what="old messages published again")
        _published(engine)
        on_topic = _keys_on_topic(broker)
        # "new" may be there twice: the send that found the broker gone may have left it.
        assert set(on_topic) == {f"old-{i}" for i in range(5)} | {"new"}, on_topic
        assert all(on_topic[f"old-{i}"] == 1 for i in range(5)), on_topic
    finally:
        relay.stop()
