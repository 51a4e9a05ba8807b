"""The metrics step: the standard gRPC server metrics, by type, service and method."""

from __future__ import annotations

import uuid

import grpc
from prometheus_client import REGISTRY

from phs_runtime.pipeline import metrics
from phs_runtime.pipeline.call import Call


def _value(name: str, **labels: str) -> float:
    return REGISTRY.get_sample_value(name, labels) or 0.0


def test_a_call_is_counted_timed_and_its_messages_counted() -> None:
    method = f"M{uuid.uuid4().hex}"  # a method of its own: other tests' calls do not count
    call = Call("server_stream", f"/phs.test.v1.Bench/{method}")
    labels = {"grpc_type": "server_stream", "grpc_service": "phs.test.v1.Bench", "grpc_method": method}
    metrics.start(call)
    assert _value("grpc_server_started_total", **labels) == 1
    metrics.sent(call)
    metrics.sent(call)
    metrics.received(call)
    metrics.finish(call, grpc.StatusCode.NOT_FOUND)
    assert _value("grpc_server_msg_sent_total", **labels) == 2
    assert _value("grpc_server_msg_received_total", **labels) == 1
    assert _value("grpc_server_handled_total", **labels, grpc_code="NOT_FOUND") == 1
    assert _value("grpc_server_handled_total", **labels, grpc_code="OK") == 0
    assert _value("grpc_server_handling_seconds_count", **labels) == 1
    assert call.elapsed >= 0
