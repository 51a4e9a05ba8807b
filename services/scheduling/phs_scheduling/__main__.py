"""`python -m phs_scheduling`: the scheduling gRPC server."""

from __future__ import annotations

import logging

import grpc

from phs.scheduling.v1 import scheduling_service_pb2_grpc as s_grpc
from phs_runtime.audit import AuditLog
from phs_runtime.logs import setup_logging
from phs_runtime.outbox import OutboxRelay
from phs_runtime.policy import guard_for
from phs_runtime.server import GrpcProcess
from phs_scheduling import SERVICE_NAME, policy
from phs_scheduling.service import SchedulingServicer
from phs_scheduling.settings import Settings
from phs_scheduling.store import Store
from phs_scheduling.tables import audit_events, outbox
from phs_scheduling.watch import AppointmentFeed

log = logging.getLogger("phs_scheduling")


def main() -> None:
    setup_logging("scheduling")
    settings = Settings.from_env()
    config = settings.server
    store = Store.from_config(settings.database)
    kafka = settings.kafka
    # Appointment events wait in the outbox while the broker is away, so the
    # broker is not a health dependency of scheduling: bookings go on.
    relay = OutboxRelay.from_config(
        store.engine,
        outbox,
        kafka,
        {kafka.appointment_events_topic: kafka.appointment_events_partitions},
        settings.outbox,
    )
    audit_log = AuditLog(store.engine, audit_events, "scheduling")
    feed = AppointmentFeed(
        kafka,
        kafka.appointment_events_topic,
        kafka.appointment_events_partitions,
        max_watchers=max(1, config.max_streams - 4),
        linger_s=settings.watch_linger_s,
    )
    servicer = SchedulingServicer(
        store,
        events_topic=kafka.appointment_events_topic,
        on_event=relay.wake,
        audit_log=audit_log,
        feed=feed,
        heartbeat_s=settings.watch_heartbeat_s,
    )
    servicer.configure_calendar_feeds(
        settings.calendar_feed_base_url, settings.calendar_feed_per_minute, settings.calendar_feed_burst
    )
    guard = guard_for(policy.build(store), audit_log, settings.auth)

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
