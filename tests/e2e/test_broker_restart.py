"""A broker that comes back empty (Tansu keeps messages in memory: a restart loses
every one) must not strand what the outbox relays had published: they notice that a
partition ends before the offsets it acknowledged to them, and publish those
messages again within seconds, without waiting for the report sweeper (whose
timeout, two minutes by default, stays untouched here)."""

from __future__ import annotations

import signal
import time
from pathlib import Path

from sqlalchemy import select

from phs.reports.v1 import reports_service_pb2 as rs
from phs.reports.v1 import reports_service_pb2_grpc as rs_grpc
from phs.reports.v1 import resources_pb2 as rr
from phs.scheduling.v1 import events_pb2
from phs.scheduling.v1 import resources_pb2 as sr
from phs.scheduling.v1 import scheduling_service_pb2 as ss
from phs.scheduling.v1 import scheduling_service_pb2_grpc as ss_grpc
from phs_devstack import Ports, Stack
from phs_reports.store import Store as ReportsStore
from phs_reports.tables import outbox as reports_outbox
from phs_reports.tables import reports
from phs_runtime import outbox as outbox_mod
from phs_runtime.config import KafkaConfig
from phs_scheduling.store import Store as SchedulingStore
from phs_scheduling.tables import outbox as scheduling_outbox
from tests.helpers import channel, eventually, future_slot, json_lines, read_topic

# Generous for this shared 2-core machine; the relay checks every 2 s and the worker
# joins its group in about 3 s.
PROMPTLY_S = 20.0
LOST = "broker lost acknowledged messages; publishing them again"


def _restart_broker(stack: Stack) -> float:
    """Kill the broker (no goodbye) and start an empty one on the same port."""
    stack.stop_proc("kafka", sig=signal.SIGKILL)
    stack.start_kafka()
    return time.monotonic()


def _psychologist_with_bookings(stack: Stack, n: int) -> tuple[str, list[str]]:
    with channel(stack.scheduling_target) as ch:
        stub = ss_grpc.SchedulingServiceStub(ch)
        p = stub.CreatePsychologist(
            ss.CreatePsychologistRequest(psychologist=sr.Psychologist(display_name="Dr B", time_zone="UTC"))
        )
        c = stub.CreateClient(ss.CreateClientRequest(client=sr.Client(display_name="C")))
        booked = []
        for i in range(n):
            a = sr.Appointment(client=c.name, session_type="sessionTypes/90834")
            a.start_time.FromDatetime(future_slot(2 + i))
            booked.append(
                stub.CreateAppointment(ss.CreateAppointmentRequest(parent=p.name, appointment=a)).name
            )
    return p.name, booked


def test_a_queued_job_completes_within_seconds_of_a_broker_restart(tmp_path: Path) -> None:
    stack = Stack(root=tmp_path, ports=Ports.free())
    try:
        stack.start()
        psych, _ = _psychologist_with_bookings(stack, 3)
        worker = stack.procs["reports-worker"].popen
        worker.send_signal(signal.SIGSTOP)  # paused: the job waits in the broker
        params = rr.CaseloadParams(psychologist=psych)
        params.interval.start_time.FromDatetime(future_slot(1))
        params.interval.end_time.FromDatetime(future_slot(20))
        with channel(stack.reports_target) as ch:
            reports_stub = rs_grpc.ReportServiceStub(ch)
            job = reports_stub.CreateReport(rs.CreateReportRequest(report=rr.Report(caseload_params=params)))
            reports_db = ReportsStore.open(stack.reports_db or "", migrate=False)
            try:
                eventually(
                    lambda: outbox_mod.backlog(reports_db.engine, reports_outbox) == 0,
                    15,
                    what="job message published",
                )
                restarted = _restart_broker(stack)  # the job's message is gone with the broker
                worker.send_signal(signal.SIGCONT)

                def succeeded() -> bool:
                    got = reports_stub.GetReport(rs.GetReportRequest(name=job.name), timeout=5)
                    return got.state == rr.Report.State.STATE_SUCCEEDED

                eventually(succeeded, PROMPTLY_S, 0.05, what="job SUCCEEDED after the broker restart")
                took = time.monotonic() - restarted
                done = reports_stub.GetReport(rs.GetReportRequest(name=job.name), timeout=5)
                with reports_db.engine.connect() as conn:
                    row = conn.execute(select(reports).where(reports.c.id == job.name.split("/")[1])).one()
            finally:
                reports_db.close()
        print(f"broker restart -> SUCCEEDED: {took:.2f} s")
        assert done.caseload.appointments_total == 3
        assert done.attempts == 1  # computed once
        assert row.publications == 1  # the relay sent its message again, not the sweeper
        job_id = job.name.split("/")[1]
        finished = eventually(
            lambda: [
                r for r in json_lines(stack.log("reports-worker")) if r.get("message") == "job finished"
            ],
            5,
            what="job finished logged",
        )
        assert [(r["job_id"], r["outcome"]) for r in finished] == [(job_id, "succeeded")]
        lost = [r for r in json_lines(stack.log("reports-api")) if r.get("message") == LOST]
        assert lost and lost[0]["topic"] == KafkaConfig.from_env().report_jobs_topic
    finally:
        stack.stop()


def test_appointment_events_are_all_on_the_topic_again_after_a_broker_restart(tmp_path: Path) -> None:
    stack = Stack(root=tmp_path, ports=Ports.free())
    try:
        stack.start_kafka()
        stack.start_scheduling()
        stack.wait_scheduling()
        _psychologist_with_bookings(stack, 5)
        store = SchedulingStore.open(stack.scheduling_db or "", migrate=False)
        try:
            eventually(
                lambda: outbox_mod.backlog(store.engine, scheduling_outbox) == 0, 15, what="events published"
            )
            with store.engine.connect() as conn:
                expected = {
                    events_pb2.AppointmentEvent.FromString(payload).event_id
                    for (payload,) in conn.execute(select(scheduling_outbox.c.payload))
                }
        finally:
            store.close()
        assert len(expected) == 5

        restarted = _restart_broker(stack)
        topic = KafkaConfig.from_env().appointment_events_topic
        seen: list[str] = []

        def all_seen() -> bool:
            records = read_topic(stack.kafka_bootstrap, topic) or []
            seen[:] = [events_pb2.AppointmentEvent.FromString(m.value).event_id for m in records]
            return set(seen) == expected

        eventually(all_seen, PROMPTLY_S, 0.2, what=f"every event on {topic} again")
        print(f"broker restart -> all events on the topic: {time.monotonic() - restarted:.2f} s")
        assert sorted(seen) == sorted(expected)  # each once: published again once
        lost = [r for r in json_lines(stack.log("scheduling")) if r.get("message") == LOST]
        assert lost and sum(r["messages"] for r in lost) == 5
    finally:
        stack.stop()
