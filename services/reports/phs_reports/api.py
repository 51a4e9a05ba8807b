"""`python -m phs_reports.api`: the ReportService gRPC server and its outbox relay."""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Callable, Iterator
from types import SimpleNamespace

import grpc
from google.api import httpbody_pb2

from phs.audit.v1 import audit_pb2
from phs.reports.v1 import reports_service_pb2 as s
from phs.reports.v1 import reports_service_pb2_grpc as s_grpc
from phs.reports.v1 import resources_pb2 as r
from phs_reports import SERVICE_NAME, policy
from phs_reports.adapters import UnitOfWork
from phs_reports.domain import jobs
from phs_reports.domain.errors import NotFound
from phs_reports.errors import aip193_handlers
from phs_reports.messages import job_message
from phs_reports.resources import CSV, report_pb, validate_params
from phs_reports.settings import ApiSettings
from phs_reports.store import Store
from phs_reports.sweeper import Sweeper
from phs_reports.tables import audit_events, outbox
from phs_runtime import idempotency, paging
from phs_runtime.audit import AuditLog
from phs_runtime.auth import current_principal
from phs_runtime.context import current_request_id
from phs_runtime.decision import current_scope
from phs_runtime.errors import invalid_argument
from phs_runtime.kafka import BrokerCheck
from phs_runtime.logs import setup_logging
from phs_runtime.outbox import OutboxRelay
from phs_runtime.policy import guard_for
from phs_runtime.resources import new_id, parse_name
from phs_runtime.server import GrpcProcess

log = logging.getLogger("phs_reports.api")


@aip193_handlers
class ReportServicer(s_grpc.ReportServiceServicer):
    def __init__(
        self,
        store: Store,
        topic: str,
        on_enqueued: Callable[[], None] | None = None,
        audit_log: AuditLog | None = None,
    ) -> None:
        self.store = store
        self.audit_log = audit_log or AuditLog(store.engine, audit_events, "reports-api")
        self.topic = topic
        self.on_enqueued = on_enqueued
        self.watch_interval_s = 0.2

    def CreateReport(self, request: s.CreateReportRequest, context: grpc.ServicerContext) -> r.Report:
        rid = idempotency.effective_request_id(request.request_id, context)
        if not request.HasField("report"):
            raise invalid_argument([("report", "is required")])
        kind, params = validate_params(request.report)
        origin = current_request_id()
        who = current_principal()
        requester = (who.subject, who.role) if who else ("", "")

        def write(uow: UnitOfWork, now: dt.datetime) -> r.Report:
            job_id = new_id()
            row = uow.reports.add(now, job_id, kind, params, origin, rid, requester)
            uow.enqueue(job_message(self.topic, job_id, 1, origin, requester), now)
            return report_pb(SimpleNamespace(**row))

        report = self.store.run_once("CreateReport", rid, idempotency.fingerprint(request), r.Report, write)
        if self.on_enqueued:
            self.on_enqueued()
        log.info("report job accepted", extra={"report": report.name, "kind": kind, "idempotency_key": rid})
        return report

    def GetReport(self, request: s.GetReportRequest, context: grpc.ServicerContext) -> r.Report:
        return report_pb(self.store.get(_job_id(request.name)))

    def GetReportContent(
        self, request: s.GetReportContentRequest, context: grpc.ServicerContext
    ) -> httpbody_pb2.HttpBody:
        job_id = _job_id(request.name)
        row = self.store.content(job_id)
        content = jobs.export_file(row.kind, row.state, row.content)
        filename = f"appointments-{job_id}.csv"
        # Envoy's transcoder turns HttpBody into the HTTP body and its Content-Type;
        # the filename travels as a response header.
        context.send_initial_metadata((("content-disposition", f'attachment; filename="{filename}"'),))
        return httpbody_pb2.HttpBody(content_type=CSV, data=content)

    def CancelReport(self, request: s.CancelReportRequest, context: grpc.ServicerContext) -> r.Report:
        rid = idempotency.effective_request_id(request.request_id, context)
        job_id = _job_id(request.name)

        def write(uow: UnitOfWork, now: dt.datetime) -> r.Report:
            row = uow.reports.cancel(job_id, now)
            if row is None:
                raise NotFound("Report", f"reports/{job_id}")
            jobs.check_cancelled(row.state)
            return report_pb(row)

        cancelled = self.store.run_once(
            "CancelReport", rid, idempotency.fingerprint(request), r.Report, write
        )
        log.info("report job cancelled", extra={"report": request.name})
        return cancelled

    def WatchReport(self, request: s.WatchReportRequest, context: grpc.ServicerContext) -> Iterator[r.Report]:
        job_id = _job_id(request.name)
        last = None
        while context.is_active():
            report = report_pb(self.store.get(job_id))
            marker = (report.state, report.attempts, report.update_time.ToNanoseconds())
            if marker != last:
                last = marker
                yield report
            if report.state in _FINAL:
                return
            time.sleep(self.watch_interval_s)

    def ListReports(
        self, request: s.ListReportsRequest, context: grpc.ServicerContext
    ) -> s.ListReportsResponse:
        requester = current_scope().pinned("requester", request.requester)  # a psychologist's own jobs
        limit = paging.page_size(request.page_size)
        filters = ["reports", requester]
        after = paging.decode_token(request.page_token, filters)
        rows = self.store.list(after, limit, requester)
        token = ""
        if len(rows) > limit:
            rows = rows[:limit]
            token = paging.encode_token([rows[-1].create_time.isoformat(), rows[-1].id], filters)
        return s.ListReportsResponse(reports=[report_pb(x) for x in rows], next_page_token=token)

    def ListAuditEvents(
        self, request: audit_pb2.ListAuditEventsRequest, context: grpc.ServicerContext
    ) -> audit_pb2.ListAuditEventsResponse:
        return self.audit_log.list(request, "auditLogs/reports")


