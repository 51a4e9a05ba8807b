"""One gRPC process: server with the shared interceptor (phs_runtime.pipeline),
reflection, health, /metrics, and a graceful SIGTERM sequence:

1. health turns NOT_SERVING (load balancers and probes see it first),
2. after an optional drain delay the listener stops accepting new RPCs,
3. in-flight RPCs get `shutdown_grace_s` to finish,
4. the process's own stop hooks run (close producers, release jobs, dispose pools).
"""

from __future__ import annotations

import gc
import logging
import signal
import threading
import time
from collections.abc import Callable, Collection, Mapping, Sequence
from concurrent import futures
from types import FrameType

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection

from phs_runtime.config import ServerConfig
from phs_runtime.db_errors import database_unavailable
from phs_runtime.health import Check, HealthMonitor
from phs_runtime.metrics import serve_metrics
from phs_runtime.pipeline import ServerInterceptor
from phs_runtime.policy import Guard
from phs_runtime.signals import wait_for

log = logging.getLogger(__name__)

# Request metadata the server takes (soft and hard limit alike). Envoy forwards the
# original URL (x-envoy-original-path) besides the request's own headers; with this
# much room a long path or query parameter reaches the field limits and is answered
# 400, where gRPC's defaults (8 KiB soft, 16 KiB hard) refused it at random with
# RESOURCE_EXHAUSTED and a message listing every header's size.
MAX_METADATA_BYTES = 128 * 1024


def settle_heap() -> int:
    """Hide what start-up made (modules, descriptors, compiled statements: it lives as
    long as the process) from the cyclic collector; returns how many objects. A full
    collection walks every tracked object while holding the GIL, so each call in flight
    in the process waits for it; after this it walks only what serving made."""
    gc.collect()
    gc.freeze()
    return gc.get_freeze_count()


class GrpcProcess:
    def __init__(
        self,
        config: ServerConfig,
        service_names: Sequence[str],
        add_servicers: Callable[[grpc.Server], None],
        checks: Mapping[str, Check],
        stop_event: threading.Event | None = None,
        readiness: Collection[str] | None = None,
        guard: Guard | None = None,
    ) -> None:
        self.config = config
        self.stop_event = stop_event or threading.Event()
        self.health = HealthMonitor(service_names, checks, config.health_interval_s, readiness)
        self._on_stop: list[Callable[[], None]] = []
        self._on_drain: list[Callable[[], None]] = []
        # Streams (exports, watches, reflection) run in a pool of their own: a long one
        # never holds a thread that unary calls need.
        self._stream_pool = futures.ThreadPoolExecutor(config.max_streams, thread_name_prefix="stream")
        self.server = grpc.server(
            futures.ThreadPoolExecutor(max_workers=config.max_workers, thread_name_prefix="rpc"),
            interceptors=[ServerInterceptor(guard, self._stream_pool, [database_unavailable])],
            options=[
                ("grpc.max_receive_message_length", config.max_request_bytes),
                ("grpc.max_send_message_length", config.max_message_bytes),
                ("grpc.max_metadata_size", MAX_METADATA_BYTES),
                ("grpc.absolute_max_metadata_size", MAX_METADATA_BYTES),
                ("grpc.so_reuseport", int(config.reuse_port)),
            ],
            maximum_concurrent_rpcs=max(64, (config.max_workers + config.max_streams) * 8),
        )
        add_servicers(self.server)
        health_pb2_grpc.add_HealthServicer_to_server(self.health.servicer, self.server)
        reflection.enable_server_reflection(
            [
                *service_names,
                health_pb2.DESCRIPTOR.services_by_name["Health"].full_name,
                reflection.SERVICE_NAME,
            ],
            self.server,
        )
        self.bound_port = self.server.add_insecure_port(f"{config.bind_host}:{config.grpc_port}")
        if self.bound_port == 0:
            raise RuntimeError(f"cannot listen on {config.bind_host}:{config.grpc_port}")

    def on_stop(self, hook: Callable[[], None]) -> None:
        """Run `hook` after the server has drained (hooks run in reverse order of registration)."""
        self._on_stop.append(hook)

    def on_drain(self, hook: Callable[[], None]) -> None:
        """Run `hook` once the listener has closed, while in-flight calls finish: long
        streams (watches) end there cleanly instead of being cut at the grace period."""
        self._on_drain.append(hook)

    def install_signal_handlers(self) -> None:
        def handle(signum: int, _frame: FrameType | None) -> None:
            log.info("signal received, shutting down", extra={"signal": signal.Signals(signum).name})
            self.stop_event.set()

        signal.signal(signal.SIGTERM, handle)
        signal.signal(signal.SIGINT, handle)

    def start(self) -> None:
        serve_metrics(self.config.bind_host, self.config.metrics_port)
        frozen = settle_heap()
        self.server.start()
        self.health.start()
        log.info(
            "serving",
            extra={
                "grpc_port": self.bound_port,
                "metrics_port": self.config.metrics_port,
                "healthy": not self.health.failing,
                "frozen_objects": frozen,
            },
        )

    def stop(self) -> None:
        self.health.shutdown()
        if self.config.shutdown_drain_s > 0:
            time.sleep(self.config.shutdown_drain_s)
        done = self.server.stop(self.config.shutdown_grace_s)
        for hook in self._on_drain:
            try:
                hook()
            except Exception:
                log.exception("drain hook failed")
        done.wait(self.config.shutdown_grace_s + 1)
        self._stream_pool.shutdown(wait=False)
        for hook in reversed(self._on_stop):
            try:
                hook()
            except Exception:
                log.exception("stop hook failed")
        log.info("stopped")

    def serve_forever(self) -> None:
        """Start, wait for SIGTERM/SIGINT, stop gracefully. For the main thread."""
        self.install_signal_handlers()
        self.start()
        wait_for(self.stop_event)
        self.stop()
