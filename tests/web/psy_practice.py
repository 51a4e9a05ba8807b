"""A practice of its own for the psychologist's workspace tests (made through the API
as staff), so they change nothing the portal's tests rely on."""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from phs_devstack import Stack
from tests.helpers import local_slot, rest, rfc3339
from tests.web.conftest import PSY_ZONE

TZ = ZoneInfo(PSY_ZONE)
THERAPY = "sessionTypes/90834"  # 45 minutes


@dataclass
class Workspace:
    psychologist: str
    psychologist_name: str
    asker: str  # an assigned client who requests a time in the browser
    asker_name: str
    regular: str  # an assigned client with booked sessions
    regular_name: str
    wednesday: dt.datetime  # 10:00 Toronto, a Wednesday at least a week ahead: to drag
    taken: dt.datetime  # 14:00 the same day, booked: a drop there is refused
    thursday: dt.datetime  # 10:00 the next day, booked: moved through the dialog


def ok(resp: Any) -> dict[str, Any]:
    assert resp.status == 200, resp
    body: dict[str, Any] = resp.body
    return body


def book(base: str, psychologist: str, client: str, start: dt.datetime) -> str:
    body = {"client": client, "sessionType": THERAPY, "startTime": rfc3339(start)}
    return str(ok(rest(base, "POST", f"/v1/{psychologist}/appointments", body))["name"])


def add_client(base: str, psychologist: str, display_name: str, email: str, phone: str = "") -> str:
    """A client of `psychologist`: the resource name."""
    body = {"displayName": display_name, "email": email, "psychologist": psychologist}
    if phone:
        body["phone"] = phone
    return str(ok(rest(base, "POST", "/v1/clients", body))["name"])


def make_workspace(base: str) -> Workspace:
    tag = uuid.uuid4().hex[:6]
    name = f"Dr Week {tag}"
    p = str(ok(rest(base, "POST", "/v1/psychologists", {"displayName": name, "timeZone": PSY_ZONE}))["name"])
    days = ["MONDAY", "TUESDAY", "WEDNESDAY", "THURSDAY", "FRIDAY"]
    # Mornings and afternoons with a lunch break between.
    hours = [
        {"dayOfWeek": d, "startTime": {"hours": h0}, "endTime": {"hours": h1}}
        for d in days
        for h0, h1 in ((9, 12), (13, 17))
    ]
    policy = {
        "minimumNotice": "86400s",
        "bookingHorizon": "2592000s",
        "slotAlignment": "3600s",
        "lateCancelWindow": "86400s",
    }
    ok(rest(base, "PATCH", f"/v1/{p}/availability", {"weeklyHours": hours, "bookingPolicy": policy}))

    asker_name, regular_name = f"Ana Asks {tag}", f"Ben Booked {tag}"
    asker = add_client(base, p, asker_name, f"{tag}@example.org")
    regular = add_client(base, p, regular_name, f"{tag}@example.org")
    wednesday = local_slot(TZ, 3, 10, weeks_ahead=1)
    taken = wednesday.replace(hour=14)
    thursday = wednesday + dt.timedelta(days=1)
    for start in (wednesday, taken, thursday):
        book(base, p, regular, start)
    return Workspace(p, name, asker, asker_name, regular, regular_name, wednesday, taken, thursday)


@pytest.fixture(scope="module")
def workspace(web_stack: Stack) -> Workspace:
    return make_workspace(web_stack.rest_url)
