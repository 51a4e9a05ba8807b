"""Live appointment changes for WatchAppointments.

Every scheduling process reads the appointment topic itself, from its end, and hands
each event to the watches open in that process. Reading the topic (not only this
process's commits) is what lets a watcher on one replica see a change made through
another. The reader has no consumer group: it assigns itself every partition and
commits nothing, so it never waits for a group to rebalance and leaves nothing behind.

The reader runs only while someone watches (and LINGER_S after the last watch ends):
reading every appointment event costs each process CPU that bookings need.

A watch is either live or ended: when the broker goes away the open watches end with
UNAVAILABLE (a client then refetches and watches again), never silently miss events.
"""

from __future__ import annotations

import collections
import logging
import queue
import threading
import time
from dataclasses import dataclass, field

from google.protobuf.message import DecodeError
from kafka import KafkaConsumer, TopicPartition
from kafka.errors import KafkaError

from phs.scheduling.v1 import events_pb2 as ev
from phs_runtime.config import KafkaConfig
from phs_runtime.errors import resource_exhausted, unavailable
from phs_runtime.kafka import client_settings, ensure_topic

log = logging.getLogger(__name__)

# A watcher this many events behind is ended (it refetches) rather than buffered for.
QUEUE_LIMIT = 1000
# Event ids remembered to drop the relay's redeliveries.
SEEN_LIMIT = 4096
# How long the reader keeps reading after the last watch ended (a page reload reconnects).
LINGER_S = 60.0


@dataclass(eq=False)
class Subscription:
    """One open watch: the events for its psychologist (or all), until closed."""

    psychologist_id: str | None
    events: queue.Queue[ev.AppointmentEvent | None] = field(
        default_factory=lambda: queue.Queue(QUEUE_LIMIT + 1)
    )
    closed: bool = False
    # Why the watch ended other than by its own close: the feed lost the broker,
    # stopped with the server, or the watcher fell behind.
    failure: str = ""

    def offer(self, event: ev.AppointmentEvent) -> None:
        if self.closed:
            return
        if self.events.qsize() >= QUEUE_LIMIT:
            self.end("LAGGING")
            return
        self.events.put(event)

    def end(self, failure: str = "") -> None:
        if not self.closed:
            self.closed = True
            self.failure = failure
            self.events.put(None)  # wakes the stream waiting on next()

    def next(self, timeout: float) -> ev.AppointmentEvent | None:
        """The next event; None when `timeout` passed quietly or the watch ended."""
        try:
            return self.events.get(timeout=timeout)
        except queue.Empty:
            return None


def _not_now() -> Exception:
    return unavailable("WATCH_UNAVAILABLE", "appointment changes cannot be watched now; try again")


