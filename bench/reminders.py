"""Reminder latency under a burst: N booked appointments (one per psychologist, all at
the same start) whose reminder falls due at the same instant, sent by the real
notifications service through an aiosmtpd sink. Prints due time → accepted by SMTP
(p50, p90, p99, max) and how long the burst took to drain.

    python -m bench.reminders [--appointments 1000] [--offset-s 120] [--replicas 1]

The reminder offset is shortened by configuration (PHS_NOTIFY_REMINDER_OFFSETS); the
confirmations of the bookings are sent first and are not counted.
"""

from __future__ import annotations

import argparse
import datetime as dt
import tempfile
import time
from pathlib import Path

from bench.common import Client, percentile
from phs_devstack import Ports, Stack, free_port
from phs_devstack.mailsink import MailSink, Received

REMINDER = "Reminder"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--appointments", type=int, default=1000)
    ap.add_argument("--offset-s", type=int, default=120, help="the reminder's offset before the start")
    ap.add_argument("--replicas", type=int, default=1, help="notifications processes")
    ns = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        stack = Stack(root=Path(tmp), ports=Ports.free())
        sink = MailSink(free_port()).start()
        try:
            stack.start_kafka()
            stack.start_scheduling()
            stack.wait_scheduling()
            stack.start_envoy()
            env = {"PHS_SMTP_PORT": str(sink.port), "PHS_NOTIFY_REMINDER_OFFSETS": f"{ns.offset_s}s"}
            for k in range(ns.replicas):
                name = "notifications" if k == 0 else f"notifications-{k + 1}"
                stack.start_notifications(name, free_port() if k else None, free_port() if k else None, env)
            api = Client("127.0.0.1", stack.ports.rest, stack.token("staff/bench", "admin"))
            pairs = []
            for k in range(ns.appointments):
                _, p = api.call("POST", "/v1/psychologists", {"displayName": f"Dr {k}", "timeZone": "UTC"})
                body = {"displayName": f"Client {k}", "email": f"client{k}@example.org"}
                _, c = api.call("POST", "/v1/clients", body)
                pairs.append((p["name"], c["name"]))
            # The start: far enough ahead for the bookings and their confirmations to be
            # done before the reminders fall due, on a whole minute.
            start = (dt.datetime.now(dt.UTC) + dt.timedelta(seconds=ns.offset_s + 60)).replace(
                second=0, microsecond=0
            ) + dt.timedelta(minutes=1)
            due = (start - dt.timedelta(seconds=ns.offset_s)).timestamp()
            booked = 0
            for p, c in pairs:
                body = {
                    "client": c,
                    "sessionType": "sessionTypes/90834",
                    "startTime": start.isoformat().replace("+00:00", "Z"),
                }
                status, _ = api.call("POST", f"/v1/{p}/appointments", body)
                booked += status == 200
            api.close()
            booking_done = time.time()
            # Each message is parsed once: the sink runs in this process, and parsing
            # every message again at each look would take the cores it needs to answer.
            reminders: list[Received] = []
            seen = 0
            while True:
                received = sink.received
                reminders += [m for m in received[seen:] if m.message["subject"].startswith(REMINDER)]
                seen = len(received)
                if len(reminders) >= booked or time.time() >= start.timestamp():
                    break
                time.sleep(0.5)
        finally:
            sink.stop()
            stack.stop()
    latencies = [m.at - due for m in reminders]
    early = sum(1 for x in latencies if x < 0)
    print(
        f"Reminder burst ({booked} appointments booked, offset {ns.offset_s} s, "
        f"{ns.replicas} notifications process(es), SQLite, aiosmtpd): "
        f"bookings done {due - booking_done:.0f} s before the reminders fell due"
    )
    if not latencies:
        print("  no reminder arrived before the appointments started")
        return
    ms = [x * 1000 for x in latencies]
    print(
        f"  {len(reminders)}/{booked} reminders sent, {early} before their due time; due → sent "
        f"p50 {percentile(ms, 50):.0f} ms, p90 {percentile(ms, 90):.0f} ms, p99 {percentile(ms, 99):.0f} ms, "
        f"max {max(ms):.0f} ms; the burst drained in {max(latencies):.1f} s "
        f"({len(reminders) / max(max(latencies), 1e-3):.0f} messages/s) "
        f"over {len({m.peer for m in reminders})} SMTP connections"
    )


if __name__ == "__main__":
    main()
