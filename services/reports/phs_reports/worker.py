"""`python -m phs_reports.worker`: consumes report jobs from Kafka and computes them.

Delivery is at least once; effect is once: a job is claimed and finished with
conditional updates on its row, so a duplicate message (a rebalance, a relay
re-send) finds the job final and does nothing. The Kafka offset is committed
only after the job's outcome is stored. On SIGTERM the current job finishes,
the offset is committed and the consumer leaves the group, so partitions move
to the remaining workers at once.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator
from typing import Any

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc
from kafka import TopicPartition
from kafka.consumer.fetcher import ConsumerRecord
from prometheus_client import Counter, Gauge, Histogram

from phs.reports.v1 import jobs_pb2
from phs.reports.v1 import resources_pb2 as r
from phs.scheduling.v1 import resources_pb2 as sr
from phs.scheduling.v1 import scheduling_service_pb2_grpc as ss_grpc
from phs_reports import WORKER_HEALTH_NAME, compute
from phs_reports.domain.errors import DataUnavailable, OutOfScope
from phs_reports.domain.jobs import KIND_CASELOAD, KIND_EXPORT, KIND_PRACTICE
from phs_reports.domain.scope import job_refusal
from phs_reports.errors import to_api_error
from phs_reports.messages import job_message
from phs_reports.resources import CSV, KINDS
from phs_reports.settings import WorkerConfig, WorkerSettings
from phs_reports.store import Store
from phs_runtime.auth import ServiceTokens
from phs_runtime.config import KafkaConfig
from phs_runtime.context import REQUEST_ID_HEADER, current_request_id, request_context
from phs_runtime.health import Check
from phs_runtime.interceptors import client_channel
from phs_runtime.kafka import BrokerCheck, GroupConsumer
from phs_runtime.logs import setup_logging
from phs_runtime.resources import parse_name
from phs_runtime.server import GrpcProcess

log = logging.getLogger("phs_reports.worker")

JOBS = Counter("phs_report_jobs_total", "Report jobs handled, by kind and outcome.", ["kind", "outcome"])
JOB_DURATION = Histogram(
    "phs_report_job_duration_seconds",
    "Time to compute a report job.",
    ["kind"],
    buckets=(0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120),
)
IN_PROGRESS = Gauge("phs_report_jobs_in_progress", "Report jobs being computed now.")
CONSUMER_LAG = Gauge(
    "phs_report_consumer_lag",
    "Job messages not yet consumed, per assigned partition.",
    ["topic", "partition"],
)

# Failures worth another attempt: the dependency may come back.
TRANSIENT = {
    grpc.StatusCode.UNAVAILABLE,
    grpc.StatusCode.DEADLINE_EXCEEDED,
    grpc.StatusCode.RESOURCE_EXHAUSTED,
    grpc.StatusCode.ABORTED,
    grpc.StatusCode.INTERNAL,
    grpc.StatusCode.UNKNOWN,
}


class JobCancelled(Exception):
    """The job was cancelled while this worker computed it."""


class Worker:
    def __init__(
        self,
        store: Store,
        kafka: KafkaConfig,
        cfg: WorkerConfig,
        stop: threading.Event,
        tokens: ServiceTokens | None = None,
    ) -> None:
        self.store = store
        self.kafka = kafka
        self.cfg = cfg
        self.stop = stop
        # The worker reads scheduling data as itself (role `service`) and applies the
        # requester's scope on its own (`_refusal`).
        self.channel = client_channel(cfg.scheduling_target, tokens=tokens)
        self.scheduling = ss_grpc.SchedulingServiceStub(self.channel)
        self.group = GroupConsumer(
            kafka,
            kafka.report_jobs_topic,
            kafka.report_jobs_partitions,
            cfg.group_id,
            stop,
            self._process,
            CONSUMER_LAG,
            session_timeout_ms=cfg.session_timeout_ms,
            heartbeat_interval_ms=cfg.heartbeat_interval_ms,
            # One job at a time, and a long one must not cost the group its member.
            max_poll_records=1,
            fetch_max_wait_ms=cfg.fetch_max_wait_ms,
            max_poll_interval_ms=600_000,
        )

    # -- the job ---------------------------------------------------------------

    def handle(self, report_name: str, requester: jobs_pb2.Requester | None = None) -> str:
        """Process one job message; returns the outcome (for metrics and tests)."""
        job_id = parse_name(report_name, "reports")
        if job_id is None:
            log.error("malformed job message", extra={"report": report_name})
            return "malformed"
        row = self.store.claim(job_id)
        if row is None:
            log.info("job already final or unknown; skipping", extra={"job_id": job_id})
            JOBS.labels("unknown", "duplicate").inc()
            return "duplicate"
        kind = row.kind
        extra = {
            "job_id": job_id,
            "kind": kind,
            "attempt": row.attempts,
            "idempotency_key": row.idempotency_key,
        }
        refusal = self._refusal(row, requester)
        if refusal is not None:
            log.warning(
                "job refused: out of the requester's scope", extra={**extra, "reason": refusal.reason}
            )
            JOBS.labels(kind, "refused").inc()
            status = to_api_error(refusal).to_status()
            return "refused" if self.store.fail(job_id, status) else "duplicate"
        log.info("job started", extra=extra)
        started = time.perf_counter()
        IN_PROGRESS.inc()
        try:
            outcome = self._run(job_id, kind, row.params, row.attempts, extra)
        finally:
            IN_PROGRESS.dec()
        elapsed = time.perf_counter() - started
        JOB_DURATION.labels(kind).observe(elapsed)
        JOBS.labels(kind, outcome).inc()
        log.info("job finished", extra={**extra, "outcome": outcome, "duration_ms": round(elapsed * 1000, 1)})
        return outcome

    @staticmethod
    def _refusal(row: Any, requester: jobs_pb2.Requester | None) -> OutOfScope | None:
        """Why this job must not be computed for the requester its message names
        (phs_reports.domain.scope.job_refusal)."""
        report = r.Report()
        getattr(report, KINDS[row.kind][0]).ParseFromString(row.params)
        named = (requester.subject, requester.role) if requester is not None else None
        return job_refusal(report, (row.requester, row.requester_role), named)

    def _run(self, job_id: str, kind: str, params: bytes, attempt: int, extra: dict[str, object]) -> str:
        while True:
            try:
                result, content = self._compute(job_id, kind, params)
            except JobCancelled:
                return "cancelled"
            except grpc.RpcError as err:
                code = err.code()
                if code in TRANSIENT and attempt < self.cfg.max_attempts and not self.stop.is_set():
                    log.warning("job attempt failed; retrying", extra={**extra, "grpc_code": code.name})
                    time.sleep(self.cfg.retry_backoff_s * 2 ** (attempt - 1))
                    claimed = self.store.claim(job_id)
                    if claimed is None:
                        return "duplicate"
                    attempt = claimed.attempts
                    extra["attempt"] = attempt
                    continue
                if code in TRANSIENT and self.stop.is_set():
                    self.store.release(job_id)
                    return "released"
                status = to_api_error(DataUnavailable(code.name, code in TRANSIENT)).to_status()
                if code in TRANSIENT:  # out of attempts: the job goes to the dead-letter topic too
                    dead = job_message(self.kafka.report_dead_letter_topic, job_id, 0, current_request_id())
                    return "failed" if self.store.fail(job_id, status, dead) else "duplicate"
                return "failed" if self.store.fail(job_id, status) else "duplicate"
            done = self.store.succeed(job_id, result, content, self.cfg.retention)
            return "succeeded" if done else "duplicate"

    def _tracked(self, job_id: str, rows: Iterator[sr.Appointment]) -> Iterator[sr.Appointment]:
        """Pass rows through, recording progress (a heartbeat for the sweeper) every few
        thousand; stop as soon as the job turns out to be cancelled."""
        n = 0
        for n, row in enumerate(rows, 1):
            if n % self.cfg.progress_every == 0 and not self.store.progress(job_id, n):
                raise JobCancelled(job_id)
            yield row
        self.store.progress(job_id, n)

    def _compute(self, job_id: str, kind: str, params: bytes) -> tuple[bytes, bytes | None]:
        """(serialized result, file content or None), aggregated as the export streams."""
        timeout = self.cfg.rpc_timeout_s

        def rows(parent: str, interval: Any) -> Iterator[sr.Appointment]:
            return self._tracked(job_id, compute.stream(self.scheduling, parent, interval, timeout))

        if kind == KIND_CASELOAD:
            c = r.CaseloadParams.FromString(params)
            working = compute.working_time(self.scheduling, c.interval, timeout)(c.psychologist)
            zone = compute.time_zone(self.scheduling, c.psychologist, timeout)
            weeks = (c.interval, zone)
            summary = compute.caseload(rows(c.psychologist, c.interval), c.psychologist, weeks)
            return compute.with_utilization(summary, working).SerializeToString(), None
        if kind == KIND_PRACTICE:
            p = r.PracticeSummaryParams.FromString(params)
            working_time = compute.working_time(self.scheduling, p.interval, timeout)
            practice = compute.practice_summary(rows("psychologists/-", p.interval), working_time)
            return practice.SerializeToString(), None
        if kind == KIND_EXPORT:
            e = r.AppointmentExportParams.FromString(params)
            data, count = compute.export_csv(rows(e.psychologist, e.interval))
            start = e.interval.start_time.ToDatetime().date().isoformat()
            result = r.ExportResult(
                rows=count, bytes=len(data), content_type=CSV, filename=f"appointments-{start}.csv"
            )
            return result.SerializeToString(), data
        raise ValueError(f"unknown report kind {kind}")

    # -- the consumer loop ----------------------------------------------------------

    def run(self) -> None:
        self.group.run()

    def _process(self, tp: TopicPartition, record: ConsumerRecord) -> None:
        headers = {k: v.decode("utf-8", "replace") for k, v in (record.headers or [])}
        with request_context(headers.get(REQUEST_ID_HEADER)):
            try:
                msg = jobs_pb2.ReportJobMessage.FromString(record.value)
                self.handle(msg.report, msg.requester)
            except ValueError:
                log.exception(
                    "undecodable job message; skipping",
                    extra={"partition": tp.partition, "offset": record.offset},
                )
            self.group.commit(tp, record)

    def scheduling_check(self) -> None:
        """Health: the scheduling service answers SERVING."""
        resp = health_pb2_grpc.HealthStub(self.channel).Check(health_pb2.HealthCheckRequest(), timeout=2)
        if resp.status != health_pb2.HealthCheckResponse.SERVING:
            raise RuntimeError("scheduling not serving")


def main() -> None:
    setup_logging("reports-worker")
    settings = WorkerSettings.from_env()
    config, kafka, cfg = settings.server, settings.kafka, settings.worker
    store = Store.from_config(settings.database)
    stop = threading.Event()
    worker = Worker(
        store, kafka, cfg, stop, ServiceTokens.from_config(settings.signing, "services/reports-worker")
    )
    broker = BrokerCheck(kafka)
    checks: dict[str, Check] = {
        "database": store.ping,
        "kafka": broker,
        "scheduling": worker.scheduling_check,
    }
    process = GrpcProcess(config, [WORKER_HEALTH_NAME], lambda _s: None, checks, stop_event=stop)
    process.on_stop(store.close)
    process.on_stop(broker.close)
    process.install_signal_handlers()
    process.start()
    worker.run()  # returns once SIGTERM/SIGINT has been received and the current job is done
    process.stop()


if __name__ == "__main__":
    main()
