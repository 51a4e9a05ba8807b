"""Authorization step: the service's policy table refuses the call or admits it with
a decision (phs_runtime.decision), which the handler reads, with the principal,
from the call's context."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from phs_runtime.auth import reset_principal, set_principal
from phs_runtime.decision import reset_decision, set_decision
from phs_runtime.pipeline.call import Call

if TYPE_CHECKING:
    from phs_runtime.policy import Guard


class Authorize:
    def __init__(self, guard: Guard | None) -> None:
        self.guard = guard

    def __call__(self, call: Call, request: Any) -> None:
        if self.guard is None or call.principal is None:
            return
        call.decision = self.guard.authorize(call.method, request, call.principal)
        call.principal_token = set_principal(call.principal)
        call.decision_token = set_decision(call.decision)

    @staticmethod
    def release(call: Call) -> None:
        """Reset what the step set: the handler's context ends with the call."""
        if call.decision_token is not None:
            reset_decision(call.decision_token)
        if call.principal_token is not None:
            reset_principal(call.principal_token)