class AppointmentFeed:
    def __init__(
        self,
        kafka: KafkaConfig,
        topic: str,
        partitions: int,
        max_watchers: int = 64,
        ready_wait_s: float = 5.0,
        check_s: float = 3.0,
        linger_s: float = LINGER_S,
    ) -> None:
        self._kafka = kafka
        self._max_watchers = max_watchers
        self._topic = topic
        self._partitions = partitions
        self._ready_wait_s = ready_wait_s
        self._check_s = check_s
        self._linger_s = linger_s
        self._subs: set[Subscription] = set()
        self._lock = threading.Lock()
        self._ready = threading.Event()
        self._stopping = threading.Event()
        self._seen: collections.OrderedDict[str, None] = collections.OrderedDict()
        self._thread: threading.Thread | None = None  # the reader, while one runs

    def start(self) -> None:
        """Nothing to do until the first watch: the reader starts with it."""

    def _ensure_reader(self) -> None:
        with self._lock:
            if self._thread is None and not self._stopping.is_set():
                self._thread = threading.Thread(target=self._run, name="appointment-feed", daemon=True)
                self._thread.start()

    def _retire_if_unwatched(self, idle_since: float) -> bool:
        """Whether the reader should stop: nobody has watched for linger_s. Decided under
        the lock, so a watch arriving now starts a new reader instead."""
        with self._lock:
            if self._subs or time.monotonic() - idle_since < self._linger_s:
                return False
            self._ready.clear()
            self._thread = None
            return True

    def subscribe(self, psychologist_id: str | None) -> Subscription:
        """A new watch, once the feed reads the topic's end (so nothing committed from
        now on is missed); UNAVAILABLE when it cannot within a few seconds."""
        deadline = time.monotonic() + self._ready_wait_s
        while True:
            self._ensure_reader()
            remaining = deadline - time.monotonic()
            if self._stopping.is_set() or remaining <= 0 or not self._ready.wait(remaining):
                raise _not_now()
            with self._lock:
                if self._stopping.is_set():
                    raise _not_now()
                if self._thread is None or not self._ready.is_set():
                    continue  # the reader retired just now: start another
                # Refused, not queued: a queued watch would look to its caller like a live one.
                if len(self._subs) >= self._max_watchers:
                    raise resource_exhausted("TOO_MANY_WATCHES", "too many open watches; poll instead")
                sub = Subscription(psychologist_id)
                self._subs.add(sub)
                return sub

    def unsubscribe(self, sub: Subscription) -> None:
        sub.end()
        with self._lock:
            self._subs.discard(sub)

    def watchers(self) -> int:
        with self._lock:
            return len(self._subs)

    def drain(self) -> None:
        """End every watch (OK to the caller) and accept no more: the server is stopping."""
        self._stopping.set()
        self._end_all("")

    def stop(self) -> None:
        self.drain()
        with self._lock:
            reader = self._thread
        if reader is not None:
            reader.join(timeout=5)

    def _end_all(self, failure: str) -> None:
        with self._lock:
            subs, self._subs = self._subs, set()
        for sub in subs:
            sub.end(failure)

    def _publish(self, payload: bytes) -> None:
        try:
            event = ev.AppointmentEvent.FromString(payload)
        except DecodeError:
            log.warning("unreadable appointment event skipped", extra={"bytes": len(payload)})
            return
        if event.event_id in self._seen:
            return
        self._seen[event.event_id] = None
        if len(self._seen) > SEEN_LIMIT:
            self._seen.popitem(last=False)
        prefix = event.appointment.name.split("/appointments/")[0].removeprefix("psychologists/")
        with self._lock:
            subs = list(self._subs)
        for sub in subs:
            if sub.psychologist_id is None or sub.psychologist_id == prefix:
                sub.offer(event)

    def _run(self) -> None:
        backoff = 0.5
        retired = False
        while not self._stopping.is_set() and not retired:
            consumer: KafkaConsumer | None = None
            try:
                ensure_topic(self._kafka, self._topic, self._partitions)
                consumer = KafkaConsumer(
                    **client_settings(self._kafka),
                    group_id=None,
                    enable_auto_commit=False,
                    # A position the broker no longer has (it lost its log) is an error,
                    # not a silent jump that would skip events.
                    auto_offset_reset="none",
                    fetch_max_wait_ms=100,
                    request_timeout_ms=10000,
                )
                found = consumer.partitions_for_topic(self._topic)
                if not found:
                    raise RuntimeError("the appointment topic has no partitions yet")
                tps = [TopicPartition(self._topic, p) for p in sorted(found)]
                consumer.assign(tps)
                consumer.seek_to_end(*tps)
                for tp in tps:
                    consumer.position(tp)  # resolves the end now: ready means positioned
                self._ready.set()
                backoff = 0.5
                log.info("appointment feed live", extra={"topic": self._topic, "partitions": len(tps)})
                checked = idle_since = time.monotonic()
                while not self._stopping.is_set():
                    for records in consumer.poll(timeout_ms=200).values():
                        for record in records:
                            self._publish(record.value)
                    if self.watchers():
                        idle_since = time.monotonic()
                    elif self._retire_if_unwatched(idle_since):
                        retired = True
                        log.info("appointment feed idle, stopped reading", extra={"topic": self._topic})
                        break
                    if time.monotonic() - checked >= self._check_s:
                        # The consumer itself waits quietly for a broker that went away;
                        # asking for the log ends fails instead, and ends the watches.
                        consumer.end_offsets(tps, timeout_ms=int(self._check_s * 1000))
                        checked = time.monotonic()
            except (KafkaError, OSError, RuntimeError) as exc:
                if self._stopping.is_set():
                    break
                self._ready.clear()
                self._end_all("BROKER_UNAVAILABLE")
                if self._retire_if_unwatched(0.0):
                    break  # nobody watches: the next watch starts a reader again
                log.warning(
                    "appointment feed lost the broker, retrying",
                    extra={"error": type(exc).__name__, "retry_in_s": backoff},
                )
                self._stopping.wait(backoff)
                backoff = min(backoff * 2, 10.0)
            finally:
                if consumer is not None:
                    try:
                        consumer.close(autocommit=False)
                    except Exception:  # closing a broken client may fail too
                        log.debug("consumer close failed", exc_info=True)
