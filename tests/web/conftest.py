"""Browser fixtures: Debian's Chromium driven by Playwright against the real stack
(Envoy serving the built app and the API on one origin, the development OpenID
provider, the services), and a practice made for the journey.

Without Chromium or a built app (`make web`) the tests skip with the reason, except
under CI=true, where they fail."""

from __future__ import annotations

import datetime as dt
import re
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from phs_devstack import REPO, Ports, Stack
from phs_scheduling.store import Store
from tests.browser import unavailable
from tests.helpers import local_slot, rest, rfc3339

SCREENSHOTS = REPO / "test-artifacts" / "screenshots"
WEB_DIST = REPO / "services" / "web" / "dist" / "index.html"
# The psychologist works in Toronto; the browser sits in Paris, so the app must say so.
PSY_ZONE = "America/Toronto"
VIEWER_ZONE = "Europe/Paris"


@pytest.fixture(scope="session")
def browser(chromium: Any) -> Any:
    """The shared Chromium, once the web app is built."""
    if not WEB_DIST.exists():
        unavailable("the web app is not built (run `make web`)")
    return chromium


@dataclass
class Practice:
    """People and appointments the journey needs, made through the API as staff."""

    psychologist: str
    psychologist_name: str
    client: str  # assigned to the psychologist, with appointments
    client_name: str
    newcomer: str  # no psychologist yet
    newcomer_name: str
    other_client: str  # takes a slot in between
    late: str  # the client's booked session inside the late-cancel window
    later: str  # the client's booked session well ahead (to move)


def _ok(resp: Any) -> dict[str, Any]:
    assert resp.status == 200, resp
    body: dict[str, Any] = resp.body
    return body


def _make_practice(base: str) -> Practice:
    tag = uuid.uuid4().hex[:6]
    psy_name = f"Dr Webb {tag}"
    p = _ok(rest(base, "POST", "/v1/psychologists", {"displayName": psy_name, "timeZone": PSY_ZONE}))["name"]
    week = ["MONDAY", "TUESDAY", "WEDNESDAY", "THURSDAY", "FRIDAY"]
    hours = [{"dayOfWeek": d, "startTime": {"hours": 9}, "endTime": {"hours": 17}} for d in week]
    _ok(
        rest(
            base,
            "PATCH",
            f"/v1/{p}/availability",
            {
                "weeklyHours": hours,
                "bookingPolicy": {
                    "minimumNotice": "86400s",
                    "bookingHorizon": "2592000s",
                    "slotAlignment": "3600s",
                    # Not the 24-hour default: the page must warn with the psychologist's own.
                    "lateCancelWindow": "43200s",
                },
            },
        )
    )

    def client(name: str, psychologist: str = "") -> str:
        body = {"displayName": name, "email": f"{tag}@example.org"}
        if psychologist:
            body["psychologist"] = psychologist
        return str(_ok(rest(base, "POST", "/v1/clients", body))["name"])

    client_name, newcomer_name = f"Casey Web {tag}", f"Noor New {tag}"
    c = client(client_name, p)
    newcomer = client(newcomer_name)
    other = client(f"Olly Other {tag}", p)
    now = dt.datetime.now(dt.UTC).replace(minute=0, second=0, microsecond=0)

    def book(start: dt.datetime) -> str:
        body = {"client": c, "sessionType": "sessionTypes/90834", "startTime": rfc3339(start)}
        return str(_ok(rest(base, "POST", f"/v1/{p}/appointments", body))["name"])

    # Staff may book outside working hours and notice: one session in 5 hours (late to
    # cancel), one in 20 days at 06:00 Toronto (clear of any slot the journey picks).
    late = book(now + dt.timedelta(hours=5))
    later_day = (now + dt.timedelta(days=20)).astimezone(ZoneInfo(PSY_ZONE)).replace(hour=6)
    later = book(later_day.astimezone(dt.UTC))
    # History in every other state: cancelled by the psychologist, declined, and (straight
    # into the database: the API books no past times) completed and a no-show.
    off = book(now + dt.timedelta(days=9, hours=3))
    cancel = {"reason": "REASON_PSYCHOLOGIST_UNAVAILABLE", "cancelledBy": "ACTOR_PSYCHOLOGIST"}
    _ok(rest(base, "POST", f"/v1/{off}:cancel", cancel))
    wish = local_slot(ZoneInfo(PSY_ZONE), 2, 10, weeks_ahead=1)  # a Tuesday 10:00 there
    body = {"client": c, "sessionType": "sessionTypes/90834", "startTime": rfc3339(wish)}
    asked = _ok(rest(base, "POST", f"/v1/{p}/appointments?requestApproval=true", body))["name"]
    _ok(rest(base, "POST", f"/v1/{asked}:decline", {}))
    return Practice(p, psy_name, c, client_name, newcomer, newcomer_name, other, late, later)


def add_past(database_url: str, practice: Practice) -> None:
    store = Store.open(database_url)
    now = dt.datetime.now(dt.UTC).replace(minute=0, second=0, microsecond=0)
    pid, cid = practice.psychologist.split("/")[1], practice.client.split("/")[1]
    try:
        with store.engine.begin() as conn:
            for weeks, state in ((2, "COMPLETED"), (3, "NO_SHOW")):
                start = now - dt.timedelta(weeks=weeks)
                Store.insert_appointment(conn, now, pid, cid, "90834", start, state)
    finally:
        store.close()


@pytest.fixture(scope="session")
def web_stack(tmp_path_factory: pytest.TempPathFactory, browser: Any) -> Iterator[Stack]:
    """The whole stack as `make up` runs it (SQLite), on free ports."""
    s = Stack(root=tmp_path_factory.mktemp("web-stack"), ports=Ports.free())
    try:
        s.start()
        yield s
    finally:
        s.stop()


@pytest.fixture(scope="session")
def practice(web_stack: Stack) -> Practice:
    made = _make_practice(web_stack.rest_url)
    add_past(str(web_stack.scheduling_db), made)
    return made


class Shots:
    """Numbered screenshots of one test, for people to review."""

    def __init__(self, page: Any, name: str) -> None:
        self.page = page
        self.name = re.sub(r"[^A-Za-z0-9_-]+", "-", name)
        self.n = 0
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        for old in SCREENSHOTS.glob(f"{self.name}-*.png"):
            old.unlink()

    def __call__(self, step: str) -> None:
        self.n += 1
        self.page.screenshot(path=str(SCREENSHOTS / f"{self.name}-{self.n:02d}-{step}.png"), full_page=True)


def new_page(browser: Any, width: int = 1280, height: int = 900) -> Any:
    context = browser.new_context(
        viewport={"width": width, "height": height}, timezone_id=VIEWER_ZONE, locale="en-GB"
    )
    context.set_default_timeout(15_000)
    return context.new_page()
