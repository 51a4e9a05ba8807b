"""Health tells the truth about dependencies, and an outage loses nothing:
stop the broker, the database or the scheduling service and watch."""

from __future__ import annotations

import uuid
from collections.abc import Callable
from pathlib import Path

import grpc
import pytest
from grpc_health.v1 import health_pb2

from phs.scheduling.v1 import resources_pb2 as sr
from phs.scheduling.v1 import scheduling_service_pb2 as ss
from phs.scheduling.v1 import scheduling_service_pb2_grpc as ss_grpc
from phs_devstack import Ports, Stack, health_status, wait_serving
from tests.helpers import channel as helpers_channel
from tests.helpers import eventually, future_slot, rest, rfc3339
from tests.netproxy import TcpProxy

SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING


def _status(target: str, name: str) -> int:
    try:
        return health_status(target, name)
    except grpc.RpcError:
        return -1


def test_broker_outage_turns_health_red_and_loses_no_job(tmp_path: Path) -> None:
    stack = Stack(root=tmp_path, ports=Ports.free())
    try:
        stack.start()
        psych = rest(stack.rest_url, "POST", "/v1/psychologists", {"displayName": "Dr K", "timeZone": "UTC"})
        stack.stop_proc("kafka")

        eventually(
            lambda: _status(stack.reports_target, "phs.reports.v1.ReportService") == NOT_SERVING,
            10,
            what="reports API NOT_SERVING",
        )
        assert _status(stack.reports_target, "") == NOT_SERVING
        assert _status(stack.reports_target, "liveness") == SERVING  # alive: do not restart it
        # Still ready: jobs wait in the outbox, so the API keeps taking them.
        assert _status(stack.reports_target, "readiness") == SERVING
        eventually(
            lambda: _status(stack.worker_target, "phs.reports.v1.ReportWorker") == NOT_SERVING,
            10,
            what="worker NOT_SERVING",
        )
        assert _status(stack.worker_target, "readiness") == NOT_SERVING  # it cannot work without Kafka

        # The API still accepts jobs: they wait in the outbox.
        body = {
            "caseloadParams": {
                "psychologist": psych.body["name"],
                "interval": {"startTime": rfc3339(future_slot(1)), "endTime": rfc3339(future_slot(9))},
            }
        }
        jobs = [
            rest(stack.rest_url, "POST", "/v1/reports", body, {"Idempotency-Key": str(uuid.uuid4())})
            for _ in range(3)
        ]
        assert [j.status for j in jobs] == [200, 200, 200]

        stack.start_kafka()  # same port, empty broker: topic and offsets are gone too
        wait_serving(stack.reports_target, "phs.reports.v1.ReportService", 30)
        wait_serving(stack.worker_target, "phs.reports.v1.ReportWorker", 30)
        for job in jobs:

            def done(name: str = job.body["name"]) -> bool:
                return bool(rest(stack.rest_url, "GET", f"/v1/{name}").body["state"] == "STATE_SUCCEEDED")

            eventually(done, 60, 0.2, what=f"{job.body['name']} succeeded after the outage")
    finally:
        stack.stop()


def test_worker_is_not_serving_while_scheduling_is_down(tmp_path: Path) -> None:
    stack = Stack(root=tmp_path, ports=Ports.free())
    try:
        stack.start()
        stack.stop_proc("scheduling")
        eventually(
            lambda: _status(stack.worker_target, "phs.reports.v1.ReportWorker") == NOT_SERVING,
            10,
            what="worker NOT_SERVING",
        )
        stack.start_scheduling()
        wait_serving(stack.worker_target, "phs.reports.v1.ReportWorker", 30)
    finally:
        stack.stop()


def test_database_outage_is_not_serving_and_unavailable_then_recovers(
    tmp_path: Path, pg_database: Callable[[], str]
) -> None:
    url = pg_database()
    real = url.split("@", 1)[1].split("/", 1)[0]  # host:port
    host, port = real.rsplit(":", 1)
    proxy = TcpProxy((host, int(port)))
    stack = Stack(root=tmp_path, ports=Ports.free(), scheduling_db=url.replace(real, proxy.address))
    try:
        stack.start_scheduling()
        wait_serving(stack.scheduling_target, "phs.scheduling.v1.SchedulingService", 60)
        with helpers_channel(stack.scheduling_target) as ch:
            stub = ss_grpc.SchedulingServiceStub(ch)
            p = stub.CreatePsychologist(
                ss.CreatePsychologistRequest(
                    psychologist=sr.Psychologist(display_name="Dr D", time_zone="UTC")
                )
            )

            proxy.cut()
            eventually(
                lambda: (
                    _status(stack.scheduling_target, "phs.scheduling.v1.SchedulingService") == NOT_SERVING
                ),
                15,
                what="NOT_SERVING without the database",
            )
            assert _status(stack.scheduling_target, "readiness") == NOT_SERVING
            with pytest.raises(grpc.RpcError) as err:
                stub.GetPsychologist(ss.GetPsychologistRequest(name=p.name), timeout=20)
            assert err.value.code() == grpc.StatusCode.UNAVAILABLE

            proxy.start()
            wait_serving(stack.scheduling_target, "phs.scheduling.v1.SchedulingService", 30)
            assert stub.GetPsychologist(ss.GetPsychologistRequest(name=p.name), timeout=5) == p
    finally:
        proxy.cut()
        stack.stop()
