"""Logging step: the call's request context (its `x-request-id`, taken from the
metadata when well-formed, else generated; the annotations its handler adds) and
its one "rpc finished" line. Health and reflection calls are not logged."""

from __future__ import annotations

import logging
from contextlib import AbstractContextManager

import grpc

from phs_runtime.context import current_annotations, request_context
from phs_runtime.pipeline.call import Call

log = logging.getLogger("phs.rpc")


def context(call: Call) -> AbstractContextManager[str]:
    """Enter it around the whole call; it yields the call's request id."""
    return request_context(call.given_request_id)


def finish(call: Call, code: grpc.StatusCode) -> None:
    if call.quiet or not log.isEnabledFor(logging.INFO):
        return
    extra = current_annotations()
    extra["grpc_method"] = call.method
    extra["grpc_code"] = code.name
    extra["duration_ms"] = round(call.elapsed * 1000, 2)
    # log.info would also look up the caller's file and line, which no line shows.
    log.handle(log.makeRecord(log.name, logging.INFO, "", 0, "rpc finished", (), None, extra=extra))
