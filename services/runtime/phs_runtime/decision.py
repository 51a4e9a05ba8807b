"""What the access policy decided about the call in progress, for its handler.

The policy never rewrites a request. When a caller may only see part of what a
method serves (a psychologist their own clients, a client their own appointments),
its check returns a Scope, and the handler applies it explicitly: it reads the
fields the scope pins through `pinned` and honours its conditions. Admins and
internal services are unscoped.

Standard library and phs_runtime.auth only: the server's pipeline sets it and must
not pull in the storage layer.
"""

from __future__ import annotations

import contextvars
from collections.abc import Mapping
from dataclasses import dataclass, field

from phs_runtime.auth import Principal


@dataclass(frozen=True)
class Scope:
    """`only`: request field path -> the one value the caller may ask about (a field the
    request left empty means that value, not "all"). `approval_required`: what the
    caller asks for becomes a request someone else approves."""

    only: Mapping[str, str] = field(default_factory=dict)
    approval_required: bool = False

    def pinned(self, path: str, given: str) -> str:
        """The value the handler uses for request field `path`: the scope's when it
        pins one (the policy has refused a request naming another), else `given`."""
        return self.only.get(path) or given


UNSCOPED = Scope()


@dataclass(frozen=True)
class Decision:
    """An admitted call: who is calling, and what they are limited to."""

    principal: Principal
    scope: Scope = UNSCOPED


_decision: contextvars.ContextVar[Decision | None] = contextvars.ContextVar("decision", default=None)


def current_decision() -> Decision | None:
    return _decision.get()


def current_scope() -> Scope:
    """The current call's scope; UNSCOPED outside a guarded call (a server without a
    guard admits everybody to everything)."""
    decision = _decision.get()
    return decision.scope if decision is not None else UNSCOPED


def set_decision(decision: Decision | None) -> contextvars.Token[Decision | None]:
    return _decision.set(decision)


def reset_decision(token: contextvars.Token[Decision | None]) -> None:
    _decision.reset(token)
