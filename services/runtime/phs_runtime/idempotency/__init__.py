"""AIP-155 request ids: a retried request returns the first response; the same id
with a different request is refused. The record is written in the same database
transaction as the change, so a crash can never keep one without the other.

A request id belongs to its caller (the authenticated principal's subject), as at
Stripe and in AIP-155 servers: records are keyed by (caller, method, request id), so
another caller who sends the same id makes a request of their own, and learns
nothing about whether the id was used before. The caller is the principal the
server interceptor authenticated (`auth.current_principal`) unless given.

The parts: `store` (fingerprints, records and the transactions that write them; no
gRPC: a reused id is `RequestIdReused`, which phs_runtime.errors maps to
FAILED_PRECONDITION), `request_id` (the id of a gRPC or REST request), `migration`
(the step that scoped the keys to callers); the table itself is
phs_runtime.tables.keys_table."""

from phs_runtime.idempotency.migration import scope_keys_to_callers, unscope_keys
from phs_runtime.idempotency.request_id import effective_request_id
from phs_runtime.idempotency.store import (
    RequestIdReused,
    caller,
    fingerprint,
    insert_at_once,
    lookup,
    record,
    run_once,
)

__all__ = [
    "RequestIdReused",
    "caller",
    "effective_request_id",
    "fingerprint",
    "insert_at_once",
    "lookup",
    "record",
    "run_once",
    "scope_keys_to_callers",
    "unscope_keys",
]
