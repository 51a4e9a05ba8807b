"""The tables every service database has, defined once: each function adds its table to
a service's MetaData (the service's tables.py calls them). This is the current shape,
what the code queries and what autogenerate compares with; the migrations that
created it are snapshots of their own (audit.migration, idempotency.migration,
outbox) and do not follow later edits here."""

from __future__ import annotations

from sqlalchemy import BigInteger, Column, Index, Integer, LargeBinary, MetaData, String, Table, Text

from phs_runtime.db import UtcDateTime


def keys_table(metadata: MetaData) -> Table:
    """AIP-155 request ids: the first successful response of each (caller, method,
    request id), written in the same transaction as the change it describes."""
    return Table(
        "idempotency_keys",
        metadata,
        Column("principal", String(200), primary_key=True),  # the caller's subject
        Column("method", String(64), primary_key=True),
        Column("request_id", String(128), primary_key=True),
        Column("request_hash", String(64), nullable=False),
        Column("response", LargeBinary, nullable=False),
        Column("create_time", UtcDateTime, nullable=False),
    )


def outbox_table(metadata: MetaData) -> Table:
    """The transactional outbox: messages owed to Kafka, written with each change and
    published by the relay (phs_runtime.outbox)."""
    return Table(
        "outbox",
        metadata,
        Column("id", Integer, primary_key=True, autoincrement=True),
        Column("topic", String(200), nullable=False),
        Column("key", String(200), nullable=False),
        Column("payload", LargeBinary, nullable=False),
        Column("headers", Text, nullable=False),  # JSON object of string headers
        Column("create_time", UtcDateTime, nullable=False),
        Column("published_time", UtcDateTime, nullable=True),
        # Where the broker acknowledged it (to notice a broker that lost it): the
        # partition, and the offset where the message's batch started there.
        Column("kafka_partition", Integer, nullable=True),
        Column("kafka_offset", BigInteger, nullable=True),
        # The relay's scan for what is not yet published.
        Index("ix_outbox_unpublished", "published_time", "id"),
    )


def audit_table(metadata: MetaData) -> Table:
    """The append-only audit trail (phs_runtime.audit); the database refuses UPDATE and
    DELETE on it (triggers, see audit.migration)."""
    return Table(
        "audit_events",
        metadata,
        # INTEGER on SQLite: only an INTEGER PRIMARY KEY is its rowid and counts up.
        Column("seq", BigInteger().with_variant(Integer, "sqlite"), primary_key=True, autoincrement=True),
        Column("record_time", UtcDateTime, nullable=False),
        Column("action", String(1), nullable=False),
        Column("outcome", Integer, nullable=False),
        Column("status_code", String(32), nullable=False),
        Column("subject", String(200), nullable=False),
        Column("role", String(20), nullable=False),
        Column("source", String(40), nullable=False),
        Column("method", String(200), nullable=False),
        Column("entities", Text, nullable=False),  # JSON list of resource names
        Column("request_id", String(128), nullable=False),
        Index("ix_audit_events_record_time", "record_time"),
        Index("ix_audit_events_subject", "subject", "record_time"),
    )
