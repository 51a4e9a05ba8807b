"""The declared policy tables and the audit log, below the network: every RPC has a
rule, rules name real request fields, and the audit table is append-only in the
database itself (SQLite and PostgreSQL)."""

from __future__ import annotations

import datetime as dt
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from google.protobuf.descriptor import Descriptor, ServiceDescriptor
from sqlalchemy import Connection, text
from sqlalchemy.exc import DBAPIError

from phs.audit.v1 import audit_pb2
from phs.notifications.v1 import notifications_service_pb2
from phs.reports.v1 import reports_service_pb2
from phs.scheduling.v1 import resources_pb2 as sr
from phs.scheduling.v1 import scheduling_service_pb2
from phs_devstack import Stack
from phs_notifications.handlers import policy as notifications_policy
from phs_reports import policy as reports_policy
from phs_reports.store import Store as ReportsStore
from phs_reports.tables import audit_events as reports_audit
from phs_runtime import audit
from phs_runtime.audit import AuditLog, Entry
from phs_runtime.auth import ROLES
from phs_runtime.errors import ApiError
from phs_runtime.policy import Rule
from phs_scheduling import policy as scheduling_policy
from phs_scheduling.store import Store as SchedulingStore
from phs_scheduling.tables import audit_events as scheduling_audit
from tests.helpers import future_slot, rest, rfc3339


@pytest.fixture
def tables(tmp_path: Path) -> Iterator[dict[str, tuple[ServiceDescriptor, dict[str, Rule]]]]:
    sched = SchedulingStore.open(f"sqlite:///{tmp_path / 's.db'}")
    reports = ReportsStore.open(f"sqlite:///{tmp_path / 'r.db'}")
    yield {
        "scheduling": (
            scheduling_service_pb2.DESCRIPTOR.services_by_name["SchedulingService"],
            scheduling_policy.build(sched),
        ),
        "reports": (
            reports_service_pb2.DESCRIPTOR.services_by_name["ReportService"],
            reports_policy.build(reports),
        ),
        "notifications": (
            notifications_service_pb2.DESCRIPTOR.services_by_name["NotificationService"],
            notifications_policy.build(),
        ),
    }
    sched.close()
    reports.close()


def _has_path(message: Descriptor, path: str) -> bool:
    for part in path.split("."):
        field = message.fields_by_name.get(part)
        if field is None:
            return False
        if field.message_type is not None:
            message = field.message_type
    return True


def test_every_rpc_in_the_descriptors_has_a_rule_and_no_rule_is_stale(
    tables: dict[str, tuple[ServiceDescriptor, dict[str, Rule]]],
) -> None:
    for service, rules in tables.values():
        declared = {f"/{service.full_name}/{m.name}" for m in service.methods}
        assert declared - rules.keys() == set(), f"RPCs without an access rule in {service.full_name}"
        assert rules.keys() - declared == set(), f"rules for RPCs that do not exist in {service.full_name}"


def test_rules_name_known_roles_and_real_request_fields(
    tables: dict[str, tuple[ServiceDescriptor, dict[str, Rule]]],
) -> None:
    for service, rules in tables.values():
        for m in service.methods:
            r = rules[f"/{service.full_name}/{m.name}"]
            assert r.roles and r.roles <= ROLES, m.name
            assert r.action in {"C", "R", "U", "D", "E"}, m.name
            for path in r.target:
                assert _has_path(m.input_type, path), f"{m.name}: no field {path}"


def test_only_admins_read_the_audit_log_and_every_change_is_audited(
    tables: dict[str, tuple[ServiceDescriptor, dict[str, Rule]]],
) -> None:
    for service, rules in tables.values():
        assert rules[f"/{service.full_name}/ListAuditEvents"].roles == {"admin"}
        for m in service.methods:
            r = rules[f"/{service.full_name}/{m.name}"]
            if r.action != "R":
                assert r.audit, f"{m.name} changes data and must be audited"


def _entry(subject: str, entity: str, code: grpc.StatusCode = grpc.StatusCode.OK) -> Entry:
    return Entry(
        action="R",
        code=code,
        subject=subject,
        role="psychologist",
        method="/phs.scheduling.v1.SchedulingService/GetClient",
        entities=[entity],
        request_id=f"rid-{subject}-{entity}",
    )


