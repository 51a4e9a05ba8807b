"""Domain refusals -> AIP-193 statuses, in the one place that maps them."""

from __future__ import annotations

from collections.abc import Iterator

import grpc
import pytest
from google.rpc import error_details_pb2

from phs_runtime.errors import ApiError
from phs_scheduling.domain.errors import (
    ConcurrentModification,
    Conflict,
    DomainError,
    InvalidField,
    InvalidTransition,
    NotFound,
    NotStarted,
    Precondition,
    SlotConflict,
    StaleEtag,
)
from phs_scheduling.errors import aip193, to_api_error

NAME = "psychologists/p/appointments/a"


@pytest.mark.parametrize(
    ("error", "code", "reason", "metadata"),
    [
        (NotFound("Appointment", NAME), grpc.StatusCode.NOT_FOUND, "RESOURCE_NOT_FOUND", {"resource": NAME}),
        (
            InvalidField("start_time", "must be on the grid"),
            grpc.StatusCode.INVALID_ARGUMENT,
            "INVALID_ARGUMENT",
            {},
        ),
        (
            InvalidTransition(NAME, "CANCELLED", "BOOKED"),
            grpc.StatusCode.FAILED_PRECONDITION,
            "INVALID_STATE_TRANSITION",
            {"appointment": NAME, "from": "CANCELLED", "to": "BOOKED"},
        ),
        (
            NotStarted("2030-01-01T00:00:00+00:00"),
            grpc.StatusCode.FAILED_PRECONDITION,
            "APPOINTMENT_NOT_STARTED",
            {"start_time": "2030-01-01T00:00:00+00:00"},
        ),
        (
            Precondition("TOO_SHORT_NOTICE", "more notice"),
            grpc.StatusCode.FAILED_PRECONDITION,
            "TOO_SHORT_NOTICE",
            {},
        ),
        (
            StaleEtag(NAME, 'W/"3"'),
            grpc.StatusCode.ABORTED,
            "ETAG_MISMATCH",
            {"appointment": NAME, "etag": 'W/"3"'},
        ),
        (
            ConcurrentModification(NAME),
            grpc.StatusCode.ABORTED,
            "CONCURRENT_MODIFICATION",
            {"appointment": NAME},
        ),
        (
            Conflict("SESSION_TYPE_EXISTS", "exists", {"x": "y"}),
            grpc.StatusCode.ALREADY_EXISTS,
            "SESSION_TYPE_EXISTS",
            {"x": "y"},
        ),
        (SlotConflict(), grpc.StatusCode.ALREADY_EXISTS, "SLOT_UNAVAILABLE", {}),
    ],
)
def test_each_refusal_has_its_code_reason_and_metadata(
    error: DomainError, code: grpc.StatusCode, reason: str, metadata: dict[str, str]
) -> None:
    api = to_api_error(error)
    assert (api.code, api.reason, api.metadata) == (code, reason, metadata)


def test_messages_are_the_ones_clients_have_seen() -> None:
    assert to_api_error(NotFound("Client", "clients/c")).message == "Client clients/c not found"
    assert (
        to_api_error(StaleEtag(NAME, "e")).message
        == "the appointment changed since it was read; read it again"
    )
    assert to_api_error(InvalidTransition(NAME, "PENDING", "COMPLETED")).message == (
        "a PENDING appointment cannot become COMPLETED"
    )


def test_a_field_refusal_is_a_bad_request_with_its_violation() -> None:
    api = to_api_error(InvalidField("start_time", "must be on the 15-minute grid"))
    (bad,) = api.extra_details
    assert isinstance(bad, error_details_pb2.BadRequest)
    assert [(v.field, v.description) for v in bad.field_violations] == [
        ("start_time", "must be on the 15-minute grid")
    ]


def test_conflicting_dates_travel_as_a_precondition_failure() -> None:
    api = to_api_error(Conflict("SERIES_CONFLICTS", "2 of 5", {}, [("SLOT_UNAVAILABLE", "2030-01-07")]))
    (failure,) = api.extra_details
    assert isinstance(failure, error_details_pb2.PreconditionFailure)
    assert [(v.type, v.subject) for v in failure.violations] == [("SLOT_UNAVAILABLE", "2030-01-07")]
    assert to_api_error(Conflict("SLOT_UNAVAILABLE", "taken")).extra_details == []


def test_handlers_unary_and_streaming_raise_the_mapped_error() -> None:
    @aip193
    def unary() -> None:
        raise NotFound("Series", "psychologists/p/series/s")

    @aip193
    def stream() -> Iterator[int]:
        yield 1
        raise StaleEtag(NAME, "e")

    with pytest.raises(ApiError) as err:
        unary()
    assert err.value.code is grpc.StatusCode.NOT_FOUND
    it = stream()
    assert next(it) == 1
    with pytest.raises(ApiError) as err:
        next(it)
    assert err.value.reason == "ETAG_MISMATCH"
