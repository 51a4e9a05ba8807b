"""Weekly series: planned in the psychologist's zone (domain.series), booked, cancelled
and moved as a whole, all or nothing."""

from __future__ import annotations

import datetime as dt
from types import SimpleNamespace
from zoneinfo import ZoneInfo

import grpc

from phs.scheduling.v1 import events_pb2 as ev
from phs.scheduling.v1 import resources_pb2 as r
from phs.scheduling.v1 import scheduling_service_pb2 as s
from phs_runtime.context import annotate
from phs_runtime.errors import Violations
from phs_runtime.resources import new_id, utcnow
from phs_scheduling import availability, names
from phs_scheduling.adapters.unit_of_work import UnitOfWork
from phs_scheduling.domain import series as series_rules
from phs_scheduling.domain.errors import Conflict
from phs_scheduling.domain.lifecycle import Action, State
from phs_scheduling.errors import aip193_handlers
from phs_scheduling.handlers.base import request_id
from phs_scheduling.handlers.booking import Booking, cancellation_values
from phs_scheduling.mapping import appointment_pb, series_pb
from phs_scheduling.validation import MAX_BOOKING_AHEAD, check_start, check_timestamp, enum_code


@aip193_handlers
class SeriesHandlers(Booking):
    def CreateSeries(self, request: s.CreateSeriesRequest, context: grpc.ServicerContext) -> r.Series:
        rid = request_id(request, context)
        x = request.series
        v = Violations()
        psych_name = names.PSYCHOLOGIST.parse(v, "parent", request.parent)
        client = names.CLIENT.parse(v, "series.client", x.client)
        st = names.SESSION_TYPE.parse(v, "series.session_type", x.session_type)
        first = check_start(v, "series.first_start_time", x, "first_start_time")
        interval = x.interval_weeks or 1
        if not 1 <= interval <= series_rules.MAX_INTERVAL_WEEKS:
            v.add("series.interval_weeks", f"must be 1 to {series_rules.MAX_INTERVAL_WEEKS}")
        which = x.WhichOneof("end")
        count = x.count if which == "count" else None
        end_date = None
        if which is None:
            v.add("series.end", "set count or end_date")
        elif count is not None and not 1 <= count <= series_rules.MAX_SERIES_OCCURRENCES:
            v.add("series.count", f"must be 1 to {series_rules.MAX_SERIES_OCCURRENCES}")
        elif which == "end_date":
            end_date = availability._date(v, "series.end_date", x.end_date)
        v.raise_if_any()
        assert psych_name is not None and client is not None and st is not None and first is not None
        pid, cid, code = psych_name.id, client.id, st.code
        with self.store.read() as uow:
            tz = ZoneInfo(uow.psychologists.get(pid).time_zone)
        starts = series_rules.plan(first, tz, interval, count, end_date, utcnow() + MAX_BOOKING_AHEAD)
        sid = new_id()

        def write(uow: UnitOfWork, now: dt.datetime) -> r.Series:
            uow.series.add(
                {
                    "id": sid,
                    "psychologist_id": pid,
                    "client_id": cid,
                    "session_type_code": code,
                    "first_start_time": first,
                    "interval_weeks": interval,
                    "count": count,
                    "end_date": end_date,
                    "create_time": now,
                },
            )
            for start in starts:
                row = uow.appointments.add(now, pid, cid, code, start, State.BOOKED.value, series_id=sid)
                self.event(uow, now, ev.AppointmentEvent.TYPE_CREATED, appointment_pb(SimpleNamespace(**row)))
            return series_pb(uow.series.get(pid, sid), uow.appointments.of_series(sid))

        created = self.write_once(
            "CreateSeries",
            rid,
            request,
            r.Series,
            write,
            events=True,
            on_conflict=lambda: self._conflicts(pid, code, starts, tz),
        )
        annotate(event="series created", **{"resource": created.name, "occurrences": len(starts)})
        return created

    def _conflicts(self, pid: str, code: str, starts: list[dt.datetime], tz: ZoneInfo) -> Conflict:
        """ALREADY_EXISTS naming every conflicting date (nothing was created)."""
        with self.store.read() as uow:
            st = uow.slot_context(pid, code, starts[0], starts[0]).session_type
            before = dt.timedelta(minutes=st.buffer_before_minutes)
            after = dt.timedelta(minutes=st.duration_minutes + st.buffer_after_minutes)
            clashes = uow.appointments.conflicting_starts(pid, [(x, x - before, x + after) for x in starts])
        # Occurrences may also clash with each other only if the rhythm is shorter than a
        # session, which the weekly interval rules out; so the database's refusal names a date here.
        # One short violation per date (the message says what they mean): all 104 of a
        # series fit the status's size bound (errors.MAX_STATUS_BYTES).
        violations = [("SLOT_UNAVAILABLE", x.astimezone(tz).date().isoformat()) for x in clashes]
        return Conflict(
            "SERIES_CONFLICTS",
            f"{len(clashes)} of {len(starts)} occurrences conflict with appointments the psychologist "
            "already has (one violation per date); nothing was created",
            {"conflicts": str(len(clashes)), "occurrences": str(len(starts))},
            violations,
        )

    def GetSeries(self, request: s.GetSeriesRequest, context: grpc.ServicerContext) -> r.Series:
        pid, sid = names.SERIES.require("name", request.name)
        with self.store.read() as uow:
            return series_pb(uow.series.get(pid, sid), uow.appointments.of_series(sid))

    def CancelSeries(self, request: s.CancelSeriesRequest, context: grpc.ServicerContext) -> r.Series:
        rid = request_id(request, context)
        pid, sid = names.SERIES.require("name", request.name)
        v = Violations()
        reason = enum_code(v, "reason", r.Cancellation.Reason, request.reason, "REASON_")
        actor = enum_code(v, "cancelled_by", r.Cancellation.Actor, request.cancelled_by, "ACTOR_")
        from_time = (
            check_timestamp(v, "from_time", request.from_time) if request.HasField("from_time") else None
        )
        v.raise_if_any()

        def write(uow: UnitOfWork, now: dt.datetime) -> r.Series:
            uow.series.get(pid, sid)
            for occ in series_rules.to_move(uow.appointments.of_series(sid), from_time):
                _, row = uow.appointments.transition(
                    now,
                    pid,
                    occ.id,
                    Action.CANCEL,
                    "",
                    lambda b: cancellation_values(reason, actor)(uow, b, now),
                )
                self.event(uow, now, ev.AppointmentEvent.TYPE_CANCELLED, appointment_pb(row))
            return series_pb(uow.series.get(pid, sid), uow.appointments.of_series(sid))

        done = self.write_once("CancelSeries", rid, request, r.Series, write, events=True)
        annotate(event="series cancelled", **{"resource": done.name})
        return done

    def RescheduleSeries(self, request: s.RescheduleSeriesRequest, context: grpc.ServicerContext) -> r.Series:
        rid = request_id(request, context)
        pid, sid = names.SERIES.require("name", request.name)
        v = Violations()
        actor = enum_code(v, "rescheduled_by", r.Cancellation.Actor, request.rescheduled_by, "ACTOR_")
        new_first = check_start(v, "new_start_time", request, "new_start_time")
        from_time = (
            check_timestamp(v, "from_time", request.from_time) if request.HasField("from_time") else None
        )
        v.raise_if_any()
        assert new_first is not None
        with self.store.read() as uow:
            row, occurrences = uow.series.get(pid, sid), uow.appointments.of_series(sid)
            tz = ZoneInfo(uow.psychologists.get(pid).time_zone)
        moving = series_rules.to_reschedule(occurrences, from_time)
        starts = series_rules.series_starts(new_first, tz, row.interval_weeks, len(moving), None)

        def write(uow: UnitOfWork, now: dt.datetime) -> r.Series:
            for old_occ, start in zip(moving, starts, strict=True):
                # The new rhythm belongs to the series, not as exceptions.
                self.move(uow, now, pid, old_occ.id, "", actor, start, series_id=sid)
            return series_pb(uow.series.get(pid, sid), uow.appointments.of_series(sid))

        moved = self.write_once(
            "RescheduleSeries",
            rid,
            request,
            r.Series,
            write,
            events=True,
            on_conflict=lambda: self._conflicts(pid, row.session_type_code, starts, tz),
        )
        annotate(event="series rescheduled", **{"resource": moved.name, "occurrences": len(starts)})
        return moved
