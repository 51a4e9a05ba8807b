"""Availability (working hours, date overrides, booking policy), slot search and
working time."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import grpc

from phs.scheduling.v1 import resources_pb2 as r
from phs.scheduling.v1 import scheduling_service_pb2 as s
from phs_runtime.context import annotate
from phs_runtime.errors import Violations, excerpt
from phs_runtime.resources import to_timestamp, utcnow
from phs_scheduling import availability, names
from phs_scheduling.adapters.unit_of_work import UnitOfWork
from phs_scheduling.domain.slots import Busy, free_slots, working_minutes
from phs_scheduling.errors import aip193_handlers
from phs_scheduling.handlers.base import Handlers, request_id
from phs_scheduling.mapping import availability_pb, hours_of
from phs_scheduling.validation import MAX_SLOT_RANGE, check_timestamp, optional_timestamp


@aip193_handlers
class AvailabilityHandlers(Handlers):
    def FindSlots(self, request: s.FindSlotsRequest, context: grpc.ServicerContext) -> s.FindSlotsResponse:
        v = Violations()
        psych = names.PSYCHOLOGIST.parse(v, "psychologist", request.psychologist)
        st = names.SESSION_TYPE.parse(v, "session_type", request.session_type)
        start = (
            check_timestamp(v, "start_time", request.start_time) if request.HasField("start_time") else None
        )
        end = check_timestamp(v, "end_time", request.end_time) if request.HasField("end_time") else None
        if start is None and not request.HasField("start_time"):
            v.add("start_time", "is required")
        if end is None and not request.HasField("end_time"):
            v.add("end_time", "is required")
        if start and end:
            if end <= start:
                v.add("end_time", "must be after start_time")
            elif end - start > MAX_SLOT_RANGE:
                v.add("end_time", f"the range may span at most {MAX_SLOT_RANGE.days} days")
        v.raise_if_any()
        assert psych is not None and st is not None and start is not None and end is not None
        with self.store.read() as uow:
            ctx = uow.slot_context(psych.id, st.code, start, end)
        rules = availability.rules_for(ctx)
        found = free_slots(rules, Busy(ctx.busy_blocks), start, end, utcnow())
        return s.FindSlotsResponse(
            slots=[r.Slot(start_time=to_timestamp(a), end_time=to_timestamp(b)) for a, b in found]
        )

    def ComputeWorkingTime(
        self, request: s.ComputeWorkingTimeRequest, context: grpc.ServicerContext
    ) -> s.WorkingTime:
        v = Violations()
        psych_name = names.PSYCHOLOGIST.parse(v, "psychologist", request.psychologist)
        start = optional_timestamp(v, "start_time", request)
        end = optional_timestamp(v, "end_time", request)
        if start is None or end is None:
            v.add("start_time" if start is None else "end_time", "is required")
        elif end <= start:
            v.add("end_time", "must be after start_time")
        elif end - start > dt.timedelta(days=366):
            v.add("end_time", "the range may span at most 366 days")
        v.raise_if_any()
        assert psych_name is not None and start is not None and end is not None
        pid = psych_name.id
        with self.store.read() as uow:
            psych = uow.psychologists.get(pid)
            spec, _ = uow.availability.get(pid)
        hours = hours_of(r.Availability.FromString(spec))
        minutes = working_minutes(hours, ZoneInfo(psych.time_zone), start, end)
        return s.WorkingTime(psychologist=request.psychologist, minutes=minutes)

    def GetAvailability(
        self, request: s.GetAvailabilityRequest, context: grpc.ServicerContext
    ) -> r.Availability:
        pid = names.AVAILABILITY.require("name", request.name).psychologist_id
        with self.store.read() as uow:
            spec, updated = uow.availability.get(pid)
        return availability_pb(pid, spec, updated)

    def UpdateAvailability(
        self, request: s.UpdateAvailabilityRequest, context: grpc.ServicerContext
    ) -> r.Availability:
        rid = request_id(request, context)
        pid = names.AVAILABILITY.require("availability.name", request.availability.name).psychologist_id
        paths = tuple(request.update_mask.paths) or availability.MASK_PATHS
        v = Violations()
        for path in paths:
            if path not in availability.MASK_PATHS:
                v.add("update_mask", f'"{excerpt(path)}" is not one of {", ".join(availability.MASK_PATHS)}')
        v.raise_if_any()
        availability.validate_availability(v, request.availability, paths)
        v.raise_if_any()

        def write(uow: UnitOfWork, now: dt.datetime) -> r.Availability:
            # Read in the write's own transaction: the merge starts from what it replaces.
            current, _ = uow.availability.get(pid)
            merged = availability.merge(r.Availability.FromString(current), request.availability, paths)
            merged.ClearField("name")
            merged.ClearField("update_time")
            spec = merged.SerializeToString(deterministic=True)
            uow.availability.put(now, pid, spec)
            return availability_pb(pid, spec, now)

        updated = self.write_once("UpdateAvailability", rid, request, r.Availability, write)
        annotate(event="availability updated", **{"resource": updated.name, "fields": list(paths)})
        return updated
