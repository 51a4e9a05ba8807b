"""Report computations. They read scheduling data through the scheduling
service's streaming export (never its database) and aggregate as the stream
arrives, so memory does not grow with the number of appointments: a tally per
psychologist and session type, a set of client ids for distinct counts, and for
exports a spooled file."""

from __future__ import annotations

import csv
import io
import tempfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

from google.type import interval_pb2

from phs.reports.v1 import resources_pb2 as r
from phs.scheduling.v1 import resources_pb2 as sr
from phs.scheduling.v1 import scheduling_service_pb2 as ss
from phs.scheduling.v1 import scheduling_service_pb2_grpc as ss_grpc

State = sr.Appointment.State
SEEN = (State.STATE_PENDING, State.STATE_BOOKED, State.STATE_COMPLETED)
DELIVERED = (State.STATE_BOOKED, State.STATE_COMPLETED)


def stream(
    stub: ss_grpc.SchedulingServiceStub, parent: str, interval: interval_pb2.Interval, timeout_s: float
) -> Iterator[sr.Appointment]:
    """Every appointment of `parent` starting in the interval, as the server streams them."""
    yield from stub.ExportAppointments(
        ss.ExportAppointmentsRequest(
            parent=parent, start_time=interval.start_time, end_time=interval.end_time
        ),
        timeout=timeout_s,
    )


@dataclass
class Tally:
    out: r.CaseloadSummary = field(default_factory=r.CaseloadSummary)
    clients: set[str] = field(default_factory=set)
    by_type: dict[str, r.SessionTypeFigures] = field(default_factory=dict)

    def add(self, a: sr.Appointment) -> None:
        out = self.out
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
        figures = self.by_type.get(a.session_type)
        if figures is None:
            figures = self.by_type[a.session_type] = r.SessionTypeFigures(session_type=a.session_type)
        figures.appointments += 1
        if a.state == State.STATE_COMPLETED:
            figures.completed += 1
        if a.state in DELIVERED:
            minutes = (a.end_time.seconds - a.start_time.seconds) // 60
            out.scheduled_minutes += minutes
            figures.scheduled_minutes += minutes
        if a.state in SEEN:
            self.clients.add(a.client)

    def summary(self, psychologist: str) -> r.CaseloadSummary:
        out = r.CaseloadSummary()
        out.CopyFrom(self.out)
        out.psychologist = psychologist
        out.distinct_clients = len(self.clients)
        attended = out.completed + out.no_show
        out.no_show_rate = out.no_show / attended if attended else 0.0
        out.late_cancel_rate = out.late_cancelled / out.appointments_total if out.appointments_total else 0.0
        out.by_session_type.extend(self.by_type[k] for k in sorted(self.by_type))
        return out


def caseload(appointments: Iterable[sr.Appointment], psychologist: str) -> r.CaseloadSummary:
    tally = Tally()
    for a in appointments:
        tally.add(a)
    return tally.summary(psychologist)


def practice_summary(appointments: Iterable[sr.Appointment]) -> r.PracticeSummary:
    per: dict[str, Tally] = {}
    total = Tally()
    for a in appointments:
        psychologist = a.name.split("/appointments/")[0]
        per.setdefault(psychologist, Tally()).add(a)
        total.add(a)
    return r.PracticeSummary(
        psychologists=[per[p].summary(p) for p in sorted(per)], total=total.summary("psychologists/-")
    )


EXPORT_COLUMNS = (
    "appointment",
    "psychologist",
    "client",
    "session_type",
    "start_time",
    "end_time",
    "state",
    "fhir_status",
    "late_cancel",
    "series",
)


def export_csv(appointments: Iterable[sr.Appointment]) -> tuple[bytes, int]:
    """CSV of resource names and times only (no names or contact details).
    Rows are spooled to disk past 8 MiB, so building the file keeps memory flat."""
    rows = 0
    with tempfile.SpooledTemporaryFile(max_size=8 * 1024 * 1024, mode="w+b") as raw:
        text = io.TextIOWrapper(raw, encoding="utf-8", newline="")
        writer = csv.writer(text)
        writer.writerow(EXPORT_COLUMNS)
        for a in appointments:
            writer.writerow(
                (
                    a.name,
                    a.name.split("/appointments/")[0],
                    a.client,
                    a.session_type,
                    a.start_time.ToJsonString(),
                    a.end_time.ToJsonString(),
                    sr.Appointment.State.Name(a.state).removeprefix("STATE_"),
                    a.fhir_status,
                    "true" if a.cancellation.late else "false",
                    a.series,
                )
            )
            rows += 1
        text.flush()
        raw.seek(0)
        data = raw.read()
        text.detach()
    return data, rows