_FINAL = (r.Report.State.STATE_SUCCEEDED, r.Report.State.STATE_FAILED, r.Report.State.STATE_CANCELLED)


def _job_id(name: str) -> str:
    job_id = parse_name(name, "reports")
    if job_id is None:
        raise invalid_argument([("name", "must look like reports/{id}")])
    return job_id


def main() -> None:
    setup_logging("reports-api")
    settings = ApiSettings.from_env()
    config, kafka = settings.server, settings.kafka
    store = Store.from_config(settings.database)
    topics = {
        kafka.report_jobs_topic: kafka.report_jobs_partitions,
        kafka.report_dead_letter_topic: kafka.report_dead_letter_partitions,
    }
    relay = OutboxRelay.from_config(store.engine, outbox, kafka, topics, settings.outbox)
    sweeper = Sweeper(store, kafka, settings.sweeper, relay.wake)
    audit_log = AuditLog(store.engine, audit_events, "reports-api")
    servicer = ReportServicer(store, kafka.report_jobs_topic, relay.wake, audit_log)
    guard = guard_for(policy.build(store), audit_log, settings.auth)

    def add(server: grpc.Server) -> None:
        s_grpc.add_ReportServiceServicer_to_server(servicer, server)

    broker = BrokerCheck(kafka)
    # Ready without Kafka: jobs wait in the outbox, so the API keeps accepting them.
    process = GrpcProcess(
        config,
        [SERVICE_NAME],
        add,
        {"database": store.ping, "kafka": broker},
        readiness=["database"],
        guard=guard,
    )
    process.on_stop(store.close)
    process.on_stop(audit_log.close)
    process.on_stop(broker.close)
    process.on_stop(relay.stop)
    process.on_stop(sweeper.stop)
    relay.start()
    sweeper.start()
    process.serve_forever()


if __name__ == "__main__":
    main()
