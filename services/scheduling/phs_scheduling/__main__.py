"""`python -m phs_scheduling`: the scheduling gRPC server."""

from __future__ import annotations

import logging

import grpc

from phs.scheduling.v1 import scheduling_service_pb2_grpc as s_grpc
from phs_runtime.audit import AuditLog
from phs_runtime.config import KafkaConfig, ServerConfig, env_bool, env_float, env_str
from phs_runtime.logs import setup_logging
from phs_runtime.outbox import OutboxRelay
from phs_runtime.policy import guard_from_env
from phs_runtime.server import GrpcProcess
from phs_scheduling import SERVICE_NAME, policy
from phs_scheduling.service import SchedulingServicer
from phs_scheduling.store import Store
from phs_scheduling.tables import audit_events, outbox
from phs_scheduling.watch import AppointmentFeed

log = logging.getLogger("phs_scheduling")


def main() -> None:
    setup_logging("scheduling")
    # Three threads for unary calls: fewer threads fight less for the GIL and the
    # cores, and bench/rest_booking.py served more bookings, with a shorter tail, with
    # 3 than with 4 or 8 (README, "Figures"). Scale out with
    # processes (replicas), not threads. Streams (exports read by report workers,
    # health watches, appointment watches) run on threads of their own, never on these.
    # A watch holds its stream thread while it lasts (waiting, not computing): watches
    # may take all but four, which stay for exports and health watches.
    config = ServerConfig.from_env("scheduling", max_workers=3, max_streams=4 + 64)
    store = Store.open(
        env_str("PHS_DATABASE_URL", "sqlite:///data/scheduling.db"),
        migrate=env_bool("PHS_MIGRATE_ON_START", True),
    )
    kafka = KafkaConfig.from_env()
    # Appointment events wait in the outbox while the broker is away, so the
    # broker is not a health dependency of scheduling: bookings go on.
    relay = OutboxRelay(
        store.engine, outbox, kafka, {kafka.appointment_events_topic: kafka.appointment_events_partitions}
    )
    audit_log = AuditLog(store.engine, audit_events, "scheduling")
    feed = AppointmentFeed(
        kafka,
        kafka.appointment_events_topic,
        kafka.appointment_events_partitions,
        max_watchers=max(1, config.max_streams - 4),
        linger_s=env_float("PHS_WATCH_LINGER_SECONDS", 60.0),
    )
    servicer = SchedulingServicer(
        store,
        events_topic=kafka.appointment_events_topic,
        on_event=relay.wake,
        audit_log=audit_log,
        feed=feed,
        # Below the gateway's idle timeout for the watch route (services/gateway/envoy.yaml.tmpl).
        heartbeat_s=env_float("PHS_WATCH_HEARTBEAT_SECONDS", 15.0),
    )
    guard = guard_from_env(policy.build(store), audit_log)

    def add(server: grpc.Server) -> None:
        s_grpc.add_SchedulingServiceServicer_to_server(servicer, server)

    process = GrpcProcess(config, [SERVICE_NAME], add, {"database": store.ping}, guard=guard)
    process.on_stop(store.close)
    process.on_stop(audit_log.close)
    process.on_stop(relay.stop)
    process.on_stop(feed.stop)
    process.on_drain(feed.drain)
    relay.start()
    feed.start()
    process.serve_forever()


if __name__ == "__main__":
    main()
