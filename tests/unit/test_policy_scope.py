"""The policies decide and leave the request alone: a caller limited to part of a list
(or whose booking is only a request) is admitted with a Scope the handler applies."""

from __future__ import annotations

import grpc
import pytest

from phs.reports.v1 import reports_service_pb2 as rs
from phs.scheduling.v1 import resources_pb2 as r
from phs.scheduling.v1 import scheduling_service_pb2 as s
from phs_reports import policy as reports_policy
from phs_runtime.auth import CLIENT, PSYCHOLOGIST, Principal
from phs_runtime.decision import Scope
from phs_runtime.errors import ApiError
from phs_scheduling import policy

DR = Principal("psychologists/p1", PSYCHOLOGIST)
ME = Principal("clients/c1", CLIENT)


def _unchanged(request: object) -> bytes:
    assert hasattr(request, "SerializeToString")
    return bytes(request.SerializeToString(deterministic=True))


@pytest.mark.parametrize("asked", ["", "psychologists/p1"])
def test_a_psychologists_client_list_is_scoped_to_them(asked: str) -> None:
    request = s.ListClientsRequest(psychologist=asked)
    before = _unchanged(request)
    scope = policy.list_clients(request, DR)
    assert _unchanged(request) == before
    assert scope.pinned("psychologist", request.psychologist) == "psychologists/p1"


def test_another_psychologists_client_list_is_refused() -> None:
    with pytest.raises(ApiError) as err:
        policy.list_clients(s.ListClientsRequest(psychologist="psychologists/p2"), DR)
    assert (err.value.code, err.value.reason) == (grpc.StatusCode.PERMISSION_DENIED, "NOT_YOUR_PSYCHOLOGIST")


@pytest.mark.parametrize("asked", ["", "clients/c1"])
def test_a_clients_appointment_list_is_scoped_to_them(asked: str) -> None:
    request = s.ListAppointmentsRequest(parent="psychologists/-", client=asked)
    before = _unchanged(request)
    scope = policy.list_appointments(request, ME)
    assert _unchanged(request) == before
    assert scope is not None and scope.pinned("client", request.client) == "clients/c1"
    with pytest.raises(ApiError, match="their own appointments"):
        policy.list_appointments(s.ListAppointmentsRequest(parent="psychologists/-", client="clients/c2"), ME)


def test_a_psychologists_appointment_list_is_their_agenda_unscoped() -> None:
    assert policy.list_appointments(s.ListAppointmentsRequest(parent="psychologists/p1"), DR) is None
    with pytest.raises(ApiError):
        policy.list_appointments(s.ListAppointmentsRequest(parent="psychologists/p2"), DR)


def test_a_clients_booking_must_be_approved() -> None:
    request = s.CreateAppointmentRequest(
        parent="psychologists/p1", appointment=r.Appointment(client="clients/c1")
    )
    before = _unchanged(request)
    assert policy.create_appointment(request, ME) == Scope(approval_required=True)
    assert _unchanged(request) == before and not request.request_approval
    booked_by_dr = policy.create_appointment(request, DR)
    assert booked_by_dr is None


def test_a_psychologists_report_list_is_scoped_to_their_jobs() -> None:
    request = rs.ListReportsRequest()
    scope = reports_policy.list_reports(request, DR)
    assert request.requester == ""
    assert scope.pinned("requester", request.requester) == "psychologists/p1"
    with pytest.raises(ApiError, match="their own report jobs"):
        reports_policy.list_reports(rs.ListReportsRequest(requester="psychologists/p2"), DR)
