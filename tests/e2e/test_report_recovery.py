"""Jobs survive what production throws at them: lost messages, dead workers,
jobs that never succeed."""

from __future__ import annotations

import signal
import urllib.request
from pathlib import Path
from typing import Any

import grpc
import pytest
from kafka import KafkaProducer

from phs.reports.v1 import jobs_pb2
from phs.reports.v1 import reports_service_pb2 as rs
from phs.reports.v1 import reports_service_pb2_grpc as rs_grpc
from phs.reports.v1 import resources_pb2 as rr
from phs.scheduling.v1 import resources_pb2 as sr
from phs.scheduling.v1 import scheduling_service_pb2 as ss
from phs.scheduling.v1 import scheduling_service_pb2_grpc as ss_grpc
from phs_devstack import Ports, Stack, wait_serving
from phs_reports.messages import job_message
from tests.helpers import audit_consumer, eventually, future_slot
from tests.helpers import channel as helpers_channel
from tests.netproxy import TcpProxy

# Most of each test is waiting for a timeout, a sweep or a consumer group to move on.
pytestmark = pytest.mark.waits

FAST_SWEEP = {
    "PHS_SWEEP_INTERVAL_SECONDS": "0.5",
    "PHS_JOB_QUEUED_TIMEOUT_SECONDS": "3",
    "PHS_JOB_RUNNING_TIMEOUT_SECONDS": "3",
}


# -- real processes ------------------------------------------------------------------------------


def _report(stack: Stack, psych: str) -> rr.Report:
    params = rr.CaseloadParams(psychologist=psych)
    params.interval.start_time.FromDatetime(future_slot(1))
    params.interval.end_time.FromDatetime(future_slot(20))
    with helpers_channel(stack.reports_target) as ch:
        return rs_grpc.ReportServiceStub(ch).CreateReport(
            rs.CreateReportRequest(report=rr.Report(caseload_params=params))
        )


def _get(stack: Stack, name: str) -> rr.Report:
    with helpers_channel(stack.reports_target) as ch:
        return rs_grpc.ReportServiceStub(ch).GetReport(rs.GetReportRequest(name=name))


def _wait_succeeded(stack: Stack, name: str, what: str) -> rr.Report:
    def check() -> rr.Report | None:
        r = _get(stack, name)
        return r if r.state == rr.Report.State.STATE_SUCCEEDED else None

    return eventually(check, 60, 0.2, what=what)


def _psychologist_with_bookings(stack: Stack, n: int) -> str:
    with helpers_channel(stack.scheduling_target) as ch:
        stub = ss_grpc.SchedulingServiceStub(ch)
        p = stub.CreatePsychologist(
            ss.CreatePsychologistRequest(psychologist=sr.Psychologist(display_name="Dr R", time_zone="UTC"))
        )
        c = stub.CreateClient(ss.CreateClientRequest(client=sr.Client(display_name="C")))
        for i in range(n):
            a = sr.Appointment(client=c.name, session_type="sessionTypes/90834")
            a.start_time.FromDatetime(future_slot(2 + i))
            stub.CreateAppointment(ss.CreateAppointmentRequest(parent=p.name, appointment=a))
    return p.name


def test_the_sweeper_recovers_jobs_whose_messages_the_broker_lost(tmp_path: Path) -> None:
    # The relay's own check would publish the lost message again first (test_broker_restart):
    # off here, to show the sweeper, the last resort, on its own.
    stack = Stack(
        root=tmp_path, ports=Ports.free(), extra_env={**FAST_SWEEP, "PHS_OUTBOX_CHECK_SECONDS": "0"}
    )
    try:
        stack.start()
        psych = _psychologist_with_bookings(stack, 3)
        stack.stop_proc("reports-worker")
        job = _report(stack, psych)
        eventually(lambda: "outbox published" in stack.log("reports-api").read_text(), 10, what="published")
        stack.stop_proc("kafka")
        stack.start_kafka()  # an empty broker: the job's message is gone
        stack.start_worker()
        wait_serving(stack.worker_target, "phs.reports.v1.ReportWorker", 60)
        done = _wait_succeeded(stack, job.name, "job succeeded after the sweeper re-published it")
        assert done.caseload.appointments_total == 3 and done.attempts == 1
        assert eventually(
            lambda: "stuck job re-published" in stack.log("reports-api").read_text(), 5, what="logged"
        )
    finally:
        stack.stop()


