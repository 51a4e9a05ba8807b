"""The scheduling service's access policy: every RPC, who may call it, and how a
psychologist's or a client's call is limited to their own data.

- admin (practice staff): everything.
- psychologist: their own profile, availability, agenda, series and clients
  (clients assigned to them); nobody else's.
- client: the directory, slot search, their own record, and requesting,
  cancelling and rescheduling their own appointments.
- anyone, without a token: a calendar feed's content, given its secret.
- service (the report worker): read-only figures for reports; it enforces the
  requester's scope itself. (The notifications service): an appointment, its
  client's record and the session types, to address a message at send time.

Another person's appointment, client record or series answers NOT_FOUND (as a
missing one would); a request about another psychologist's collection answers
PERMISSION_DENIED. A list the caller may only see part of is admitted with a Scope
(phs_runtime.decision) its handler applies: the policy never rewrites a request.
"""

from __future__ import annotations

from typing import Any

from phs.scheduling.v1 import resources_pb2 as r
from phs_runtime.audit import CREATE, DELETE, EXECUTE, UPDATE
from phs_runtime.auth import ADMIN, CLIENT, PSYCHOLOGIST, SERVICE, Principal
from phs_runtime.decision import Scope
from phs_runtime.errors import NAME_CHARS, excerpt, not_found, permission_denied
from phs_runtime.policy import ANONYMOUS, Check, Rule, field_value, rule
from phs_scheduling import names
from phs_scheduling.domain.lifecycle import RULES as LIFECYCLE
from phs_scheduling.domain.lifecycle import Action
from phs_scheduling.errors import translated
from phs_scheduling.store import Store

PREFIX = "/phs.scheduling.v1.SchedulingService/"
EVERYONE = (ADMIN, PSYCHOLOGIST, CLIENT)


def _psychologist_id(value: str) -> str | None:
    parts = value.split("/")
    return parts[1] if len(parts) >= 2 and parts[0] == "psychologists" and parts[1] else None


def _deny_other_psychologist(value: str) -> None:
    raise permission_denied(
        "NOT_YOUR_PSYCHOLOGIST",
        "psychologists may only act on their own data",
        {"resource": excerpt(value, NAME_CHARS)},
    )


def own_psychologist(path: str) -> Check:
    """The field names the caller (a psychologist) or something under them."""

    def check(request: Any, p: Principal) -> None:
        value = field_value(request, path)
        if p.role != PSYCHOLOGIST or _psychologist_id(value) != p.resource_id:
            _deny_other_psychologist(value)

    return check


def psychologist_or_any_for_clients(path: str) -> Check:
    """Slot search: clients may look at any psychologist; psychologists at themselves."""
    own = own_psychologist(path)

    def check(request: Any, p: Principal) -> None:
        if p.role != CLIENT:
            own(request, p)

    return check


class Checks:
    """Ownership checks that need to look at stored data."""

    def __init__(self, store: Store) -> None:
        self.store = store

    def appointment(self, path: str = "name", client_actor_field: str | None = None) -> Check:
        """The appointment is the caller's: under their name (psychologist) or theirs
        as client. A client acting on it must act as ACTOR_CLIENT."""

        def check(request: Any, p: Principal) -> None:
            name = field_value(request, path)
            ids = names.APPOINTMENT.require(path, name)
            if p.role == PSYCHOLOGIST and ids[0] == p.resource_id:
                return
            if p.role == CLIENT and self._appointment_client(*ids) == p.resource_id:
                if client_actor_field and getattr(request, client_actor_field) != r.Cancellation.ACTOR_CLIENT:
                    raise permission_denied(
                        "CLIENT_ACTS_AS_CLIENT", f"clients must set {client_actor_field} to ACTOR_CLIENT"
                    )
                return
            raise not_found("Appointment", name)

        return check

    def _appointment_client(self, psychologist_id: str, appointment_id: str) -> str:
        with translated(), self.store.read() as uow:  # NOT_FOUND for a missing appointment
            return str(uow.appointments.get(psychologist_id, appointment_id).client_id)

    def series(self, request: Any, p: Principal) -> None:
        ids = names.SERIES.require("name", request.name)
        if p.role != PSYCHOLOGIST or ids[0] != p.resource_id:
            raise not_found("Series", request.name)

    def client_record(self, path: str) -> Check:
        """A client's own record, or a client assigned to the calling psychologist."""

        def check(request: Any, p: Principal) -> None:
            name = field_value(request, path)
            if p.role == CLIENT and name == p.subject:
                return
            if p.role == PSYCHOLOGIST and name.startswith("clients/"):
                with translated(), self.store.read() as uow:  # NOT_FOUND for a missing client
                    row = uow.clients.get(name.removeprefix("clients/"))
                if row.psychologist_id == p.resource_id:
                    return
            raise not_found("Client", name)

        return check

    def update_client(self, request: Any, p: Principal) -> None:
        self.client_record("client.name")(request, p)
        paths = set(request.update_mask.paths) or {"psychologist"}
        if p.role == PSYCHOLOGIST and "psychologist" in paths and request.client.psychologist != p.subject:
            raise permission_denied("CANNOT_REASSIGN", "psychologists may not hand their clients to others")


