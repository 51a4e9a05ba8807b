"""Client records."""

from __future__ import annotations

import datetime as dt
from types import SimpleNamespace
from typing import Any

import grpc

from phs.scheduling.v1 import resources_pb2 as r
from phs.scheduling.v1 import scheduling_service_pb2 as s
from phs_runtime import paging
from phs_runtime.context import annotate
from phs_runtime.decision import current_scope
from phs_runtime.errors import Violations
from phs_scheduling import names
from phs_scheduling.adapters.unit_of_work import UnitOfWork
from phs_scheduling.errors import aip193_handlers
from phs_scheduling.handlers.base import Handlers, page, request_id
from phs_scheduling.mapping import client_pb
from phs_scheduling.validation import check_display_name, check_email, mask


@aip193_handlers
class ClientHandlers(Handlers):
    def CreateClient(self, request: s.CreateClientRequest, context: grpc.ServicerContext) -> r.Client:
        rid = request_id(request, context)
        c = request.client
        v = Violations()
        if not request.HasField("client"):
            v.add("client", "is required")
        check_display_name(v, "client.display_name", c.display_name)
        check_email(v, "client.email", c.email)
        psych = names.PSYCHOLOGIST.parse(v, "client.psychologist", c.psychologist) if c.psychologist else None
        v.raise_if_any()
        psych_id = psych.id if psych else None

        def write(uow: UnitOfWork, now: dt.datetime) -> r.Client:
            row = uow.clients.add(now, c.display_name.strip(), c.email, c.phone, psych_id)
            return client_pb(SimpleNamespace(**row))

        created = self.write_once("CreateClient", rid, request, r.Client, write)
        annotate(event="client created", **{"resource": created.name})
        return created

    def GetClient(self, request: s.GetClientRequest, context: grpc.ServicerContext) -> r.Client:
        cid = names.CLIENT.require("name", request.name).id
        with self.store.read() as uow:
            return client_pb(uow.clients.get(cid))

    def ListClients(
        self, request: s.ListClientsRequest, context: grpc.ServicerContext
    ) -> s.ListClientsResponse:
        psychologist = current_scope().pinned("psychologist", request.psychologist)  # a psychologist's own
        pid = names.PSYCHOLOGIST.require("psychologist", psychologist).id if psychologist else None
        limit = paging.page_size(request.page_size)
        filters = ["clients", pid]
        after = paging.decode_token(request.page_token, filters)
        with self.store.read() as uow:
            found = uow.clients.list(after, limit, pid)
        rows, token = page(
            found,
            limit,
            lambda x: [x.create_time.isoformat(), x.id],
            filters,
        )
        return s.ListClientsResponse(clients=[client_pb(x) for x in rows], next_page_token=token)

    def UpdateClient(self, request: s.UpdateClientRequest, context: grpc.ServicerContext) -> r.Client:
        rid = request_id(request, context)
        c = request.client
        cid = names.CLIENT.require("client.name", c.name).id
        paths = mask(request, ("display_name", "email", "phone", "psychologist"))
        v = Violations()
        values: dict[str, Any] = {}
        if "display_name" in paths:
            check_display_name(v, "client.display_name", c.display_name)
            values["display_name"] = c.display_name.strip()
        if "email" in paths:
            check_email(v, "client.email", c.email)
            values["email"] = c.email
        if "phone" in paths:
            values["phone"] = c.phone
        if "psychologist" in paths:
            psych = (
                names.PSYCHOLOGIST.parse(v, "client.psychologist", c.psychologist) if c.psychologist else None
            )
            if psych is not None:
                with self.store.read() as uow:
                    uow.psychologists.require(psych.id)  # NOT_FOUND for an unknown psychologist
            values["psychologist_id"] = psych.id if psych else None
        v.raise_if_any()
        return self.update(
            "UpdateClient",
            rid,
            request,
            c.name,
            values,
            lambda uow, now, values: uow.clients.update(cid, now, values),
            client_pb,
            r.Client,
        )
