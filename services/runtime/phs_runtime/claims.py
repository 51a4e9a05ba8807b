"""Which token claims name the person and their role: the settings the services
verify tokens with and the web app reads its sign-in with (phs_web hands them to the
browser). Standard library only, so the web image needs no JWT libraries."""

from __future__ import annotations

import os

from phs_runtime.config import ConfigError, env_str

ADMIN = "admin"
PSYCHOLOGIST = "psychologist"
CLIENT = "client"
# The roles a person (not a service) can have.
PERSON_ROLES = frozenset({ADMIN, PSYCHOLOGIST, CLIENT})


def parse_list(text: str) -> tuple[str, ...]:
    """A comma-separated setting: its non-empty items, trimmed."""
    return tuple(item.strip() for item in text.split(",") if item.strip())


def parse_role_map(text: str) -> dict[str, str]:
    """`provider-value:role,...` (e.g. `phs-staff:admin,phs-psychologists:psychologist`)
    into {provider value: PHS role}. The value is what precedes the last colon, so it
    may hold colons itself; each role must be a person's role."""
    mapping: dict[str, str] = {}
    for item in parse_list(text):
        value, sep, role = item.rpartition(":")
        value, role = value.strip(), role.strip()
        if not sep or not value:
            raise ConfigError(f"PHS_AUTH_ROLE_MAP: {item!r} is not provider-value:role")
        if role not in PERSON_ROLES:
            raise ConfigError(
                f"PHS_AUTH_ROLE_MAP: {value!r} maps to {role!r}; roles are {', '.join(sorted(PERSON_ROLES))}"
            )
        if value in mapping:
            raise ConfigError(f"PHS_AUTH_ROLE_MAP: {value!r} appears twice")
        mapping[value] = role
    return mapping


def claim_settings_from_env() -> tuple[str, str, dict[str, str]]:
    """(subject claim, role claim, role map) from PHS_AUTH_SUBJECT_CLAIM,
    PHS_AUTH_ROLE_CLAIM and PHS_AUTH_ROLE_MAP (dotted claim paths allowed)."""
    return (
        env_str("PHS_AUTH_SUBJECT_CLAIM", "sub"),
        env_str("PHS_AUTH_ROLE_CLAIM", "role"),
        parse_role_map(os.environ.get("PHS_AUTH_ROLE_MAP", "")),
    )
