"""The authentication step: the bearer token becomes the call's principal."""

from __future__ import annotations

from pathlib import Path

import grpc
import pytest

from phs_runtime.errors import ApiError
from phs_runtime.pipeline.authn import Authenticate
from phs_runtime.pipeline.call import Call
from phs_runtime.policy import ANONYMOUS, rule
from tests.unit.fakes import bearer, guard

METHOD = "/phs.scheduling.v1.SchedulingService/GetClient"


def test_a_valid_token_names_the_principal(dev_keys: Path) -> None:
    call = Call("unary", METHOD, None, bearer(dev_keys, "psychologists/p1", "psychologist"), guarded=True)
    Authenticate(guard(dev_keys, {}))(call)
    assert call.principal is not None
    assert (call.principal.subject, call.principal.role) == ("psychologists/p1", "psychologist")


@pytest.mark.parametrize("header", [None, "", "Bearer not-a-token", "Basic dXNlcjpwdw=="])
def test_no_valid_token_is_unauthenticated(dev_keys: Path, header: str | None) -> None:
    call = Call("unary", METHOD, None, header, guarded=True)
    with pytest.raises(ApiError) as err:
        Authenticate(guard(dev_keys, {}))(call)
    assert err.value.code is grpc.StatusCode.UNAUTHENTICATED
    assert call.principal is None


def test_health_probes_and_servers_without_a_guard_need_no_token(dev_keys: Path) -> None:
    probe = Call("unary", "/grpc.health.v1.Health/Check", None, None, guarded=True)
    Authenticate(guard(dev_keys, {}))(probe)
    assert probe.principal is None and not probe.guarded
    open_call = Call("unary", METHOD, None, None)
    Authenticate(None)(open_call)
    assert open_call.principal is None


@pytest.mark.parametrize("header", [None, "Bearer not-a-token", "Bearer " + "x" * 50])
def test_an_open_methods_caller_is_anonymous_token_or_not(dev_keys: Path, header: str | None) -> None:
    method = "/phs.scheduling.v1.SchedulingService/GetCalendarFeedContent"
    rules = {method: rule(ANONYMOUS, open=True)}
    call = Call("unary", method, None, header, guarded=True)
    Authenticate(guard(dev_keys, rules))(call)
    assert call.principal is not None and call.principal.role == ANONYMOUS and call.principal.subject == ""
    # Any other method still wants a valid token.
    other = Call("unary", METHOD, None, header, guarded=True)
    with pytest.raises(ApiError):
        Authenticate(guard(dev_keys, rules))(other)
