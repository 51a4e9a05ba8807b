"""Due sends out: claim, decide, compose, send, record.

The guarantee, step by step (adapters.store holds the statements):

1. A batch of due rows is claimed with a lease (a conditional UPDATE per row, in one
   transaction): one replica at a time works on each row. Nothing has been sent yet;
   a crash here only delays them until the lease runs out, and a replica that stops
   gives back the rows it did not get to.
2. What the messages need is looked up now, not taken from the event, for the batch
   at once: the appointments' current state (a reminder of a cancelled, moved or past
   appointment is skipped), the preferences, the recipients' names, addresses and
   zones. A lookup that fails puts off the rows that needed it, with back-off.
   Lookups serve for LOOKUPS_FRESH_FOR_S at most: rows still unsent then are looked
   up again (their claims renewed) before they go, and whether the appointment has
   started is decided again just before each send.
3. The row is marked SENDING (committed) before SMTP gets the first byte of its
   message, and its `unconfirmed` count goes up.
4. SMTP, over a connection kept for the batch (`SmtpConfig.connections` of them side
   by side, each sending one message at a time). A refusal or no connection means
   the message was not taken: the row goes back to PENDING (count down again) for a
   later try, or FAILED if permanent. A connection that fails is replaced for the
   next message; one message's failure is only ever recorded on its own row.
5. On acceptance the row is marked SENT.

A crash (or a lost reply) between 4's acceptance and 5 leaves the row SENDING
with its lease; when the lease has run out a replica resends it, with the same
Message-ID (recorded with its first hand-off, so mail systems and clients can
recognise the copy). A row that already has two sends of unknown outcome is never sent a
third time (FAILED, outcome UNCONFIRMED, counted in the failure metric): at worst
a recipient gets one duplicate, and only after a crash inside the SMTP exchange.
The lease is configured longer than the work it covers (settings), so a slow
send is not taken over by another replica while it is still running.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from prometheus_client import Counter, Gauge, Histogram

from phs_notifications.adapters.scheduling import Directory, LookupFailed, PsychologistRecord
from phs_notifications.adapters.smtp import (
    Mailer,
    MailSession,
    Outcome,
    Result,
    SmtpConfig,
    build_email,
    message_id_of,
)
from phs_notifications.adapters.store import Delivery, Store
from phs_notifications.adapters.tables import FAILED, SENT, SKIPPED
from phs_notifications.domain import messages
from phs_notifications.domain.model import Appointment, Kind, Recipient, Role
from phs_notifications.domain.rules import (
    client_verdict,
    confirmation_verdict,
    next_retry,
    psychologist_verdict,
    reminder_verdict,
    superseded_together,
)
from phs_runtime.context import request_context

T = TypeVar("T")

log = logging.getLogger("phs_notifications.dispatcher")

SENT_TOTAL = Counter(
    "phs_notifications_sent_total", "Messages handed to SMTP and accepted.", ["kind", "channel"]
)
FAILED_TOTAL = Counter(
    "phs_notifications_failed_total", "Messages given up on, by kind and reason code.", ["kind", "reason"]
)
SKIPPED_TOTAL = Counter(
    "phs_notifications_skipped_total",
    "Planned messages not sent on purpose (cancelled, opted out, too late), by reason code.",
    ["kind", "reason"],
)
RETRIES_TOTAL = Counter(
    "phs_notifications_retries_total", "Sends put off for another try, by reason code.", ["kind", "reason"]
)
DUE_BACKLOG = Gauge("phs_notifications_due_backlog", "Messages due and not yet sent or given up on.")
OLDEST_DUE_AGE = Gauge(
    "phs_notifications_oldest_due_age_seconds", "How long the oldest message still to send has been due."
)
SEND_SECONDS = Histogram(
    "phs_notifications_smtp_send_seconds",
    "One message over SMTP, MAIL to the reply to its data (connecting first if needed).",
    buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)

# Sends of unknown outcome a row may have: the first, and one resend.
MAX_UNCONFIRMED = 2

# How long a batch's lookups stand once made: a send not started by then is decided
# on lookups made again, so a message never goes out on a state much older than when
# each send made its own lookups just before it.
LOOKUPS_FRESH_FOR_S = 2.0


@dataclass(frozen=True)
class _Going:
    """A claimed row that passed the checks of the appointment and the preferences."""

    x: Delivery
    extra: dict[str, object]
    current: Appointment | None  # a reminder's appointment as looked up
    sooner_due: bool
    zone: str  # the client's own choice ("": the psychologist's)
    address: str  # a psychologist's, from their preferences (clients': their record)


@dataclass(frozen=True)
class _Ready:
    """A claimed row that passed the checks, with what its message needs."""

    x: Delivery
    extra: dict[str, object]
    recipient: Recipient
    psychologist: PsychologistRecord
    session_type_name: str
    current: Appointment | None  # a reminder's appointment as looked up
    sooner_due: bool


class _Queue:
    """A round's ready rows, taken one at a time by the sending threads while the
    round's lookups are fresh, until the process stops or a thread fails."""

    def __init__(self, ready: list[_Ready], fresh_until: float, stop: threading.Event) -> None:
        self._ready, self._next, self._fresh_until, self._stop = ready, 0, fresh_until, stop
        self._lock = threading.Lock()
        self.down: list[Result] = []  # a session per entry that could not connect
        self.error: BaseException | None = None

    def take(self) -> _Ready | None:
        with self._lock:
            if (
                self.error is not None
                or self._stop.is_set()
                or self._next >= len(self._ready)
                or time.monotonic() > self._fresh_until
            ):
                return None
            self._next += 1
            return self._ready[self._next - 1]

    def went_down(self, why: Result) -> None:
        with self._lock:
            self.down.append(why)

    def failed(self, exc: BaseException) -> None:
        with self._lock:
            if self.error is None:
                self.error = exc

    def untaken(self) -> list[_Ready]:
        with self._lock:
            return self._ready[self._next :]


