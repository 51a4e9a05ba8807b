"""The sweeper: jobs must not get stuck. A job QUEUED for too long (its message
was lost, e.g. a broker restart that kept nothing) or RUNNING for too long (its
worker died) is published again through the outbox; after too many attempts it
is FAILED and its message goes to the dead-letter topic. Conditional updates
make concurrent sweepers (several API replicas) harmless, and workers are
idempotent, so a re-published job that was merely slow still takes effect once."""

from __future__ import annotations

import datetime as dt
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass

from prometheus_client import Counter

from phs_reports.domain.errors import TooManyAttempts
from phs_reports.domain.jobs import QUEUED
from phs_reports.errors import to_api_error
from phs_reports.messages import job_message
from phs_reports.store import Store
from phs_runtime.config import KafkaConfig, env_float, env_int
from phs_runtime.context import request_context
from phs_runtime.resources import utcnow

log = logging.getLogger(__name__)

REPUBLISHED = Counter("phs_report_jobs_republished_total", "Stuck jobs published again.", ["state"])
DEAD_LETTERED = Counter("phs_report_jobs_dead_lettered_total", "Jobs given up after too many attempts.")


@dataclass(frozen=True)
class SweeperConfig:
    interval_s: float
    queued_timeout: dt.timedelta
    running_timeout: dt.timedelta
    max_attempts: int

    @classmethod
    def from_env(cls) -> SweeperConfig:
        return cls(
            interval_s=env_float("PHS_SWEEP_INTERVAL_SECONDS", 15.0),
            queued_timeout=dt.timedelta(seconds=env_float("PHS_JOB_QUEUED_TIMEOUT_SECONDS", 120.0)),
            running_timeout=dt.timedelta(seconds=env_float("PHS_JOB_RUNNING_TIMEOUT_SECONDS", 900.0)),
            max_attempts=env_int("PHS_REPORT_MAX_ATTEMPTS", 5),
        )


class Sweeper:
    def __init__(
        self, store: Store, kafka: KafkaConfig, cfg: SweeperConfig, on_enqueued: Callable[[], None]
    ) -> None:
        self.store = store
        self.kafka = kafka
        self.cfg = cfg
        self.on_enqueued = on_enqueued
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="job-sweeper", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(5)

    def sweep(self) -> int:
        """One pass; returns how many jobs were re-published or given up."""
        now = utcnow()
        done = 0
        for row in self.store.stuck(now - self.cfg.queued_timeout, now - self.cfg.running_timeout, 100):
            with request_context(row.origin_request_id):
                extra = {"job_id": row.id, "state": row.state, "attempt": row.attempts}
                if row.attempts >= self.cfg.max_attempts:
                    error = to_api_error(TooManyAttempts(row.attempts)).to_status()
                    dead = job_message(
                        self.kafka.report_dead_letter_topic,
                        row.id,
                        row.publications,
                        row.origin_request_id,
                        (row.requester, row.requester_role),
                    )
                    if self.store.give_up(row, error, dead):
                        DEAD_LETTERED.inc()
                        log.warning("job dead-lettered", extra=extra)
                        done += 1
                    continue
                message = job_message(
                    self.kafka.report_jobs_topic,
                    row.id,
                    row.publications + 1,
                    row.origin_request_id,
                    (row.requester, row.requester_role),
                )
                if self.store.republish(row, message):
                    REPUBLISHED.labels("queued" if row.state == QUEUED else "running").inc()
                    log.warning("stuck job re-published", extra=extra)
                    done += 1
        if done:
            self.on_enqueued()
        purged = self.store.purge_expired(now)
        if purged:
            log.info("expired results deleted", extra={"reports": purged})
        return done

    def _loop(self) -> None:
        while not self._stop.wait(self.cfg.interval_s):
            try:
                self.sweep()
            except Exception:
                log.warning("sweep failed", exc_info=True)
