"""The state of one server RPC, shared by the steps of the pipeline."""

from __future__ import annotations

import contextvars
from typing import TYPE_CHECKING, Any

from phs_runtime import metrics

if TYPE_CHECKING:
    from phs_runtime.auth import Principal
    from phs_runtime.decision import Decision
    from phs_runtime.errors import ApiError

# Health and reflection are polled constantly; one log line per probe is noise.
# They are also open to anybody: probes and grpcurl carry no token.
QUIET_SERVICES = frozenset(
    {
        "grpc.health.v1.Health",
        "grpc.reflection.v1alpha.ServerReflection",
        "grpc.reflection.v1.ServerReflection",
    }
)


class Call:
    """One RPC as the steps see it. `guarded`: authentication, the policy and the
    audit log apply (the server has a guard and the service is not a quiet one)."""

    __slots__ = (
        "audit_token",
        "audited",
        "authorization",
        "checked",
        "decision",
        "decision_token",
        "elapsed",
        "given_request_id",
        "guarded",
        "kind",
        "labels",
        "method",
        "principal",
        "principal_token",
        "quiet",
        "refusal",
        "request_id",
        "started",
    )

    def __init__(
        self,
        kind: str,
        method: str,
        given_request_id: str | None = None,
        authorization: str | None = None,
        guarded: bool = False,
    ) -> None:
        service, name = metrics.split_method(method)
        self.kind = kind
        self.method = method
        self.labels = (kind, service, name)
        self.quiet = service in QUIET_SERVICES
        self.guarded = guarded and not self.quiet
        self.given_request_id = given_request_id
        self.authorization = authorization
        # Set by the steps as the call goes.
        self.request_id = ""
        self.started = 0.0
        self.elapsed = 0.0
        # Whether the request kept its declared limits: only then may its values go
        # into the audit entry.
        self.checked = False
        # Why the request itself is refused (undecodable, over its limits), raised
        # once the caller is authenticated.
        self.refusal: ApiError | None = None
        self.principal: Principal | None = None
        self.decision: Decision | None = None
        self.principal_token: contextvars.Token[Principal | None] | None = None
        self.decision_token: contextvars.Token[Decision | None] | None = None
        self.audit_token: Any = None
        self.audited = False
