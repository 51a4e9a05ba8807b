"""The one server interceptor: it runs the steps of every RPC in order, as a
pipeline inside a single gRPC interceptor (each interceptor layer gRPC Python runs
costs per call).

For a call:
1. logging: enter the request context (request id);  metrics: count it started;
2. deadline: refuse a call whose deadline has passed;
3. validation: inspect the request (decodable, within its declared limits);
4. authn: authenticate the bearer token;  validation: refuse a bad request;
5. authz: the policy refuses, or admits with a decision the handler reads;
6. audit: make the call's entry current (a change may write it in its transaction);
7. the handler; for a stream, metrics count each message;
8. audit: write the entry (before the answer leaves);
on an exception, errors: its status, audit: the entry (best effort), errors: abort
with the rich status; in any case, authz and audit release the context, metrics
count and time the call, logging writes its line.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from concurrent import futures
from typing import TYPE_CHECKING, Any

import grpc

from phs_runtime.auth import AUTHORIZATION_HEADER
from phs_runtime.context import REQUEST_ID_HEADER
from phs_runtime.pipeline import audit, authn, authz, deadline, errors, validation
from phs_runtime.pipeline import logging as rpc_log
from phs_runtime.pipeline import metrics as rpc_metrics
from phs_runtime.pipeline.call import Call

if TYPE_CHECKING:
    from phs_runtime.policy import Guard


def _metadata_value(metadata: Any, key: str) -> str | None:
    for k, v in metadata or ():
        if k == key:
            return v if isinstance(v, str) else v.decode("ascii", "replace")
    return None


class Pipeline:
    """The steps, for one server (its guard and error mappers)."""

    def __init__(self, guard: Guard | None = None, error_mappers: Sequence[errors.ErrorMapper] = ()) -> None:
        self.guard = guard
        self.authenticate = authn.Authenticate(guard)
        self.authorize = authz.Authorize(guard)
        self.audit = audit.Audit(guard)
        self.errors = errors.Errors(error_mappers)

    def call(self, kind: str, method: str, metadata: Any = ()) -> Call:
        return Call(
            kind,
            method,
            _metadata_value(metadata, REQUEST_ID_HEADER),
            _metadata_value(metadata, AUTHORIZATION_HEADER),
            guarded=self.guard is not None,
        )

    def _admit(self, call: Call, context: grpc.ServicerContext, request: Any) -> None:
        deadline.check(context)
        validation.inspect(call, request)
        self.authenticate(call)
        validation.refuse(call)
        self.authorize(call, request)
        self.audit.begin(call, request)

    def _fail(
        self, call: Call, context: grpc.ServicerContext, request: Any, exc: BaseException
    ) -> errors.Failure:
        failure = self.errors.classify(context, exc, call.method)
        self.audit.record_failure(call, request, failure.code)
        return failure

    def _end(self, call: Call, code: grpc.StatusCode) -> None:
        self.audit.release(call)
        self.authorize.release(call)
        rpc_metrics.finish(call, code)
        rpc_log.finish(call, code)

    def unary(self, call: Call, context: grpc.ServicerContext, request: Any, body: Callable[[], Any]) -> Any:
        """Run a unary-response body (`request` None for a request stream)."""
        with rpc_log.context(call) as rid:
            call.request_id = rid
            rpc_metrics.start(call)
            code = grpc.StatusCode.UNKNOWN
            try:
                self._admit(call, context, request)
                result = body()
                code = errors.code_of(context)
                self.audit.record(call, request, result, code)
                return result
            except BaseException as exc:
                failure = self._fail(call, context, request, exc)
                code = failure.code
                self.errors.abort(context, exc, failure)
                raise
            finally:
                self._end(call, code)

    def stream(
        self, call: Call, context: grpc.ServicerContext, request: Any, body: Callable[[], Iterator[Any]]
    ) -> Iterator[Any]:
        """Run a streaming-response body; the generator keeps the request context."""
        with rpc_log.context(call) as rid:
            call.request_id = rid
            rpc_metrics.start(call)
            code = grpc.StatusCode.UNKNOWN
            try:
                self._admit(call, context, request)
                for msg in body():
                    rpc_metrics.sent(call)
                    yield msg
                code = errors.code_of(context)
                self.audit.record(call, request, None, code)
            except BaseException as exc:
                failure = self._fail(call, context, request, exc)
                code = failure.code
                self.errors.abort(context, exc, failure)
                raise
            finally:
                self._end(call, code)


class ServerInterceptor(grpc.ServerInterceptor):  # type: ignore[type-arg]
    """`stream_pool`: where streaming calls run, apart from the server's pool of
    unary calls (GrpcProcess). gRPC Python runs a method in the pool named by its
    behavior's `experimental_thread_pool`, else in the server's. `error_mappers`:
    see phs_runtime.pipeline.errors."""

    def __init__(
        self,
        guard: Guard | None = None,
        stream_pool: futures.ThreadPoolExecutor | None = None,
        error_mappers: Sequence[errors.ErrorMapper] = (),
    ) -> None:
        self.pipeline = Pipeline(guard, error_mappers)
        self.stream_pool = stream_pool
        self._wrapped: dict[str, grpc.RpcMethodHandler[Any, Any]] = {}

    def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], grpc.RpcMethodHandler[Any, Any] | None],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler[Any, Any] | None:
        """gRPC asks for every call: a method's wrapped handler is built once and kept
        (the server's handlers are fixed once it starts; the kept ones are as many
        as its methods)."""
        method = handler_call_details.method
        wrapped = self._wrapped.get(method)
        if wrapped is None:
            handler = continuation(handler_call_details)
            if handler is None:
                return None
            wrapped = self._wrapped.setdefault(method, self._wrap(method, handler))
        return wrapped

    def _wrap(self, method: str, handler: grpc.RpcMethodHandler[Any, Any]) -> grpc.RpcMethodHandler[Any, Any]:
        pipeline = self.pipeline
        parse = validation.lenient(handler.request_deserializer)

        def checked(call: Call, requests: Iterator[Any]) -> Iterator[Any]:
            for msg in requests:
                rpc_metrics.received(call)
                validation.check_message(msg)
                yield msg

        if handler.unary_unary:
            uu = handler.unary_unary

            def unary_unary(request: Any, context: grpc.ServicerContext) -> Any:
                call = pipeline.call("unary", method, context.invocation_metadata())
                return pipeline.unary(call, context, request, lambda: uu(request, context))

            return grpc.unary_unary_rpc_method_handler(unary_unary, parse, handler.response_serializer)
        if handler.unary_stream:
            us = handler.unary_stream

            def unary_stream(request: Any, context: grpc.ServicerContext) -> Any:
                call = pipeline.call("server_stream", method, context.invocation_metadata())
                return pipeline.stream(call, context, request, lambda: us(request, context))

            self._in_stream_pool(unary_stream)
            return grpc.unary_stream_rpc_method_handler(unary_stream, parse, handler.response_serializer)
        if handler.stream_unary:
            su = handler.stream_unary

            def stream_unary(requests: Iterator[Any], context: grpc.ServicerContext) -> Any:
                call = pipeline.call("client_stream", method, context.invocation_metadata())
                return pipeline.unary(call, context, None, lambda: su(checked(call, requests), context))

            return grpc.stream_unary_rpc_method_handler(stream_unary, parse, handler.response_serializer)
        if handler.stream_stream:
            ss = handler.stream_stream

            def stream_stream(requests: Iterator[Any], context: grpc.ServicerContext) -> Any:
                call = pipeline.call("bidi_stream", method, context.invocation_metadata())
                return pipeline.stream(call, context, None, lambda: ss(checked(call, requests), context))

            self._in_stream_pool(stream_stream)
            return grpc.stream_stream_rpc_method_handler(stream_stream, parse, handler.response_serializer)
        return handler

    def _in_stream_pool(self, behavior: Callable[..., Any]) -> None:
        if self.stream_pool is not None:
            behavior.experimental_thread_pool = self.stream_pool  # type: ignore[attr-defined]
