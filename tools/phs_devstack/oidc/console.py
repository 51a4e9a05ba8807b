"""What `make up` adds for sign-in: the demo practice on a first start, and the
console lines that say where to sign in and whom to try. (Display names go to the
terminal only, never to the log files.)"""

from __future__ import annotations

from phs_devstack import DEV_AUDIENCE, DEV_KID, Stack
from phs_devstack.oidc import CLIENT_ID, DEV_BANNER, STAFF
from phs_devstack.oidc.directory import AdminTokens, Directory
from phs_runtime.auth import ClaimLayout


def seed_on_first_start(stack: Stack) -> str:
    """Seed the demo practice when the scheduling database holds none yet; a line
    saying what happened."""
    from phs_scheduling.seed import seed_if_empty

    assert stack.scheduling_db is not None
    counts = seed_if_empty(stack.scheduling_db)
    if counts is None:
        return "Scheduling database already holds a practice: not seeded."
    return "Seeded the demo practice: " + ", ".join(f"{n} {what}" for what, n in counts.items())


def sign_in_summary(stack: Stack, per_role: int = 2) -> str:
    tokens = AdminTokens(
        stack.signing_key.read_bytes(), DEV_KID, stack.oidc_url, DEV_AUDIENCE, ClaimLayout.from_env()
    )
    directory = Directory(stack.scheduling_target, tokens)
    people = [STAFF[0], *directory.psychologists()[:per_role], *directory.clients()[:per_role]]
    lines = [
        f"Sign in ({DEV_BANNER}):",
        f"  web app                {stack.rest_url}/  (signs in with the provider below)",
        f"  OpenID provider        {stack.oidc_url}  (issuer; client id {CLIENT_ID})",
        "  people to try:",
        *(f"    {p.role:<13} {p.display_name}  ({p.subject})" for p in people),
    ]
    return "\n".join(lines)
