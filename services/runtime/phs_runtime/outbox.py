"""Transactional outbox: a service writes the Kafka message it owes into its own
database in the same transaction as the change; a relay thread publishes
pending messages and marks them sent. A committed change is therefore never
missing from the stream, even when the broker is down at commit time (the relay
catches up when it returns). Delivery is at least once: consumers must be
idempotent (a crash between publish and mark re-sends).

Every replica of a service runs a relay, but only one publishes at a time: the
holder of a per-outbox lock (a PostgreSQL advisory lock held by a session, or an
flock beside the SQLite file). Two relays reading the same rows would publish
each message twice and interleave their order; when the holder dies its lock
goes with its session or process and another replica takes over.

A broker that loses what it acknowledged (a restarted in-memory development
broker; a topic deleted and created again; on real Kafka, an unclean leader
election) is noticed: each row keeps the partition its message went to and the
offset where its batch started there, and the leading relay compares, every few
seconds and after every reconnection, each partition's end offset with where
its latest batch there started. A partition that ends at or before that, or a
vanished topic, lost messages: the rows acknowledged from there on (whole
batches) are published again, the topic created first if need be. So are the
older rows of a partition whose new acknowledgements come back with offsets it
had already handed out. Consumers de-duplicate, so a second copy is harmless; on
a broker that keeps its acknowledged messages, as Kafka does with `acks=all` and
enough in-sync replicas, this never fires. (A batch's start, not its last
offset: the end offset Tansu reports can fall short of the last offset of a
batch of several records.)"""

from __future__ import annotations

import datetime as dt
import fcntl
import functools
import json
import logging
import os
import threading
import time
import zlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from kafka import KafkaAdminClient, KafkaProducer
from kafka.producer.future import RecordMetadata
from prometheus_client import Counter, Gauge
from sqlalchemy import (
    BigInteger,
    Connection,
    Engine,
    Integer,
    String,
    Table,
    bindparam,
    delete,
    func,
    select,
    text,
    update,
)

from phs_runtime import db
from phs_runtime.config import KafkaConfig, OutboxConfig
from phs_runtime.kafka import KeyPartitioner, admin_client, client_settings, ensure_topic, log_ends
from phs_runtime.resources import utcnow

log = logging.getLogger(__name__)

OUTBOX_BACKLOG = Gauge("phs_outbox_backlog", "Outbox messages not yet published to Kafka.")
OUTBOX_PUBLISHED = Counter("phs_outbox_published_total", "Outbox messages published.", ["topic"])
OUTBOX_ERRORS = Counter("phs_outbox_publish_errors_total", "Failed attempts to publish the outbox.")
OUTBOX_PRUNED = Counter("phs_outbox_pruned_total", "Published outbox messages deleted after retention.")
OUTBOX_REPUBLISHED = Counter(
    "phs_outbox_republished_total", "Outbox messages published again: the broker lost them.", ["topic"]
)

# (topic, partition): the offset where the latest batch acknowledged there started.
Marks = dict[tuple[str, int], int]


def add_broker_positions(op: Any) -> None:
    """The migration step (each service's) that adds where each message was
    acknowledged. A snapshot, spelled out: later changes need migrations of their own.
    Rows published before it have none and are never published again."""
    import sqlalchemy as sa

    op.add_column("outbox", sa.Column("kafka_partition", sa.Integer, nullable=True))
    op.add_column("outbox", sa.Column("kafka_offset", sa.BigInteger, nullable=True))


def drop_broker_positions(op: Any) -> None:
    with op.batch_alter_table("outbox") as batch:
        batch.drop_column("kafka_offset")
        batch.drop_column("kafka_partition")


@dataclass(frozen=True)
class OutboxMessage:
    topic: str
    key: str  # never health information: resource ids only
    payload: bytes
    headers: dict[str, str] = field(default_factory=dict)
    id: int = 0


def enqueue(conn: Connection, table: Table, msg: OutboxMessage, now: dt.datetime) -> None:
    # Parameters, not literal values: the statement's compiled form is cached.
    conn.execute(db.insert_into(table), message_row(msg, now))


def message_row(msg: OutboxMessage, now: dt.datetime) -> dict[str, Any]:
    """The outbox row of `msg` (what `enqueue` inserts)."""
    return {
        "topic": msg.topic,
        "key": msg.key,
        "payload": msg.payload,
        "headers": json.dumps(msg.headers),
        "create_time": now,
    }


