"""The one place where the reports domain's refusals become AIP-193 statuses, both
those answered to a caller and those kept as a job's error (Report.error). The
mechanism (handler wrapping, `translated`) is phs_runtime.error_table's."""

from __future__ import annotations

import grpc

from phs_reports.domain.errors import (
    DataUnavailable,
    DomainError,
    NotFound,
    OutOfScope,
    Precondition,
    TooManyAttempts,
)
from phs_runtime.error_table import ErrorTable, coded
from phs_runtime.errors import ApiError, not_found


def _not_found(e: NotFound) -> ApiError:
    return not_found(e.resource_type, e.name)


def _data_unavailable(e: DataUnavailable) -> ApiError:
    # The job fails with the code the scheduling service answered.
    return ApiError(grpc.StatusCode[e.code], e.message, e.reason)


TABLE = ErrorTable(
    DomainError,
    {
        NotFound: _not_found,
        Precondition: coded(grpc.StatusCode.FAILED_PRECONDITION),
        OutOfScope: coded(grpc.StatusCode.PERMISSION_DENIED),
        TooManyAttempts: coded(grpc.StatusCode.ABORTED),
        DataUnavailable: _data_unavailable,
    },
)

to_api_error = TABLE.to_api_error
translated = TABLE.translated
aip193_handlers = TABLE.handlers
