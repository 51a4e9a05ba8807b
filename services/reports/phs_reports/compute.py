"""Report computations. They read scheduling data through the scheduling
service's streaming export (never its database) and aggregate as the stream
arrives, so memory does not grow with the number of appointments: a tally per
psychologist and session type, a set of client ids for distinct counts, and for
exports a spooled file."""

from __future__ import annotations

import csv
import datetime as dt
import io
import tempfile
from collections.abc import Callable, Iterable, Iterator
from zoneinfo import ZoneInfo

from google.type import date_pb2, interval_pb2

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
    request = ss.ExportAppointmentsRequest(
        parent=parent, start_time=interval.start_time, end_time=interval.end_time
    )
    for batch in stub.ExportAppointments(request, timeout=timeout_s):
        yield from batch.appointments


def monday_of(day: dt.date) -> dt.date:
    return day - dt.timedelta(days=day.weekday())


def week_of(seconds: int, zone: ZoneInfo) -> dt.date:
    """The Monday of the week holding this instant's date in `zone` (an appointment at
    23:30 on a Sunday evening belongs to that week, though in UTC it may be Monday)."""
    return monday_of(dt.datetime.fromtimestamp(seconds, zone).date())


def weeks_touched(interval: interval_pb2.Interval, zone: ZoneInfo) -> list[dt.date]:
    """The Monday of every week [start_time, end_time) touches in `zone`, oldest first."""
    start = interval.start_time.ToDatetime(dt.UTC)
    end = interval.end_time.ToDatetime(dt.UTC)
    if end <= start:
        return []
    # The range is half-open: a range ending at midnight on a Monday ends the week before.
    first = monday_of(start.astimezone(zone).date())
    last = monday_of((end - dt.timedelta(microseconds=1)).astimezone(zone).date())
    return [first + dt.timedelta(weeks=k) for k in range((last - first).days // 7 + 1)]


_MINUTES = 8  # index of the minutes in a week's counts, after the eight states


class Tally:
    """Running counts for one psychologist (or the practice), in plain ints: this runs
    once per appointment, so it avoids touching protobuf fields until the end. With a
    zone it also counts per week, by the appointment's local start date."""

    __slots__ = ("by_state", "by_type", "by_week", "clients", "late", "minutes", "zone")

    def __init__(self, zone: ZoneInfo | None = None) -> None:
        self.by_state = [0] * 8  # indexed by Appointment.State
        self.late = 0
        self.minutes = 0
        self.clients: set[str] = set()
        self.by_type: dict[str, list[int]] = {}  # session type -> [appointments, completed, minutes]
        self.zone = zone
        self.by_week: dict[dt.date, list[int]] = {}  # Monday -> counts by state, then minutes

    def add(self, a: sr.Appointment) -> None:
        state = a.state
        self.by_state[state] += 1
        figures = self.by_type.get(a.session_type)
        if figures is None:
            figures = self.by_type[a.session_type] = [0, 0, 0]
        figures[0] += 1
        week: list[int] | None = None
        if self.zone is not None:
            monday = week_of(a.start_time.seconds, self.zone)
            week = self.by_week.get(monday)
            if week is None:
                week = self.by_week[monday] = [0] * 9
            week[state] += 1
        if state == _CANCELLED:
            self.late += a.cancellation.late
        elif state in _DELIVERED:
            minutes = (a.end_time.seconds - a.start_time.seconds) // 60
            self.minutes += minutes
            figures[2] += minutes
            if week is not None:
                week[_MINUTES] += minutes
            if state == _COMPLETED:
                figures[1] += 1
        if state in _SEEN:
            self.clients.add(a.client)

    def weeks(self, interval: interval_pb2.Interval) -> list[r.WeekFigures]:
        """Every week the interval touches, zeros where nothing happened, so a chart's
        axis runs without gaps; plus any week an appointment fell in outside it."""
        assert self.zone is not None
        mondays = set(weeks_touched(interval, self.zone)) | set(self.by_week)
        if not mondays:
            return []
        first, last = min(mondays), max(mondays)
        out = []
        for k in range((last - first).days // 7 + 1):
            monday = first + dt.timedelta(weeks=k)
            n = self.by_week.get(monday) or [0] * 9
            out.append(
                r.WeekFigures(
                    week_start=date_pb2.Date(year=monday.year, month=monday.month, day=monday.day),
                    pending=n[State.STATE_PENDING],
                    booked=n[State.STATE_BOOKED],
                    completed=n[State.STATE_COMPLETED],
                    cancelled=n[State.STATE_CANCELLED],
                    declined=n[State.STATE_DECLINED],
                    no_show=n[State.STATE_NO_SHOW],
                    scheduled_minutes=n[_MINUTES],
                )
            )
        return out

    def summary(self, psychologist: str) -> r.CaseloadSummary:
        n = self.by_state
        out = r.CaseloadSummary(
            psychologist=psychologist,
            appointments_total=sum(n),
            pending=n[State.STATE_PENDING],
            booked=n[State.STATE_BOOKED],
            completed=n[State.STATE_COMPLETED],
            cancelled=n[State.STATE_CANCELLED],
            declined=n[State.STATE_DECLINED],
            no_show=n[State.STATE_NO_SHOW],
            scheduled_minutes=self.minutes,
            distinct_clients=len(self.clients),
            late_cancelled=self.late,
        )
        attended = out.completed + out.no_show
        out.no_show_rate = out.no_show / attended if attended else 0.0
        out.late_cancel_rate = out.late_cancelled / out.appointments_total if out.appointments_total else 0.0
        out.by_session_type.extend(
            r.SessionTypeFigures(session_type=k, appointments=v[0], completed=v[1], scheduled_minutes=v[2])
            for k, v in sorted(self.by_type.items())
        )
        return out


_CANCELLED, _COMPLETED = int(State.STATE_CANCELLED), int(State.STATE_COMPLETED)
_DELIVERED = frozenset(int(x) for x in DELIVERED)
_SEEN = frozenset(int(x) for x in SEEN)


WorkingTime = Callable[[str], int]  # psychologist -> working minutes in the report's range


def with_utilization(summary: r.CaseloadSummary, working: int) -> r.CaseloadSummary:
    summary.working_minutes = working
    summary.utilization = summary.scheduled_minutes / working if working else 0.0
    return summary


def working_time(
    stub: ss_grpc.SchedulingServiceStub, interval: interval_pb2.Interval, timeout_s: float
) -> WorkingTime:
    def minutes(psychologist: str) -> int:
        request = ss.ComputeWorkingTimeRequest(
            psychologist=psychologist, start_time=interval.start_time, end_time=interval.end_time
        )
        return int(stub.ComputeWorkingTime(request, timeout=timeout_s).minutes)

    return minutes


def time_zone(stub: ss_grpc.SchedulingServiceStub, psychologist: str, timeout_s: float) -> ZoneInfo:
    """The psychologist's own zone, in which their weeks run."""
    request = ss.GetPsychologistRequest(name=psychologist)
    return ZoneInfo(stub.GetPsychologist(request, timeout=timeout_s).time_zone)


def caseload(
    appointments: Iterable[sr.Appointment],
    psychologist: str,
    weeks: tuple[interval_pb2.Interval, ZoneInfo] | None = None,
) -> r.CaseloadSummary:
    """The summary; with `weeks` (the report's range and the psychologist's zone) also
    the figures per week."""
    tally = Tally(weeks[1] if weeks else None)
    for a in appointments:
        tally.add(a)
    out = tally.summary(psychologist)
    if weeks is not None:
        out.by_week.extend(tally.weeks(weeks[0]))
    return out


def practice_summary(
    appointments: Iterable[sr.Appointment], working: WorkingTime | None = None
) -> r.PracticeSummary:
    per: dict[str, Tally] = {}
    total = Tally()
    for a in appointments:
        psychologist = a.name.split("/appointments/")[0]
        per.setdefault(psychologist, Tally()).add(a)
        total.add(a)
    summaries = [per[p].summary(p) for p in sorted(per)]
    practice = total.summary("psychologists/-")
    if working is not None:
        for x in summaries:
            with_utilization(x, working(x.psychologist))
        with_utilization(practice, sum(x.working_minutes for x in summaries))
    return r.PracticeSummary(psychologists=summaries, total=practice)


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
