"""Deadline step: a call whose deadline has already passed is not started."""

from __future__ import annotations

import grpc

from phs_runtime.errors import ApiError


def check(context: grpc.ServicerContext) -> None:
    remaining = context.time_remaining()
    if remaining is not None and remaining <= 0:
        raise ApiError(grpc.StatusCode.DEADLINE_EXCEEDED, "the deadline passed", "DEADLINE_EXCEEDED")