@pytest.mark.parametrize("service", ["scheduling", "reports"])
def test_audit_log_is_append_only_in_the_database(db_url: str, service: str) -> None:
    store = SchedulingStore.open(db_url) if service == "scheduling" else ReportsStore.open(db_url)
    table = scheduling_audit if service == "scheduling" else reports_audit
    log = AuditLog(store.engine, table, service)
    try:
        log.record(_entry("psychologists/p1", "clients/c1"))
        for statement in ("UPDATE audit_events SET subject = 'someone else'", "DELETE FROM audit_events"):
            with pytest.raises(DBAPIError, match="append-only"), store.engine.begin() as conn:
                conn.execute(text(statement))
        with store.engine.connect() as conn:
            assert conn.execute(text("SELECT subject FROM audit_events")).scalars().all() == [
                "psychologists/p1"
            ]
    finally:
        log.close()
        store.close()


def test_concurrent_entries_are_all_committed_and_listed_with_filters_and_pages(db_url: str) -> None:
    store = SchedulingStore.open(db_url)
    log = AuditLog(store.engine, scheduling_audit, "scheduling")
    try:
        threads = [
            threading.Thread(
                target=log.record,
                args=(
                    _entry(
                        f"psychologists/p{i % 3}",
                        f"clients/c{i}",
                        grpc.StatusCode.PERMISSION_DENIED if i % 5 == 0 else grpc.StatusCode.OK,
                    ),
                ),
            )
            for i in range(60)
        ]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        parent = "auditLogs/scheduling"
        everything = log.list(audit_pb2.ListAuditEventsRequest(parent=parent, page_size=1000), parent)
        assert len(everything.audit_events) == 60

        seen: list[str] = []
        token = ""
        while True:
            page = log.list(
                audit_pb2.ListAuditEventsRequest(
                    parent=parent, subject="psychologists/p1", page_size=7, page_token=token
                ),
                parent,
            )
            seen += [e.request_id for e in page.audit_events]
            assert all(e.agent.subject == "psychologists/p1" for e in page.audit_events)
            token = page.next_page_token
            if not token:
                break
        assert len(seen) == len(set(seen)) == 20

        one = log.list(audit_pb2.ListAuditEventsRequest(parent=parent, entity="clients/c7"), parent)
        assert [e.entities for e in one.audit_events] == [["clients/c7"]]
        denied = log.list(
            audit_pb2.ListAuditEventsRequest(
                parent=parent, outcome=audit_pb2.AuditEvent.OUTCOME_SERIOUS_FAILURE, page_size=100
            ),
            parent,
        )
        assert len(denied.audit_events) == 12
        assert {e.status_code for e in denied.audit_events} == {"PERMISSION_DENIED"}

        with pytest.raises(ApiError) as err:
            log.list(audit_pb2.ListAuditEventsRequest(parent="auditLogs/reports"), parent)
        assert err.value.code is grpc.StatusCode.INVALID_ARGUMENT
        with pytest.raises(ApiError) as err:
            log.list(
                audit_pb2.ListAuditEventsRequest(
                    parent=parent, subject="psychologists/p2", page_token=token or "x"
                ),
                parent,
            )
        assert err.value.code is grpc.StatusCode.INVALID_ARGUMENT
    finally:
        log.close()
        store.close()


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


def test_a_change_writes_its_entry_in_its_own_transaction(db_url: str) -> None:
    store = SchedulingStore.open(db_url)
    log = AuditLog(store.engine, scheduling_audit, "scheduling")
    token = audit.begin(log, _entry("psychologists/p9", "psychologists/p9"))

    def count() -> int:
        with store.engine.connect() as conn:
            return int(conn.execute(text("SELECT count(*) FROM audit_events")).scalar_one())

    def written() -> bool:
        pending = audit.current()
        return pending is not None and pending.written

    def broken(conn: Connection, now: dt.datetime) -> sr.Psychologist:
        SchedulingStore.insert_psychologist(conn, now, "Dr Rolled Back", "UTC", True)
        raise RuntimeError("the change fails after writing")

    def works(conn: Connection, now: dt.datetime) -> sr.Psychologist:
        row = SchedulingStore.insert_psychologist(conn, now, "Dr Committed", "UTC", True)
        return sr.Psychologist(name=f"psychologists/{row['id']}")

    try:
        with pytest.raises(RuntimeError):
            store.idempotent_write("CreatePsychologist", "", "", sr.Psychologist, broken)
        assert not written() and count() == 0
        created = store.idempotent_write("CreatePsychologist", "", "", sr.Psychologist, works)
        assert written() and count() == 1
        with store.engine.connect() as conn:
            entities = conn.execute(text("SELECT entities FROM audit_events")).scalar_one()
        assert created.name in entities and "psychologists/p9" in entities
    finally:
        audit.end(token)
        log.close()
        store.close()
