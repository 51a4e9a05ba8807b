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
goes with its session or process and another replica takes over."""

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

from kafka import KafkaProducer
from prometheus_client import Counter, Gauge
from sqlalchemy import (
    Column,
    Connection,
    Engine,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    bindparam,
    delete,
    func,
    select,
    text,
    update,
)

from phs_runtime import db
from phs_runtime.config import KafkaConfig, env_int
from phs_runtime.kafka import client_settings, ensure_topic
from phs_runtime.resources import utcnow

log = logging.getLogger(__name__)

OUTBOX_BACKLOG = Gauge("phs_outbox_backlog", "Outbox messages not yet published to Kafka.")
OUTBOX_PUBLISHED = Counter("phs_outbox_published_total", "Outbox messages published.", ["topic"])
OUTBOX_ERRORS = Counter("phs_outbox_publish_errors_total", "Failed attempts to publish the outbox.")
OUTBOX_PRUNED = Counter("phs_outbox_pruned_total", "Published outbox messages deleted after retention.")


def outbox_table(metadata: MetaData) -> Table:
    return Table(
        "outbox",
        metadata,
        Column("id", Integer, primary_key=True, autoincrement=True),
        Column("topic", String(200), nullable=False),
        Column("key", String(200), nullable=False),
        Column("payload", LargeBinary, nullable=False),
        Column("headers", Text, nullable=False),  # JSON object of string headers
        Column("create_time", db.UtcDateTime, nullable=False),
        Column("published_time", db.UtcDateTime, nullable=True),
    )


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
        with db.write_transaction(engine) as conn:
            conn.execute(_statements(table).mark, {"ids": list(ids), "now": utcnow()})


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
        # Published messages are kept a day (PHS_OUTBOX_RETENTION_HOURS) for inspection.
        self._retention = retention or dt.timedelta(hours=env_int("PHS_OUTBOX_RETENTION_HOURS", 24))
        self._prune_every_s = prune_every_s
        self._next_prune = 0.0  # monotonic time of the next retention pass
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
                linger_ms=0,
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
        for f in futures:
            f.get(timeout=10)
        mark_published(self._engine, self._table, [m.id for m in batch])
        for topic in {m.topic for m in batch}:
            OUTBOX_PUBLISHED.labels(topic).inc(sum(1 for m in batch if m.topic == topic))
        # A short batch emptied the outbox (as of its read): count only after a full one.
        OUTBOX_BACKLOG.set(backlog(self._engine, self._table) if len(batch) == self._batch else 0)
        log.info("outbox published", extra={"messages": len(batch)})
        return len(batch)

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
                    self._stop.wait(self._idle_s)
                    continue
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
