"""The audit step, against a real audit log in SQLite: the entry of an audited call or
a refusal is written before the answer; one that cannot be written fails the call."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest
from sqlalchemy import MetaData, create_engine

from phs.audit.v1 import audit_pb2
from phs.scheduling.v1 import resources_pb2 as r
from phs.scheduling.v1 import scheduling_service_pb2 as s
from phs_runtime import audit as audit_mod
from phs_runtime.audit import AuditLog
from phs_runtime.auth import PSYCHOLOGIST, Principal
from phs_runtime.decision import Decision, Scope
from phs_runtime.errors import ApiError
from phs_runtime.pipeline.audit import Audit
from phs_runtime.pipeline.call import Call
from phs_runtime.policy import rule
from phs_runtime.tables import audit_table
from tests.unit.fakes import guard

PREFIX = "/phs.scheduling.v1.SchedulingService/"
RULES = {
    PREFIX + "ListClients": rule(PSYCHOLOGIST, target=["psychologist"]),
    PREFIX + "GetClient": rule(PSYCHOLOGIST, target=["name"]),
    PREFIX + "ListSessionTypes": rule(PSYCHOLOGIST, audit=False),
}
ME = Principal("psychologists/p1", PSYCHOLOGIST)


@pytest.fixture
def audit_log(tmp_path: Path) -> Iterator[AuditLog]:
    engine = create_engine(f"sqlite:///{tmp_path / 'audit.db'}")
    table = audit_table(MetaData())
    table.create(engine)
    log = AuditLog(engine, table, "test", timeout_s=5)
    yield log
    log.close()
    engine.dispose()


def _entries(log: AuditLog) -> list[audit_pb2.AuditEvent]:
    return list(
        log.list(audit_pb2.ListAuditEventsRequest(parent="auditLogs/test"), "auditLogs/test").audit_events
    )


def _admitted(method: str, scope: Scope | None = None) -> Call:
    call = Call("unary", PREFIX + method, guarded=True)
    call.request_id = "rid-1"
    call.checked = True
    call.principal = ME
    call.decision = Decision(ME, scope or Scope())
    return call


def test_an_admitted_call_is_recorded_with_what_its_scope_pinned(dev_keys: Path, audit_log: AuditLog) -> None:
    step = Audit(guard(dev_keys, RULES, audit_log))
    call = _admitted("ListClients", Scope(only={"psychologist": ME.subject}))
    request = s.ListClientsRequest()
    step.begin(call, request)
    pending = audit_mod.current()
    assert pending is not None and pending.entry.entities == [ME.subject]
    step.record(call, request, s.ListClientsResponse(), grpc.StatusCode.OK)
    step.record(call, request, None, grpc.StatusCode.OK)  # once only
    step.release(call)
    assert audit_mod.current() is None
    (entry,) = _entries(audit_log)
    assert (entry.agent.subject, entry.method, entry.request_id) == (
        ME.subject,
        PREFIX + "ListClients",
        "rid-1",
    )
    assert list(entry.entities) == [ME.subject]
    assert entry.outcome == audit_pb2.AuditEvent.OUTCOME_SUCCESS


def test_the_response_name_joins_the_entities(dev_keys: Path, audit_log: AuditLog) -> None:
    step = Audit(guard(dev_keys, RULES, audit_log))
    call = _admitted("GetClient")
    step.record(call, s.GetClientRequest(name="clients/c1"), r.Client(name="clients/c1"), grpc.StatusCode.OK)
    (entry,) = _entries(audit_log)
    assert list(entry.entities) == ["clients/c1"]


def test_an_unchecked_request_is_not_quoted(dev_keys: Path, audit_log: AuditLog) -> None:
    step = Audit(guard(dev_keys, RULES, audit_log))
    call = _admitted("GetClient")
    call.checked = False
    step.record_failure(call, s.GetClientRequest(name="clients/\x00"), grpc.StatusCode.INVALID_ARGUMENT)
    (entry,) = _entries(audit_log)
    assert list(entry.entities) == [] and entry.status_code == "INVALID_ARGUMENT"


def test_refusals_are_recorded_even_where_calls_are_not(dev_keys: Path, audit_log: AuditLog) -> None:
    step = Audit(guard(dev_keys, RULES, audit_log))
    step.record(_admitted("ListSessionTypes"), s.ListSessionTypesRequest(), None, grpc.StatusCode.OK)
    assert _entries(audit_log) == []
    refused = Call("unary", PREFIX + "ListSessionTypes", guarded=True)
    step.record_failure(refused, None, grpc.StatusCode.UNAUTHENTICATED)
    (entry,) = _entries(audit_log)
    assert entry.outcome == audit_pb2.AuditEvent.OUTCOME_SERIOUS_FAILURE and entry.agent.subject == ""


def test_an_entry_that_cannot_be_written_fails_a_successful_call(tmp_path: Path, dev_keys: Path) -> None:
    engine = create_engine(f"sqlite:///{tmp_path / 'no-table.db'}")
    log = AuditLog(engine, audit_table(MetaData()), "test", timeout_s=5)
    try:
        step = Audit(guard(dev_keys, RULES, log))
        with pytest.raises(ApiError) as err:
            step.record(
                _admitted("GetClient"), s.GetClientRequest(name="clients/c1"), None, grpc.StatusCode.OK
            )
        assert (err.value.code, err.value.reason) == (grpc.StatusCode.UNAVAILABLE, "AUDIT_UNAVAILABLE")
        # A failed call keeps its own error.
        step.record_failure(_admitted("GetClient"), None, grpc.StatusCode.NOT_FOUND)
    finally:
        log.close()
        engine.dispose()


def test_quiet_services_and_unguarded_servers_are_not_audited(dev_keys: Path, audit_log: AuditLog) -> None:
    probe = Call("unary", "/grpc.health.v1.Health/Check", guarded=True)
    Audit(guard(dev_keys, RULES, audit_log)).record_failure(probe, None, grpc.StatusCode.UNAUTHENTICATED)
    Audit(None).record(_admitted("GetClient"), None, None, grpc.StatusCode.OK)
    assert _entries(audit_log) == []
