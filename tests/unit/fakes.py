"""What the server pipeline's unit tests stand in for: the few methods of
grpc.ServicerContext the steps call (a real server answers in tests/e2e/test_grpc_direct.py
and the e2e tests), and a guard built from the session's real development key."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any, cast

import grpc
from google.rpc import error_details_pb2, status_pb2

from phs_devstack import DEV_AUDIENCE, DEV_ISSUER, dev_token
from phs_runtime.audit import AuditLog
from phs_runtime.auth import KeySet, TokenVerifier
from phs_runtime.policy import Guard, Rule


class Aborted(Exception):
    """What context.abort raises (grpc raises a bare Exception)."""


class FakeContext:
    def __init__(self, remaining: float | None = None) -> None:
        self.remaining = remaining
        self._code: grpc.StatusCode | None = None
        self.sent: Any = None  # the grpc.Status given to abort_with_status

    @property
    def as_grpc(self) -> grpc.ServicerContext:
        """This fake where grpc's type is expected (it has what the steps call)."""
        return cast(grpc.ServicerContext, self)

    def time_remaining(self) -> float | None:
        return self.remaining

    def code(self) -> grpc.StatusCode | None:
        return self._code

    def abort(self, code: grpc.StatusCode, details: str) -> None:
        self._code = code
        raise Aborted(details)

    def abort_with_status(self, status: Any) -> None:
        self._code = status.code
        self.sent = status
        raise Aborted(status.details)

    def reason(self) -> str:
        """The ErrorInfo reason of the status sent."""
        assert self.sent is not None
        raw: bytes = dict(self.sent.trailing_metadata)["grpc-status-details-bin"]
        info = error_details_pb2.ErrorInfo()
        status_pb2.Status.FromString(raw).details[0].Unpack(info)
        return str(info.reason)


def guard(keys: Path, rules: Mapping[str, Rule], audit_log: AuditLog | None = None) -> Guard:
    verifier = TokenVerifier(KeySet(file=str(keys / "jwks.json")), DEV_ISSUER, DEV_AUDIENCE)
    return Guard(verifier, rules, audit_log)


def bearer(keys: Path, subject: str, role: str) -> str:
    return f"Bearer {dev_token(keys, subject, role)}"
