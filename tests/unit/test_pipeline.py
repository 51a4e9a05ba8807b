"""The steps in order, through the one interceptor's Pipeline, around in-process
handlers (tests/e2e/test_grpc_direct.py runs them behind a real server)."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest

from phs.scheduling.v1 import resources_pb2 as r
from phs.scheduling.v1 import scheduling_service_pb2 as s
from phs_runtime.auth import ADMIN, PSYCHOLOGIST, Principal, current_principal
from phs_runtime.context import current_request_id
from phs_runtime.decision import Scope, current_scope
from phs_runtime.errors import not_found
from phs_runtime.pipeline import Pipeline
from phs_runtime.pipeline.call import Call
from phs_runtime.policy import rule
from tests.unit.fakes import Aborted, FakeContext, bearer, guard

PREFIX = "/phs.scheduling.v1.SchedulingService/"
checked_by_policy: list[str] = []


def _own(request: Any, p: Principal) -> Scope:
    checked_by_policy.append(request.name)
    return Scope(only={"psychologist": p.subject})


RULES = {PREFIX + "GetClient": rule(ADMIN, PSYCHOLOGIST, check=_own, target=["name"])}


def _call(pipeline: Pipeline, keys: Path | None, kind: str = "unary") -> Call:
    md = [("x-request-id", "rid-7")]
    if keys is not None:
        md.append(("authorization", bearer(keys, "psychologists/p1", "psychologist")))
    return pipeline.call(kind, PREFIX + "GetClient", md)


def _fails(run: Any) -> FakeContext:
    context = FakeContext()
    with pytest.raises(Aborted):
        run(context.as_grpc)
    return context


def test_the_handler_runs_with_the_request_id_principal_and_scope(dev_keys: Path) -> None:
    pipeline = Pipeline(guard(dev_keys, RULES))
    seen: dict[str, Any] = {}

    def handler() -> r.Client:
        p = current_principal()
        seen.update(rid=current_request_id(), who=p.subject if p else None, scope=current_scope())
        return r.Client(name="clients/c1")

    request = s.GetClientRequest(name="clients/c1")
    answer = pipeline.unary(_call(pipeline, dev_keys), FakeContext().as_grpc, request, handler)
    assert answer.name == "clients/c1"
    assert seen == {
        "rid": "rid-7",
        "who": "psychologists/p1",
        "scope": Scope(only={"psychologist": "psychologists/p1"}),
    }
    assert current_principal() is None and current_request_id() is None


def test_an_unauthenticated_call_is_refused_as_such_whatever_its_input(dev_keys: Path) -> None:
    pipeline = Pipeline(guard(dev_keys, RULES))
    bad = s.GetClientRequest(name="clients/\x00")
    context = _fails(lambda ctx: pipeline.unary(_call(pipeline, None), ctx, bad, lambda: None))
    assert context.sent.code is grpc.StatusCode.UNAUTHENTICATED


def test_bad_input_is_refused_before_the_policy_reads_it(dev_keys: Path) -> None:
    pipeline = Pipeline(guard(dev_keys, RULES))
    checked_by_policy.clear()
    bad = s.GetClientRequest(name="clients/\x00")
    context = _fails(lambda ctx: pipeline.unary(_call(pipeline, dev_keys), ctx, bad, lambda: None))
    assert context.sent.code is grpc.StatusCode.INVALID_ARGUMENT
    assert checked_by_policy == []


def test_a_passed_deadline_comes_first(dev_keys: Path) -> None:
    pipeline = Pipeline(guard(dev_keys, RULES))
    context = FakeContext(remaining=0)
    with pytest.raises(Aborted):
        pipeline.unary(_call(pipeline, None), context.as_grpc, s.GetClientRequest(), lambda: None)
    assert context.sent.code is grpc.StatusCode.DEADLINE_EXCEEDED


def test_a_handlers_error_is_sent_and_logged_once(dev_keys: Path, caplog: pytest.LogCaptureFixture) -> None:
    pipeline = Pipeline(guard(dev_keys, RULES))

    def handler() -> None:
        raise not_found("Client", "clients/c9")

    with caplog.at_level(logging.INFO, "phs.rpc"):
        context = _fails(
            lambda ctx: pipeline.unary(
                _call(pipeline, dev_keys), ctx, s.GetClientRequest(name="clients/c9"), handler
            )
        )
    assert context.reason() == "RESOURCE_NOT_FOUND"
    (line,) = [x for x in caplog.records if x.getMessage() == "rpc finished"]
    assert line.grpc_code == "NOT_FOUND"  # type: ignore[attr-defined]


def test_a_response_stream_keeps_the_context_between_messages(dev_keys: Path) -> None:
    pipeline = Pipeline(guard(dev_keys, RULES))

    def body() -> Iterator[str]:
        for _ in range(3):
            p = current_principal()
            yield f"{current_request_id()} {p.subject if p else None}"

    call = _call(pipeline, dev_keys, "server_stream")
    out = list(pipeline.stream(call, FakeContext().as_grpc, s.GetClientRequest(name="clients/c1"), body))
    assert out == ["rid-7 psychologists/p1"] * 3
    assert current_principal() is None


def test_a_server_without_a_guard_admits_everybody() -> None:
    pipeline = Pipeline()
    answer = pipeline.unary(_call(pipeline, None), FakeContext().as_grpc, s.GetClientRequest(), lambda: "ok")
    assert answer == "ok"
