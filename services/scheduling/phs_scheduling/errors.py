"""The one place where the domain's refusals become AIP-193 statuses: each domain
exception keeps its reason code; this table picks the gRPC code and the details
(ResourceInfo, BadRequest field violations, PreconditionFailure). The mechanism
(handler wrapping, `translated`) is phs_runtime.error_table's."""

from __future__ import annotations

import grpc
from google.rpc import error_details_pb2

from phs_runtime.error_table import ErrorTable, coded
from phs_runtime.errors import ApiError, already_exists, invalid_argument, not_found
from phs_scheduling.domain.errors import (
    Aborted,
    Conflict,
    DomainError,
    InvalidField,
    NotFound,
    Precondition,
    SlotConflict,
)

SLOT_UNAVAILABLE_MESSAGE = "the psychologist already has an appointment at that time (buffers included)"


def _conflict(e: Conflict) -> ApiError:
    details = []
    if e.violations:
        failure = error_details_pb2.PreconditionFailure
        details.append(failure(violations=[failure.Violation(type=t, subject=s) for t, s in e.violations]))
    return already_exists(e.reason, e.message, e.metadata, details=details)


def _not_found(e: NotFound) -> ApiError:
    return not_found(e.resource_type, e.name)


def _invalid_field(e: InvalidField) -> ApiError:
    return invalid_argument(e.violations)


def _slot_conflict(_e: SlotConflict) -> ApiError:
    # Callers add what they know; this is the bare answer.
    return already_exists("SLOT_UNAVAILABLE", SLOT_UNAVAILABLE_MESSAGE)


TABLE = ErrorTable(
    DomainError,
    {
        NotFound: _not_found,
        InvalidField: _invalid_field,
        Precondition: coded(grpc.StatusCode.FAILED_PRECONDITION),
        Conflict: _conflict,
        Aborted: coded(grpc.StatusCode.ABORTED),
        SlotConflict: _slot_conflict,
    },
)

to_api_error = TABLE.to_api_error
translated = TABLE.translated
aip193 = TABLE.aip193
aip193_handlers = TABLE.handlers
