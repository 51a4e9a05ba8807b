"""Appointment events in, planned sends out: the consumer group's loop.

Delivery is at least once; effect is once. Each event is planned in one
transaction together with its id (adapters.store.record_event), so a redelivered
event (a rebalance, a restart before the offset commit, a relay re-send) plans
nothing. The offset is committed only after the plan is stored; a database outage
leaves it uncommitted and the event comes again. The events of a moved appointment may
come in any order (they are keyed by the appointment each changes): domain.rules.plan
sends only for a change newer than those read, and an event whose calendar event is not
known yet gets its history from scheduling first.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
from collections.abc import Callable, Mapping, Sequence

from kafka import TopicPartition
from kafka.consumer.fetcher import ConsumerRecord
from prometheus_client import Counter, Gauge

from phs_notifications.adapters.events import MalformedEvent, decode
from phs_notifications.adapters.scheduling import LookupFailed
from phs_notifications.adapters.store import Store
from phs_notifications.domain.model import CalendarEntry, Event, Plan
from phs_notifications.domain.rules import chain, history_needed, plan
from phs_runtime.config import KafkaConfig
from phs_runtime.context import REQUEST_ID_HEADER, request_context
from phs_runtime.kafka import GroupConsumer

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
        earlier: Callable[[str], Sequence[str]] = lambda name: (),
        on_planned: Callable[[], None] = lambda: None,
        clock: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC),
    ) -> None:
        """`earlier`: the appointments one replaced, newest first, back to the first
        booking (scheduling's rescheduled_from links; adapters.scheduling.Directory)."""
        self.store, self.kafka, self.group_id, self.offsets = store, kafka, group_id, tuple(offsets)
        self.earlier = earlier
        self.stop = stop
        self.on_planned = on_planned
        self.clock = clock
        self.group = GroupConsumer(
            kafka,
            kafka.appointment_events_topic,
            kafka.appointment_events_partitions,
            group_id,
            stop,
            self._process,
            CONSUMER_LAG,
            session_timeout_ms=session_timeout_ms,
            heartbeat_interval_ms=heartbeat_interval_ms,
            max_poll_records=50,
            fetch_max_wait_ms=fetch_max_wait_ms,
        )

    def handle(self, event: Event, request_id: str | None) -> str:
        """Plan one event; the outcome (for metrics and tests)."""
        names = chain(event)
        history: Sequence[str] = ()
        if history_needed(event, self.store.calendar_entries(names)):
            history = self._history(event.appointment.rescheduled_from)

        def planner(known: Mapping[str, CalendarEntry]) -> Plan:
            return plan(event, self.offsets, known, history)

        stored = self.store.record_event(
            event.event_id,
            request_id,
            [*names, *history],
            planner,
            self.clock(),
        )
        if stored is None:
            log.info("event already planned; skipping", extra={"event_id": event.event_id})
            EVENTS.labels(event.change.value, "duplicate").inc()
            return "duplicate"
        outcome = "older" if stored.older else "planned"
        EVENTS.labels(event.change.value, outcome).inc()
        log.info(
            "event planned" if not stored.older else "event older than one already read; nothing to send",
            extra={
                "event_id": event.event_id,
                "type": event.change.value,
                "appointment": event.appointment.name,
                "sends": [f"{s.kind.value}/{s.offset_seconds}" for s in stored.sends],
                "voided": list(stored.void_reminders_of),
                "history": len(history),
            },
        )
        if stored.sends:
            self.on_planned()
        return outcome

    def _history(self, name: str) -> Sequence[str]:
        """The appointments `name` replaced, from scheduling. A failure that may pass
        leaves the event unplanned and uncommitted (it comes again); any other plans it
        with what is known."""
        try:
            return self.earlier(name)
        except LookupFailed as exc:
            if exc.transient:
                raise
            log.warning(
                "history of a moved appointment unavailable; planning without it",
                extra={"appointment": name, "code": exc.code.name},
            )
            return ()

    def run(self) -> None:
        self.group.run()

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
            self.group.commit(tp, record)
