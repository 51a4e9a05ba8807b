"""A change and its audit entry, end to end through Envoy: they commit together, and a
replay of the same request is audited too. (The audit log below the network:
tests/integration/test_policy_and_audit.py.)"""

from __future__ import annotations

import uuid

from phs_devstack import Stack
from tests.helpers import future_slot, rest, rfc3339


def test_a_change_and_its_audit_entry_commit_together_and_a_replay_is_audited_too(stack: Stack) -> None:
    p = rest(stack.rest_url, "POST", "/v1/psychologists", {"displayName": "Dr Audit", "timeZone": "UTC"}).body
    c = rest(
        stack.rest_url, "POST", "/v1/clients", {"displayName": "Audited", "psychologist": p["name"]}
    ).body
    token = stack.token(p["name"], "psychologist")
    body = {"client": c["name"], "sessionType": "sessionTypes/90834", "startTime": rfc3339(future_slot(9))}
    key, rid = str(uuid.uuid4()), str(uuid.uuid4())
    headers = {"Idempotency-Key": key, "x-request-id": rid}
    first = rest(stack.rest_url, "POST", f"/v1/{p['name']}/appointments", body, headers, token=token)
    again = rest(stack.rest_url, "POST", f"/v1/{p['name']}/appointments", body, headers, token=token)
    assert first.status == again.status == 200 and first.body == again.body

    events = rest(stack.rest_url, "GET", f"/v1/auditLogs/scheduling/events?entity={first.body['name']}").body
    mine = [e for e in events["auditEvents"] if e["requestId"] == rid]
    assert len(mine) == 2  # the change (in its own transaction) and the replay
    for e in mine:
        assert e["agent"] == {"subject": p["name"], "role": "psychologist"}
        assert e["action"] == "ACTION_CREATE" and e["outcome"] == "OUTCOME_SUCCESS"
        assert set(e["entities"]) == {p["name"], c["name"], first.body["name"]}
        assert e["method"] == "/phs.scheduling.v1.SchedulingService/CreateAppointment"
