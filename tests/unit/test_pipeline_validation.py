"""The validation step: the lenient deserializer and the declared field limits."""

from __future__ import annotations

import grpc
import pytest

from phs.scheduling.v1 import scheduling_service_pb2 as s
from phs_runtime.errors import ApiError
from phs_runtime.pipeline import validation
from phs_runtime.pipeline.call import Call

METHOD = "/phs.scheduling.v1.SchedulingService/GetClient"


def test_an_undecodable_request_parses_to_a_marker_not_an_exception() -> None:
    parse = validation.lenient(s.GetClientRequest.FromString)
    assert parse is not None
    assert parse(b"\x0a\x02\xff\xfe") is validation.UNDECODABLE  # field 1, not UTF-8
    assert parse(b"\xff\xff\xff") is validation.UNDECODABLE  # not the wire format
    assert parse(s.GetClientRequest(name="clients/c1").SerializeToString()).name == "clients/c1"
    assert validation.lenient(None) is None


def test_a_request_within_its_limits_may_be_read() -> None:
    call = Call("unary", METHOD)
    validation.inspect(call, s.GetClientRequest(name="clients/c1"))
    assert call.checked and call.refusal is None
    validation.refuse(call)


def test_a_request_over_its_limits_is_refused_with_its_violations() -> None:
    call = Call("unary", METHOD)
    validation.inspect(call, s.GetClientRequest(name="clients/\x00"))
    assert not call.checked
    with pytest.raises(ApiError) as err:
        validation.refuse(call)
    assert err.value.code is grpc.StatusCode.INVALID_ARGUMENT
    assert err.value.reason == "INVALID_ARGUMENT"
    assert "name" in err.value.message


def test_an_undecodable_request_is_refused_as_malformed() -> None:
    call = Call("unary", METHOD)
    validation.inspect(call, validation.UNDECODABLE)
    assert not call.checked
    with pytest.raises(ApiError) as err:
        validation.refuse(call)
    assert (err.value.code, err.value.reason) == (grpc.StatusCode.INVALID_ARGUMENT, "MALFORMED_REQUEST")


def test_a_request_stream_is_checked_message_by_message() -> None:
    call = Call("client_stream", METHOD)
    validation.inspect(call, None)
    assert call.checked and call.refusal is None
    validation.check_message(s.GetClientRequest(name="clients/c1"))
    with pytest.raises(ApiError, match="name"):
        validation.check_message(s.GetClientRequest(name="c" * 300))
    with pytest.raises(ApiError) as err:
        validation.check_message(validation.UNDECODABLE)
    assert err.value.reason == "MALFORMED_REQUEST"
