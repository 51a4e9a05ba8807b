"""Errors step: the status an exception ends the call with, sent as a rich
google.rpc.Status (AIP-193).

- ApiError, or a refusal raised below gRPC (phs_runtime.refusals, mapped by
  errors.api_error): its own status, whatever the handler set.
- GeneratorExit: the client went away mid-stream (CANCELLED).
- An error a mapper recognizes (e.g. the database is unreachable: UNAVAILABLE, worth
  a retry; phs_runtime.db_errors): the mapper's status, unless the handler aborted.
- A handler's own abort (context.abort): its code, left as it sent it.
- Anything else is a bug or an outage: logged, answered INTERNAL with no detail.

Mappers are injected so that this step knows no storage library.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence

import grpc
from grpc_status import rpc_status

from phs_runtime.errors import ApiError, api_error, internal

log = logging.getLogger("phs.rpc")

# (exception, full method name) -> the error to answer with, or None if not its kind.
ErrorMapper = Callable[[BaseException, str], ApiError | None]


def code_of(context: grpc.ServicerContext) -> grpc.StatusCode:
    """The code the handler set (OK when it set none)."""
    code = context.code()  # type: ignore[attr-defined]
    return code if isinstance(code, grpc.StatusCode) else grpc.StatusCode.OK


class Failure:
    """How a call failed: its code, and the status to send unless the handler aborted."""

    __slots__ = ("code", "error", "own")

    def __init__(self, code: grpc.StatusCode, error: ApiError | None = None, own: bool = False) -> None:
        self.code = code
        self.error = error
        self.own = own  # the exception's own status: it stands over the handler's


class Errors:
    def __init__(self, mappers: Sequence[ErrorMapper] = ()) -> None:
        self.mappers = tuple(mappers)

    def classify(self, context: grpc.ServicerContext, exc: BaseException, method: str) -> Failure:
        own = api_error(exc)
        if own is not None:
            return Failure(own.code, own, own=True)
        if isinstance(exc, GeneratorExit):
            return Failure(grpc.StatusCode.CANCELLED)
        for mapper in self.mappers:
            mapped = mapper(exc, method)
            if mapped is not None:
                return Failure(mapped.code, mapped)
        code = code_of(context)
        if code is grpc.StatusCode.OK:  # not an abort: a bug or an outage
            log.error("unhandled error", exc_info=exc, extra={"grpc_method": method})
            return Failure(grpc.StatusCode.INTERNAL, internal())
        return Failure(code)

    @staticmethod
    def abort(context: grpc.ServicerContext, exc: BaseException, failure: Failure) -> None:
        """Send the failure's status (raises, as context.abort does); returns when the
        handler's own abort stands."""
        if failure.error is not None and failure.own:
            context.abort_with_status(rpc_status.to_status(failure.error.to_status()))
        if failure.error is not None and code_of(context) is grpc.StatusCode.OK:
            context.abort_with_status(rpc_status.to_status(failure.error.to_status()))
