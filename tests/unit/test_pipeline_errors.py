"""The errors step: the status an exception ends the call with, and what is sent."""

from __future__ import annotations

import contextlib
import logging

import grpc
import pytest
from sqlalchemy.exc import OperationalError

from phs_runtime.db_errors import database_unavailable
from phs_runtime.errors import ApiError, not_found
from phs_runtime.pipeline import errors
from tests.unit.fakes import Aborted, FakeContext

METHOD = "/phs.scheduling.v1.SchedulingService/GetClient"


def _end(step: errors.Errors, context: FakeContext, exc: BaseException) -> errors.Failure:
    """Classify, then abort as the pipeline does; the failure, whether or not it aborted."""
    failure = step.classify(context.as_grpc, exc, METHOD)
    with contextlib.suppress(Aborted):
        step.abort(context.as_grpc, exc, failure)
    return failure


def test_an_api_error_is_sent_as_its_rich_status() -> None:
    context = FakeContext()
    failure = _end(errors.Errors(), context, not_found("Client", "clients/c1"))
    assert failure.code is grpc.StatusCode.NOT_FOUND
    assert context.sent.code is grpc.StatusCode.NOT_FOUND
    assert context.reason() == "RESOURCE_NOT_FOUND"


def test_an_api_error_wins_over_a_code_the_handler_set() -> None:
    context = FakeContext()
    context._code = grpc.StatusCode.ABORTED
    _end(errors.Errors(), context, ApiError(grpc.StatusCode.OUT_OF_RANGE, "no", "NO"))
    assert context.sent.code is grpc.StatusCode.OUT_OF_RANGE


def test_an_unexpected_exception_is_internal_without_detail(caplog: pytest.LogCaptureFixture) -> None:
    context = FakeContext()
    with caplog.at_level(logging.ERROR, "phs.rpc"):
        failure = _end(errors.Errors(), context, RuntimeError("secret detail"))
    assert failure.code is grpc.StatusCode.INTERNAL
    assert context.sent.details == "internal error"
    assert context.reason() == "INTERNAL"
    (line,) = [r for r in caplog.records if r.getMessage() == "unhandled error"]
    assert line.grpc_method == METHOD  # type: ignore[attr-defined]


def test_a_handlers_own_abort_stands() -> None:
    context = FakeContext()
    with pytest.raises(Aborted) as raised:
        context.abort(grpc.StatusCode.PERMISSION_DENIED, "mine")
    failure = _end(errors.Errors(), context, raised.value)
    assert failure.code is grpc.StatusCode.PERMISSION_DENIED
    assert context.sent is None


def test_a_client_gone_mid_stream_is_cancelled_and_nothing_is_sent() -> None:
    context = FakeContext()
    failure = _end(errors.Errors(), context, GeneratorExit())
    assert failure.code is grpc.StatusCode.CANCELLED
    assert context.sent is None


def _unreachable() -> OperationalError:
    return OperationalError("SELECT 1", {}, Exception("connection refused"))


def test_an_unreachable_database_is_unavailable_through_the_injected_mapper(
    caplog: pytest.LogCaptureFixture,
) -> None:
    context = FakeContext()
    with caplog.at_level(logging.WARNING, "phs.rpc"):
        failure = _end(errors.Errors([database_unavailable]), context, _unreachable())
    assert failure.code is grpc.StatusCode.UNAVAILABLE
    assert context.reason() == "DATABASE_UNAVAILABLE"
    assert [r.getMessage() for r in caplog.records] == ["database unavailable"]


def test_without_the_mapper_a_database_error_is_internal() -> None:
    context = FakeContext()
    assert _end(errors.Errors(), context, _unreachable()).code is grpc.StatusCode.INTERNAL


def test_a_mapped_error_leaves_a_handlers_abort_alone() -> None:
    context = FakeContext()
    context._code = grpc.StatusCode.ABORTED
    failure = _end(errors.Errors([database_unavailable]), context, _unreachable())
    assert failure.code is grpc.StatusCode.UNAVAILABLE
    assert context.sent is None


def test_the_mapper_ignores_other_errors() -> None:
    assert database_unavailable(RuntimeError("x"), METHOD) is None
