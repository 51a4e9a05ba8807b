"""Report computations. They read scheduling data through the scheduling
service's API (never its database) and aggregate page by page, so memory does
not grow with the size of the practice."""

from __future__ import annotations

from collections.abc import Iterator

from phs.reports.v1 import resources_pb2 as r
from phs.scheduling.v1 import resources_pb2 as sr
from phs.scheduling.v1 import scheduling_service_pb2 as ss
from phs.scheduling.v1 import scheduling_service_pb2_grpc as ss_grpc

State = sr.Appointment.State
PAGE_SIZE = 1000


def appointments_in(
    stub: ss_grpc.SchedulingServiceStub, params: r.CaseloadParams, timeout_s: float
) -> Iterator[sr.Appointment]:
    token = ""
    while True:
        page = stub.ListAppointments(
            ss.ListAppointmentsRequest(
                parent=params.psychologist,
                start_time=params.interval.start_time,
                end_time=params.interval.end_time,
                page_size=PAGE_SIZE,
                page_token=token,
            ),
            timeout=timeout_s,
        )
        yield from page.appointments
        token = page.next_page_token
        if not token:
            return


def caseload(appointments: Iterator[sr.Appointment], psychologist: str) -> r.CaseloadSummary:
    out = r.CaseloadSummary(psychologist=psychologist)
    clients: set[str] = set()
    for a in appointments:
        out.appointments_total += 1
        if a.state == State.STATE_PENDING:
            out.pending += 1
        elif a.state == State.STATE_BOOKED:
            out.booked += 1
        elif a.state == State.STATE_COMPLETED:
            out.completed += 1
        elif a.state == State.STATE_CANCELLED:
            out.cancelled += 1
            out.late_cancelled += a.cancellation.late
        elif a.state == State.STATE_DECLINED:
            out.declined += 1
        elif a.state == State.STATE_NO_SHOW:
            out.no_show += 1
        if a.state in (State.STATE_BOOKED, State.STATE_COMPLETED):
            out.scheduled_minutes += (a.end_time.seconds - a.start_time.seconds) // 60
        if a.state in (State.STATE_PENDING, State.STATE_BOOKED, State.STATE_COMPLETED):
            clients.add(a.client)
    out.distinct_clients = len(clients)
    return out
