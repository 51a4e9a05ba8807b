"""gRPC interceptors shared by every server and client.

Server side, for every RPC: take `x-request-id` from the metadata (Envoy sets it;
generate one if absent or malformed) into the logging context, check the request
against its declared field limits (phs_runtime.limits), authenticate the bearer
token and apply the service's policy table (health and reflection are open), count and
time it with the standard gRPC metrics, turn ApiError into a rich
google.rpc.Status, hide unexpected exceptions behind INTERNAL, append the audit
entry, and log one line when it ends.

Client side: forward the current request id (and the service's own token, when
given one) and record client metrics.
"""

from __future__ import annotations

import contextlib
import logging
import time
from collections.abc import Callable, Iterator
from concurrent import futures
from typing import Any

import grpc
from google.protobuf.message import Message
from grpc_status import rpc_status
from sqlalchemy.exc import OperationalError

from phs_runtime import audit as audit_mod
from phs_runtime import limits, metrics
from phs_runtime.auth import AUTHORIZATION_HEADER, Principal, TokenSource, reset_principal, set_principal
from phs_runtime.context import REQUEST_ID_HEADER, current_annotations, current_request_id, request_context
from phs_runtime.errors import ApiError, api_error, internal, invalid_argument, unavailable
from phs_runtime.policy import Guard

log = logging.getLogger("phs.rpc")

# Health and reflection are polled constantly; one log line per probe is noise.
# They are also open to anybody: probes and grpcurl carry no token.
_QUIET_SERVICES = {
    "grpc.health.v1.Health",
    "grpc.reflection.v1alpha.ServerReflection",
    "grpc.reflection.v1.ServerReflection",
}


def _metadata_value(metadata: Any, key: str) -> str | None:
    for k, v in metadata or ():
        if k == key:
            return v if isinstance(v, str) else v.decode("ascii", "replace")
    return None


def _code_of(context: grpc.ServicerContext) -> grpc.StatusCode:
    code = context.code()  # type: ignore[attr-defined]
    return code if isinstance(code, grpc.StatusCode) else grpc.StatusCode.OK


