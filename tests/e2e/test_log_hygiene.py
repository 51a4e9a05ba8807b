"""Health-data hygiene over a whole end-to-end run: a seeded practice, then a day's
work through Envoy by an admin, a psychologist and a client (searches, requests,
approvals, reschedules, cancels, conflicts, refusals, bad input, reports and an
export download). Afterwards no client name, e-mail, phone or token may appear in
any process's log, in an error message, or in a Kafka key or event."""

from __future__ import annotations

import datetime as dt
import functools
import urllib.request
import uuid
from pathlib import Path
from typing import Any

from sqlalchemy import select

from phs_devstack import Ports, Stack
from phs_scheduling.seed import seed
from phs_scheduling.store import Store
from phs_scheduling.tables import clients
from tests.helpers import Response, audit_consumer, auth_headers, eventually, rest, rfc3339

NEW_NAME = "Ophelia Quistgaard-Lindqvist"


def test_no_client_data_or_token_in_logs_errors_or_kafka(tmp_path: Path) -> None:
    stack = Stack(root=tmp_path, ports=Ports.free())
    errors: list[Response] = []
    tokens: list[str] = []

    def call(method: str, path: str, token: str, body: Any = None, ok: bool = True) -> Response:
        resp = rest(stack.rest_url, method, path, body, {"x-request-id": str(uuid.uuid4())}, token=token)
        if resp.status >= 400:
            errors.append(resp)
        if ok:
            assert resp.status == 200, (method, path, resp.body)
        return resp

    try:
        stack.start()
        store = Store.open(stack.scheduling_db or "", migrate=False)
        try:
            seed(store, clients_per_psychologist=4)
            with store.engine.connect() as conn:
                rows = conn.execute(select(clients)).all()
        finally:
            store.close()
        secrets = {x for row in rows for x in (row.display_name, row.email, row.phone) if x}
        secrets.add(NEW_NAME)
        assert len(secrets) >= 8

        admin = stack.token("staff/hygiene-admin", "admin")
        psychologists = call("GET", "/v1/psychologists", admin).body["psychologists"]
        p = psychologists[0]["name"]
        mine = [r for r in rows if r.psychologist_id == p.split("/")[1]]
        other = next(r for r in rows if r.psychologist_id != p.split("/")[1])
        me = f"clients/{mine[0].id}"
        psych, client = stack.token(p, "psychologist"), stack.token(me, "client")
        tokens += [admin, psych, client]

        # The client searches and requests; the psychologist approves; both move things.
        start = dt.datetime.now(dt.UTC) + dt.timedelta(days=3)
        slots = call(
            "GET",
            f"/v1/{p}/slots?sessionType=sessionTypes/90834"
            f"&startTime={rfc3339(start)}&endTime={rfc3339(start + dt.timedelta(days=21))}",
            client,
        ).body["slots"]
        assert len(slots) >= 4
        body = {"client": me, "sessionType": "sessionTypes/90834", "startTime": slots[0]["startTime"]}
        requested = call("POST", f"/v1/{p}/appointments", client, body).body
        assert requested["state"] == "STATE_PENDING"
        call("POST", f"/v1/{requested['name']}:approve", psych, {})
        moved = call(
            "POST",
            f"/v1/{requested['name']}:reschedule",
            client,
            {"startTime": slots[2]["startTime"], "rescheduledBy": "ACTOR_CLIENT"},
        ).body
        call(
            "POST",
            f"/v1/{moved['name']}:cancel",
            client,
            {"reason": "REASON_CLIENT_REQUEST", "cancelledBy": "ACTOR_CLIENT"},
        )
        booked = call(
            "POST", f"/v1/{p}/appointments", psych, {**body, "startTime": slots[3]["startTime"]}
        ).body

        # Refusals and mistakes, each with an error body.
        assert (
            call(
                "POST", f"/v1/{p}/appointments", admin, {**body, "startTime": slots[3]["startTime"]}, ok=False
            ).status
            == 409
        )
        assert call("GET", f"/v1/clients/{other.id}", client, ok=False).status == 404
        assert call("GET", f"/v1/clients/{other.id}", psych, ok=False).status == 404
        assert call("GET", "/v1/clients", client, ok=False).status == 403
        assert call("GET", f"/v1/{me}", "not-a-token", ok=False).status == 401
        bad = {"displayName": NEW_NAME, "email": f"{NEW_NAME} at home"}
        assert call("POST", "/v1/clients", admin, bad, ok=False).status == 400
        renamed = {"displayName": NEW_NAME}
        call("PATCH", f"/v1/{me}?updateMask=displayName", psych, renamed)
        assert call("GET", f"/v1/{me}", client).body["displayName"] == NEW_NAME
        call("GET", f"/v1/{p}/appointments", psych)
        call("GET", f"/v1/{booked['name']}", client)

        # Reports: the psychologist's caseload, the admin's export and download.
        interval = {
            "startTime": rfc3339(dt.datetime.now(dt.UTC) - dt.timedelta(days=200)),
            "endTime": rfc3339(dt.datetime.now(dt.UTC) + dt.timedelta(days=60)),
        }
        jobs = [
            call("POST", "/v1/reports", psych, {"caseloadParams": {"psychologist": p, "interval": interval}}),
            call(
                "POST",
                "/v1/reports",
                admin,
                {"exportParams": {"psychologist": "psychologists/-", "interval": interval}},
            ),
        ]

        def succeeded(name: str) -> bool:
            return bool(call("GET", f"/v1/{name}", admin).body["state"] == "STATE_SUCCEEDED")

        for job in jobs:
            eventually(functools.partial(succeeded, job.body["name"]), 60, what="report done")
        req = urllib.request.Request(
            f"{stack.rest_url}/v1/{jobs[1].body['name']}:download", headers=auth_headers(admin)
        )
        with urllib.request.urlopen(req, timeout=10) as resp:
            csv_text = resp.read().decode()
        assert csv_text.count("\n") > 100
        call("GET", "/v1/auditLogs/scheduling/events?pageSize=100", admin)

        events = list(audit_consumer(stack.kafka_bootstrap, "phs.scheduling.appointments.v1", 5000))
        assert any(e.key and e.key.decode() == booked["name"] for e in events)
    finally:
        stack.stop()

    # Everything the run left behind.
    assert errors and all(e.body.get("details") for e in errors)
    logs = {f.name: f.read_text(errors="replace") for f in (tmp_path / "logs").iterdir()}
    assert {"scheduling.log", "reports-api.log", "reports-worker.log", "envoy.log"} <= logs.keys()
    assert "rpc finished" in logs["scheduling.log"]
    for secret in sorted(secrets):
        assert secret not in csv_text, "the export holds no client data"
        for name, text in logs.items():
            assert secret not in text, f"client data in {name}"
        for e in errors:
            assert secret not in str(e.body), f"client data in an error: {e.body}"
        for msg in events:
            assert secret.encode() not in (msg.key or b"") + msg.value, "client data in Kafka"
    for token in [*tokens, "not-a-token"]:
        for name, text in logs.items():
            assert token not in text, f"a token in {name}"
