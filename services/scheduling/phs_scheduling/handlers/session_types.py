"""Session types: the catalogue (CPT codes and the like), with durations and buffers."""

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
from phs_scheduling.handlers.base import Handlers, request_id
from phs_scheduling.mapping import session_type_pb
from phs_scheduling.validation import SESSION_TYPE_FIELDS, mask, session_type_values


@aip193_handlers
class SessionTypeHandlers(Handlers):
    def CreateSessionType(
        self, request: s.CreateSessionTypeRequest, context: grpc.ServicerContext
    ) -> r.SessionType:
        rid = request_id(request, context)
        v = Violations()
        code = request.session_type_id
        if not names.SESSION_TYPE_CODE.fullmatch(code):
            v.add("session_type_id", "is required: 1-32 letters, digits or dashes (e.g. a CPT code)")
        values = session_type_values(v, request.session_type, SESSION_TYPE_FIELDS, creating=True)
        v.raise_if_any()

        def write(uow: UnitOfWork, now: dt.datetime) -> r.SessionType:
            row = {"code": code, **values}
            uow.session_types.add(row)
            return session_type_pb(SimpleNamespace(**row))

        created = self.write_once("CreateSessionType", rid, request, r.SessionType, write)
        self.catalogue.changed()  # listed by this process from now on
        annotate(event="session type created", **{"resource": created.name})
        return created

    def UpdateSessionType(
        self, request: s.UpdateSessionTypeRequest, context: grpc.ServicerContext
    ) -> r.SessionType:
        rid = request_id(request, context)
        st = request.session_type
        v = Violations()
        code = names.SESSION_TYPE.require("session_type.name", st.name).code
        values = session_type_values(v, st, mask(request, SESSION_TYPE_FIELDS), creating=False)
        v.raise_if_any()
        updated = self.update(
            "UpdateSessionType",
            rid,
            request,
            st.name,
            values,
            lambda uow, _now, values: uow.session_types.update(code, values),
            session_type_pb,
            r.SessionType,
        )
        # This process's bookings use the new shape at once; other processes find the
        # one they hold stale at their next booking (adapters.appointments.book_at_once).
        self.store.forget_session_shape(code)
        self.catalogue.changed()
        return updated

    def ListSessionTypes(
        self, request: s.ListSessionTypesRequest, context: grpc.ServicerContext
    ) -> s.ListSessionTypesResponse:
        limit = paging.page_size(request.page_size)
        after = paging.decode_token(request.page_token, "sessionTypes")
        return self.catalogue.page(after, limit)
