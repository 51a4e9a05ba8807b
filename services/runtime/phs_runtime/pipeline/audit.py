"""Audit step: every admitted call the policy table audits, and every refusal, leaves
an entry, written before the answer leaves. A change may write its own call's entry
in its transaction (phs_runtime.audit.stage): `begin` makes the entry current for
that; `record` then writes nothing more.

An entry that cannot be written fails a call that had succeeded (UNAVAILABLE,
AUDIT_UNAVAILABLE): nothing passes unaudited. A failed call's entry is best effort:
its caller gets the original error."""

from __future__ import annotations

import contextlib
import logging
from typing import TYPE_CHECKING, Any

import grpc

from phs_runtime.decision import UNSCOPED
from phs_runtime.errors import ApiError, unavailable
from phs_runtime.pipeline.call import Call

if TYPE_CHECKING:
    from phs_runtime.policy import Guard

log = logging.getLogger("phs.rpc")


class Audit:
    def __init__(self, guard: Guard | None) -> None:
        self.guard = guard

    def begin(self, call: Call, request: Any) -> None:
        if self.guard is not None and call.decision is not None:
            call.audit_token = self.guard.begin(call.method, request, call.decision, call.request_id)

    def record(self, call: Call, request: Any, response: Any, code: grpc.StatusCode) -> None:
        """The call's entry, once (raises AUDIT_UNAVAILABLE if it cannot be written)."""
        if self.guard is None or not call.guarded or call.audited:
            return
        call.audited = True
        scope = call.decision.scope if call.decision is not None else UNSCOPED
        try:
            self.guard.record(
                call.method,
                request if call.checked else None,
                response,
                call.principal,
                code,
                call.request_id,
                scope,
            )
        except Exception as exc:  # noqa: BLE001 - whatever broke, the call must not pass unaudited
            log.error("audit entry not written", extra={"grpc_method": call.method, "error": repr(exc)})
            raise unavailable("AUDIT_UNAVAILABLE", "the audit log cannot be written; retry") from None

    def record_failure(self, call: Call, request: Any, code: grpc.StatusCode) -> None:
        with contextlib.suppress(ApiError):
            self.record(call, request, None, code)

    def release(self, call: Call) -> None:
        if self.guard is not None and call.audit_token is not None:
            self.guard.end(call.audit_token)