class Dispatcher:
    def __init__(
        self,
        store: Store,
        directory: Directory,
        mailer: Mailer,
        smtp: SmtpConfig,
        *,
        me: str,
        practice_name: str,
        web_url: str,
        lease: dt.timedelta,
        batch_size: int,
        max_attempts: int,
        retry_base: dt.timedelta,
        retry_cap: dt.timedelta,
        poll_interval_s: float,
        stop: threading.Event,
        confirmation_max_age: dt.timedelta = dt.timedelta(days=1),
        clock: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC),
    ) -> None:
        self.store, self.directory, self.mailer, self.smtp = store, directory, mailer, smtp
        self.me, self.practice_name, self.web_url = me, practice_name, web_url
        self.lease, self.batch_size, self.max_attempts = lease, batch_size, max_attempts
        self.retry_base, self.retry_cap = retry_base, retry_cap
        self.poll_interval_s, self.stop, self.clock = poll_interval_s, stop, clock
        self.confirmation_max_age = confirmation_max_age
        self._wake = threading.Event()
        self._backlog_measured = 0.0

    def wake(self) -> None:
        """Something became due now (a confirmation was planned): look at once."""
        self._wake.set()

    def run(self) -> None:
        backoff = 0.5
        while not self.stop.is_set():
            try:
                handled = self.run_once()
                self._measure_backlog()
                backoff = 0.5
            except Exception as exc:  # noqa: BLE001 - database outage: try again
                log.warning(
                    "dispatch error; retrying", extra={"error": type(exc).__name__, "retry_in_s": backoff}
                )
                self.stop.wait(backoff)
                backoff = min(10.0, backoff * 2)
                continue
            if handled == 0:
                self._wake.wait(self.poll_interval_s)
                self._wake.clear()

    def run_once(self) -> int:
        """Claim and handle what is due now; how many rows this replica took."""
        batch: list[Delivery] = []
        for _ in range(3):  # rows another replica claimed since they were read: read again
            due = self.store.due(self.clock(), self.batch_size)
            if not due or self.stop.is_set():
                return 0
            batch = self.store.claim_all([row.id for row in due], self.me, self.clock(), self.lease)
            if batch:
                break
        rest, first = batch, True
        while rest:
            if self.stop.is_set():
                self.store.release([x.id for x in rest], self.me, self.clock())
                break
            if not first:
                held = self.store.renew([x.id for x in rest], self.me, self.clock(), self.lease)
                for x in rest:
                    if x.id not in held:
                        log.warning("claim lost; another replica has it", extra=self._extra(x))
                rest = [x for x in rest if x.id in held]
            first = False
            rest = self._send_all(self._prepare(rest))
        return len(batch)

    @staticmethod
    def _extra(x: Delivery) -> dict[str, object]:
        return {
            "delivery": x.id,
            "kind": x.send.kind.value,
            "appointment": x.send.appointment.name,
            "offset_s": x.send.offset_seconds,
            "attempt": x.attempts,
        }

    # -- deciding: one round's lookups ---------------------------------------------------------

    def _prepare(self, rows: list[Delivery]) -> list[_Ready]:
        """Look up what the rows need (together), settle the ones that do not go (skipped,
        failed, put off), and return the others with what their messages need."""
        now = self.clock()
        planned = {
            x.send.appointment.name: x.send.appointment.start
            for x in rows
            if x.send.kind is Kind.REMINDER and x.unconfirmed < MAX_UNCONFIRMED
        }
        states = self.directory.appointments(planned) if planned else {}
        going: list[_Going] = []
        clients: dict[str, str | None] = {}
        psychologists: dict[str, str | None] = {}
        for x in rows:
            extra = self._extra(x)
            with request_context(x.request_id):
                try:
                    g = self._decide(x, now, states, extra)
                except LookupFailed as exc:
                    self._lookup_failed(x, exc, extra)
                    continue
            if g is not None:
                going.append(g)
        superseded = superseded_together([g.x.send for g in going])
        for g, old in zip(going, superseded, strict=True):
            if old:
                with request_context(g.x.request_id):
                    self._final(g.x, SKIPPED, "SUPERSEDED", g.extra)
        going = [g for g, old in zip(going, superseded, strict=True) if not old]
        for g in going:
            x, send = g.x, g.x.send
            psychologists.setdefault(send.appointment.psychologist, x.request_id)
            if send.role is Role.CLIENT:
                clients.setdefault(send.recipient, x.request_id)
            else:
                psychologists.setdefault(send.recipient, x.request_id)
        client_records = self.directory.clients(clients) if clients else {}
        psychologist_records = self.directory.psychologists(psychologists) if psychologists else {}
        ready = []
        for g in going:
            x, send, extra = g.x, g.x.send, g.extra
            with request_context(x.request_id):
                try:
                    psychologist = _found(psychologist_records[send.appointment.psychologist])
                    if send.role is Role.CLIENT:
                        client = _found(client_records[send.recipient])
                        if not client.email:
                            self._final(x, SKIPPED, "NO_ADDRESS", extra)
                            continue
                        zone = g.zone or psychologist.time_zone
                        recipient = Recipient(client.display_name, client.email, zone)
                    else:
                        me = _found(psychologist_records[send.recipient])
                        recipient = Recipient(me.display_name, g.address, me.time_zone)
                    type_name = self.directory.session_type_name(send.appointment.session_type)
                except LookupFailed as exc:
                    self._lookup_failed(x, exc, extra)
                    continue
            ready.append(_Ready(x, extra, recipient, psychologist, type_name, g.current, g.sooner_due))
        return ready

    def _decide(
        self,
        x: Delivery,
        now: dt.datetime,
        states: dict[str, Appointment | LookupFailed | None],
        extra: dict[str, object],
    ) -> _Going | None:
        """Whether the row goes on (None: it was settled here)."""
        send = x.send
        if x.unconfirmed >= MAX_UNCONFIRMED:
            self._final(x, FAILED, "UNCONFIRMED", extra)
            return None
        current: Appointment | None = None
        sooner = False
        if send.kind is Kind.REMINDER:
            found = states[send.appointment.name]
            if isinstance(found, LookupFailed):
                raise found
            current = found
            sooner = self.store.sooner_reminder_due(x, now)
            verdict = reminder_verdict(send, now, current, sooner)
        else:
            superseded = self.store.later_message_sent(x)
            verdict = confirmation_verdict(send, now, self.confirmation_max_age, superseded)
        if not verdict.send:
            self._final(x, SKIPPED, verdict.reason, extra)
            return None
        zone = address = ""
        if send.role is Role.CLIENT:
            prefs, _ = self.store.client_preferences(send.recipient)
            verdict = client_verdict(send, prefs)
            zone = prefs.time_zone or ""
        else:
            pprefs, _ = self.store.psychologist_preferences(send.recipient)
            verdict = psychologist_verdict(pprefs)
            address = pprefs.email
        if not verdict.send:
            self._final(x, SKIPPED, verdict.reason, extra)
            return None
        return _Going(x, extra, current, sooner, zone, address)

    def _lookup_failed(self, x: Delivery, exc: LookupFailed, extra: dict[str, object]) -> str:
        return self._retry_or_fail(
            x, f"LOOKUP_{exc.code.name}"[:32], extra, not_sent=True, retry=exc.transient, marked=False
        )

    # -- sending: the round's rows over a few connections ---------------------------------------

    def _send_all(self, ready: list[_Ready]) -> list[Delivery]:
        """Send the ready rows; those not sent because the lookups got old (to be looked
        up again) or the process is stopping."""
        if not ready:
            return []
        queue = _Queue(ready, time.monotonic() + LOOKUPS_FRESH_FOR_S, self.stop)
        n = max(1, min(self.smtp.connections, len(ready)))
        if n == 1:
            self._sender(queue)
        else:
            threads = [
                threading.Thread(target=self._sender, args=(queue,), name=f"smtp-{k}", daemon=True)
                for k in range(n)
            ]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
        if queue.error is not None:
            raise queue.error
        untaken = queue.untaken()
        if untaken and len(queue.down) == n:
            # No session could connect: the rest fare as each would have on its own try.
            why = queue.down[-1]
            for r in untaken:
                with request_context(r.x.request_id):
                    self._retry_or_fail(r.x, why.reason, r.extra, not_sent=True, retry=True, marked=False)
            return []
        return [r.x for r in untaken]

    def _sender(self, queue: _Queue) -> None:
        session = self.mailer.session()
        try:
            while (r := queue.take()) is not None:
                with request_context(r.x.request_id):
                    self._deliver(r, session)
                if session.down is not None:
                    queue.went_down(session.down)
                    return
        except Exception as exc:  # noqa: BLE001 - raised again by the round (database outage)
            queue.failed(exc)
        finally:
            session.close()

    def _deliver(self, r: _Ready, session: MailSession) -> str:
        """One ready row to its next state; the outcome (for logs and tests)."""
        x, send, extra, now = r.x, r.x.send, r.extra, self.clock()
        # The start may have come since the lookups.
        if send.kind is Kind.REMINDER:
            verdict = reminder_verdict(send, now, r.current, r.sooner_due)
        else:
            verdict = confirmation_verdict(send, now, self.confirmation_max_age)
        if not verdict.send:
            return self._final(x, SKIPPED, verdict.reason, extra)
        ctx = messages.Context(
            psychologist_name=r.psychologist.display_name,
            session_type_name=r.session_type_name,
            practice_name=self.practice_name,
            web_url=self.web_url,
            sender=self.smtp.sender,
            now=now,
        )
        message = messages.compose(send, r.recipient, ctx)
        message_id = x.message_id or message_id_of(x.id, self.smtp)  # a row that has one keeps it
        mail = build_email(message, r.recipient.email, r.recipient.display_name, self.smtp, message_id, now)
        if not self.store.mark_sending(x.id, self.me, self.clock(), self.lease, message_id):
            log.warning("claim lost before sending; another replica has it", extra=extra)
            return "lost"
        started = time.perf_counter()
        result = session.send(mail)
        SEND_SECONDS.observe(time.perf_counter() - started)
        if result.outcome is Outcome.SENT:
            if not self.store.finish(x.id, self.me, SENT, "", self.clock()):
                log.error("sent, but the claim was lost before it was recorded", extra=extra)
            SENT_TOTAL.labels(send.kind.value, "email").inc()
            log.info("message sent", extra={**extra, "resend": x.unconfirmed > 0})
            return "sent"
        if result.outcome is Outcome.REFUSED:
            return self._final(x, FAILED, result.reason, extra)
        return self._retry_or_fail(
            x, result.reason, extra, not_sent=result.outcome is Outcome.NOT_SENT, retry=True, marked=True
        )

    # -- recording -------------------------------------------------------------------------------

    def _final(self, x: Delivery, state: str, reason: str, extra: dict[str, object]) -> str:
        if not self.store.finish(x.id, self.me, state, reason, self.clock()):
            log.warning("claim lost; another replica has it", extra=extra)
            return "lost"
        if state == FAILED:
            FAILED_TOTAL.labels(x.send.kind.value, reason).inc()
            log.error("message given up", extra={**extra, "reason": reason})
            return "failed"
        SKIPPED_TOTAL.labels(x.send.kind.value, reason).inc()
        log.info("message skipped", extra={**extra, "reason": reason})
        return "skipped"

    def _retry_or_fail(
        self,
        x: Delivery,
        reason: str,
        extra: dict[str, object],
        *,
        not_sent: bool,
        retry: bool,
        marked: bool,
    ) -> str:
        now = self.clock()
        if not retry or x.attempts >= self.max_attempts:
            return self._final(x, FAILED, reason, extra)
        at = now + next_retry(x.attempts, self.retry_base, self.retry_cap)
        if not self.store.retry_later(x.id, self.me, at, reason, now, not_sent=not_sent, marked=marked):
            return "lost"
        RETRIES_TOTAL.labels(x.send.kind.value, reason).inc()
        log.warning(
            "send put off",
            extra={**extra, "reason": reason, "retry_at": at.isoformat(), "outcome_known": not_sent},
        )
        return "retry"

    def _measure_backlog(self) -> None:
        now = time.monotonic()
        if now - self._backlog_measured < 2:
            return
        self._backlog_measured = now
        count, age = self.store.backlog(self.clock())
        DUE_BACKLOG.set(count)
        OLDEST_DUE_AGE.set(age)


def _found(record: T | LookupFailed) -> T:
    if isinstance(record, LookupFailed):
        raise record
    return record
