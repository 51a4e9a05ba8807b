"""The authorization step: the policy refuses, or admits with a decision the handler
reads from the call's context (the principal and the scope), never a rewritten request."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import grpc
import pytest

from phs.scheduling.v1 import scheduling_service_pb2 as s
from phs_runtime.auth import ADMIN, PSYCHOLOGIST, Principal, current_principal
from phs_runtime.decision import UNSCOPED, Scope, current_decision, current_scope
from phs_runtime.errors import ApiError
from phs_runtime.pipeline.authz import Authorize
from phs_runtime.pipeline.call import Call
from phs_runtime.policy import rule
from tests.unit.fakes import guard

LIST = "/phs.scheduling.v1.SchedulingService/ListClients"


def _own_clients(request: Any, p: Principal) -> Scope:
    return Scope(only={"psychologist": p.subject})


RULES = {LIST: rule(ADMIN, PSYCHOLOGIST, check=_own_clients)}


def _call(principal: Principal) -> Call:
    call = Call("unary", LIST, guarded=True)
    call.principal = principal
    return call


def test_an_admitted_call_carries_its_scope_in_the_context_until_released(dev_keys: Path) -> None:
    step = Authorize(guard(dev_keys, RULES))
    me = Principal("psychologists/p1", PSYCHOLOGIST)
    request = s.ListClientsRequest()
    call = _call(me)
    step(call, request)
    assert current_principal() == me
    decision = current_decision()
    assert decision is not None and decision.principal == me
    assert current_scope().pinned("psychologist", request.psychologist) == "psychologists/p1"
    assert request.psychologist == ""  # the request is as the caller sent it
    step.release(call)
    assert current_principal() is None and current_decision() is None
    assert current_scope() is UNSCOPED


def test_admins_are_unscoped(dev_keys: Path) -> None:
    step = Authorize(guard(dev_keys, RULES))
    call = _call(Principal("staff/a", ADMIN))
    step(call, s.ListClientsRequest())
    try:
        assert current_scope() is UNSCOPED
        assert current_scope().pinned("psychologist", "") == ""
    finally:
        step.release(call)


@pytest.mark.parametrize(
    ("method", "role", "reason"),
    [(LIST, "client", "ROLE_NOT_ALLOWED"), ("/phs.scheduling.v1.SchedulingService/Nope", ADMIN, "NO_POLICY")],
)
def test_a_refusal_sets_nothing(dev_keys: Path, method: str, role: str, reason: str) -> None:
    step = Authorize(guard(dev_keys, RULES))
    call = Call("unary", method, guarded=True)
    call.principal = Principal("clients/c1" if role == "client" else "staff/a", role)
    with pytest.raises(ApiError) as err:
        step(call, s.ListClientsRequest())
    assert (err.value.code, err.value.reason) == (grpc.StatusCode.PERMISSION_DENIED, reason)
    assert call.decision is None and current_principal() is None
    step.release(call)


def test_without_a_guard_or_principal_nothing_is_decided() -> None:
    call = Call("unary", LIST)
    Authorize(None)(call, s.ListClientsRequest())
    assert call.decision is None and current_scope() is UNSCOPED