class _Statements:
    """The relay's statements for one table (see `_statements`)."""

    def __init__(self, table: Table) -> None:
        c = table.c
        # Only what a message needs: each timestamp read is a parse per row on SQLite.
        self.pending = (
            select(c.id, c.topic, c.key, c.payload, c.headers)
            .where(c.published_time.is_(None))
            .order_by(c.id)
            .limit(bindparam("limit", type_=Integer))
        )
        self.mark = (
            update(table)
            .where(table.c.id.in_(bindparam("ids", expanding=True)))
            .values(published_time=bindparam("now", type_=db.UtcDateTime))
        )
        self.acknowledge = (
            update(table)
            .where(c.id.in_(bindparam("ids", expanding=True)))
            .values(
                published_time=bindparam("now", type_=db.UtcDateTime),
                kafka_partition=bindparam("b_partition", type_=Integer),
                kafka_offset=bindparam("b_offset", type_=BigInteger),
            )
        )
        self.marks = (
            select(c.topic, c.kafka_partition, func.max(c.kafka_offset))
            .where(c.kafka_offset.is_not(None))
            .group_by(c.topic, c.kafka_partition)
        )
        on_partition = (
            c.topic == bindparam("b_topic", type_=String),
            c.kafka_partition == bindparam("b_partition", type_=Integer),
        )
        self.batch_start = select(func.max(c.kafka_offset)).where(
            *on_partition, c.kafka_offset <= bindparam("b_offset", type_=BigInteger)
        )
        self.requeue = (
            update(table)
            .where(*on_partition, c.kafka_offset >= bindparam("b_from", type_=BigInteger))
            .values(published_time=None, kafka_partition=None, kafka_offset=None)
        )


@functools.cache
def _statements(table: Table) -> _Statements:
    """Built once per table, like db.insert_into: building a statement costs more than
    running its cached compiled form, and the relay runs them often."""
    return _Statements(table)


def pending(engine: Engine, table: Table, limit: int) -> list[OutboxMessage]:
    with db.reader(engine).connect() as conn:
        rows = conn.execute(_statements(table).pending, {"limit": limit}).all()
    return [OutboxMessage(r.topic, r.key, r.payload, json.loads(r.headers), r.id) for r in rows]


def mark_published(engine: Engine, table: Table, ids: Sequence[int]) -> None:
    if ids:
        db.write_statements(engine, [(_statements(table).mark, {"ids": list(ids), "now": utcnow()})])


def mark_acknowledged(engine: Engine, table: Table, acks: Sequence[tuple[int, int, int]]) -> None:
    """Mark one batch of messages published with where the broker put them: (id,
    partition, offset). Each row gets its partition and the offset where the batch
    started there: one statement per partition rather than one per row."""
    groups: dict[int, tuple[int, list[int]]] = {}
    for message_id, partition, offset in acks:
        start, ids = groups.get(partition, (offset, []))
        ids.append(message_id)
        groups[partition] = (min(start, offset), ids)
    now = utcnow()
    statement = _statements(table).acknowledge
    db.write_statements(
        engine,
        [
            (statement, {"ids": ids, "now": now, "b_partition": partition, "b_offset": start})
            for partition, (start, ids) in groups.items()
        ],
    )


def acknowledged_marks(engine: Engine, table: Table) -> Marks:
    """Where the latest acknowledged batch started, on each partition the rows went to."""
    with db.reader(engine).connect() as conn:
        rows = conn.execute(_statements(table).marks).all()
    return {(topic, int(partition)): int(offset) for topic, partition, offset in rows}


def requeue_from(engine: Engine, table: Table, topic: str, partition: int, offset: int) -> int:
    """Make pending again the rows acknowledged at `offset` or later on the partition,
    with the whole batch that holds `offset`; returns how many."""
    statements = _statements(table)
    params = {"b_topic": topic, "b_partition": partition, "b_offset": offset}
    with db.write_transaction(engine) as conn:
        start = conn.execute(statements.batch_start, params).scalar()
        params["b_from"] = offset if start is None else start
        return int(conn.execute(statements.requeue, params).rowcount or 0)


