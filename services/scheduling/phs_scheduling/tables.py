"""The scheduling schema (SQLAlchemy Core). Alembic migrations create it; this
module is what the code queries. Instants are UTC (UtcDateTime)."""

from __future__ import annotations

from sqlalchemy import (
    Boolean,
    Column,
    Date,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
)

from phs_runtime.db import UtcDateTime
from phs_runtime.tables import audit_table, keys_table, outbox_table
from phs_scheduling.domain.lifecycle import OPEN

metadata = MetaData()

psychologists = Table(
    "psychologists",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("display_name", String(200), nullable=False),
    Column("time_zone", String(64), nullable=False),
    Column("active", Boolean, nullable=False),
    Column("create_time", UtcDateTime, nullable=False),
    Column("update_time", UtcDateTime, nullable=False),
    Index("ix_psychologists_create", "create_time", "id"),
)

clients = Table(
    "clients",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("display_name", String(200), nullable=False),
    Column("email", String(254), nullable=False, server_default=""),
    Column("phone", String(40), nullable=False, server_default=""),
    Column("psychologist_id", String(64), ForeignKey("psychologists.id"), nullable=True),
    Column("create_time", UtcDateTime, nullable=False),
    Column("update_time", UtcDateTime, nullable=False),
    Index("ix_clients_create", "create_time", "id"),
    Index("ix_clients_psychologist", "psychologist_id", "create_time", "id"),
)

session_types = Table(
    "session_types",
    metadata,
    Column("code", String(32), primary_key=True),
    Column("display_name", String(200), nullable=False),
    Column("duration_minutes", Integer, nullable=False),
    Column("buffer_before_minutes", Integer, nullable=False),
    Column("buffer_after_minutes", Integer, nullable=False),
    Column("client_bookable", Boolean, nullable=False),
)

# An appointment blocks [block_start, block_end): its time plus the session
# type's buffers. No two active (PENDING/BOOKED) blocks of one psychologist may
# overlap: an exclusion constraint on PostgreSQL, triggers on SQLite.
appointments = Table(
    "appointments",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("psychologist_id", String(64), ForeignKey("psychologists.id"), nullable=False),
    Column("client_id", String(64), ForeignKey("clients.id"), nullable=False),
    Column("session_type_code", String(32), ForeignKey("session_types.code"), nullable=False),
    Column("start_time", UtcDateTime, nullable=False),
    Column("end_time", UtcDateTime, nullable=False),
    Column("block_start", UtcDateTime, nullable=False),
    Column("block_end", UtcDateTime, nullable=False),
    Column("state", String(16), nullable=False),
    Column("version", Integer, nullable=False),
    Column("create_time", UtcDateTime, nullable=False),
    Column("update_time", UtcDateTime, nullable=False),
    Column("cancel_reason", String(32), nullable=True),
    Column("cancelled_by", String(16), nullable=True),
    Column("cancel_late", Boolean, nullable=True),
    Column("cancel_time", UtcDateTime, nullable=True),
    Column("cancel_explanation", String(500), nullable=True),
    Column("rescheduled_from_id", String(64), nullable=True),
    Column("rescheduled_to_id", String(64), nullable=True),
    Column("series_id", String(64), nullable=True),
    Column("original_start_time", UtcDateTime, nullable=True),
    Index("ix_appointments_psychologist_start", "psychologist_id", "start_time", "id"),
    Index("ix_appointments_client_start", "client_id", "start_time"),
    Index("ix_appointments_start", "start_time", "id"),
    Index("ix_appointments_series", "series_id", "start_time"),
)

# The Availability message of each psychologist (absent: no working hours yet).
availability = Table(
    "availability",
    metadata,
    Column("psychologist_id", String(64), ForeignKey("psychologists.id"), primary_key=True),
    Column("spec", LargeBinary, nullable=False),
    Column("version", Integer, nullable=False),
    Column("update_time", UtcDateTime, nullable=False),
)

series = Table(
    "series",
    metadata,
    Column("id", String(64), primary_key=True),
    Column("psychologist_id", String(64), ForeignKey("psychologists.id"), nullable=False),
    Column("client_id", String(64), ForeignKey("clients.id"), nullable=False),
    Column("session_type_code", String(32), ForeignKey("session_types.code"), nullable=False),
    Column("first_start_time", UtcDateTime, nullable=False),
    Column("interval_weeks", Integer, nullable=False),
    Column("count", Integer, nullable=True),
    Column("end_date", Date, nullable=True),
    Column("create_time", UtcDateTime, nullable=False),
)

# AIP-155 request ids: the first successful response of each (caller, method, id).
idempotency_keys = keys_table(metadata)

# Appointment events, written with each change, published by the relay.
outbox = outbox_table(metadata)
# Who read or changed what (phs_runtime.audit).
audit_events = audit_table(metadata)

# The open states (domain.lifecycle.OPEN) as stored codes, for queries.
ACTIVE_STATES: tuple[str, ...] = tuple(state.value for state in OPEN)

# Each psychologist's calendar feed: only the hash of its secret (NULL: revoked).
calendar_feeds = Table(
    "calendar_feeds",
    metadata,
    Column("psychologist_id", String(64), ForeignKey("psychologists.id"), primary_key=True),
    Column("secret_hash", LargeBinary(32), nullable=True),
    Column("client_detail", String(16), nullable=False),
    Column("rotate_time", UtcDateTime, nullable=True),
    Column("update_time", UtcDateTime, nullable=False),
    Index("ix_calendar_feeds_secret_hash", "secret_hash", unique=True),
)
