"""ListAuditEvents: an audit table's entries, newest first, filtered and paged."""

from __future__ import annotations

import json
from typing import Any

from google.protobuf.timestamp_pb2 import Timestamp
from sqlalchemy import Engine, Table, select

from phs.audit.v1 import audit_pb2
from phs_runtime import paging
from phs_runtime.audit.entry import (
    CREATE,
    DELETE,
    EXECUTE,
    MAJOR_FAILURE,
    MINOR_FAILURE,
    READ,
    SERIOUS_FAILURE,
    SUCCESS,
    UPDATE,
)
from phs_runtime.db import reader
from phs_runtime.errors import invalid_argument
from phs_runtime.resources import from_timestamp, to_timestamp

_ACTIONS = {
    CREATE: audit_pb2.AuditEvent.ACTION_CREATE,
    READ: audit_pb2.AuditEvent.ACTION_READ,
    UPDATE: audit_pb2.AuditEvent.ACTION_UPDATE,
    DELETE: audit_pb2.AuditEvent.ACTION_DELETE,
    EXECUTE: audit_pb2.AuditEvent.ACTION_EXECUTE,
}
_OUTCOMES = {
    SUCCESS: audit_pb2.AuditEvent.OUTCOME_SUCCESS,
    MINOR_FAILURE: audit_pb2.AuditEvent.OUTCOME_MINOR_FAILURE,
    SERIOUS_FAILURE: audit_pb2.AuditEvent.OUTCOME_SERIOUS_FAILURE,
    MAJOR_FAILURE: audit_pb2.AuditEvent.OUTCOME_MAJOR_FAILURE,
}
_OUTCOME_CODES = {v: k for k, v in _OUTCOMES.items()}


def list_events(
    engine: Engine, table: Table, request: audit_pb2.ListAuditEventsRequest, log_name: str
) -> audit_pb2.ListAuditEventsResponse:
    if request.parent != log_name:
        raise invalid_argument([("parent", f"must be {log_name}")])
    t = table
    conds = []
    if request.subject:
        conds.append(t.c.subject == request.subject)
    if request.method:
        conds.append(t.c.method == request.method)
    if request.entity:
        conds.append(t.c.entities.contains(json.dumps(request.entity)))
    if request.outcome:
        if request.outcome not in _OUTCOME_CODES:
            raise invalid_argument([("outcome", "is not a known outcome")])
        conds.append(t.c.outcome == _OUTCOME_CODES[request.outcome])
    start = from_timestamp(request.start_time) if request.HasField("start_time") else None
    end = from_timestamp(request.end_time) if request.HasField("end_time") else None
    if start and end and end <= start:
        raise invalid_argument([("end_time", "must be after start_time")])
    if start:
        conds.append(t.c.record_time >= start)
    if end:
        conds.append(t.c.record_time < end)
    filters = [request.subject, request.method, request.entity, request.outcome, str(start), str(end)]
    limit = paging.page_size(request.page_size)
    after = paging.decode_token(request.page_token, filters)
    if after is not None:
        (seq,) = after
        conds.append(t.c.seq < int(seq))
    query = select(t).where(*conds).order_by(t.c.seq.desc()).limit(limit + 1)
    with reader(engine).connect() as conn:
        rows = conn.execute(query).all()
    token = ""
    if len(rows) > limit:
        rows = rows[:limit]
        token = paging.encode_token([rows[-1].seq], filters)
    return audit_pb2.ListAuditEventsResponse(
        audit_events=[_event_pb(x, log_name) for x in rows], next_page_token=token
    )


def _event_pb(row: Any, log_name: str) -> audit_pb2.AuditEvent:
    ts: Timestamp = to_timestamp(row.record_time)
    return audit_pb2.AuditEvent(
        name=f"{log_name}/events/{row.seq}",
        record_time=ts,
        action=_ACTIONS.get(row.action, audit_pb2.AuditEvent.ACTION_UNSPECIFIED),
        outcome=_OUTCOMES.get(row.outcome, audit_pb2.AuditEvent.OUTCOME_UNSPECIFIED),
        status_code=row.status_code,
        agent=audit_pb2.AuditEvent.Agent(subject=row.subject, role=row.role),
        source=row.source,
        method=row.method,
        entities=json.loads(row.entities),
        request_id=row.request_id,
    )
