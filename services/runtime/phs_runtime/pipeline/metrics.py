"""Metrics step: the standard gRPC server metrics (phs_runtime.metrics), labelled by
call type, service and method; the handled count by status code.

A method's labelled series are looked up once and kept (prometheus_client's
`labels()` is a locked dict lookup per call and series); the served methods are
few, so the cache is bounded."""

from __future__ import annotations

import time
from typing import Any

import grpc

from phs_runtime import metrics
from phs_runtime.pipeline.call import Call


class _Series:
    __slots__ = ("handled", "handling", "labels", "received", "sent", "started")

    def __init__(self, labels: tuple[str, str, str]) -> None:
        self.labels = labels
        self.started = metrics.SERVER_STARTED.labels(*labels)
        self.handling = metrics.SERVER_HANDLING.labels(*labels)
        self.sent = metrics.SERVER_MSG_SENT.labels(*labels)
        self.received = metrics.SERVER_MSG_RECEIVED.labels(*labels)
        self.handled: dict[grpc.StatusCode, Any] = {}

    def handled_with(self, code: grpc.StatusCode) -> Any:
        counter = self.handled.get(code)
        if counter is None:
            counter = self.handled.setdefault(code, metrics.SERVER_HANDLED.labels(*self.labels, code.name))
        return counter


_series: dict[tuple[str, str, str], _Series] = {}


def _of(call: Call) -> _Series:
    series = _series.get(call.labels)
    if series is None:
        series = _series.setdefault(call.labels, _Series(call.labels))
    return series


def start(call: Call) -> None:
    _of(call).started.inc()
    call.started = time.perf_counter()


def sent(call: Call) -> None:
    _of(call).sent.inc()


def received(call: Call) -> None:
    _of(call).received.inc()


def finish(call: Call, code: grpc.StatusCode) -> None:
    """Count and time the call (call.elapsed: for its log line too)."""
    call.elapsed = time.perf_counter() - call.started
    series = _of(call)
    series.handled_with(code).inc()
    series.handling.observe(call.elapsed)
