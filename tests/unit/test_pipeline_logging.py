"""The logging step: the request id of the call and its one "rpc finished" line."""

from __future__ import annotations

import logging

import grpc
import pytest

from phs_runtime.context import annotate, current_request_id
from phs_runtime.pipeline import logging as rpc_log
from phs_runtime.pipeline.call import Call

METHOD = "/phs.scheduling.v1.SchedulingService/GetClient"


def test_a_well_formed_request_id_is_kept() -> None:
    with rpc_log.context(Call("unary", METHOD, "abc-123")) as rid:
        assert rid == current_request_id() == "abc-123"
    assert current_request_id() is None


def test_a_missing_or_malformed_request_id_is_replaced(caplog: pytest.LogCaptureFixture) -> None:
    with rpc_log.context(Call("unary", METHOD, None)) as rid:
        assert len(rid) == 36
    with caplog.at_level(logging.WARNING), rpc_log.context(Call("unary", METHOD, "bad id\n")) as rid:
        assert rid != "bad id\n" and len(rid) == 36
    assert "bad id" not in caplog.text  # the refused id is never logged


def test_one_line_with_the_handlers_annotations(caplog: pytest.LogCaptureFixture) -> None:
    call = Call("unary", METHOD, "rid-1")
    call.elapsed = 0.012345
    with caplog.at_level(logging.INFO, "phs.rpc"), rpc_log.context(call):
        annotate(resource="clients/c1")
        rpc_log.finish(call, grpc.StatusCode.NOT_FOUND)
    (line,) = caplog.records
    assert line.name == "phs.rpc" and line.getMessage() == "rpc finished"
    assert line.grpc_method == METHOD  # type: ignore[attr-defined]
    assert line.grpc_code == "NOT_FOUND"  # type: ignore[attr-defined]
    assert line.duration_ms == 12.35  # type: ignore[attr-defined]
    assert line.resource == "clients/c1"  # type: ignore[attr-defined]


def test_health_and_reflection_are_not_logged(caplog: pytest.LogCaptureFixture) -> None:
    call = Call("unary", "/grpc.health.v1.Health/Check")
    with caplog.at_level(logging.INFO, "phs.rpc"):
        rpc_log.finish(call, grpc.StatusCode.OK)
    assert caplog.records == []
