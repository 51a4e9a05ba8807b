"""The audit trail: one append-only table per service database, written for every
read of client data, every change and every refused attempt.

Durability: the RPC does not answer until its audit row is committed. A change
writes its row in its own transaction (`stage`, called by idempotency.run_once),
so a committed change without its audit entry cannot exist. Other rows (reads,
refusals, replays, failures) of concurrent RPCs are committed together by one
writer thread (group commit), a fraction of a transaction per call. If such a
row cannot be written the RPC fails with UNAVAILABLE.

Append-only: no API updates or deletes rows, and the database refuses UPDATE
and DELETE on the table (triggers created by `create_guards`).

The parts: `entry` (what one row says), `context` (the entry of the RPC in progress,
and writing it with a change), `writer` (group commit), `query` (ListAuditEvents),
`migration` (the step that created the table); the table itself is
phs_runtime.tables.audit_table.
"""

from phs_runtime.audit.context import Pending, begin, committed, current, end, stage, success_row
from phs_runtime.audit.entry import CREATE, DELETE, EXECUTE, READ, UPDATE, Entry, outcome_of
from phs_runtime.audit.migration import create_audit_log, create_guards
from phs_runtime.audit.query import list_events
from phs_runtime.audit.writer import AuditLog

__all__ = [
    "CREATE",
    "DELETE",
    "EXECUTE",
    "READ",
    "UPDATE",
    "AuditLog",
    "Entry",
    "Pending",
    "begin",
    "committed",
    "create_audit_log",
    "create_guards",
    "current",
    "end",
    "list_events",
    "outcome_of",
    "stage",
    "success_row",
]
