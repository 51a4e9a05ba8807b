"""The declared policy tables, below the network: every RPC has a rule, rules name real
request fields and known roles, and every change is audited. (The audit log itself, on
both databases: tests/integration/test_policy_and_audit.py.)"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from google.protobuf.descriptor import Descriptor, ServiceDescriptor

from phs.notifications.v1 import notifications_service_pb2
from phs.reports.v1 import reports_service_pb2
from phs.scheduling.v1 import scheduling_service_pb2
from phs_notifications.handlers import policy as notifications_policy
from phs_reports import policy as reports_policy
from phs_reports.store import Store as ReportsStore
from phs_runtime.auth import ROLES
from phs_runtime.policy import ANONYMOUS, Rule
from phs_scheduling import policy as scheduling_policy
from phs_scheduling.store import Store as SchedulingStore


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
            assert r.roles and r.roles <= ROLES | {ANONYMOUS}, m.name
            # Open methods (no token) are exactly the anonymous ones.
            assert r.open == (ANONYMOUS in r.roles), m.name
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


def test_the_only_open_method_is_a_calendar_feeds_content_and_it_names_no_secret(
    tables: dict[str, tuple[ServiceDescriptor, dict[str, Rule]]],
) -> None:
    open_methods = {name for _, rules in tables.values() for name, r in rules.items() if r.open}
    assert open_methods == {"/phs.scheduling.v1.SchedulingService/GetCalendarFeedContent"}
    (r,) = (rules[m] for _, rules in tables.values() for m in open_methods if m in rules)
    assert r.roles == {ANONYMOUS} and r.target == ()  # the secret never goes into an audit entry
