"""The reports schema (SQLAlchemy Core): jobs, their outgoing messages, request ids."""

from __future__ import annotations

from sqlalchemy import Column, Index, Integer, LargeBinary, MetaData, String, Table

from phs_runtime.db import UtcDateTime
from phs_runtime.tables import audit_table, keys_table, outbox_table

metadata = MetaData()

# One row per report job; the source of truth for its state and result.
reports = Table(
    "reports",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("kind", String(32), nullable=False),
    Column("params", LargeBinary, nullable=False),  # serialized params message
    Column("state", String(16), nullable=False),  # domain.jobs: QUEUED ... CANCELLED
    Column("result", LargeBinary, nullable=True),  # serialized result message
    Column("error", LargeBinary, nullable=True),  # serialized google.rpc.Status
    Column("attempts", Integer, nullable=False),
    Column("publications", Integer, nullable=False, server_default="1"),
    Column("origin_request_id", String(128), nullable=True),  # x-request-id of CreateReport
    Column("idempotency_key", String(128), nullable=True),  # its request_id / Idempotency-Key
    Column("create_time", UtcDateTime, nullable=False),
    Column("update_time", UtcDateTime, nullable=False),
    Column("complete_time", UtcDateTime, nullable=True),
    Column("content", LargeBinary, nullable=True),  # an export's file
    Column("expire_time", UtcDateTime, nullable=True),
    Column("requester", String(200), nullable=False, server_default=""),  # token subject
    Column("requester_role", String(20), nullable=False, server_default=""),
    Column("progress", Integer, nullable=False, server_default="0"),
    Index("ix_reports_create", "create_time", "id"),
    Index("ix_reports_state_update", "state", "update_time"),
    Index("ix_reports_requester", "requester", "create_time", "id"),
)

# Transactional outbox: written with the job, published to Kafka by the relay.
outbox = outbox_table(metadata)
# Who read or changed what (phs_runtime.audit).
audit_events = audit_table(metadata)
# AIP-155 request ids: the first successful response of each (caller, method, id).
idempotency_keys = keys_table(metadata)
