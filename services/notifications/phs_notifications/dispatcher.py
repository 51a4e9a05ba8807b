"""Due sends out: claim, decide, compose, send, record.

The guarantee, step by step (adapters.store holds the statements):

1. A due row is claimed with a lease (a conditional UPDATE): one replica at a time
   works on it. Nothing has been sent yet; a crash here only delays it until the
   lease runs out.
2. What the message needs is looked up now, not taken from the event: the
   appointment's current state (a reminder of a cancelled, moved or past
   appointment is skipped), the preferences, the recipient's name, address and
   zone. A lookup that fails for a while is retried with back-off.
3. The row is marked SENDING (committed) before SMTP gets the first byte, and its
   `unconfirmed` count goes up.
4. SMTP. A refusal or no connection means the message was not taken: the row goes
   back to PENDING (count down again) for a later try, or FAILED if permanent.
5. On acceptance the row is marked SENT.

A crash (or a lost reply) between 4's acceptance and 5 leaves the row SENDING
with its lease; when the lease has run out a replica resends it, with the same
Message-ID (fixed when it was planned, so mail systems and clients can recognise
the copy). A row that already has two sends of unknown outcome is never sent a
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

from prometheus_client import Counter, Gauge, Histogram

from phs_notifications.adapters.scheduling import Directory, LookupFailed
from phs_notifications.adapters.smtp import Mailer, Outcome, SmtpConfig, build_email, message_id_of
from phs_notifications.adapters.store import Delivery, Store
from phs_notifications.adapters.tables import FAILED, SENT, SKIPPED
from phs_notifications.domain import messages
from phs_notifications.domain.model import Kind, Recipient, Role
from phs_notifications.domain.rules import (
    Verdict,
    client_verdict,
    confirmation_verdict,
    next_retry,
    psychologist_verdict,
    reminder_verdict,
    skip,
)
from phs_runtime.context import request_context

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
    "One SMTP session, connection to QUIT.",
    buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
)

# Sends of unknown outcome a row may have: the first, and one resend.
MAX_UNCONFIRMED = 2


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
        handled = 0
        for row in self.store.due(self.clock(), self.batch_size):
            if self.stop.is_set():
                break
            claimed = self.store.claim(row.id, self.me, self.clock(), self.lease)
            if claimed is None:
                continue  # another replica has it
            handled += 1
            self.handle(claimed)
        return handled

    def handle(self, x: Delivery) -> str:
        """One claimed row to its next state; the outcome (for logs and tests)."""
        with request_context(x.request_id):
            extra: dict[str, object] = {
                "delivery": x.id,
                "kind": x.send.kind.value,
                "appointment": x.send.appointment.name,
                "offset_s": x.send.offset_seconds,
                "attempt": x.attempts,
            }
            try:
                outcome = self._handle(x, extra)
            except LookupFailed as exc:
                outcome = self._retry_or_fail(
                    x, f"LOOKUP_{exc.code.name}"[:32], extra, not_sent=True, retry=exc.transient
                )
            return outcome

    def _handle(self, x: Delivery, extra: dict[str, object]) -> str:
        send, now = x.send, self.clock()
        if x.unconfirmed >= MAX_UNCONFIRMED:
            return self._final(x, FAILED, "UNCONFIRMED", extra)
        if send.kind is Kind.REMINDER:
            current = self.directory.appointment(send.appointment.name)
            verdict = reminder_verdict(send, now, current, self.store.sooner_reminder_due(x, now))
            if not verdict.send:
                return self._final(x, SKIPPED, verdict.reason, extra)
        else:
            superseded = self.store.later_message_sent(x)
            verdict = confirmation_verdict(send, now, self.confirmation_max_age, superseded)
            if not verdict.send:
                return self._final(x, SKIPPED, verdict.reason, extra)
        recipient, verdict = self._recipient(x)
        if recipient is None:
            return self._final(x, SKIPPED, verdict.reason, extra)
        psychologist = self.directory.psychologist(send.appointment.psychologist)
        ctx = messages.Context(
            psychologist_name=psychologist.display_name,
            session_type_name=self.directory.session_type_name(send.appointment.session_type),
            practice_name=self.practice_name,
            web_url=self.web_url,
            sender=self.smtp.sender,
            now=now,
        )
        message = messages.compose(send, recipient, ctx)
        message_id = x.message_id or message_id_of(x.id, self.smtp)  # a row that has one keeps it
        mail = build_email(message, recipient.email, recipient.display_name, self.smtp, message_id, now)
        if not self.store.mark_sending(x.id, self.me, self.clock(), self.lease, message_id):
            log.warning("claim lost before sending; another replica has it", extra=extra)
            return "lost"
        started = time.perf_counter()
        result = self.mailer.send(mail)
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
            x, result.reason, extra, not_sent=result.outcome is Outcome.NOT_SENT, retry=True
        )

    def _recipient(self, x: Delivery) -> tuple[Recipient | None, Verdict]:
        """Who gets it, looked up now; None (and why) when nobody should."""
        send = x.send
        if send.role is Role.CLIENT:
            prefs, _ = self.store.client_preferences(send.recipient)
            verdict = client_verdict(send, prefs)
            if not verdict.send:
                return None, verdict
            client = self.directory.client(send.recipient)
            if not client.email:
                return None, skip("NO_ADDRESS")
            zone = prefs.time_zone or self.directory.psychologist(send.appointment.psychologist).time_zone
            return Recipient(client.display_name, client.email, zone), verdict
        pprefs, _ = self.store.psychologist_preferences(send.recipient)
        verdict = psychologist_verdict(pprefs)
        if not verdict.send:
            return None, verdict
        me = self.directory.psychologist(send.recipient)
        return Recipient(me.display_name, pprefs.email, me.time_zone), verdict

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
        self, x: Delivery, reason: str, extra: dict[str, object], *, not_sent: bool, retry: bool
    ) -> str:
        now = self.clock()
        if not retry or x.attempts >= self.max_attempts:
            return self._final(x, FAILED, reason, extra)
        at = now + next_retry(x.attempts, self.retry_base, self.retry_cap)
        if not self.store.retry_later(x.id, self.me, at, reason, now, not_sent=not_sent):
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
