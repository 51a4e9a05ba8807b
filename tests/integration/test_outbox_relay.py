"""The outbox relay on SQLite and PostgreSQL: a burst of commits leaves in a few
batches (each batch costs a read, a broker round trip and a write), a broker
outage is retried with backoff however often commits wake the relay, and of
several replicas' relays exactly one publishes, each message once."""

from __future__ import annotations

import dataclasses
import datetime as dt
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from kafka import KafkaConsumer
from sqlalchemy import Engine

from phs_devstack import Ports, Stack
from phs_reports.store import Store
from phs_reports.tables import outbox
from phs_runtime import db
from phs_runtime import outbox as outbox_mod
from phs_runtime.config import KafkaConfig
from phs_runtime.outbox import OUTBOX_BACKLOG, OutboxMessage, OutboxRelay

TOPIC = "phs.test.relay.v1"
pytestmark = pytest.mark.broker  # make test-fast runs these beside the rest


@pytest.fixture
def engine(db_url: str) -> Iterator[Engine]:
    store = Store.open(db_url)  # any service schema with an outbox will do
    yield store.engine
    store.close()


def _enqueue(engine: Engine, key: str) -> None:
    with db.write_transaction(engine) as conn:
        outbox_mod.enqueue(conn, outbox, OutboxMessage(TOPIC, key, b"{}"), dt.datetime.now(dt.UTC))


