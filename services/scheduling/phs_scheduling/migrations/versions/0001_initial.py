"""Initial scheduling schema: psychologists, clients, session types,
appointments with database-enforced non-overlap, idempotency keys.

Revision ID: 0001
Revises:
Create Date: 2026-11-26
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TS = sa.DateTime(timezone=True)

# The overlap rule, in SQLite trigger form. Timestamps are stored as fixed-format
# UTC text, so text comparison is time comparison. BEGIN IMMEDIATE makes every
# writer run this check alone. A block (session plus buffers) is shorter than a
# day, so only appointments starting within a day of the new block can overlap
# it: that bound lets the (psychologist_id, start_time) index find them instead of
# scanning the psychologist's whole history.
_SQLITE_OVERLAP = """
CREATE TRIGGER appointments_no_overlap_{when}
BEFORE {event} ON appointments
FOR EACH ROW WHEN NEW.state IN ('PENDING', 'BOOKED')
BEGIN
  SELECT RAISE(ABORT, 'appointments_no_overlap')
  WHERE EXISTS (
    SELECT 1 FROM appointments a
    WHERE a.psychologist_id = NEW.psychologist_id
      AND a.start_time > strftime('%Y-%m-%d %H:%M:%f', NEW.block_start, '-1 day')
      AND a.start_time < strftime('%Y-%m-%d %H:%M:%f', NEW.block_end, '+1 day')
      AND a.id <> NEW.id
      AND a.state IN ('PENDING', 'BOOKED')
      AND a.block_start < NEW.block_end
      AND NEW.block_start < a.block_end
  );
END
"""

_SQLITE_SHORT_BLOCK = """
CREATE TRIGGER appointments_block_under_a_day_{when}
BEFORE {event} ON appointments
FOR EACH ROW WHEN julianday(NEW.block_end) - julianday(NEW.block_start) >= 1
BEGIN
  SELECT RAISE(ABORT, 'appointments_block_under_a_day');
END
"""


def upgrade() -> None:
    op.create_table(
        "psychologists",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("display_name", sa.String(200), nullable=False),
        sa.Column("time_zone", sa.String(64), nullable=False),
        sa.Column("active", sa.Boolean, nullable=False),
        sa.Column("create_time", TS, nullable=False),
        sa.Column("update_time", TS, nullable=False),
    )
    op.create_index("ix_psychologists_create", "psychologists", ["create_time", "id"])
    op.create_table(
        "clients",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("display_name", sa.String(200), nullable=False),
        sa.Column("email", sa.String(254), nullable=False, server_default=""),
        sa.Column("phone", sa.String(40), nullable=False, server_default=""),
        sa.Column("psychologist_id", sa.String(64), sa.ForeignKey("psychologists.id"), nullable=True),
        sa.Column("create_time", TS, nullable=False),
        sa.Column("update_time", TS, nullable=False),
    )
    op.create_index("ix_clients_create", "clients", ["create_time", "id"])
    session_types = op.create_table(
        "session_types",
        sa.Column("code", sa.String(32), primary_key=True),
        sa.Column("display_name", sa.String(200), nullable=False),
        sa.Column("duration_minutes", sa.Integer, nullable=False),
        sa.Column("buffer_before_minutes", sa.Integer, nullable=False),
        sa.Column("buffer_after_minutes", sa.Integer, nullable=False),
        sa.Column("client_bookable", sa.Boolean, nullable=False),
    )
    # The CPT-coded sessions a practice offers out of the box.
    op.bulk_insert(
        session_types,
        [
            {
                "code": "90791",
                "display_name": "Intake assessment",
                "duration_minutes": 60,
                "buffer_before_minutes": 0,
                "buffer_after_minutes": 15,
                "client_bookable": True,
            },
            {
                "code": "90832",
                "display_name": "Psychotherapy, 30 min",
                "duration_minutes": 30,
                "buffer_before_minutes": 0,
                "buffer_after_minutes": 10,
                "client_bookable": False,
            },
            {
                "code": "90834",
                "display_name": "Psychotherapy, 45 min",
                "duration_minutes": 45,
                "buffer_before_minutes": 0,
                "buffer_after_minutes": 15,
                "client_bookable": False,
            },
            {
                "code": "90837",
                "display_name": "Psychotherapy, 60 min",
                "duration_minutes": 60,
                "buffer_before_minutes": 0,
                "buffer_after_minutes": 15,
                "client_bookable": False,
            },
        ],
    )
    op.create_table(
        "appointments",
        sa.Column("id", sa.String(64), primary_key=True),
        sa.Column("psychologist_id", sa.String(64), sa.ForeignKey("psychologists.id"), nullable=False),
        sa.Column("client_id", sa.String(64), sa.ForeignKey("clients.id"), nullable=False),
        sa.Column("session_type_code", sa.String(32), sa.ForeignKey("session_types.code"), nullable=False),
        sa.Column("start_time", TS, nullable=False),
        sa.Column("end_time", TS, nullable=False),
        sa.Column("block_start", TS, nullable=False),
        sa.Column("block_end", TS, nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("version", sa.Integer, nullable=False),
        sa.Column("create_time", TS, nullable=False),
        sa.Column("update_time", TS, nullable=False),
        sa.CheckConstraint(
            "block_start <= start_time AND start_time < end_time AND end_time <= block_end",
            name="appointments_times_ordered",
        ),
        sa.CheckConstraint(
            "state IN ('PENDING', 'BOOKED', 'DECLINED', 'CANCELLED', 'COMPLETED', 'NO_SHOW')",
            name="appointments_state_known",
        ),
    )
    op.create_index(
        "ix_appointments_psychologist_start", "appointments", ["psychologist_id", "start_time", "id"]
    )
    op.create_index("ix_appointments_client_start", "appointments", ["client_id", "start_time"])
    op.create_index("ix_appointments_start", "appointments", ["start_time", "id"])
    op.create_table(
        "idempotency_keys",
        sa.Column("method", sa.String(64), primary_key=True),
        sa.Column("request_id", sa.String(128), primary_key=True),
        sa.Column("request_hash", sa.String(64), nullable=False),
        sa.Column("response", sa.LargeBinary, nullable=False),
        sa.Column("create_time", TS, nullable=False),
    )

    # Blocks are shorter than a day (the SQLite overlap check relies on it).
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            "ALTER TABLE appointments ADD CONSTRAINT appointments_block_under_a_day "
            "CHECK (block_end - block_start < interval '1 day')"
        )
        op.execute("CREATE EXTENSION IF NOT EXISTS btree_gist")
        op.execute(
            "ALTER TABLE appointments ADD CONSTRAINT appointments_no_overlap "
            "EXCLUDE USING gist (psychologist_id WITH =, "
            "tstzrange(block_start, block_end, '[)') WITH &&) "
            "WHERE (state IN ('PENDING', 'BOOKED'))"
        )
    else:
        op.execute(_SQLITE_SHORT_BLOCK.format(when="insert", event="INSERT"))
        op.execute(_SQLITE_SHORT_BLOCK.format(when="update", event="UPDATE OF block_start, block_end"))
        op.execute(_SQLITE_OVERLAP.format(when="insert", event="INSERT"))
        op.execute(
            _SQLITE_OVERLAP.format(
                when="update",
                event="UPDATE OF psychologist_id, block_start, block_end, state",
            )
        )


def downgrade() -> None:
    for table in ("idempotency_keys", "appointments", "session_types", "clients", "psychologists"):
        op.drop_table(table)