def test_a_job_whose_worker_is_killed_completes_once_on_another(tmp_path: Path) -> None:
    stack = Stack(root=tmp_path, ports=Ports.free(), extra_env=FAST_SWEEP)
    proxy: TcpProxy | None = None
    try:
        stack.start_backends()
        psych = _psychologist_with_bookings(stack, 4)
        proxy = TcpProxy(("127.0.0.1", stack.ports.scheduling))
        stack.extra_env = {**FAST_SWEEP, "PHS_SCHEDULING_TARGET": proxy.address}
        stack.start_worker()
        wait_serving(stack.worker_target, "phs.reports.v1.ReportWorker", 60)
        proxy.delay_s = 2.0
        job = _report(stack, psych)
        eventually(
            lambda: _get(stack, job.name).state == rr.Report.State.STATE_RUNNING, 30, 0.05, what="job running"
        )
        stack.stop_proc("reports-worker", sig=signal.SIGKILL)  # no goodbye, no commit
        proxy.delay_s = 0
        stack.start_worker("reports-worker-2", stack.ports.worker, stack.ports.worker_metrics)
        done = _wait_succeeded(stack, job.name, "job succeeded on the second worker")
        assert done.caseload.appointments_total == 4
        assert done.attempts == 2  # the killed attempt and the one that finished

        def finished() -> list[str]:  # log lines reach the file within the writer's flush interval
            return [
                line
                for line in stack.log("reports-worker-2").read_text().splitlines()
                if '"job finished"' in line and job.name.split("/")[1] in line
            ]

        eventually(finished, 5, what="job finished logged")
        assert len(finished()) == 1
    finally:
        if proxy is not None:
            proxy.cut()
        stack.stop()


def test_watch_streams_each_change_and_a_cancelled_job_is_never_run(tmp_path: Path) -> None:
    stack = Stack(root=tmp_path, ports=Ports.free())
    try:
        stack.start_backends()  # no worker yet: the job waits
        psych = _psychologist_with_bookings(stack, 1)
        job = _report(stack, psych)
        seen: list[int] = []
        with helpers_channel(stack.reports_target) as ch:
            stub = rs_grpc.ReportServiceStub(ch)
            stream = stub.WatchReport(rs.WatchReportRequest(name=job.name), timeout=30)
            seen.append(next(iter(stream)).state)
            cancelled = stub.CancelReport(rs.CancelReportRequest(name=job.name, request_id="cancel-1"))
            seen += [r.state for r in stream]  # ends by itself once the job is final
            # A retried cancel gets the first answer, not an error.
            assert (
                stub.CancelReport(rs.CancelReportRequest(name=job.name, request_id="cancel-1")) == cancelled
            )
        S = rr.Report.State
        assert cancelled.state == S.STATE_CANCELLED
        assert seen == [S.STATE_QUEUED, S.STATE_CANCELLED]
        stack.start_worker()
        wait_serving(stack.worker_target, "phs.reports.v1.ReportWorker", 60)
        eventually(
            lambda: "job already final or unknown" in stack.log("reports-worker").read_text(),
            30,
            what="the worker skipped the cancelled job",
        )
        final = _get(stack, job.name)
        assert final.state == S.STATE_CANCELLED and final.attempts == 0
    finally:
        stack.stop()


def _consume(stack: Stack, topic: str, key: str, timeout_ms: int = 15000) -> list[Any]:
    consumer = audit_consumer(stack.kafka_bootstrap, topic, timeout_ms)
    try:
        for msg in consumer:
            if msg.key == key.encode():
                return [msg]
        return []
    finally:
        consumer.close()


