"""The notifications service's batched lookups (adapters.scheduling.Directory) against
the scheduling service's own servicer, served in-process over gRPC: the appointments
of a batch come from one export per planned start, each as GetAppointment would read
it; one no longer at its planned start, or gone, is read by name; clients and
psychologists are read side by side, each with its own outcome."""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from prometheus_client import REGISTRY

from phs.scheduling.v1 import resources_pb2 as sr
from phs.scheduling.v1 import scheduling_service_pb2 as ss
from phs.scheduling.v1 import scheduling_service_pb2_grpc as ss_grpc
from phs_devstack import free_port
from phs_notifications.adapters.scheduling import Directory, LookupFailed
from phs_notifications.domain.model import Appointment, State
from phs_runtime.config import ServerConfig
from phs_runtime.server import GrpcProcess
from phs_scheduling.service import SchedulingServicer
from tests.helpers import future_slot
from tests.unit.servicers import ctx, open_around_the_clock, scheduling_servicer

SERVICE = "phs.scheduling.v1.SchedulingService"


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[SchedulingServicer, Directory]]:
    with scheduling_servicer(tmp_path) as servicer:

        def add(server: grpc.Server) -> None:
            ss_grpc.add_SchedulingServiceServicer_to_server(servicer, server)

        config = dataclasses.replace(
            ServerConfig.from_env("lookups-test"),
            bind_host="127.0.0.1",
            grpc_port=0,
            metrics_port=free_port(),
            shutdown_grace_s=1.0,
        )
        process = GrpcProcess(config, [SERVICE], add, {})
        process.start()
        directory = Directory(f"127.0.0.1:{process.bound_port}", None, timeout_s=5)
        try:
            yield servicer, directory
        finally:
            directory.close()
            process.stop()


def psychologist(svc: SchedulingServicer, name: str) -> str:
    req = ss.CreatePsychologistRequest(
        psychologist=sr.Psychologist(display_name=name, time_zone="Europe/Paris")
    )
    p = svc.CreatePsychologist(req, ctx()).name
    open_around_the_clock(svc, p)
    return p


def client(svc: SchedulingServicer, p: str, email: str) -> str:
    c = sr.Client(display_name="Client Person", email=email, psychologist=p)
    return svc.CreateClient(ss.CreateClientRequest(client=c), ctx()).name


def book(svc: SchedulingServicer, p: str, c: str, start: dt.datetime) -> str:
    req = ss.CreateAppointmentRequest(
        parent=p, appointment=sr.Appointment(client=c, session_type="sessionTypes/90834")
    )
    req.appointment.start_time.FromDatetime(start)
    return svc.CreateAppointment(req, ctx()).name


def started(method: str, kind: str = "unary") -> float:
    """Calls this process has made to `method` so far (the client metric)."""
    labels = {"grpc_type": kind, "grpc_service": SERVICE, "grpc_method": method}
    return REGISTRY.get_sample_value("grpc_client_started_total", labels) or 0.0


def test_a_batch_of_appointments_in_one_export_per_start(
    served: tuple[SchedulingServicer, Directory],
) -> None:
    svc, directory = served
    at, later = future_slot(3), future_slot(3, hour=17)
    ps = [psychologist(svc, f"Dr {k}") for k in range(3)]
    cs = [client(svc, p, f"c{k}@example.org") for k, p in enumerate(ps)]
    same = [book(svc, p, c, at) for p, c in zip(ps, cs, strict=True)]
    other = book(svc, ps[0], cs[0], later)
    svc.CancelAppointment(
        ss.CancelAppointmentRequest(
            name=same[1],
            reason=sr.Cancellation.REASON_CLIENT_ILLNESS,
            cancelled_by=sr.Cancellation.ACTOR_STAFF,
        ),
        ctx(),
    )
    gone = f"{ps[2]}/appointments/00000000-0000-0000-0000-000000000000"
    exports, gets = started("ExportAppointments", "server_stream"), started("GetAppointment")
    # `other` is planned at `at` but is at `later`: not in that export, so read by name.
    planned = {**dict.fromkeys(same, at), other: at, gone: later}
    found = directory.appointments(planned)
    assert set(found) == set(planned)
    by_get = {n: directory.appointment(n) for n in planned}
    assert found == by_get  # the same as reading each by name
    states = {n: a.state for n, a in found.items() if isinstance(a, Appointment)}
    booked, cancelled = State.BOOKED, State.CANCELLED
    assert states == {same[0]: booked, same[1]: cancelled, same[2]: booked, other: booked}
    assert found[gone] is None
    other_found = found[other]
    assert isinstance(other_found, Appointment) and other_found.start == later
    assert started("ExportAppointments", "server_stream") == exports + 2  # one per distinct planned start
    assert started("GetAppointment") == gets + 2 + len(planned)  # `other` and `gone`, then by_get


def test_clients_and_psychologists_side_by_side_each_with_its_outcome(
    served: tuple[SchedulingServicer, Directory],
) -> None:
    svc, directory = served
    p = psychologist(svc, "Dr Side")
    c = client(svc, p, "side@example.org")
    unknown = "clients/00000000-0000-0000-0000-000000000000"
    records = directory.clients({c: "req-1", unknown: "req-2"})
    found = records[c]
    assert not isinstance(found, LookupFailed) and found.email == "side@example.org"
    missing = records[unknown]
    assert isinstance(missing, LookupFailed) and missing.code is grpc.StatusCode.NOT_FOUND
    (record,) = directory.psychologists({p: None}).values()
    assert not isinstance(record, LookupFailed) and record.time_zone == "Europe/Paris"
