"""Appointment events in, planned sends out: the consumer group's loop.

Delivery is at least once; effect is once. Each event is planned in one
transaction together with its id (adapters.store.record_event), so a redelivered
event (a rebalance, a restart before the offset commit, a relay re-send) plans
nothing. The offset is committed only after the plan is stored; a database outage
leaves it uncommitted and the event comes again.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
from collections.abc import Callable, Mapping, Sequence

from kafka import KafkaConsumer, OffsetAndMetadata, TopicPartition
from kafka.consumer.fetcher import ConsumerRecord
from prometheus_client import Counter, Gauge

from phs_notifications.adapters.events import MalformedEvent, decode
from phs_notifications.adapters.store import Store
from phs_notifications.domain.model import CalendarEntry, Event, Plan
from phs_notifications.domain.rules import plan
from phs_runtime.config import KafkaConfig
from phs_runtime.context import REQUEST_ID_HEADER, request_context
from phs_runtime.kafka import client_settings, ensure_topic

log = logging.getLogger("phs_notifications.consumer")

EVENTS = Counter(
    "phs_notifications_events_total", "Appointment events read, by type and outcome.", ["type", "outcome"]
)
CONSUMER_LAG = Gauge(
    "phs_notifications_consumer_lag",
    "Appointment events not yet read, per assigned partition.",
    ["topic", "partition"],
)


class Consumer:
    def __init__(
        self,
        store: Store,
        kafka: KafkaConfig,
        group_id: str,
        offsets: Sequence[dt.timedelta],
        stop: threading.Event,
        *,
        session_timeout_ms: int = 10000,
        heartbeat_interval_ms: int = 3000,
        fetch_max_wait_ms: int = 100,
        on_planned: Callable[[], None] = lambda: None,
        clock: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC),
    ) -> None:
        self.store, self.kafka, self.group_id, self.offsets = store, kafka, group_id, tuple(offsets)
        self.stop = stop
        self.session_timeout_ms = session_timeout_ms
        self.heartbeat_interval_ms = heartbeat_interval_ms
        self.fetch_max_wait_ms = fetch_max_wait_ms
        self.on_planned = on_planned
        self.clock = clock
        self.consumer: KafkaConsumer | None = None
        self._lag_measured = 0.0

    def handle(self, event: Event, request_id: str | None) -> str:
        """Plan one event; the outcome (for metrics and tests)."""
        names = [event.appointment.name, event.appointment.rescheduled_from]
        if event.replacement is not None:
            names += [event.replacement.name, event.replacement.rescheduled_from]

        def planner(known: Mapping[str, CalendarEntry]) -> Plan:
            return plan(event, self.offsets, known)

        stored = self.store.record_event(
            event.event_id,
            request_id,
            [n for n in names if n],
            planner,
            self.clock(),
        )
        if stored is None:
            log.info("event already planned; skipping", extra={"event_id": event.event_id})
            EVENTS.labels(event.change.value, "duplicate").inc()
            return "duplicate"
        EVENTS.labels(event.change.value, "planned").inc()
        log.info(
            "event planned",
            extra={
                "event_id": event.event_id,
                "type": event.change.value,
                "appointment": event.appointment.name,
                "sends": [f"{s.kind.value}/{s.offset_seconds}" for s in stored.sends],
                "voided": list(stored.void_reminders_of),
            },
        )
        if stored.sends:
            self.on_planned()
        return "planned"

    def _connect(self) -> KafkaConsumer:
        topic = self.kafka.appointment_events_topic
        ensure_topic(self.kafka, topic, self.kafka.appointment_events_partitions)
        consumer = KafkaConsumer(
            **client_settings(self.kafka),
            group_id=self.group_id,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            session_timeout_ms=self.session_timeout_ms,
            heartbeat_interval_ms=self.heartbeat_interval_ms,
            max_poll_records=50,
            fetch_max_wait_ms=self.fetch_max_wait_ms,
        )
        consumer.subscribe([topic])
        return consumer

    def run(self) -> None:
        backoff = 0.5
        while not self.stop.is_set():
            try:
                if self.consumer is None:
                    self.consumer = self._connect()
                    log.info(
                        "consumer started",
                        extra={"topic": self.kafka.appointment_events_topic, "group": self.group_id},
                    )
                batch = self.consumer.poll(timeout_ms=500)
                backoff = 0.5
                for tp, records in batch.items():
                    for record in records:
                        self._process(tp, record)
                self._measure_lag()
            except Exception as exc:  # noqa: BLE001 - broker or database outage: reconnect and retry
                log.warning(
                    "consumer error; retrying", extra={"error": type(exc).__name__, "retry_in_s": backoff}
                )
                self._close()
                self.stop.wait(backoff)
                backoff = min(10.0, backoff * 2)
        self._close()

    def _process(self, tp: TopicPartition, record: ConsumerRecord) -> None:
        headers = {k: v.decode("utf-8", "replace") for k, v in (record.headers or [])}
        with request_context(headers.get(REQUEST_ID_HEADER)) as rid:
            try:
                self.handle(decode(record.value), rid)
            except MalformedEvent as exc:
                EVENTS.labels("unknown", "malformed").inc()
                log.error(
                    "unreadable appointment event; skipping",
                    extra={"partition": tp.partition, "offset": record.offset, "error": str(exc)},
                )
            assert self.consumer is not None
            self.consumer.commit({tp: OffsetAndMetadata(record.offset + 1, "", -1)})

    def _measure_lag(self) -> None:
        now = time.monotonic()
        if self.consumer is None or now - self._lag_measured < 5:
            return
        self._lag_measured = now
        assigned = list(self.consumer.assignment())
        if not assigned:
            return
        ends = self.consumer.end_offsets(assigned)
        for tp in assigned:
            CONSUMER_LAG.labels(tp.topic, str(tp.partition)).set(
                max(0, ends.get(tp, 0) - self.consumer.position(tp))
            )

    def _close(self) -> None:
        if self.consumer is not None:
            try:
                self.consumer.close()
            except Exception:
                log.debug("consumer close failed", exc_info=True)
            self.consumer = None
