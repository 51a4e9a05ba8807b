"""gRPC health (grpc.health.v1) that tells the truth about dependencies.

A monitor thread runs each dependency check every few seconds and sets every
served name ("" and the service names) to SERVING only when all checks pass.
On shutdown everything turns NOT_SERVING before the listener closes. Two extra
names serve Kubernetes probes:

- `readiness`: SERVING while the dependencies this process cannot answer
  without pass (e.g. the reports API needs its database, but not Kafka: its
  outbox absorbs broker outages, so it should keep taking requests);
- `liveness`: SERVING while the process is up and not shutting down, so an
  outage of a dependency never restarts pods.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Collection, Mapping, Sequence

from grpc_health.v1 import health, health_pb2

log = logging.getLogger(__name__)

LIVENESS = "liveness"
READINESS = "readiness"
Check = Callable[[], None]  # raises when the dependency is unusable

SERVING = health_pb2.HealthCheckResponse.SERVING
NOT_SERVING = health_pb2.HealthCheckResponse.NOT_SERVING


class HealthMonitor:
    def __init__(
        self,
        service_names: Sequence[str],
        checks: Mapping[str, Check],
        interval_s: float = 2.0,
        readiness: Collection[str] | None = None,
    ) -> None:
        self.servicer = health.HealthServicer(experimental_non_blocking=True)
        self._names = ["", *service_names]
        self._checks = dict(checks)
        self._readiness = set(checks if readiness is None else readiness)
        self._interval = interval_s
        self._stop = threading.Event()
        self._failing: dict[str, str] = {}
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._loop, name="health-monitor", daemon=True)
        for name in (*self._names, READINESS):
            self.servicer.set(name, NOT_SERVING)
        self.servicer.set(LIVENESS, SERVING)

    def start(self) -> None:
        self.check_now()
        self._thread.start()

    @property
    def failing(self) -> dict[str, str]:
        with self._lock:
            return dict(self._failing)

    def check_now(self) -> bool:
        failing: dict[str, str] = {}
        for dep, check in self._checks.items():
            try:
                check()
            except Exception as exc:  # noqa: BLE001 - a failing check is data, not a crash
                failing[dep] = type(exc).__name__
        with self._lock:
            if self._stop.is_set():
                return False
            if failing != self._failing:
                if failing:
                    log.warning("dependencies unhealthy", extra={"failing": failing})
                else:
                    log.info("dependencies healthy", extra={"dependencies": sorted(self._checks)})
            self._failing = failing
            status = NOT_SERVING if failing else SERVING
            for name in self._names:
                self.servicer.set(name, status)
            ready = not (self._readiness & failing.keys())
            self.servicer.set(READINESS, SERVING if ready else NOT_SERVING)
        return not failing

    def _loop(self) -> None:
        while not self._stop.wait(self._interval):
            self.check_now()

    def shutdown(self) -> None:
        """Report NOT_SERVING for every name, for good."""
        with self._lock:
            self._stop.set()
            self.servicer.enter_graceful_shutdown()