class _CountingRelay(OutboxRelay):
    def __init__(self, *args: object, fail: bool = False, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.fail = fail
        self.attempts = 0
        self.batches: list[int] = []

    def publish_pending(self) -> int:
        self.attempts += 1
        if self.fail:
            raise ConnectionError("broker unreachable")  # what an outage looks like to the loop
        sent = super().publish_pending()
        if sent:
            self.batches.append(sent)
        return sent


def test_a_burst_of_commits_leaves_in_a_few_batches(engine: Engine, tmp_path: Path) -> None:
    stack = Stack(root=tmp_path / "stack", ports=Ports.free())
    stack.start_kafka()
    try:
        kafka = dataclasses.replace(KafkaConfig.from_env(), bootstrap_servers=stack.kafka_bootstrap)
        relay = _CountingRelay(engine, outbox, kafka, {TOPIC: 1})
        relay.start()
        try:
            _enqueue(engine, "warm-up")  # the first batch also connects and creates the topic
            relay.wake()
            deadline = time.monotonic() + 30
            while outbox_mod.backlog(engine, outbox) and time.monotonic() < deadline:
                time.sleep(0.05)
            relay.batches.clear()
            for i in range(60):  # one commit and one wake every ~2 ms, as under load
                _enqueue(engine, f"appointment-{i}")
                relay.wake()
                time.sleep(0.002)
            deadline = time.monotonic() + 30
            while outbox_mod.backlog(engine, outbox) and time.monotonic() < deadline:
                time.sleep(0.05)
        finally:
            relay.stop()
    finally:
        stack.stop()
    assert outbox_mod.backlog(engine, outbox) == 0
    assert sum(relay.batches) == 60
    # Without lingering, nearly every commit would leave alone (about 60 batches); with it,
    # a handful. On a machine so busy that one commit takes longer than the linger, a few
    # more: 16-17 were seen at a load average of 15-20.
    assert len(relay.batches) <= 20, relay.batches
    assert OUTBOX_BACKLOG._value.get() == 0


def test_an_outage_is_retried_with_backoff_however_often_commits_wake_the_relay(
    engine: Engine,
) -> None:
    relay = _CountingRelay(engine, outbox, KafkaConfig.from_env(), {TOPIC: 1}, fail=True)
    relay.start()
    try:
        _enqueue(engine, "during-outage")
        end = time.monotonic() + 1.2
        while time.monotonic() < end:  # a booking every 2 ms
            relay.wake()
            time.sleep(0.002)
    finally:
        relay.stop()
    # Attempts at 0 s and 0.5 s (the backoff doubles from 0.5 s); hundreds if wakes cut it short.
    assert 1 <= relay.attempts <= 3, relay.attempts
    assert outbox_mod.backlog(engine, outbox) == 1  # nothing lost: it waits for the broker


def _published_keys(bootstrap: str, expected: int) -> list[str]:
    consumer = KafkaConsumer(
        TOPIC, bootstrap_servers=bootstrap, auto_offset_reset="earliest", consumer_timeout_ms=1000
    )
    keys: list[str] = []
    deadline = time.monotonic() + 30
    try:
        while time.monotonic() < deadline:
            for msg in consumer:
                keys.append(msg.key.decode())
            if len(keys) >= expected:
                time.sleep(0.5)  # a duplicate would arrive about now
                keys.extend(m.key.decode() for m in consumer)
                break
    finally:
        consumer.close()
    return keys


def _drain(engine: Engine) -> None:
    deadline = time.monotonic() + 30
    while outbox_mod.backlog(engine, outbox) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert outbox_mod.backlog(engine, outbox) == 0


def test_replicas_publish_each_message_once_and_take_over_from_a_stopped_leader(
    engine: Engine, tmp_path: Path
) -> None:
    stack = Stack(root=tmp_path / "stack", ports=Ports.free())
    stack.start_kafka()
    try:
        kafka = dataclasses.replace(KafkaConfig.from_env(), bootstrap_servers=stack.kafka_bootstrap)
        # Two replicas of one service: separate engines on one database, as two processes have.
        other = db.make_engine(str(engine.url.render_as_string(hide_password=False)))
        a = _CountingRelay(engine, outbox, kafka, {TOPIC: 1}, idle_s=0.2)
        b = _CountingRelay(other, outbox, kafka, {TOPIC: 1}, idle_s=0.2)
        a.start()
        b.start()
        try:
            for i in range(100):
                _enqueue(engine if i % 2 else other, f"first-{i}")
                a.wake()
                b.wake()
            _drain(engine)
            assert a.leading != b.leading  # exactly one leads
            leader, follower = (a, b) if a.leading else (b, a)
            assert sum(follower.batches) == 0 and sum(leader.batches) == 100
            leader.stop()  # its lock goes with it
            for i in range(20):
                _enqueue(engine, f"second-{i}")
                follower.wake()
            _drain(engine)
            assert follower.leading and sum(follower.batches) == 20
        finally:
            a.stop()
            b.stop()
            other.dispose()
        keys = _published_keys(stack.kafka_bootstrap, 120)
    finally:
        stack.stop()
    assert sorted(keys) == sorted([f"first-{i}" for i in range(100)] + [f"second-{i}" for i in range(20)])


def test_published_messages_are_pruned_after_retention_and_pending_ones_never(engine: Engine) -> None:
    for i in range(30):
        _enqueue(engine, f"m-{i}")
    rows = outbox_mod.pending(engine, outbox, 100)
    old, recent = [m.id for m in rows[:25]], [m.id for m in rows[25:28]]  # two stay unpublished
    outbox_mod.mark_published(engine, outbox, old)
    with db.write_transaction(engine) as conn:  # published two days ago
        conn.execute(
            outbox.update()
            .where(outbox.c.id.in_(old))
            .values(published_time=dt.datetime.now(dt.UTC) - dt.timedelta(days=2))
        )
    outbox_mod.mark_published(engine, outbox, recent)
    cutoff = dt.datetime.now(dt.UTC) - dt.timedelta(days=1)
    assert outbox_mod.prune(engine, outbox, cutoff, limit=10) == 10  # in slices, oldest first
    relay = OutboxRelay(engine, outbox, KafkaConfig.from_env(), {TOPIC: 1}, retention=dt.timedelta(days=1))
    relay._prune_if_due()  # what the leading relay does once a minute
    with engine.connect() as conn:
        left = {r.id for r in conn.execute(outbox.select())}
    assert left == {m.id for m in rows[25:]}  # the recent and the unpublished remain
    assert outbox_mod.backlog(engine, outbox) == 2
