"""`python -m phs_devstack`: run the whole stack locally until Ctrl-C (what `make up` does)."""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

from phs_devstack import REPO, Ports, Stack
from phs_devstack.oidc.console import seed_on_first_start, sign_in_summary
from phs_runtime.signals import stop_on_signals, wait_for


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--data", type=Path, default=REPO / "data", help="SQLite files and logs")
    ap.add_argument(
        "--scheduling-processes",
        type=int,
        default=int(os.environ.get("PHS_SCHEDULING_PROCESSES", "1")),
        help="scheduling processes behind Envoy (default 1; 2 uses both cores under load)",
    )
    ap.add_argument(
        "--free-ports",
        action="store_true",
        help="free loopback ports instead of the fixed ones (a second stack beside another)",
    )
    ns = ap.parse_args()
    stop = stop_on_signals()
    stack = Stack(
        root=ns.data,
        ports=Ports.free() if ns.free_ports else Ports(),
        console=True,
        scheduling_processes=max(1, ns.scheduling_processes),
    )
    logs = ns.data / "logs"
    print(
        f"Starting PHS. Every process logs to {logs}/<name>.log; this terminal shows what starts,\n"
        "restarts, warnings and errors (a child that dies is started again).",
        flush=True,
    )
    began = time.monotonic()
    try:
        print(seed_on_first_start(stack), flush=True)
        stack.start()
        stack.ready()
        p = stack.ports
        print(
            f"""
PHS is up after {time.monotonic() - began:.1f}s (Ctrl-C stops everything).
  REST gateway (Envoy)   {stack.rest_url}   (the web app at {stack.rest_url}/, the API under /v1/)
  web app server         http://127.0.0.1:{p.web}   serving {stack.web_root}
  Envoy admin            http://127.0.0.1:{p.envoy_admin}/stats/prometheus
  scheduling gRPC        {stack.scheduling_target}   metrics http://127.0.0.1:{p.scheduling_metrics}/metrics
  (scheduling processes  {", ".join(f"{h}:{port}" for h, port in stack.scheduling_endpoints)})
  reports gRPC           {stack.reports_target}   metrics http://127.0.0.1:{p.reports_metrics}/metrics
  reports worker health  {stack.worker_target}   metrics http://127.0.0.1:{p.worker_metrics}/metrics
  notifications gRPC     {stack.notifications_target}   metrics http://127.0.0.1:{p.notifications_metrics}/metrics
  SMTP sink (mail)       127.0.0.1:{p.smtp}   every message kept in {stack.mail_dir}/*.eml
  Kafka (Tansu)          {stack.kafka_bootstrap}
  data                   {ns.data}
  logs                   {logs}/<name>.log (access log: {logs}/envoy.log)

Every call needs a token (health and reflection excepted). Mint a development one:
  TOKEN=$(.venv/bin/python -m phs_devstack.token --role admin --subject staff/dev)
  curl -H "Authorization: Bearer $TOKEN" {stack.rest_url}/v1/sessionTypes
""",
            flush=True,
        )
        print(sign_in_summary(stack), flush=True)
        wait_for(stop)
    finally:
        print("stopping ...", flush=True)
        stack.stop()


if __name__ == "__main__":
    main()
