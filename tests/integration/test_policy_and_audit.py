"""The audit log, below the network: the audit table is append-only in the database
itself (SQLite and PostgreSQL), concurrent entries all commit and list with filters and
pages, and a change writes its entry in its own transaction. (The declared policy
tables: tests/unit/test_policy_rules.py; end to end: tests/e2e/test_audit_commits.py.)"""

from __future__ import annotations

import datetime as dt
import threading

import grpc
import pytest
from sqlalchemy import Connection, text
from sqlalchemy.exc import DBAPIError

from phs.audit.v1 import audit_pb2
from phs.scheduling.v1 import resources_pb2 as sr
from phs_reports.store import Store as ReportsStore
from phs_reports.tables import audit_events as reports_audit
from phs_runtime import audit
from phs_runtime.audit import AuditLog, Entry
from phs_runtime.errors import ApiError
from phs_scheduling.store import Store as SchedulingStore
from phs_scheduling.tables import audit_events as scheduling_audit


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
