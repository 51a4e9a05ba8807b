"""The migration step that created the audit table (each service's schema version that
introduced it calls it), and the triggers that make the table append-only."""

from __future__ import annotations

from typing import Any

from sqlalchemy import BigInteger, Column, DateTime, Integer, String, Text


def create_audit_log(op: Any) -> None:
    """Create the table, its indexes and its guards. A snapshot, spelled out: later
    changes to `phs_runtime.tables.audit_table` need migrations of their own."""
    ts = DateTime(timezone=True)
    op.create_table(
        "audit_events",
        Column("seq", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True),
        Column("record_time", ts, nullable=False),
        Column("action", String(1), nullable=False),
        Column("outcome", Integer, nullable=False),
        Column("status_code", String(32), nullable=False),
        Column("subject", String(200), nullable=False),
        Column("role", String(20), nullable=False),
        Column("source", String(40), nullable=False),
        Column("method", String(200), nullable=False),
        Column("entities", Text, nullable=False),
        Column("request_id", String(128), nullable=False),
    )
    op.create_index("ix_audit_events_record_time", "audit_events", ["record_time"])
    op.create_index("ix_audit_events_subject", "audit_events", ["subject", "record_time"])
    create_guards(op)


def create_guards(op: Any) -> None:
    """Make the table append-only in the database itself (call from a migration)."""
    if op.get_bind().dialect.name == "sqlite":
        for verb in ("UPDATE", "DELETE"):
            op.execute(
                f"CREATE TRIGGER audit_events_no_{verb.lower()} BEFORE {verb} ON audit_events "
                "BEGIN SELECT RAISE(ABORT, 'audit events are append-only'); END"
            )
        return
    op.execute(
        "CREATE FUNCTION audit_events_append_only() RETURNS trigger LANGUAGE plpgsql AS $$ "
        "BEGIN RAISE EXCEPTION 'audit events are append-only'; END $$"
    )
    op.execute(
        "CREATE TRIGGER audit_events_append_only BEFORE UPDATE OR DELETE OR TRUNCATE ON audit_events "
        "FOR EACH STATEMENT EXECUTE FUNCTION audit_events_append_only()"
    )
