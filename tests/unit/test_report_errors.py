"""The reports domain's refusals -> AIP-193 statuses, in the one place that maps them
(phs_reports.errors): the codes, reasons, messages, metadata and details callers and
stored jobs have always had. Through the handlers: tests/unit/test_report_handlers.py;
end to end: tests/e2e/test_e2e_reports.py."""

from __future__ import annotations

import ast
import inspect
import pkgutil

import grpc
import pytest
from google.rpc import error_details_pb2

from phs.reports.v1 import resources_pb2 as rr
from phs_reports import domain
from phs_reports.domain.errors import (
    AlreadyFinished,
    DataUnavailable,
    DomainError,
    NoFile,
    NotFound,
    NotReady,
    OutOfScope,
    Precondition,
    ResultExpired,
    TooManyAttempts,
)
from phs_reports.domain.jobs import (
    CANCELLED,
    KIND_CASELOAD,
    KIND_EXPORT,
    RUNNING,
    SUCCEEDED,
    check_cancelled,
    export_file,
)
from phs_reports.domain.scope import job_refusal, out_of_scope
from phs_reports.errors import to_api_error
from phs_runtime.errors import ApiError

Code = grpc.StatusCode


@pytest.mark.parametrize(
    ("error", "code", "reason", "message", "metadata"),
    [
        (
            NotFound("Report", "reports/r1"),
            Code.NOT_FOUND,
            "RESOURCE_NOT_FOUND",
            "Report reports/r1 not found",
            {"resource": "reports/r1"},
        ),
        (
            AlreadyFinished("SUCCEEDED"),
            Code.FAILED_PRECONDITION,
            "ALREADY_FINISHED",
            "the job is already SUCCEEDED",
            {"state": "SUCCEEDED"},
        ),
        (
            NoFile(),
            Code.FAILED_PRECONDITION,
            "NO_FILE",
            "only exports have a file to download; see GetReport",
            {},
        ),
        (
            NotReady("RUNNING"),
            Code.FAILED_PRECONDITION,
            "NOT_READY",
            "the export is RUNNING",
            {"state": "RUNNING"},
        ),
        (
            ResultExpired(),
            Code.FAILED_PRECONDITION,
            "RESULT_EXPIRED",
            "the file has expired; create the export again",
            {},
        ),
        (
            OutOfScope("ROLE_NOT_ALLOWED", "the client role may not run reports"),
            Code.PERMISSION_DENIED,
            "ROLE_NOT_ALLOWED",
            "the client role may not run reports",
            {},
        ),
        (
            TooManyAttempts(5),
            Code.ABORTED,
            "MAX_ATTEMPTS_EXCEEDED",
            "gave up after too many attempts",
            {"attempts": "5"},
        ),
        (
            DataUnavailable("UNAVAILABLE", transient=True),
            Code.UNAVAILABLE,
            "DEPENDENCY_UNAVAILABLE",
            "scheduling data unavailable: UNAVAILABLE",
            {},
        ),
        (
            DataUnavailable("PERMISSION_DENIED", transient=False),
            Code.PERMISSION_DENIED,
            "PERMISSION_DENIED",
            "scheduling data unavailable: PERMISSION_DENIED",
            {},
        ),
    ],
)
def test_each_refusal_has_its_code_reason_message_and_metadata(
    error: DomainError, code: grpc.StatusCode, reason: str, message: str, metadata: dict[str, str]
) -> None:
    api = to_api_error(error)
    assert (api.code, api.reason, api.message, api.metadata) == (code, reason, message, metadata)


def test_a_missing_report_names_it_in_a_resource_info() -> None:
    (info,) = to_api_error(NotFound("Report", "reports/r1")).extra_details
    assert isinstance(info, error_details_pb2.ResourceInfo)
    assert (info.resource_type, info.resource_name) == ("Report", "reports/r1")


def test_only_not_found_carries_details() -> None:
    for error in (AlreadyFinished("FAILED"), NoFile(), TooManyAttempts(1), DataUnavailable("INTERNAL", True)):
        assert to_api_error(error).extra_details == []


def test_a_refusal_kind_without_a_row_in_the_table_is_a_bug() -> None:
    with pytest.raises(TypeError, match="no status for DomainError"):
        to_api_error(DomainError("unmapped"))
    # A new precondition needs no row of its own: its base's status applies.
    assert to_api_error(Precondition("SOMETHING_ELSE", "m")).code is Code.FAILED_PRECONDITION


def test_an_export_offers_its_file_only_once_it_succeeded_and_until_it_expires() -> None:
    assert export_file(KIND_EXPORT, SUCCEEDED, b"a,b\n") == b"a,b\n"
    with pytest.raises(NoFile):
        export_file(KIND_CASELOAD, SUCCEEDED, None)
    with pytest.raises(NotReady):
        export_file(KIND_EXPORT, RUNNING, None)
    with pytest.raises(ResultExpired):
        export_file(KIND_EXPORT, SUCCEEDED, None)


def test_a_cancel_that_left_the_job_final_otherwise_is_refused() -> None:
    check_cancelled(CANCELLED)
    with pytest.raises(AlreadyFinished) as err:
        check_cancelled(SUCCEEDED)
    assert err.value.metadata == {"state": SUCCEEDED}


def _caseload(psychologist: str) -> rr.Report:
    return rr.Report(caseload_params=rr.CaseloadParams(psychologist=psychologist))


def test_scope_refusals_are_permission_denied_with_the_reasons_jobs_have_kept() -> None:
    me = ("psychologists/p1", "psychologist")
    assert out_of_scope(_caseload("psychologists/p1"), me) is None
    assert out_of_scope(_caseload("psychologists/p2"), ("admins/a", "admin")) is None
    other = out_of_scope(_caseload("psychologists/p2"), me)
    assert other is not None
    api = to_api_error(other)
    assert (api.code, api.reason, api.metadata) == (
        Code.PERMISSION_DENIED,
        "REPORT_OUT_OF_SCOPE",
        {"kind": "caseload_params"},
    )
    client = out_of_scope(_caseload("psychologists/p1"), ("clients/c1", "client"))
    assert client is not None and client.reason == "ROLE_NOT_ALLOWED"
    reasons = [
        (x.reason if x else None)
        for x in (
            job_refusal(_caseload("psychologists/p1"), me, None),
            job_refusal(_caseload("psychologists/p1"), me, ("", "psychologist")),
            job_refusal(_caseload("psychologists/p1"), me, ("psychologists/p2", "psychologist")),
            job_refusal(_caseload("psychologists/p1"), me, me),
        )
    ]
    assert reasons == ["REQUESTER_MISSING", "REQUESTER_MISSING", "REQUESTER_MISMATCH", None]


def test_the_reports_domain_imports_no_grpc() -> None:
    for info in pkgutil.iter_modules(domain.__path__, "phs_reports.domain."):
        module = __import__(info.name, fromlist=["_"])
        tree = ast.parse(inspect.getsource(module))
        imported = {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
        imported |= {n.module or "" for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)}
        assert not {m for m in imported if m == "grpc" or m.startswith(("grpc.", "grpc_"))}, info.name
        assert "phs_runtime.errors" not in imported, info.name
    assert not issubclass(DomainError, ApiError)