class _Call:
    """Book-keeping for one server RPC: metrics, request id, error mapping, log line."""

    def __init__(
        self,
        kind: str,
        full_method: str,
        request_id: str | None,
        guard: Guard | None = None,
        authorization: str | None = None,
    ) -> None:
        service, method = metrics.split_method(full_method)
        self.labels = (kind, service, method)
        self.full_method = full_method
        self.request_id = request_id
        self.quiet = service in _QUIET_SERVICES
        self.guard = None if self.quiet else guard
        self.authorization = authorization
        self.principal: Principal | None = None
        self.audited = False
        # Whether the request kept its declared limits: only then may its values go
        # into the audit entry.
        self.checked = False

    def _admit(self, context: grpc.ServicerContext, request: Any) -> Any:
        """Refuse a call whose deadline has passed; check the request's limits (before
        anything reads it), authenticate and authorize; returns the contextvar token
        to reset. An unauthenticated call is refused as such whatever its input; an
        authenticated one breaking a limit is refused before its policy check, which
        may read the database."""
        remaining = context.time_remaining()
        if remaining is not None and remaining <= 0:
            raise ApiError(grpc.StatusCode.DEADLINE_EXCEEDED, "the deadline passed", "DEADLINE_EXCEEDED")
        violations = limits.violations(request) if isinstance(request, Message) else []
        self.checked = not violations and request is not _UNDECODABLE
        principal = self.guard.authenticate(self.authorization) if self.guard is not None else None
        self.principal = principal
        if request is _UNDECODABLE:
            raise _undecodable()
        if violations:
            raise invalid_argument(violations)
        if self.guard is None or principal is None:
            return None
        self.guard.authorize(self.full_method, request, principal)
        rid = current_request_id() or ""
        return set_principal(principal), self.guard.begin(self.full_method, request, principal, rid)

    def _audit(self, request: Any, response: Any, code: grpc.StatusCode, rid: str) -> None:
        """The call's audit entry; an entry that cannot be written fails the call."""
        if self.guard is None or self.audited:
            return
        self.audited = True
        if not self.checked:
            request = None
        try:
            self.guard.record(self.full_method, request, response, self.principal, code, rid)
        except Exception as exc:  # noqa: BLE001 - whatever broke, the call must not pass unaudited
            log.error("audit entry not written", extra={"grpc_method": self.full_method, "error": repr(exc)})
            raise unavailable("AUDIT_UNAVAILABLE", "the audit log cannot be written; retry") from None

    def run(self, context: grpc.ServicerContext, request: Any, body: Callable[[], Any]) -> Any:
        """Run a unary-response body under the request context."""
        with request_context(self.request_id) as rid:
            self._start()
            code = grpc.StatusCode.UNKNOWN
            token = None
            try:
                token = self._admit(context, request)
                result = body()
                code = _code_of(context)
                self._audit(request, result, code, rid)
                return result
            except BaseException as exc:
                code = self._fail(context, exc)
                self._audit_failure(request, code, rid)
                self._abort(context, exc, code)
                raise
            finally:
                _release(token)
                self._finish(code)

    def stream(
        self, context: grpc.ServicerContext, request: Any, body: Callable[[], Iterator[Any]]
    ) -> Iterator[Any]:
        """Run a streaming-response body; the generator keeps the request context."""
        with request_context(self.request_id) as rid:
            self._start()
            code = grpc.StatusCode.UNKNOWN
            token = None
            try:
                token = self._admit(context, request)
                for msg in body():
                    metrics.SERVER_MSG_SENT.labels(*self.labels).inc()
                    yield msg
                code = _code_of(context)
                self._audit(request, None, code, rid)
            except BaseException as exc:
                code = self._fail(context, exc)
                self._audit_failure(request, code, rid)
                self._abort(context, exc, code)
                raise
            finally:
                _release(token)
                self._finish(code)

    def _audit_failure(self, request: Any, code: grpc.StatusCode, rid: str) -> None:
        """A failed call's entry, best effort: the caller gets the original error."""
        with contextlib.suppress(ApiError):
            self._audit(request, None, code, rid)

    def _start(self) -> None:
        metrics.SERVER_STARTED.labels(*self.labels).inc()
        self.started = time.perf_counter()

    def _fail(self, context: grpc.ServicerContext, exc: BaseException) -> grpc.StatusCode:
        """The status an exception ends the RPC with (called before _abort)."""
        expected = api_error(exc)  # an ApiError, or a refusal raised below gRPC
        if expected is not None:
            return expected.code
        if isinstance(exc, GeneratorExit):  # the client went away mid-stream
            return grpc.StatusCode.CANCELLED
        if isinstance(exc, OperationalError):  # the database is unreachable: worth a retry
            log.warning("database unavailable", extra={"grpc_method": self.full_method})
            return grpc.StatusCode.UNAVAILABLE
        code = _code_of(context)
        if code is grpc.StatusCode.OK:  # not an abort: a bug or an outage
            log.error("unhandled error", exc_info=exc, extra={"grpc_method": self.full_method})
            return grpc.StatusCode.INTERNAL
        return code

    @staticmethod
    def _abort(context: grpc.ServicerContext, exc: BaseException, code: grpc.StatusCode) -> None:
        """Send the rich status for expected errors and hide unexpected ones behind INTERNAL."""
        expected = api_error(exc)
        if expected is not None:
            context.abort_with_status(rpc_status.to_status(expected.to_status()))
        if _code_of(context) is not grpc.StatusCode.OK:
            return  # the handler aborted itself
        if code is grpc.StatusCode.UNAVAILABLE:
            context.abort_with_status(
                rpc_status.to_status(unavailable("DATABASE_UNAVAILABLE", "database unavailable").to_status())
            )
        if code is grpc.StatusCode.INTERNAL:
            context.abort_with_status(rpc_status.to_status(internal().to_status()))

    def _finish(self, code: grpc.StatusCode) -> None:
        elapsed = time.perf_counter() - self.started
        metrics.SERVER_HANDLED.labels(*self.labels, code.name).inc()
        metrics.SERVER_HANDLING.labels(*self.labels).observe(elapsed)
        if not self.quiet:
            log.info(
                "rpc finished",
                extra={
                    **current_annotations(),
                    "grpc_method": self.full_method,
                    "grpc_code": code.name,
                    "duration_ms": round(elapsed * 1000, 2),
                },
            )