def test_a_job_cancelled_while_running_stops_and_stays_cancelled(tmp_path: Path) -> None:
    stack = Stack(root=tmp_path, ports=Ports.free(), extra_env={"PHS_REPORT_PROGRESS_EVERY": "1"})
    proxy: TcpProxy | None = None
    try:
        stack.start_backends()
        psych = _psychologist_with_bookings(stack, 3)
        proxy = TcpProxy(("127.0.0.1", stack.ports.scheduling))
        stack.extra_env = {"PHS_REPORT_PROGRESS_EVERY": "1", "PHS_SCHEDULING_TARGET": proxy.address}
        stack.start_worker()
        wait_serving(stack.worker_target, "phs.reports.v1.ReportWorker", 60)
        proxy.delay_s = 2.0
        job = _report(stack, psych)
        eventually(
            lambda: _get(stack, job.name).state == rr.Report.State.STATE_RUNNING, 30, 0.05, what="job running"
        )
        with helpers_channel(stack.reports_target) as ch:
            rs_grpc.ReportServiceStub(ch).CancelReport(rs.CancelReportRequest(name=job.name))
        eventually(
            lambda: '"outcome": "cancelled"' in stack.log("reports-worker").read_text(),
            30,
            what="the worker stopped the cancelled job",
        )
        final = _get(stack, job.name)
        assert final.state == rr.Report.State.STATE_CANCELLED and not final.HasField("caseload")
    finally:
        if proxy is not None:
            proxy.cut()
        stack.stop()


def test_out_of_attempts_the_worker_fails_the_job_and_dead_letters_it(tmp_path: Path) -> None:
    from phs_devstack import free_port

    nowhere = f"127.0.0.1:{free_port()}"  # scheduling is unreachable for this worker
    stack = Stack(root=tmp_path, ports=Ports.free())
    try:
        stack.start_backends()
        psych = _psychologist_with_bookings(stack, 1)
        stack.extra_env = {
            "PHS_SCHEDULING_TARGET": nowhere,
            "PHS_REPORT_MAX_ATTEMPTS": "2",
            "PHS_REPORT_RETRY_BACKOFF_SECONDS": "0.1",
            "PHS_REPORT_RPC_TIMEOUT_SECONDS": "2",
        }
        stack.start_worker()
        job = _report(stack, psych)

        def failed() -> rr.Report | None:
            r = _get(stack, job.name)
            return r if r.state == rr.Report.State.STATE_FAILED else None

        final = eventually(failed, 60, 0.2, what="job failed")
        assert final.attempts == 2 and final.error.code == grpc.StatusCode.UNAVAILABLE.value[0]
        job_id = job.name.split("/")[1]
        dead = _consume(stack, "phs.reports.jobs.dlq.v1", job_id)
        assert dead and jobs_pb2.ReportJobMessage.FromString(dead[0].value).report == job.name
    finally:
        stack.stop()


def test_a_duplicate_message_changes_nothing_and_a_surviving_worker_takes_over(tmp_path: Path) -> None:
    stack = Stack(root=tmp_path, ports=Ports.free())
    try:
        stack.start()
        psych = _psychologist_with_bookings(stack, 2)
        first = _wait_succeeded(stack, _report(stack, psych).name, "first job")

        # The same message again (a relay re-send, a rebalance): one result, nothing recounted.
        producer = KafkaProducer(bootstrap_servers=[stack.kafka_bootstrap])
        msg = job_message("phs.reports.jobs.v1", first.name.split("/")[1], 1, "dup")
        producer.send(msg.topic, key=msg.key.encode(), value=msg.payload).get(timeout=10)
        producer.close()
        eventually(
            lambda: (
                '"outcome": "duplicate"' in stack.log("reports-worker").read_text()
                or "job already final" in stack.log("reports-worker").read_text()
            ),
            30,
            what="duplicate seen",
        )
        again = _get(stack, first.name)
        assert again.attempts == first.attempts and again.update_time == first.update_time

        # Two workers share the partitions; one dies; the other finishes every job.
        from phs_devstack import free_port

        metrics_port = free_port()
        stack.start_worker("reports-worker-2", free_port(), metrics_port)

        def rebalanced() -> bool:
            """The group has shared its partitions: the new worker reports the lag of its own."""
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{metrics_port}/metrics", timeout=5) as resp:
                    return b"phs_report_consumer_lag{" in resp.read()
            except OSError:  # still starting
                return False

        eventually(rebalanced, 60, 0.2, what="the group rebalanced over both workers")
        stack.stop_proc("reports-worker", sig=signal.SIGKILL)
        names = [_report(stack, psych).name for _ in range(4)]
        for name in names:
            assert (
                _wait_succeeded(stack, name, f"{name} on the surviving worker").caseload.appointments_total
                == 2
            )
    finally:
        stack.stop()
