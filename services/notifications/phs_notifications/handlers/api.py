"""The NotificationService gRPC API: preferences (AIP-131 Get and AIP-134 Update
with update_mask on singleton sub-resources) and the audit log."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from typing import TypeVar

import grpc
from google.protobuf import duration_pb2
from google.protobuf.message import Message

from phs.audit.v1 import audit_pb2
from phs.notifications.v1 import notifications_service_pb2 as s
from phs.notifications.v1 import notifications_service_pb2_grpc as s_grpc
from phs.notifications.v1 import resources_pb2 as r
from phs_notifications.adapters.store import Once, Store
from phs_notifications.domain import preferences
from phs_notifications.domain.model import ClientPreferences, PsychologistPreferences
from phs_runtime import idempotency
from phs_runtime.audit import AuditLog
from phs_runtime.errors import invalid_argument
from phs_runtime.resources import to_timestamp

M = TypeVar("M", bound=Message)

SUFFIX = "/notificationPreferences"
AUDIT_LOG = "auditLogs/notifications"


def _owner(name: str, collection: str, field: str) -> str:
    """`clients/{c}` of `clients/{c}/notificationPreferences`."""
    parts = name.split("/")
    if len(parts) != 3 or parts[0] != collection or not parts[1] or parts[2] != "notificationPreferences":
        raise invalid_argument([(field, f"must look like {collection}/{{id}}/notificationPreferences")])
    return f"{collection}/{parts[1]}"


def _duration(d: dt.timedelta) -> duration_pb2.Duration:
    pb = duration_pb2.Duration()
    pb.FromTimedelta(d)
    return pb


class NotificationServicer(s_grpc.NotificationServiceServicer):
    def __init__(
        self,
        store: Store,
        audit_log: AuditLog,
        offsets: Sequence[dt.timedelta],
        clock: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC),
    ) -> None:
        self.store, self.audit_log, self.offsets, self.clock = store, audit_log, tuple(offsets), clock

    def _client_pb(
        self, client: str, prefs: ClientPreferences, updated: dt.datetime | None
    ) -> r.ClientNotificationPreferences:
        chosen = self.offsets if prefs.reminder_offsets is None else prefs.reminder_offsets
        pb = r.ClientNotificationPreferences(
            name=client + SUFFIX,
            email_enabled=prefs.email_enabled,
            reminder_offsets=[_duration(o) for o in chosen],
            available_reminder_offsets=[_duration(o) for o in self.offsets],
            time_zone=prefs.time_zone,
        )
        if updated is not None:
            pb.update_time.CopyFrom(to_timestamp(updated))
        return pb

    @staticmethod
    def _psychologist_pb(
        psychologist: str, prefs: PsychologistPreferences, updated: dt.datetime | None
    ) -> r.PsychologistNotificationPreferences:
        pb = r.PsychologistNotificationPreferences(
            name=psychologist + SUFFIX, new_request_emails=prefs.new_request_emails, email=prefs.email
        )
        if updated is not None:
            pb.update_time.CopyFrom(to_timestamp(updated))
        return pb

    def GetClientNotificationPreferences(
        self, request: s.GetClientNotificationPreferencesRequest, context: grpc.ServicerContext
    ) -> r.ClientNotificationPreferences:
        client = _owner(request.name, "clients", "name")
        prefs, updated = self.store.client_preferences(client)
        return self._client_pb(client, prefs, updated)

    def UpdateClientNotificationPreferences(
        self, request: s.UpdateClientNotificationPreferencesRequest, context: grpc.ServicerContext
    ) -> r.ClientNotificationPreferences:
        if not request.HasField("preferences"):
            raise invalid_argument([("preferences", "is required")])
        p = request.preferences
        client = _owner(p.name, "clients", "preferences.name")
        once = _once("UpdateClientNotificationPreferences", request, context, r.ClientNotificationPreferences)

        def change(
            current: ClientPreferences, now: dt.datetime
        ) -> tuple[ClientPreferences, r.ClientNotificationPreferences]:
            new, violations = preferences.update_client(
                current,
                list(request.update_mask.paths),
                p.email_enabled,
                [d.ToTimedelta() for d in p.reminder_offsets],
                p.time_zone,
                self.offsets,
            )
            if violations:
                raise invalid_argument(violations)
            return new, self._client_pb(client, new, now)

        return self.store.update_client_preferences(client, change, once)

    def GetPsychologistNotificationPreferences(
        self, request: s.GetPsychologistNotificationPreferencesRequest, context: grpc.ServicerContext
    ) -> r.PsychologistNotificationPreferences:
        psychologist = _owner(request.name, "psychologists", "name")
        prefs, updated = self.store.psychologist_preferences(psychologist)
        return self._psychologist_pb(psychologist, prefs, updated)

    def UpdatePsychologistNotificationPreferences(
        self, request: s.UpdatePsychologistNotificationPreferencesRequest, context: grpc.ServicerContext
    ) -> r.PsychologistNotificationPreferences:
        if not request.HasField("preferences"):
            raise invalid_argument([("preferences", "is required")])
        p = request.preferences
        psychologist = _owner(p.name, "psychologists", "preferences.name")
        once = _once(
            "UpdatePsychologistNotificationPreferences",
            request,
            context,
            r.PsychologistNotificationPreferences,
        )

        def change(
            current: PsychologistPreferences, now: dt.datetime
        ) -> tuple[PsychologistPreferences, r.PsychologistNotificationPreferences]:
            new, violations = preferences.update_psychologist(
                current, list(request.update_mask.paths), p.new_request_emails, p.email
            )
            if violations:
                raise invalid_argument(violations)
            return new, self._psychologist_pb(psychologist, new, now)

        return self.store.update_psychologist_preferences(psychologist, change, once)

    def ListAuditEvents(
        self, request: audit_pb2.ListAuditEventsRequest, context: grpc.ServicerContext
    ) -> audit_pb2.ListAuditEventsResponse:
        return self.audit_log.list(request, AUDIT_LOG)


def _once(method: str, request: Message, context: grpc.ServicerContext, response_type: type[M]) -> Once[M]:
    rid = idempotency.effective_request_id(request.request_id, context)  # type: ignore[attr-defined]
    return Once(method, rid, idempotency.fingerprint(request), response_type)
