"""The staff console and the psychologist's availability and caseload pages on a phone
(390 x 844, as an iPhone 12-15 reports itself): no page scrolls sideways (tables scroll
inside their own box), axe finds nothing serious, and each page leaves a screenshot in
test-artifacts/screenshots/ for people to look at."""

from __future__ import annotations

import datetime as dt
import itertools
import re
import uuid
from typing import Any

import pytest

from phs_devstack import Stack
from tests.helpers import rest, rfc3339
from tests.web.conftest import PSY_ZONE, SCREENSHOTS, VIEWER_ZONE, Shots, new_page
from tests.web.psy_practice import TZ, Workspace, workspace
from tests.web.test_portal import assert_accessible
from tests.web.test_psychologist import sign_in as sign_in_psychologist
from tests.web.test_staff import open_page, sign_in_staff, wall

__all__ = ["workspace"]  # the fixture, imported for pytest

pytestmark = pytest.mark.slow

PHONE = (390, 844)

# Elements whose right edge passes the viewport, outside any box that scrolls on its own:
# what makes the page scroll sideways, named for the failure message.
_WIDE = """() => {
  const width = window.innerWidth;
  const scrollsItself = (el) => {
    for (let p = el.parentElement; p; p = p.parentElement) {
      const x = getComputedStyle(p).overflowX;
      if (x === "auto" || x === "scroll" || x === "hidden") return true;
    }
    return false;
  };
  return [...document.querySelectorAll("body *")]
    .filter((el) => el.getBoundingClientRect().right > width + 1 && !scrollsItself(el))
    .slice(0, 5)
    .map((el) => {
      const right = Math.round(el.getBoundingClientRect().right);
      return `${el.tagName.toLowerCase()}.${[...el.classList].join(".")} ${right}px`;
    });
}"""


def assert_fits(page: Any, where: str) -> None:
    """Nothing scrolls sideways: the document is no wider than the viewport."""
    wide, inner = page.evaluate("() => [document.scrollingElement.scrollWidth, window.innerWidth]")
    assert wide <= inner + 1, f"{where}: {wide} px wide in a {inner} px viewport; {page.evaluate(_WIDE)}"


def check(page: Any, shot: Shots, step: str) -> None:
    shot(step)
    assert_accessible(page, f"{step} at {PHONE[0]} px")
    assert_fits(page, step)
    # A table may scroll inside its own box; its buttons must not be out of sight there.
    for button in page.locator("table button").all():
        box = button.bounding_box()
        assert box and box["x"] >= 0 and box["x"] + box["width"] <= PHONE[0], (step, button.inner_text(), box)


def test_staff_console_at_phone_width(browser: Any, web_stack: Stack) -> None:
    base = web_stack.rest_url
    tag = uuid.uuid4().hex[:6]
    psy_name = f"Dr Phone {tag}"
    made = rest(base, "POST", "/v1/psychologists", {"displayName": psy_name, "timeZone": PSY_ZONE})
    assert made.status == 200, made
    client = {"displayName": f"Pia Phone {tag}", "psychologist": made.body["name"]}
    assert rest(base, "POST", "/v1/clients", client).status == 200
    # A finished report for the history table (the page then has rows to lay out).
    now = dt.datetime.now(dt.UTC)
    interval = {"startTime": rfc3339(now - dt.timedelta(days=7)), "endTime": rfc3339(now)}
    params = {"psychologist": made.body["name"], "interval": interval}
    job = rest(base, "POST", "/v1/reports", {"caseloadParams": params})
    assert job.status == 200, job

    page = new_page(browser, *PHONE)
    shot = Shots(page, "phone-staff")
    sign_in_staff(page, web_stack)
    page.locator("tbody tr").first.wait_for()
    check(page, shot, "psychologists")

    open_page(page, "Clients", "Clients")
    page.locator("tbody tr").first.wait_for()
    # A client with neither email nor phone: the card says so rather than leaving a gap.
    contact = page.locator("tbody tr", has_text=f"Pia Phone {tag}").locator('td[data-label="Contact"]')
    assert contact.inner_text().strip() == "None given"
    check(page, shot, "clients")

    open_page(page, "Session types", "Session types")
    page.locator("tbody tr").first.wait_for()
    check(page, shot, "session-types")

    open_page(page, "Reports", "Reports")
    row = page.locator(f'tbody tr[data-report="{job.body["name"]}"]')
    row.locator('[data-state="Succeeded"]').wait_for(timeout=60_000)
    check(page, shot, "reports")
    open_page(page, "Audit log", "Audit log")
    page.locator("tbody tr").first.wait_for()
    check(page, shot, "audit-log")

    open_page(page, "Book for a client", "Book for a client")
    page.get_by_label("Psychologist", exact=True).select_option(label=psy_name)
    booking = page.get_by_role("form", name="Booking")
    booking.get_by_label("Client").select_option(label=f"Pia Phone {tag}")
    booking.get_by_label("Session type").select_option(value="sessionTypes/90834")
    early = dt.datetime.now(TZ).replace(hour=6, minute=0, second=0, microsecond=0) + dt.timedelta(days=3)
    booking.get_by_label("Starts at").fill(wall(early, VIEWER_ZONE))  # outside hours: the warning shows
    check(page, shot, "book-for-client")
    # The form's fields stack: each control starts at the same left edge as the form.
    left = booking.bounding_box()
    assert left
    for label in ("Client", "Session type", "Starts at"):
        field = booking.get_by_label(label).bounding_box()
        assert field, label
        assert field["x"] < left["x"] + 40 and field["x"] + field["width"] <= PHONE[0], (label, field)
    page.context.close()


