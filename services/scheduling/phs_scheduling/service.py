"""SchedulingService: the servicer registered with gRPC, composed of one handler class
per resource (phs_scheduling.handlers). Each handler's domain refusals become AIP-193
statuses in phs_scheduling.errors."""

from __future__ import annotations

import grpc

from phs.audit.v1 import audit_pb2
from phs.scheduling.v1 import scheduling_service_pb2_grpc as s_grpc
from phs_scheduling.handlers.appointment_changes import AppointmentChangeHandlers
from phs_scheduling.handlers.appointments import AppointmentHandlers
from phs_scheduling.handlers.availability import AvailabilityHandlers
from phs_scheduling.handlers.calendar_feeds import CalendarFeedHandlers
from phs_scheduling.handlers.clients import ClientHandlers
from phs_scheduling.handlers.psychologists import PsychologistHandlers
from phs_scheduling.handlers.series import SeriesHandlers
from phs_scheduling.handlers.session_types import SessionTypeHandlers


class SchedulingServicer(
    PsychologistHandlers,
    ClientHandlers,
    SessionTypeHandlers,
    AppointmentHandlers,
    AppointmentChangeHandlers,
    AvailabilityHandlers,
    SeriesHandlers,
    CalendarFeedHandlers,
    s_grpc.SchedulingServiceServicer,
):
    """Every RPC of the service; the handler classes share one state (handlers.base.Handlers)."""

    def ListAuditEvents(
        self, request: audit_pb2.ListAuditEventsRequest, context: grpc.ServicerContext
    ) -> audit_pb2.ListAuditEventsResponse:
        return self.audit_log.list(request, "auditLogs/scheduling")
