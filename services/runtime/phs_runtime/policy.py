"""Who may call what: one declared table per service, enforced by the server
pipeline (phs_runtime.pipeline) before the handler runs.

Each RPC has a Rule: the roles that may call it, an ownership check for the
roles that only see their own data (admins and internal services skip it),
the FHIR audit action, whether calls are audited, and the request fields that
name the resources concerned (for the audit entry). An RPC missing from the
table is refused for everybody; a test walks the descriptors so that cannot
ship unnoticed.

A check refuses, or admits with a Scope (phs_runtime.decision) that the handler
applies; it never rewrites the request.

Denials are PERMISSION_DENIED, or NOT_FOUND where a refusal would reveal that
another person's resource exists (the checks choose).
"""

from __future__ import annotations

import contextvars
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import grpc

from phs_runtime import audit as audit_mod
from phs_runtime.auth import (
    ADMIN,
    SERVICE,
    AuthConfig,
    AuthenticationError,
    NoAccessError,
    Principal,
    TokenVerifier,
)
from phs_runtime.decision import UNSCOPED, Decision, Scope
from phs_runtime.errors import permission_denied, unauthenticated

# Raises to refuse; returns the scope the caller is limited to, or None (not limited).
Check = Callable[[Any, Principal], Scope | None]

# Callers that see everything the rule's roles allow, without ownership checks.
_UNSCOPED = frozenset({ADMIN, SERVICE})

# The caller of an open method (Rule.open): no token is asked for or read.
ANONYMOUS = "anonymous"
_ANONYMOUS = Principal(subject="", role=ANONYMOUS)


@dataclass(frozen=True)
class Rule:
    roles: frozenset[str]
    action: str = audit_mod.READ
    check: Check | None = None
    # False only for data that is not about clients (session types, slots, the
    # psychologist directory); denied calls are audited regardless.
    audit: bool = True
    # Request field paths (dotted) whose values name the resources concerned.
    target: tuple[str, ...] = ()
    # Callable without a token, as ANONYMOUS: the request carries its own credential
    # (a calendar feed's secret), which the handler checks.
    open: bool = False


def rule(
    *roles: str,
    action: str = audit_mod.READ,
    check: Check | None = None,
    audit: bool = True,
    target: Sequence[str] = (),
    open: bool = False,
) -> Rule:
    return Rule(frozenset(roles), action, check, audit, tuple(target), open)


def field_value(request: Any, path: str) -> str:
    value: Any = request
    for part in path.split("."):
        value = getattr(value, part, "")
    return value if isinstance(value, str) else ""


class Guard:
    """Authentication, the policy table and the audit log, for one server."""

    def __init__(
        self,
        verifier: TokenVerifier,
        rules: Mapping[str, Rule],
        audit_log: audit_mod.AuditLog | None,
    ) -> None:
        self.verifier, self.rules, self.audit_log = verifier, dict(rules), audit_log

    def authenticate(self, header: str | None, method: str = "") -> Principal:
        r = self.rules.get(method)
        if r is not None and r.open:
            return _ANONYMOUS
        try:
            return self.verifier.verify_header(header)
        except NoAccessError as exc:
            raise permission_denied("NO_ACCESS", str(exc)) from None
        except AuthenticationError as exc:
            raise unauthenticated(str(exc)) from None

    def authorize(self, method: str, request: Any, principal: Principal) -> Decision:
        """Refuse the call, or admit it with the scope its handler must apply."""
        r = self.rules.get(method)
        if r is None:
            raise permission_denied("NO_POLICY", "this method has no access policy")
        if principal.role not in r.roles:
            raise permission_denied(
                "ROLE_NOT_ALLOWED",
                f"the {principal.role} role may not call this method",
                {"role": principal.role},
            )
        scope = None
        if r.check is not None and principal.role not in _UNSCOPED:
            scope = r.check(request, principal)
        return Decision(principal, scope or UNSCOPED)

    def _entry(
        self,
        method: str,
        request: Any,
        principal: Principal | None,
        code: grpc.StatusCode,
        rid: str,
        scope: Scope = UNSCOPED,
    ) -> audit_mod.Entry:
        """A target field the request left empty names what the scope pinned it to."""
        r = self.rules.get(method)
        return audit_mod.Entry(
            action=r.action if r else audit_mod.EXECUTE,
            code=code,
            subject=principal.subject if principal else "",
            role=principal.role if principal else "",
            method=method,
            entities=[scope.pinned(p, field_value(request, p)) for p in r.target]
            if r and request is not None
            else [],
            request_id=rid,
        )

    def begin(
        self, method: str, request: Any, decision: Decision, request_id: str
    ) -> contextvars.Token[audit_mod.Pending | None] | None:
        """An admitted call: its entry may be written by the change's own transaction."""
        r = self.rules.get(method)
        if self.audit_log is None or r is None or not r.audit:
            return None
        entry = self._entry(
            method, request, decision.principal, grpc.StatusCode.OK, request_id, decision.scope
        )
        return audit_mod.begin(self.audit_log, entry)

    @staticmethod
    def end(token: contextvars.Token[audit_mod.Pending | None]) -> None:
        """The call is over: its entry is no longer the current one."""
        audit_mod.end(token)

    def record(
        self,
        method: str,
        request: Any,
        response: Any,
        principal: Principal | None,
        code: grpc.StatusCode,
        request_id: str,
        scope: Scope = UNSCOPED,
    ) -> None:
        """Append the call's audit entry when the table asks for it (always for a
        refusal), unless its change already wrote it. Raises if it cannot be written."""
        if self.audit_log is None:
            return
        pending = audit_mod.current()
        if pending is not None and pending.written and code is grpc.StatusCode.OK:
            return
        r = self.rules.get(method)
        denied = code in (grpc.StatusCode.UNAUTHENTICATED, grpc.StatusCode.PERMISSION_DENIED)
        if not denied and (r is None or not r.audit):
            return
        entry = self._entry(method, request, principal, code, request_id, scope)
        name = getattr(response, "name", None)
        if isinstance(name, str) and name:
            entry.entities = [*entry.entities, name]
        self.audit_log.record(entry)


def guard_for(rules: Mapping[str, Rule], audit_log: audit_mod.AuditLog, auth: AuthConfig) -> Guard:
    """The guard of a server process: its rules, its audit log, the keys and issuers it trusts."""
    return Guard(TokenVerifier.from_config(auth), rules, audit_log)
