"""One audit entry: who did what to which resources, with which outcome, as the row
the table stores (FHIR AuditEvent codes)."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import grpc

# FHIR AuditEvent.action codes.
CREATE, READ, UPDATE, DELETE, EXECUTE = "C", "R", "U", "D", "E"

# FHIR AuditEvent.outcome codes, by gRPC status.
SUCCESS, MINOR_FAILURE, SERIOUS_FAILURE, MAJOR_FAILURE = 0, 4, 8, 12
_MINOR = {
    grpc.StatusCode.INVALID_ARGUMENT,
    grpc.StatusCode.NOT_FOUND,
    grpc.StatusCode.ALREADY_EXISTS,
    grpc.StatusCode.FAILED_PRECONDITION,
    grpc.StatusCode.ABORTED,
    grpc.StatusCode.OUT_OF_RANGE,
    grpc.StatusCode.CANCELLED,
    grpc.StatusCode.RESOURCE_EXHAUSTED,
}
_DENIED = {grpc.StatusCode.UNAUTHENTICATED, grpc.StatusCode.PERMISSION_DENIED}


def outcome_of(code: grpc.StatusCode) -> int:
    if code is grpc.StatusCode.OK:
        return SUCCESS
    if code in _DENIED:
        return SERIOUS_FAILURE
    if code in _MINOR:
        return MINOR_FAILURE
    return MAJOR_FAILURE


@dataclass
class Entry:
    action: str
    code: grpc.StatusCode
    subject: str
    role: str
    method: str
    entities: Sequence[str]
    request_id: str
    record_time: dt.datetime = field(default_factory=lambda: dt.datetime.now(dt.UTC))

    def row(self, source: str) -> dict[str, Any]:
        return {
            "record_time": self.record_time,
            "action": self.action,
            "outcome": outcome_of(self.code),
            "status_code": self.code.name,
            "subject": self.subject[:200],
            "role": self.role[:20],
            "source": source,
            "method": self.method[:200],
            "entities": json.dumps(sorted({e for e in self.entities if e})[:20]),
            "request_id": self.request_id[:128],
        }
