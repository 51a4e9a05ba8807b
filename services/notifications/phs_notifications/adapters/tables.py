"""The notifications schema (SQLAlchemy Core)."""

from __future__ import annotations

from sqlalchemy import Boolean, Column, Index, Integer, MetaData, String, Table, Text, UniqueConstraint

from phs_runtime.db import UtcDateTime
from phs_runtime.tables import audit_table, keys_table

metadata = MetaData()

# Every message the service means to send, confirmations (due at once) and reminders
# (due before the start) alike: the durable schedule. (appointment, kind, offset,
# recipient) is unique, so no plan, however often replayed, makes a second one.
deliveries = Table(
    "deliveries",
    metadata,
    Column("id", String(32), primary_key=True),
    Column("appointment", String(200), nullable=False),
    Column("kind", String(24), nullable=False),
    Column("offset_s", Integer, nullable=False),  # before the start; 0 for confirmations
    Column("recipient", String(200), nullable=False),  # clients/{c} or psychologists/{p}
    Column("due_time", UtcDateTime, nullable=False),
    # PENDING -> SENDING -> SENT; or SKIPPED / FAILED (final). SENDING: handed to SMTP,
    # outcome not recorded yet (see dispatcher: a crash there resends at most once).
    Column("state", String(16), nullable=False),
    Column("outcome", String(32), nullable=False, server_default=""),  # why skipped or failed
    Column("claimed_by", String(64), nullable=True),
    Column("claimed_until", UtcDateTime, nullable=True),  # the claim's lease
    Column("attempts", Integer, nullable=False, server_default="0"),
    # Sends handed to SMTP whose outcome was never recorded (a crash, a lost reply).
    Column("unconfirmed", Integer, nullable=False, server_default="0"),
    Column("message_id", String(200), nullable=False),
    # What the message is about, as the event said (ids and times only).
    Column("client", String(200), nullable=False),
    Column("session_type", String(200), nullable=False),
    Column("appointment_state", String(16), nullable=False),
    Column("start_time", UtcDateTime, nullable=False),
    Column("end_time", UtcDateTime, nullable=False),
    Column("previous_start_time", UtcDateTime, nullable=True),
    Column("uid", String(100), nullable=False),
    Column("sequence", Integer, nullable=False),
    Column("method", String(8), nullable=False),
    Column("event_id", String(64), nullable=False),
    Column("request_id", String(128), nullable=True),  # x-request-id of the event, for logs
    Column("create_time", UtcDateTime, nullable=False),
    Column("update_time", UtcDateTime, nullable=False),
    Column("sent_time", UtcDateTime, nullable=True),
    UniqueConstraint("appointment", "kind", "offset_s", "recipient", name="uq_deliveries_identity"),
    Index("ix_deliveries_due", "state", "due_time"),
    Index("ix_deliveries_appointment", "appointment"),
    # The later messages about one calendar event to one recipient (a confirmation
    # overtaken by a later one is not sent).
    Index("ix_deliveries_uid", "uid", "recipient", "sequence"),
)

# Events already planned: a redelivered event finds its id here and plans nothing.
processed_events = Table(
    "processed_events",
    metadata,
    Column("event_id", String(64), primary_key=True),
    Column("process_time", UtcDateTime, nullable=False),
)

# The calendar event each appointment appears as (UID kept across moves), the SEQUENCE
# of the latest message about it, and when its latest change happened. Every appointment
# of a chain of moves has a row with the same state.
calendar_entries = Table(
    "calendar_entries",
    metadata,
    Column("appointment", String(200), primary_key=True),
    Column("uid", String(100), nullable=False),
    Column("sequence", Integer, nullable=False),
    Column("update_time", UtcDateTime, nullable=False),
    # When the latest change read about the calendar event happened (its event time): an
    # older change read later sends nothing (domain.rules.plan).
    Column("change_time", UtcDateTime, nullable=True),
    # Every appointment of one calendar event is updated together.
    Index("ix_calendar_entries_uid", "uid"),
)

client_preferences = Table(
    "client_preferences",
    metadata,
    Column("client", String(200), primary_key=True),
    Column("email_enabled", Boolean, nullable=False),
    # JSON list of seconds; NULL: every reminder the practice sends.
    Column("reminder_offsets", Text, nullable=True),
    Column("time_zone", String(64), nullable=False, server_default=""),
    Column("update_time", UtcDateTime, nullable=False),
)

psychologist_preferences = Table(
    "psychologist_preferences",
    metadata,
    Column("psychologist", String(200), primary_key=True),
    Column("new_request_emails", Boolean, nullable=False),
    Column("email", String(254), nullable=False, server_default=""),
    Column("update_time", UtcDateTime, nullable=False),
)

audit_events = audit_table(metadata)

PENDING, SENDING, SENT, SKIPPED, FAILED = "PENDING", "SENDING", "SENT", "SKIPPED", "FAILED"
OPEN_STATES = (PENDING, SENDING)

idempotency_keys = keys_table(metadata)
