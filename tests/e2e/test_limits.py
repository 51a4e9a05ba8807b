"""Bounds on every server: request sizes (gRPC and through Envoy) and page sizes. The
server-side deadline on database statements: tests/integration/test_statement_timeout.py."""

from __future__ import annotations

import grpc
import pytest

from phs.scheduling.v1 import resources_pb2 as sr
from phs.scheduling.v1 import scheduling_service_pb2 as ss
from phs.scheduling.v1 import scheduling_service_pb2_grpc as ss_grpc
from phs_devstack import Stack
from tests.helpers import channel, rest

HUGE = "x" * (1024 * 1024 + 10)


def test_requests_over_one_mebibyte_are_refused_over_grpc_and_rest(stack: Stack) -> None:
    with channel(stack.scheduling_target) as ch:
        stub = ss_grpc.SchedulingServiceStub(ch)
        with pytest.raises(grpc.RpcError) as err:
            stub.CreateClient(
                ss.CreateClientRequest(client=sr.Client(display_name="A", phone=HUGE)), timeout=10
            )
        assert err.value.code() is grpc.StatusCode.RESOURCE_EXHAUSTED
        # The server is fine afterwards.
        assert stub.ListSessionTypes(ss.ListSessionTypesRequest(), timeout=10).session_types
    resp = rest(stack.rest_url, "POST", "/v1/clients", {"displayName": "A", "phone": HUGE})
    assert resp.status == 413


def test_page_sizes_are_capped(stack: Stack) -> None:
    resp = rest(stack.rest_url, "GET", "/v1/psychologists?pageSize=100000")
    assert resp.status == 200
    assert len(resp.body["psychologists"]) <= 1000
    bad = rest(stack.rest_url, "GET", "/v1/psychologists?pageSize=-1")
    assert bad.status == 400 and bad.detail("BadRequest")["fieldViolations"][0]["field"] == "page_size"
