"""gRPC clients talking to the services directly: reflection (what grpcurl
uses), standard health per service name, and Prometheus metrics."""

from __future__ import annotations

import datetime as dt
import re
import urllib.request
import uuid

import grpc
import pytest
from google.protobuf import descriptor_pool
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha.proto_reflection_descriptor_database import ProtoReflectionDescriptorDatabase

from phs.scheduling.v1 import resources_pb2 as sr
from phs.scheduling.v1 import scheduling_service_pb2 as ss
from phs.scheduling.v1 import scheduling_service_pb2_grpc as ss_grpc
from phs_devstack import Stack
from tests.helpers import channel as helpers_channel
from tests.helpers import eventually, future_slot, rest


@pytest.mark.parametrize(
    ("target_attr", "service"),
    [
        ("scheduling_target", "phs.scheduling.v1.SchedulingService"),
        ("reports_target", "phs.reports.v1.ReportService"),
    ],
)
def test_reflection_describes_each_service(stack: Stack, target_attr: str, service: str) -> None:
    with helpers_channel(getattr(stack, target_attr)) as channel:
        db = ProtoReflectionDescriptorDatabase(channel)
        services = set(db.get_services())
        assert {service, "grpc.health.v1.Health"} <= services
        pool = descriptor_pool.DescriptorPool(db)
        desc = pool.FindServiceByName(service)
        # grpcurl needs full method and message descriptors, including imports.
        assert desc.methods, service
        for m in desc.methods:
            assert m.input_type.fields and m.output_type.full_name


@pytest.mark.parametrize(
    ("target_attr", "names"),
    [
        ("scheduling_target", ["", "phs.scheduling.v1.SchedulingService", "liveness", "readiness"]),
        ("reports_target", ["", "phs.reports.v1.ReportService", "liveness", "readiness"]),
        ("worker_target", ["", "phs.reports.v1.ReportWorker", "liveness", "readiness"]),
    ],
)
def test_health_serves_per_service_name(stack: Stack, target_attr: str, names: list[str]) -> None:
    with helpers_channel(getattr(stack, target_attr)) as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        for name in names:
            resp = stub.Check(health_pb2.HealthCheckRequest(service=name), timeout=2)
            assert resp.status == health_pb2.HealthCheckResponse.SERVING, name
        with pytest.raises(grpc.RpcError) as err:
            stub.Check(health_pb2.HealthCheckRequest(service="no.such.Service"), timeout=2)
        assert err.value.code() == grpc.StatusCode.NOT_FOUND


def _metrics(port: int) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as resp:
        return str(resp.read().decode())


def test_standard_grpc_server_metrics(stack: Stack) -> None:
    with helpers_channel(stack.scheduling_target) as channel:
        stub = ss_grpc.SchedulingServiceStub(channel)
        stub.ListSessionTypes(ss.ListSessionTypesRequest(), timeout=5)
        with pytest.raises(grpc.RpcError) as err:
            stub.GetPsychologist(ss.GetPsychologistRequest(name="psychologists/BAD"), timeout=5)
        assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    text = _metrics(stack.ports.scheduling_metrics)
    labels = (
        'grpc_method="ListSessionTypes",grpc_service="phs.scheduling.v1.SchedulingService",grpc_type="unary"'
    )
    assert f"grpc_server_started_total{{{labels}}}" in text
    assert "grpc_server_handling_seconds_bucket{" in text and 'grpc_method="ListSessionTypes"' in text
    assert (
        'grpc_server_handled_total{grpc_code="INVALID_ARGUMENT",grpc_method="GetPsychologist",'
        'grpc_service="phs.scheduling.v1.SchedulingService",grpc_type="unary"}' in text
    )


def test_worker_and_api_expose_job_and_outbox_metrics(stack: Stack) -> None:
    body = {
        "caseloadParams": {
            "psychologist": f"psychologists/{uuid.uuid4()}",
            "interval": {"startTime": "2031-01-01T00:00:00Z", "endTime": "2031-02-01T00:00:00Z"},
        }
    }
    created = rest(stack.rest_url, "POST", "/v1/reports", body)
    assert created.status == 200

    def failed() -> bool:
        return bool(
            rest(stack.rest_url, "GET", f"/v1/{created.body['name']}").body["state"] == "STATE_FAILED"
        )

    eventually(failed, 30, what="job failed")
    api = _metrics(stack.ports.reports_metrics)
    assert "phs_outbox_backlog 0.0" in api
    assert 'phs_outbox_published_total{topic="phs.reports.jobs.v1"}' in api
    worker = _metrics(stack.ports.worker_metrics)
    assert 'phs_report_jobs_total{kind="caseload",outcome="failed"}' in worker
    assert 'phs_report_job_duration_seconds_count{kind="caseload"}' in worker
    assert "phs_report_jobs_in_progress 0.0" in worker
    # The job's first call to scheduling about the unknown psychologist answered NOT_FOUND.
    assert re.search(
        r'grpc_client_handled_total\{grpc_code="NOT_FOUND",grpc_method="\w+",'
        r'grpc_service="phs\.scheduling\.v1\.SchedulingService",grpc_type="\w+"\} [1-9]',
        worker,
    ), worker


def test_envoy_exposes_prometheus_stats_and_readiness(stack: Stack) -> None:
    assert rest(stack.rest_url, "GET", "/v1/sessionTypes").status == 200
    base = f"http://127.0.0.1:{stack.ports.envoy_admin}"
    with urllib.request.urlopen(f"{base}/ready", timeout=5) as resp:
        assert resp.status == 200 and resp.read().strip() == b"LIVE"
    with urllib.request.urlopen(f"{base}/stats/prometheus", timeout=5) as resp:
        stats = resp.read().decode()
    assert 'envoy_cluster_upstream_rq_total{envoy_cluster_name="scheduling"}' in stats
    assert 'envoy_cluster_health_check_healthy{envoy_cluster_name="scheduling"} 1' in stats


def test_export_streams_appointments_in_start_order(stack: Stack) -> None:
    with helpers_channel(stack.scheduling_target) as channel:
        stub = ss_grpc.SchedulingServiceStub(channel)
        p = stub.CreatePsychologist(
            ss.CreatePsychologistRequest(psychologist=sr.Psychologist(display_name="Dr E", time_zone="UTC"))
        )
        c = stub.CreateClient(ss.CreateClientRequest(client=sr.Client(display_name="E")))
        starts = [future_slot(40 + i) for i in (3, 1, 2)]
        for start in starts:
            a = sr.Appointment(client=c.name, session_type="sessionTypes/90834")
            a.start_time.FromDatetime(start)
            stub.CreateAppointment(ss.CreateAppointmentRequest(parent=p.name, appointment=a))
        req = ss.ExportAppointmentsRequest(parent=p.name)
        req.start_time.FromDatetime(future_slot(39))
        req.end_time.FromDatetime(future_slot(45))
        got = [
            a.start_time.ToDatetime(tzinfo=dt.UTC)
            for batch in stub.ExportAppointments(req, timeout=10)
            for a in batch.appointments
        ]
        assert got == sorted(starts)
        req.parent = "psychologists/00000000-0000-0000-0000-000000000000"
        with pytest.raises(grpc.RpcError) as err:
            list(stub.ExportAppointments(req, timeout=10))
        assert err.value.code() == grpc.StatusCode.NOT_FOUND
