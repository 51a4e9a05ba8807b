"""The notifications API's access policy (see phs_runtime.policy).

- admin: everybody's preferences, and the audit log.
- client: their own preferences.
- psychologist: their own preferences.
Someone else's preferences answer PERMISSION_DENIED (every client and
psychologist has preferences, so the refusal reveals nothing).
"""

from __future__ import annotations

from typing import Any

from phs_runtime.audit import READ, UPDATE
from phs_runtime.auth import ADMIN, CLIENT, PSYCHOLOGIST, Principal
from phs_runtime.errors import excerpt, permission_denied
from phs_runtime.policy import Check, Rule, field_value, rule

PREFIX = "/phs.notifications.v1.NotificationService/"


def own(path: str) -> Check:
    """`{subject}/notificationPreferences`, the caller's own."""

    def check(request: Any, p: Principal) -> None:
        value = field_value(request, path)
        if value != f"{p.subject}/notificationPreferences":
            raise permission_denied(
                "NOT_YOURSELF",
                "people may only see and change their own preferences",
                {"resource": excerpt(value, 200)},
            )

    return check


def build() -> dict[str, Rule]:
    rules = {
        "GetClientNotificationPreferences": rule(ADMIN, CLIENT, check=own("name"), target=["name"]),
        "UpdateClientNotificationPreferences": rule(
            ADMIN, CLIENT, action=UPDATE, check=own("preferences.name"), target=["preferences.name"]
        ),
        "GetPsychologistNotificationPreferences": rule(
            ADMIN, PSYCHOLOGIST, check=own("name"), audit=False, target=["name"]
        ),
        "UpdatePsychologistNotificationPreferences": rule(
            ADMIN, PSYCHOLOGIST, action=UPDATE, check=own("preferences.name"), target=["preferences.name"]
        ),
        "ListAuditEvents": rule(ADMIN, action=READ, target=["parent", "subject", "entity"]),
    }
    return {PREFIX + name: x for name, x in rules.items()}