def create_client(request: Any, p: Principal) -> None:
    if request.client.psychologist != p.subject:
        raise permission_denied(
            "NOT_YOUR_PSYCHOLOGIST", "psychologists create clients assigned to themselves"
        )


def list_clients(request: Any, p: Principal) -> Scope:
    if request.psychologist and request.psychologist != p.subject:
        _deny_other_psychologist(request.psychologist)
    return Scope(only={"psychologist": p.subject})  # a psychologist's client list is theirs


def create_appointment(request: Any, p: Principal) -> Scope | None:
    if p.role == CLIENT:
        if request.appointment.client != p.subject:
            raise permission_denied("NOT_YOURSELF", "clients book for themselves only")
        return Scope(approval_required=True)  # a client's booking is a request until approved
    own_psychologist("parent")(request, p)
    return None


def list_appointments(request: Any, p: Principal) -> Scope | None:
    if p.role == CLIENT:
        if request.client and request.client != p.subject:
            raise permission_denied("NOT_YOURSELF", "clients see their own appointments only")
        return Scope(only={"client": p.subject})  # a client's list is their own appointments
    own_psychologist("parent")(request, p)
    return None


def build(store: Store) -> dict[str, Rule]:
    """The policy table: method name -> rule. Every RPC of the service must be here."""
    c = Checks(store)
    own_parent = own_psychologist("parent")
    rules = {
        # The directory and the catalogue: nothing about clients.
        "CreatePsychologist": rule(ADMIN, action=CREATE),
        "GetPsychologist": rule(*EVERYONE, SERVICE, audit=False, target=["name"]),
        "ListPsychologists": rule(*EVERYONE, SERVICE, audit=False),
        "UpdatePsychologist": rule(
            ADMIN,
            PSYCHOLOGIST,
            action=UPDATE,
            check=own_psychologist("psychologist.name"),
            target=["psychologist.name"],
        ),
        "ListSessionTypes": rule(*EVERYONE, SERVICE, audit=False),
        "CreateSessionType": rule(ADMIN, action=CREATE),
        "UpdateSessionType": rule(ADMIN, action=UPDATE, target=["session_type.name"]),
        # Client records.
        "CreateClient": rule(
            ADMIN, PSYCHOLOGIST, action=CREATE, check=create_client, target=["client.psychologist"]
        ),
        "GetClient": rule(*EVERYONE, SERVICE, check=c.client_record("name"), target=["name"]),
        "ListClients": rule(ADMIN, PSYCHOLOGIST, check=list_clients, target=["psychologist"]),
        "UpdateClient": rule(
            ADMIN, PSYCHOLOGIST, action=UPDATE, check=c.update_client, target=["client.name"]
        ),
        # Availability and slots: working hours, not client data.
        "GetAvailability": rule(ADMIN, PSYCHOLOGIST, check=own_psychologist("name"), audit=False),
        "UpdateAvailability": rule(
            ADMIN,
            PSYCHOLOGIST,
            action=UPDATE,
            check=own_psychologist("availability.name"),
            target=["availability.name"],
        ),
        "FindSlots": rule(*EVERYONE, check=psychologist_or_any_for_clients("psychologist"), audit=False),
        "ComputeWorkingTime": rule(
            ADMIN, PSYCHOLOGIST, SERVICE, check=own_psychologist("psychologist"), audit=False
        ),
        # Appointments.
        "CreateAppointment": rule(
            *EVERYONE, action=CREATE, check=create_appointment, target=["parent", "appointment.client"]
        ),
        "GetAppointment": rule(*EVERYONE, SERVICE, check=c.appointment(), target=["name"]),
        "ListAppointments": rule(*EVERYONE, check=list_appointments, target=["parent", "client"]),
        "ExportAppointments": rule(ADMIN, PSYCHOLOGIST, SERVICE, check=own_parent, target=["parent"]),
        # Live changes: staff any psychologist's (or all), a psychologist their own.
        "WatchAppointments": rule(ADMIN, PSYCHOLOGIST, check=own_parent, target=["parent"]),
        # The lifecycle's actions: who may take each is the lifecycle table's.
        "ApproveAppointment": rule(
            *LIFECYCLE[Action.APPROVE].by, action=EXECUTE, check=c.appointment(), target=["name"]
        ),
        "DeclineAppointment": rule(
            *LIFECYCLE[Action.DECLINE].by, action=EXECUTE, check=c.appointment(), target=["name"]
        ),
        "CancelAppointment": rule(
            *LIFECYCLE[Action.CANCEL].by,
            action=DELETE,
            check=c.appointment(client_actor_field="cancelled_by"),
            target=["name"],
        ),
        "RescheduleAppointment": rule(
            *LIFECYCLE[Action.RESCHEDULE].by,
            action=EXECUTE,
            check=c.appointment(client_actor_field="rescheduled_by"),
            target=["name"],
        ),
        "CompleteAppointment": rule(
            *LIFECYCLE[Action.COMPLETE].by, action=EXECUTE, check=c.appointment(), target=["name"]
        ),
        "MarkAppointmentNoShow": rule(
            *LIFECYCLE[Action.NO_SHOW].by, action=EXECUTE, check=c.appointment(), target=["name"]
        ),
        # Weekly series (run by the psychologist; clients act on single occurrences).
        "CreateSeries": rule(
            ADMIN, PSYCHOLOGIST, action=CREATE, check=own_parent, target=["parent", "series.client"]
        ),
        "GetSeries": rule(ADMIN, PSYCHOLOGIST, check=c.series, target=["name"]),
        "CancelSeries": rule(ADMIN, PSYCHOLOGIST, action=DELETE, check=c.series, target=["name"]),
        "RescheduleSeries": rule(ADMIN, PSYCHOLOGIST, action=EXECUTE, check=c.series, target=["name"]),
        # The psychologist's calendar feed. Its content is open: the secret in the request
        # is the credential, which the handler checks (NOT_FOUND for any but an active
        # feed's); the audit entry names the feed, never the secret (no target).
        "GetCalendarFeed": rule(ADMIN, PSYCHOLOGIST, check=own_psychologist("name"), target=["name"]),
        "UpdateCalendarFeed": rule(
            ADMIN,
            PSYCHOLOGIST,
            action=UPDATE,
            check=own_psychologist("calendar_feed.name"),
            target=["calendar_feed.name"],
        ),
        "RotateCalendarFeed": rule(
            ADMIN, PSYCHOLOGIST, action=EXECUTE, check=own_psychologist("name"), target=["name"]
        ),
        "RevokeCalendarFeed": rule(
            ADMIN, PSYCHOLOGIST, action=EXECUTE, check=own_psychologist("name"), target=["name"]
        ),
        "GetCalendarFeedContent": rule(ANONYMOUS, open=True),
        # The audit log itself.
        "ListAuditEvents": rule(ADMIN, target=["parent", "subject", "entity"]),
    }
    return {PREFIX + name: x for name, x in rules.items()}
