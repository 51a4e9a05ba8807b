"""`python -m phs_notifications`: the preferences API, the event consumer and the
dispatcher of due sends, in one process. Any number of replicas may run: the
consumer group splits the events, the claim leases split the sends."""

from __future__ import annotations

import logging
import threading

import grpc

from phs.notifications.v1 import notifications_service_pb2_grpc as s_grpc
from phs_notifications import SERVICE_NAME
from phs_notifications.adapters.scheduling import Directory
from phs_notifications.adapters.smtp import SmtpMailer
from phs_notifications.adapters.store import Store
from phs_notifications.adapters.tables import audit_events
from phs_notifications.consumer import Consumer
from phs_notifications.dispatcher import Dispatcher
from phs_notifications.handlers import policy
from phs_notifications.handlers.api import NotificationServicer
from phs_notifications.settings import Settings
from phs_runtime.audit import AuditLog
from phs_runtime.auth import ServiceTokens
from phs_runtime.kafka import BrokerCheck
from phs_runtime.logs import setup_logging
from phs_runtime.policy import guard_for
from phs_runtime.server import GrpcProcess
from phs_runtime.signals import wait_for

log = logging.getLogger("phs_notifications")


def main() -> None:
    setup_logging("notifications")
    cfg = Settings.from_env()
    store = Store.from_config(cfg.database)
    stop = threading.Event()
    audit_log = AuditLog(store.engine, audit_events, "notifications")
    servicer = NotificationServicer(store, audit_log, cfg.reminder_offsets)
    directory = Directory(
        cfg.scheduling_target,
        ServiceTokens.from_config(cfg.signing, "services/notifications"),
        cfg.rpc_timeout_s,
    )
    dispatcher = Dispatcher(
        store,
        directory,
        SmtpMailer(cfg.smtp),
        cfg.smtp,
        me=cfg.instance,
        practice_name=cfg.practice_name,
        web_url=cfg.web_url,
        lease=cfg.lease,
        batch_size=cfg.batch_size,
        max_attempts=cfg.max_attempts,
        retry_base=cfg.retry_base,
        retry_cap=cfg.retry_cap,
        poll_interval_s=cfg.poll_interval_s,
        stop=stop,
        confirmation_max_age=cfg.confirmation_max_age,
    )
    consumer = Consumer(
        store,
        cfg.kafka,
        cfg.group_id,
        cfg.reminder_offsets,
        stop,
        session_timeout_ms=cfg.session_timeout_ms,
        heartbeat_interval_ms=cfg.heartbeat_interval_ms,
        fetch_max_wait_ms=cfg.fetch_max_wait_ms,
        earlier=directory.earlier,
        on_planned=dispatcher.wake,
    )

    def add(server: grpc.Server) -> None:
        s_grpc.add_NotificationServiceServicer_to_server(servicer, server)

    broker = BrokerCheck(cfg.kafka)
    # Health says what this process cannot work without: its database (the schedule)
    # and the broker (the events). SMTP and scheduling outages show as retries, the
    # backlog and failures (metrics and alerts), not as a restart-worthy state.
    process = GrpcProcess(
        cfg.server,
        [SERVICE_NAME],
        add,
        {"database": store.ping, "kafka": broker},
        readiness=["database"],
        guard=guard_for(policy.build(), audit_log, cfg.auth),
        stop_event=stop,
    )
    process.on_stop(store.close)
    process.on_stop(audit_log.close)
    process.on_stop(broker.close)
    process.on_stop(directory.close)
    process.install_signal_handlers()
    process.start()
    log.info(
        "notifications running",
        extra={
            "reminder_offsets_s": [int(o.total_seconds()) for o in cfg.reminder_offsets],
            "smtp": f"{cfg.smtp.host}:{cfg.smtp.port}",
            "smtp_security": cfg.smtp.security.value,
            "instance": cfg.instance,
        },
    )
    threads = [
        threading.Thread(target=consumer.run, name="consumer", daemon=True),
        threading.Thread(target=dispatcher.run, name="dispatcher", daemon=True),
    ]
    for t in threads:
        t.start()
    wait_for(stop)
    # The current send finishes (and is recorded) before the process stops.
    for t in threads:
        t.join(timeout=cfg.smtp.timeout_s * 3)
    process.stop()


if __name__ == "__main__":
    main()
