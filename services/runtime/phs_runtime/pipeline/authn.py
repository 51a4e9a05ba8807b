"""Authentication step: the bearer token becomes the call's principal, or the call
is refused (UNAUTHENTICATED; PERMISSION_DENIED for a known person with no access).
An open method's caller is anonymous, token or not (phs_runtime.policy.Rule.open)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from phs_runtime.pipeline.call import Call

if TYPE_CHECKING:
    from phs_runtime.policy import Guard


class Authenticate:
    def __init__(self, guard: Guard | None) -> None:
        self.guard = guard

    def __call__(self, call: Call) -> None:
        if self.guard is not None and call.guarded:
            call.principal = self.guard.authenticate(call.authorization, call.method)
