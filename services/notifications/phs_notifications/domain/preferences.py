"""Changing preferences: which fields an update may set and what values are valid.
Returns the new preferences, or the field violations (path, why)."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Collection, Sequence
from dataclasses import replace
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from phs_notifications.domain.model import ClientPreferences, PsychologistPreferences

CLIENT_FIELDS = ("email_enabled", "reminder_offsets", "time_zone")
PSYCHOLOGIST_FIELDS = ("new_request_emails", "email")
# One address, no display name; real validation is the mail server's.
_EMAIL = re.compile(r"[^@\s<>,;]{1,64}@[^@\s<>,;]{1,190}\.[^@\s<>,;.]{2,63}")

Violations = list[tuple[str, str]]


def _mask(paths: Sequence[str], allowed: Sequence[str], v: Violations) -> tuple[str, ...]:
    if not paths:
        return tuple(allowed)
    for p in paths:
        if p not in allowed:
            v.append(("update_mask", f"may name {', '.join(allowed)}"))
    return tuple(p for p in paths if p in allowed)


def valid_zone(name: str) -> bool:
    if name not in available_timezones():
        return False
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return False
    return True


def update_client(
    current: ClientPreferences,
    paths: Sequence[str],
    email_enabled: bool,
    reminder_offsets: Sequence[dt.timedelta],
    time_zone: str,
    available: Collection[dt.timedelta],
) -> tuple[ClientPreferences, Violations]:
    v: Violations = []
    fields = _mask(paths, CLIENT_FIELDS, v)
    new = current
    if "email_enabled" in fields:
        new = replace(new, email_enabled=email_enabled)
    if "reminder_offsets" in fields:
        wrong = [o for o in reminder_offsets if o not in available]
        if wrong:
            v.append(("preferences.reminder_offsets", "must be among available_reminder_offsets"))
        new = replace(new, reminder_offsets=tuple(sorted(set(reminder_offsets), reverse=True)))
    if "time_zone" in fields:
        if time_zone and not valid_zone(time_zone):
            v.append(("preferences.time_zone", "must be an IANA time zone such as Europe/Berlin, or empty"))
        new = replace(new, time_zone=time_zone)
    return new, v


def update_psychologist(
    current: PsychologistPreferences, paths: Sequence[str], new_request_emails: bool, email: str
) -> tuple[PsychologistPreferences, Violations]:
    v: Violations = []
    fields = _mask(paths, PSYCHOLOGIST_FIELDS, v)
    new = current
    if "new_request_emails" in fields:
        new = replace(new, new_request_emails=new_request_emails)
    if "email" in fields:
        if email and _EMAIL.fullmatch(email) is None:
            v.append(("preferences.email", "must be one email address"))
        new = replace(new, email=email)
    if new.new_request_emails and not new.email:
        v.append(("preferences.email", "is required while new_request_emails is true"))
    return new, v
