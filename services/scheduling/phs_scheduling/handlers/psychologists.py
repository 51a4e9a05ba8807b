"""Psychologists: the practice's directory."""

from __future__ import annotations

import datetime as dt
from types import SimpleNamespace

import grpc

from phs.scheduling.v1 import resources_pb2 as r
from phs.scheduling.v1 import scheduling_service_pb2 as s
from phs_runtime import paging
from phs_runtime.context import annotate
from phs_runtime.errors import Violations
from phs_scheduling import names
from phs_scheduling.adapters.unit_of_work import UnitOfWork
from phs_scheduling.errors import aip193_handlers
from phs_scheduling.handlers.base import Handlers, page, request_id
from phs_scheduling.mapping import psychologist_pb
from phs_scheduling.validation import check_display_name, check_time_zone, mask


@aip193_handlers
class PsychologistHandlers(Handlers):
    def CreatePsychologist(
        self, request: s.CreatePsychologistRequest, context: grpc.ServicerContext
    ) -> r.Psychologist:
        rid = request_id(request, context)
        p = request.psychologist
        v = Violations()
        if not request.HasField("psychologist"):
            v.add("psychologist", "is required")
        check_display_name(v, "psychologist.display_name", p.display_name)
        check_time_zone(v, "psychologist.time_zone", p.time_zone)
        v.raise_if_any()

        def write(uow: UnitOfWork, now: dt.datetime) -> r.Psychologist:
            # A new psychologist is active unless the request says otherwise; proto3
            # cannot tell false from unset, so new ones always start active.
            row = uow.psychologists.add(now, p.display_name.strip(), p.time_zone, True)
            return psychologist_pb(SimpleNamespace(**row))

        created = self.write_once("CreatePsychologist", rid, request, r.Psychologist, write)
        annotate(event="psychologist created", **{"resource": created.name})
        return created

    def GetPsychologist(
        self, request: s.GetPsychologistRequest, context: grpc.ServicerContext
    ) -> r.Psychologist:
        pid = names.PSYCHOLOGIST.require("name", request.name).id
        with self.store.read() as uow:
            return psychologist_pb(uow.psychologists.get(pid))

    def ListPsychologists(
        self, request: s.ListPsychologistsRequest, context: grpc.ServicerContext
    ) -> s.ListPsychologistsResponse:
        limit = paging.page_size(request.page_size)
        after = paging.decode_token(request.page_token, "psychologists")
        with self.store.read() as uow:
            found = uow.psychologists.list(after, limit)
        rows, token = page(
            found,
            limit,
            lambda x: [x.create_time.isoformat(), x.id],
            "psychologists",
        )
        return s.ListPsychologistsResponse(
            psychologists=[psychologist_pb(x) for x in rows], next_page_token=token
        )

    def UpdatePsychologist(
        self, request: s.UpdatePsychologistRequest, context: grpc.ServicerContext
    ) -> r.Psychologist:
        rid = request_id(request, context)
        p = request.psychologist
        pid = names.PSYCHOLOGIST.require("psychologist.name", p.name).id
        paths = mask(request, ("display_name", "time_zone", "active"))
        v = Violations()
        values: dict[str, object] = {}
        if "display_name" in paths:
            check_display_name(v, "psychologist.display_name", p.display_name)
            values["display_name"] = p.display_name.strip()
        if "time_zone" in paths:
            check_time_zone(v, "psychologist.time_zone", p.time_zone)
            values["time_zone"] = p.time_zone
        if "active" in paths:
            values["active"] = p.active
        v.raise_if_any()
        return self.update(
            "UpdatePsychologist",
            rid,
            request,
            p.name,
            values,
            lambda uow, now, values: uow.psychologists.update(pid, now, values),
            psychologist_pb,
            r.Psychologist,
        )
