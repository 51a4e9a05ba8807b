"""The client-side gRPC interceptor shared by every service: forward the current
request id (and the service's own token, when given one) and record client metrics.

The server side is phs_runtime.pipeline.
"""

from __future__ import annotations

import time
from typing import Any

import grpc

from phs_runtime import metrics
from phs_runtime.auth import AUTHORIZATION_HEADER, TokenSource
from phs_runtime.context import REQUEST_ID_HEADER, current_request_id


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