def prune(engine: Engine, table: Table, published_before: dt.datetime, limit: int = 1000) -> int:
    """Delete up to `limit` messages published before `published_before` (oldest first);
    returns how many. Published rows are never read again: without this the table, and
    every backup of it, grows by one row per change forever. Small slices keep each
    delete's hold on SQLite's write lock short."""
    oldest = (
        select(table.c.id)
        .where(table.c.published_time.is_not(None), table.c.published_time < published_before)
        .order_by(table.c.id)
        .limit(limit)
        .scalar_subquery()
    )
    with db.write_transaction(engine) as conn:
        return int(conn.execute(delete(table).where(table.c.id.in_(oldest))).rowcount or 0)


def backlog(engine: Engine, table: Table) -> int:
    with db.reader(engine).connect() as conn:
        q = select(func.count()).select_from(table).where(table.c.published_time.is_(None))
        return int(conn.execute(q).scalar_one())


class Leadership:
    """Which relay of an outbox may publish: one holder per database and table."""

    def __init__(self, engine: Engine, table: Table) -> None:
        self._engine = engine
        # A stable 31-bit key for this outbox (advisory locks are per database).
        self._key = zlib.crc32(f"phs.outbox.{table.name}".encode()) & 0x7FFFFFFF
        self._conn: Connection | None = None
        self._fd: int | None = None
        self._path: str | None = None
        if db.is_sqlite(engine):
            path = db.sqlite_file(engine.url.database)
            if path is not None:
                self._path = f"{path}.relay.lock"

    @property
    def held(self) -> bool:
        return self._conn is not None or self._fd is not None

    def acquire(self) -> bool:
        """True while this relay leads; tries to take the lead when nobody has it."""
        if db.is_sqlite(self._engine):
            if self._path is None:
                return True  # an in-memory database has one process
            if self._fd is None:
                fd = os.open(self._path, os.O_RDWR | os.O_CREAT, 0o600)
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except BlockingIOError:
                    os.close(fd)
                    return False
                self._fd = fd
            return True
        if self._conn is not None:
            try:  # the session holds the lock: check that it is still alive
                self._conn.execute(text("SELECT 1"))
                self._conn.commit()
                return True
            except Exception:  # noqa: BLE001 - a dead session has released the lock
                log.warning("outbox relay lost its database session; taking the lead again")
                self.release()
        conn = self._engine.connect()
        try:
            got = bool(conn.execute(text("SELECT pg_try_advisory_lock(:k)"), {"k": self._key}).scalar())
            conn.commit()
        except Exception:
            conn.close()
            raise
        if not got:
            conn.close()
            return False
        self._conn = conn
        return True

    def release(self) -> None:
        if self._fd is not None:
            os.close(self._fd)  # closing the descriptor drops the flock
            self._fd = None
        if self._conn is not None:
            try:
                self._conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": self._key})
                self._conn.commit()
            except Exception:  # the session is gone, and its lock with it
                log.debug("advisory unlock failed", exc_info=True)
            try:
                self._conn.invalidate()  # never return a lock-holding session to the pool
                self._conn.close()
            except Exception:
                log.debug("lock session close failed", exc_info=True)
            self._conn = None