# What a request that is not a valid message of its method's type parses to (bad
# wire format, a string that is not UTF-8): gRPC would answer a deserializer's
# exception with INTERNAL, a server fault; it is the caller's.
_UNDECODABLE = object()


def _lenient(deserializer: Callable[[bytes], Any] | None) -> Callable[[bytes], Any] | None:
    if deserializer is None:
        return None

    def parse(raw: bytes) -> Any:
        try:
            return deserializer(raw)
        except Exception:  # noqa: BLE001 - DecodeError, UnicodeDecodeError ...: all the caller's
            return _UNDECODABLE

    return parse


def _undecodable() -> ApiError:
    message = "the request is not a valid message of its type"
    return ApiError(grpc.StatusCode.INVALID_ARGUMENT, message, "MALFORMED_REQUEST")


def _release(tokens: Any) -> None:
    """Reset what _admit set (the principal and the pending audit entry)."""
    if tokens is None:
        return
    principal, pending = tokens
    if pending is not None:
        audit_mod.end(pending)
    reset_principal(principal)


class ServerInterceptor(grpc.ServerInterceptor):  # type: ignore[type-arg]
    """`stream_pool`: where streaming calls run, apart from the server's pool of
    unary calls (GrpcProcess). gRPC Python runs a method in the pool named by its
    behavior's `experimental_thread_pool`, else in the server's."""

    def __init__(
        self, guard: Guard | None = None, stream_pool: futures.ThreadPoolExecutor | None = None
    ) -> None:
        self.guard = guard
        self.stream_pool = stream_pool

    def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], grpc.RpcMethodHandler[Any, Any] | None],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler[Any, Any] | None:
        handler = continuation(handler_call_details)
        if handler is None:
            return None
        method = handler_call_details.method
        md = handler_call_details.invocation_metadata
        rid = _metadata_value(md, REQUEST_ID_HEADER)
        authz = _metadata_value(md, AUTHORIZATION_HEADER)
        guard = self.guard
        parse = _lenient(handler.request_deserializer)

        def counted(kind: str, requests: Iterator[Any]) -> Iterator[Any]:
            for msg in requests:
                metrics.SERVER_MSG_RECEIVED.labels(kind, *metrics.split_method(method)).inc()
                if msg is _UNDECODABLE:
                    raise _undecodable()
                limits.check(msg)
                yield msg

        if handler.unary_unary:
            uu = handler.unary_unary

            def unary_unary(request: Any, context: grpc.ServicerContext) -> Any:
                return _Call("unary", method, rid, guard, authz).run(
                    context, request, lambda: uu(request, context)
                )

            return grpc.unary_unary_rpc_method_handler(unary_unary, parse, handler.response_serializer)
        if handler.unary_stream:
            us = handler.unary_stream

            def unary_stream(request: Any, context: grpc.ServicerContext) -> Any:
                return _Call("server_stream", method, rid, guard, authz).stream(
                    context, request, lambda: us(request, context)
                )

            self._in_stream_pool(unary_stream)

            return grpc.unary_stream_rpc_method_handler(unary_stream, parse, handler.response_serializer)
        if handler.stream_unary:
            su = handler.stream_unary

            def stream_unary(requests: Iterator[Any], context: grpc.ServicerContext) -> Any:
                call = _Call("client_stream", method, rid, guard, authz)
                return call.run(context, None, lambda: su(counted("client_stream", requests), context))

            return grpc.stream_unary_rpc_method_handler(stream_unary, parse, handler.response_serializer)
        if handler.stream_stream:
            ss = handler.stream_stream

            def stream_stream(requests: Iterator[Any], context: grpc.ServicerContext) -> Any:
                call = _Call("bidi_stream", method, rid, guard, authz)
                return call.stream(context, None, lambda: ss(counted("bidi_stream", requests), context))

            self._in_stream_pool(stream_stream)

            return grpc.stream_stream_rpc_method_handler(stream_stream, parse, handler.response_serializer)
        return handler

    def _in_stream_pool(self, behavior: Callable[..., Any]) -> None:
        if self.stream_pool is not None:
            behavior.experimental_thread_pool = self.stream_pool  # type: ignore[attr-defined]