def test_availability_preview_and_caseload_at_phone_width(
    browser: Any, web_stack: Stack, workspace: Workspace
) -> None:
    ws = workspace
    page = new_page(browser, *PHONE)
    shot = Shots(page, "phone-workspace")
    sign_in_psychologist(page, web_stack, ws.psychologist_name)

    # The preview: the first days only, and the rest behind a button the keyboard reaches.
    page.goto(web_stack.rest_url + "/availability")
    page.get_by_role("heading", name="Availability").wait_for()
    preview = page.get_by_role("list", name="Open times")
    preview.wait_for()
    days = preview.locator(":scope > li")
    assert days.count() == 3, days.count()
    show = page.get_by_role("button", name=re.compile(r"^Show all \d+ days$"))
    total = int(re.findall(r"\d+", show.inner_text())[0])
    assert total > 3 and show.get_attribute("aria-expanded") == "false"
    section = page.get_by_role("region", name="What clients see")
    check(page, shot, "availability-preview")
    # The page is long; the preview alone, for people to look at.
    section.screenshot(path=str(SCREENSHOTS / f"{shot.name}-preview-collapsed.png"))
    show.focus()
    page.keyboard.press("Enter")
    assert days.count() == total
    # The reader lands on the first day revealed, not on the button below the new days.
    focused = page.evaluate("() => document.activeElement.closest('li')?.dataset.date")
    assert focused == days.nth(3).get_attribute("data-date"), focused
    fewer = page.get_by_role("button", name="Show the first 3 days only")
    assert fewer.get_attribute("aria-expanded") == "true"
    assert_fits(page, "availability preview, all days")
    section.screenshot(path=str(SCREENSHOTS / f"{shot.name}-preview-all-days.png"))

    # The caseload charts: half a year of weeks, the labels that fit and none over another.
    page.goto(web_stack.rest_url + "/caseload")
    page.get_by_role("heading", name="My caseload").wait_for()
    first, last = ws.wednesday.date() - dt.timedelta(weeks=26), ws.thursday.date() + dt.timedelta(days=21)
    weeks = (
        (last - dt.timedelta(days=last.weekday())) - (first - dt.timedelta(days=first.weekday()))
    ).days // 7 + 1
    page.get_by_label("From", exact=True).fill(first.isoformat())
    page.get_by_label("To (inclusive)").fill(last.isoformat())
    page.get_by_role("button", name="Show my caseload").click()
    page.get_by_role("table", name="The figures").wait_for(timeout=30_000)
    shown = assert_chart_labels_apart(page)
    assert 3 <= shown < weeks, (shown, weeks)  # some week labels left out, to fit
    assert_first_week_labelled(page, first)
    check(page, shot, "caseload")
    page.get_by_text("Sessions per week as a table").click()
    assert page.get_by_role("table", name="Sessions per week").locator("tbody tr").count() == weeks
    check(page, shot, "caseload-weekly-table")
    page.set_viewport_size({"width": 1280, "height": 900})
    assert assert_chart_labels_apart(page) >= shown
    shot("caseload-wide")
    page.context.close()


STATES = ["Booked", "Completed", "Requested", "Cancelled", "Declined", "No-show"]

_BOXES = """els => els.map((e) => {
  const r = e.getBoundingClientRect();
  return [e.textContent, r.left, r.top, r.right, r.bottom];
})"""


def _apart(boxes: list[list[Any]]) -> None:
    for i, a in enumerate(boxes):
        for b in boxes[i + 1 :]:
            apart = a[3] <= b[1] or b[3] <= a[1] or a[4] <= b[2] or b[4] <= a[2]
            assert apart, f"{a[0]} overlaps {b[0]}: {boxes}"


def assert_first_week_labelled(page: Any, first: dt.date) -> None:
    chart = page.get_by_role("figure", name="Sessions per week by state")
    label = chart.locator(".recharts-xAxis-tick-labels .recharts-cartesian-axis-tick-value").first
    monday = first - dt.timedelta(days=first.weekday())
    assert label.text_content().split()[0] == str(monday.day), label.text_content()


def assert_chart_labels_apart(page: Any) -> int:
    """The "Sessions per week by state" chart labels its weeks ("14 Dec") and names the
    states in its legend, no label over another; returns how many week labels it shows."""
    chart = page.get_by_role("figure", name="Sessions per week by state")
    ticks = chart.locator(".recharts-xAxis-tick-labels .recharts-cartesian-axis-tick-value")
    ticks.first.wait_for()
    # After a resize the chart redraws once its container has measured itself.
    page.wait_for_function(
        """() => {
          const box = document.querySelector("#chart-states + .psy-chart");
          const chart = box?.querySelector(".recharts-wrapper");
          return box && chart && Math.abs(chart.getBoundingClientRect().width - box.clientWidth) < 2;
        }"""
    )
    weeks = ticks.evaluate_all(_BOXES)
    assert all(re.fullmatch(r"\d{1,2} [A-Z][a-z]{2,3}", w[0]) for w in weeks), weeks
    _apart(weeks)
    # Every Nth week: the labels are evenly spaced.
    centres = [(w[1] + w[3]) / 2 for w in weeks]
    gaps = [b - a for a, b in itertools.pairwise(centres)]
    assert max(gaps) - min(gaps) < 2, weeks
    legend = chart.locator(".recharts-legend-item-text").evaluate_all(_BOXES)
    assert [x[0] for x in legend] == STATES, legend
    _apart(legend)
    return len(weeks)