class OutboxRelay:
    """Publishes the outbox in id order. `wake()` after a commit; otherwise it
    polls every `idle_s`. While commits keep coming (it published within the last
    `busy_s`), a wake is followed by `linger_s` of waiting so that the burst leaves
    as one batch: each batch costs a read, a broker round trip and a write, and at
    hundreds of bookings a second, batches of one would cost the service more CPU
    than the bookings themselves (bench/rest_booking.py). A lone commit is
    published at once."""

    @classmethod
    def from_config(
        cls, engine: Engine, table: Table, kafka: KafkaConfig, topics: dict[str, int], config: OutboxConfig
    ) -> OutboxRelay:
        return cls(engine, table, kafka, topics, retention=config.retention, check_s=config.check_s)

    def __init__(
        self,
        engine: Engine,
        table: Table,
        kafka: KafkaConfig,
        topics: dict[str, int],
        batch: int = 200,
        idle_s: float = 1.0,
        max_backoff_s: float = 10.0,
        linger_s: float = 0.02,
        busy_s: float = 0.2,
        retention: dt.timedelta | None = None,
        prune_every_s: float = 60.0,
        check_s: float | None = None,
    ) -> None:
        self._engine = engine
        self._table = table
        self._kafka = kafka
        self._topics = topics
        self._batch = batch
        self._idle_s = idle_s
        self._max_backoff_s = max_backoff_s
        self._linger_s = linger_s
        self._busy_s = busy_s
        self._last_sent = -1e9  # monotonic time of the last non-empty batch
        # Published messages are kept for inspection; None (or 0): OutboxConfig's default.
        self._retention = retention or OutboxConfig.retention
        self._prune_every_s = prune_every_s
        self._next_prune = 0.0  # monotonic time of the next retention pass
        # How often the leader checks that the broker still has what it acknowledged
        # (0: never; None: OutboxConfig's default).
        self._check_s = OutboxConfig.check_s if check_s is None else check_s
        self._next_check = 0.0  # monotonic time of the next check; 0: at once
        self._marks: Marks | None = None  # loaded when this relay takes the lead
        self._highest: Marks = {}  # the highest offset acknowledged since they were loaded
        self._admin: KafkaAdminClient | None = None
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._leadership = Leadership(engine, table)
        self._producer: KafkaProducer | None = None
        self._thread = threading.Thread(target=self._loop, name="outbox-relay", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def wake(self) -> None:
        self._wake.set()

    def stop(self, timeout_s: float = 5.0) -> None:
        """Stop after the current batch; flush what was sent."""
        self._stop.set()
        self._wake.set()
        self._thread.join(timeout_s)
        if self._producer is not None:
            self._producer.close(timeout=timeout_s)
        self._drop_admin()
        self._leadership.release()

    @property
    def leading(self) -> bool:
        return self._leadership.held

    def _connect(self) -> KafkaProducer:
        if self._producer is None:
            for topic, partitions in self._topics.items():
                ensure_topic(self._kafka, topic, partitions)
            self._producer = KafkaProducer(
                **client_settings(self._kafka),
                acks="all",
                enable_idempotence=True,
                # A vanished topic is for the relay to create again, with its partitions
                # (ensure_topic), not for the broker with its defaults. (Kafka heeds
                # this; Tansu creates the topic anyway.)
                allow_auto_create_topics=False,
                linger_ms=0,
                partitioner=KeyPartitioner(),
                max_block_ms=5000,
                request_timeout_ms=5000,
                retries=5,
            )
        return self._producer

    def _drop_producer(self) -> None:
        if self._producer is not None:
            try:
                self._producer.close(timeout=1)
            except Exception:
                log.debug("producer close failed", exc_info=True)
            self._producer = None

    def _drop_admin(self) -> None:
        if self._admin is not None:
            try:
                self._admin.close()
            except Exception:
                log.debug("admin client close failed", exc_info=True)
            self._admin = None

    def publish_pending(self) -> int:
        """Publish one batch; returns how many were published."""
        batch = pending(self._engine, self._table, self._batch)
        if not batch:
            OUTBOX_BACKLOG.set(0)
            return 0
        producer = self._connect()
        futures = [
            producer.send(
                m.topic,
                key=m.key.encode(),
                value=m.payload,
                headers=[(k, v.encode()) for k, v in m.headers.items()],
            )
            for m in batch
        ]
        placed: list[RecordMetadata] = [f.get(timeout=10) for f in futures]
        self._acknowledged(batch, placed)
        for topic in {m.topic for m in batch}:
            OUTBOX_PUBLISHED.labels(topic).inc(sum(1 for m in batch if m.topic == topic))
        # A short batch emptied the outbox (as of its read): count only after a full one.
        OUTBOX_BACKLOG.set(backlog(self._engine, self._table) if len(batch) == self._batch else 0)
        log.info("outbox published", extra={"messages": len(batch)})
        return len(batch)

    def _load_marks(self) -> Marks:
        if self._marks is None:
            self._marks = acknowledged_marks(self._engine, self._table)
            self._highest = {}
        return self._marks

    def _acknowledged(self, batch: Sequence[OutboxMessage], placed: Sequence[RecordMetadata]) -> None:
        """Mark the batch published where the broker put it. An offset a partition had
        already given one of ours means the broker lost those: they go again."""
        marks = self._load_marks()
        starts: Marks = {}
        for meta in placed:
            tp = (meta.topic, meta.partition)
            starts[tp] = min(starts.get(tp, meta.offset), meta.offset)
        reused = {
            tp: start
            for tp, start in starts.items()
            if start <= max(marks.get(tp, -1), self._highest.get(tp, -1))
        }
        if reused:
            self._publish_again(reused, "offsets handed out again")
        acks = [(m.id, meta.partition, meta.offset) for m, meta in zip(batch, placed, strict=True)]
        mark_acknowledged(self._engine, self._table, acks)
        marks = self._load_marks()
        marks.update(starts)
        for meta in placed:
            tp = (meta.topic, meta.partition)
            self._highest[tp] = max(self._highest.get(tp, -1), meta.offset)

    def _check_if_due(self) -> None:
        """The leader asks the broker where each partition it published to ends: at or
        before the start of our latest batch there (or gone with its topic), it lost
        messages it had acknowledged."""
        now = time.monotonic()
        if self._check_s <= 0 or now < self._next_check:
            return
        self._next_check = now + self._check_s
        marks = {tp: o for tp, o in self._load_marks().items() if tp[0] in self._topics}
        if not marks:
            return
        wanted: dict[str, set[int]] = {}
        for topic, partition in marks:
            wanted.setdefault(topic, set()).add(partition)
        if self._admin is None:
            self._admin = admin_client(self._kafka)
        ends, vanished = log_ends(self._admin, wanted)
        for topic in sorted(vanished):
            ensure_topic(self._kafka, topic, self._topics[topic])
        lost = {tp: end for tp, end in ends.items() if end <= marks[tp]}
        if lost:
            self._publish_again(lost, "topic vanished" if vanished else "partition ends before our batch")

    def _publish_again(self, lost: Marks, reason: str) -> None:
        """Make pending again the rows acknowledged on each partition from its offset on
        (and what is left acknowledged there is known again from the database)."""
        for (topic, partition), offset in sorted(lost.items()):
            again = requeue_from(self._engine, self._table, topic, partition, offset)
            OUTBOX_REPUBLISHED.labels(topic).inc(again)
            log.warning(
                "broker lost acknowledged messages; publishing them again",
                extra={
                    "topic": topic,
                    "partition": partition,
                    "from_offset": offset,
                    "messages": again,
                    "reason": reason,
                },
            )
        self._marks = None
        self._drop_producer()  # a broker that lost its log lost our producer id too

    def _prune_if_due(self) -> None:
        """The leader deletes what it published more than `retention` ago, in slices."""
        now = time.monotonic()
        if now < self._next_prune:
            return
        self._next_prune = now + self._prune_every_s
        cutoff = utcnow() - self._retention
        deleted = prune(self._engine, self._table, cutoff)
        while deleted:
            OUTBOX_PRUNED.inc(deleted)
            log.info("outbox pruned", extra={"messages": deleted})
            if self._stop.is_set():
                return
            deleted = prune(self._engine, self._table, cutoff)

    def _loop(self) -> None:
        backoff = 0.0
        while not self._stop.is_set():
            try:
                if not self._leadership.acquire():
                    # Another replica publishes; be ready to take over if it dies.
                    self._drop_producer()
                    self._drop_admin()
                    self._marks = None  # the leader's acknowledgements: read them on taking over
                    self._stop.wait(self._idle_s)
                    continue
                self._check_if_due()
                sent = self.publish_pending()
                backoff = 0.0
                if sent:
                    self._last_sent = time.monotonic()
                self._prune_if_due()
                if sent == self._batch:
                    continue  # more waiting
            except Exception as exc:  # noqa: BLE001 - broker or database outage: retry later
                OUTBOX_ERRORS.inc()
                self._drop_producer()
                self._drop_admin()
                self._next_check = 0.0  # once the broker answers: did it keep what it had?
                backoff = min(self._max_backoff_s, max(0.5, backoff * 2))
                log.warning(
                    "outbox publish failed; will retry",
                    extra={"error": type(exc).__name__, "retry_in_s": backoff},
                )
                try:
                    OUTBOX_BACKLOG.set(backlog(self._engine, self._table))
                except Exception:
                    log.debug("backlog unavailable", exc_info=True)
            if backoff:
                # Commits keep waking the relay during an outage; only a stop may
                # cut the backoff short, or every booking would retry the broker.
                self._stop.wait(backoff)
                self._wake.clear()
                continue
            self._wake.wait(self._idle_s)
            self._wake.clear()
            if time.monotonic() - self._last_sent < self._busy_s:
                self._stop.wait(self._linger_s)  # under load: let the burst that woke us gather