class _ClientCallDetails(grpc.ClientCallDetails):
    def __init__(self, base: grpc.ClientCallDetails, metadata: list[tuple[str, str | bytes]]) -> None:
        self.method = base.method
        self.timeout = base.timeout
        self.metadata = tuple(metadata)
        self.credentials = base.credentials
        self.wait_for_ready = getattr(base, "wait_for_ready", None)
        self.compression = getattr(base, "compression", None)


class ClientInterceptor(grpc.UnaryUnaryClientInterceptor, grpc.UnaryStreamClientInterceptor):  # type: ignore[type-arg]
    """Forwards the current request id (and the service's token) and records
    client-side gRPC metrics."""

    def __init__(self, tokens: TokenSource | None = None) -> None:
        self.tokens = tokens

    def _details(self, details: grpc.ClientCallDetails) -> grpc.ClientCallDetails:
        md = [(k, v) for k, v in (details.metadata or ()) if k != REQUEST_ID_HEADER]
        rid = current_request_id()
        if rid:
            md.append((REQUEST_ID_HEADER, rid))
        if self.tokens is not None and not any(k == AUTHORIZATION_HEADER for k, _ in md):
            md.append((AUTHORIZATION_HEADER, self.tokens.header()))
        return _ClientCallDetails(details, md)

    def intercept_unary_unary(self, continuation: Any, client_call_details: Any, request: Any) -> Any:
        service, method = metrics.split_method(client_call_details.method)
        lbl = ("unary", service, method)
        metrics.CLIENT_STARTED.labels(*lbl).inc()
        start = time.perf_counter()
        outcome = continuation(self._details(client_call_details), request)
        code = outcome.code()
        metrics.CLIENT_HANDLED.labels(*lbl, code.name if code else "UNKNOWN").inc()
        metrics.CLIENT_HANDLING.labels(*lbl).observe(time.perf_counter() - start)
        return outcome

    def intercept_unary_stream(self, continuation: Any, client_call_details: Any, request: Any) -> Any:
        service, method = metrics.split_method(client_call_details.method)
        lbl = ("server_stream", service, method)
        metrics.CLIENT_STARTED.labels(*lbl).inc()
        return _CountedStream(continuation(self._details(client_call_details), request), lbl)


class _CountedStream:
    """A response stream that records the client metrics when it ends."""

    def __init__(self, inner: Any, labels: tuple[str, str, str]) -> None:
        self._inner = inner
        self._labels = labels
        self._start = time.perf_counter()
        self._done = False

    def __iter__(self) -> _CountedStream:
        return self

    def __next__(self) -> Any:
        try:
            return next(self._inner)
        except StopIteration:
            self._finish("OK")
            raise
        except grpc.RpcError as err:
            self._finish(err.code().name if err.code() else "UNKNOWN")
            raise

    def _finish(self, code: str) -> None:
        if not self._done:
            self._done = True
            metrics.CLIENT_HANDLED.labels(*self._labels, code).inc()
            metrics.CLIENT_HANDLING.labels(*self._labels).observe(time.perf_counter() - self._start)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)


def client_channel(
    target: str, options: list[tuple[str, Any]] | None = None, tokens: TokenSource | None = None
) -> grpc.Channel:
    """An insecure channel to a sibling service with the shared client interceptor."""
    channel = grpc.insecure_channel(target, options=options or [])
    return grpc.intercept_channel(channel, ClientInterceptor(tokens))
