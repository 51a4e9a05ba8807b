"""The psychologist's workspace in Chromium through the real stack, signed in on the
development provider's own form: today's list, the week in their own zone, a client's
request arriving in the inbox (no reload) and approved (the client, in a second
browser context, sees it booked), moving by drag (a free time is saved, a taken one is
put back with the reason) and through the keyboard dialog, and the clients' history.
axe-core scans every page; each step leaves a screenshot in test-artifacts/screenshots/."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

import pytest

from phs_devstack import Stack
from tests.helpers import eventually, local_slot, rest, rfc3339
from tests.web.conftest import PSY_ZONE, VIEWER_ZONE, Shots, new_page
from tests.web.psy_practice import THERAPY, TZ, Workspace, workspace
from tests.web.test_portal import assert_accessible, instant
from tests.web.test_portal import sign_in as sign_in_client

__all__ = ["workspace"]  # the fixture, imported for pytest

pytestmark = pytest.mark.slow


def sign_in(page: Any, stack: Stack, name: str) -> None:
    page.goto(stack.rest_url + "/")
    page.get_by_role("button", name="Sign in", exact=True).click()
    page.get_by_label("Filter people by name or resource name").fill(name)
    page.get_by_role("button", name="Filter").click()
    page.get_by_role("button", name=f"Sign in as {name}").click()
    page.get_by_role("heading", name="Today").wait_for()


def get(stack: Stack, name: str) -> dict[str, Any]:
    resp = rest(stack.rest_url, "GET", f"/v1/{name}")
    assert resp.status == 200, resp
    body: dict[str, Any] = resp.body
    return body


def agenda(stack: Stack, ws: Workspace, state: str = "") -> list[dict[str, Any]]:
    query = f"?states={state}" if state else ""
    resp = rest(stack.rest_url, "GET", f"/v1/{ws.psychologist}/appointments{query}")
    assert resp.status == 200, resp
    found: list[dict[str, Any]] = resp.body.get("appointments", [])
    return found


def at(stack: Stack, ws: Workspace, start: dt.datetime) -> dict[str, Any]:
    """The active appointment starting at `start`."""
    for a in agenda(stack, ws):
        if a["state"] in ("STATE_BOOKED", "STATE_PENDING") and instant(a["startTime"]) == start:
            return a
    raise AssertionError(f"no active appointment at {start}")


def open_week(page: Any, stack: Stack, day: dt.datetime) -> None:
    page.goto(f"{stack.rest_url}/week?date={day.date().isoformat()}")
    page.get_by_role("heading", name="Your week").wait_for()


def event(page: Any, name: str) -> Any:
    return page.locator(f'.psy-calendar [data-appointment="{name}"]')


def offset(page: Any, el: Any) -> float:
    """The event's top relative to the calendar's top."""
    box, grid = el.bounding_box(), page.locator(".psy-calendar").bounding_box()
    assert box and grid, "calendar not laid out"
    return float(box["y"] - grid["y"])


def drag_by(page: Any, el: Any, minutes: int, length_minutes: int = 45) -> None:
    """Drag an event down the time grid by `minutes` (its own height gives the scale)."""
    box = el.bounding_box()
    assert box, "event not laid out"
    per_minute = box["height"] / length_minutes
    x, y = box["x"] + box["width"] / 2, box["y"] + 6
    page.mouse.move(x, y)
    page.mouse.down()
    steps = 12
    for i in range(1, steps + 1):
        page.mouse.move(x, y + per_minute * minutes * i / steps)
    page.mouse.up()


def test_today_week_and_the_inbox(browser: Any, web_stack: Stack, workspace: Workspace) -> None:
    ws = workspace
    page = new_page(browser)
    shot = Shots(page, "workspace-week")
    sign_in(page, web_stack, ws.psychologist_name)
    line = page.locator(".zone-line").first.inner_text()
    assert PSY_ZONE.replace("_", " ") in line and VIEWER_ZONE in line, line
    shot("today")
    assert_accessible(page, "today")

    open_week(page, web_stack, ws.wednesday)
    wed = at(web_stack, ws, ws.wednesday)
    booked = event(page, wed["name"])
    booked.wait_for()
    assert "Booked" in booked.inner_text() and ws.regular_name in booked.inner_text()
    assert page.locator(".psy-calendar .psy-work").count() > 0, "working hours are not shaded"
    shot("week")
    assert_accessible(page, "week")

    page.get_by_role("link", name="Requests").click()
    page.get_by_role("heading", name="Requests").wait_for()
    # The workspace's appointment watch is open through the gateway: no polling from here on.
    page.get_by_text("New requests appear here as clients send them.").wait_for()
    shot("inbox-empty")
    assert_accessible(page, "requests")

    # The client asks for a time in a second browser context.
    client = new_page(browser)
    client_shot = Shots(client, "workspace-inbox-client")
    sign_in_client(client, web_stack, ws.asker_name)
    client.get_by_role("link", name="Book a session").click()
    client.get_by_role("group", name="Session type").get_by_label(re.compile("45 min")).check()
    client.locator('input[name="slot"]').first.wait_for()
    wish = client.locator('input[name="slot"]').first.get_attribute("value")
    client.locator(f'input[value="{wish}"]').check()
    client.get_by_role("button", name="Request this time").click()
    client.get_by_role("heading", name="Your appointments").wait_for()
    client_shot("requested")
    [request] = agenda(web_stack, ws, "STATE_PENDING")
    assert instant(request["startTime"]) == instant(str(wish))

    # It appears in the open inbox without a reload.
    item = page.locator(f'[data-appointment="{request["name"]}"]')
    item.wait_for(timeout=10_000)
    assert ws.asker_name in item.inner_text() and "Requested" in item.inner_text()
    shot("inbox-request")
    assert_accessible(page, "requests with one waiting")
    item.get_by_role("button", name=re.compile("^Approve")).click()
    item.wait_for(state="detached")
    assert get(web_stack, request["name"])["state"] == "STATE_BOOKED"
    shot("inbox-approved")

    client.reload()
    card = client.locator(f'[data-appointment="{request["name"]}"]')
    card.get_by_text("Booked", exact=True).wait_for()
    client_shot("booked")

    page.get_by_role("link", name="Clients").click()
    page.get_by_role("heading", name="Your clients").wait_for()
    page.get_by_role("button", name="Show history").first.click()
    page.locator(".psy-table").first.wait_for()
    shot("clients")
    assert_accessible(page, "clients")
    client.context.close()
    page.context.close()


def test_decline_with_a_word_for_the_client(browser: Any, web_stack: Stack, workspace: Workspace) -> None:
    ws = workspace
    start = local_slot(TZ, 5, 11, weeks_ahead=1)  # a Friday morning, inside working hours
    body = {"client": ws.asker, "sessionType": THERAPY, "startTime": rfc3339(start)}
    path = f"/v1/{ws.psychologist}/appointments?requestApproval=true"
    created = rest(web_stack.rest_url, "POST", path, body)
    assert created.status == 200 and created.body["state"] == "STATE_PENDING", created
    name = created.body["name"]
    why = "That week is full for me; Tuesday mornings are open, please ask for one."

    page = new_page(browser)
    shot = Shots(page, "workspace-decline")
    sign_in(page, web_stack, ws.psychologist_name)
    page.get_by_role("link", name="Requests").click()
    item = page.locator(f'[data-appointment="{name}"]')
    item.wait_for()
    item.get_by_role("button", name=re.compile("^Decline")).click()
    dialog = page.get_by_role("dialog", name=re.compile("^Decline"))
    box = dialog.get_by_label(re.compile("^Why"))
    assert box.evaluate("el => el === document.activeElement") or dialog.is_visible()
    box.fill(why)
    dialog.get_by_text(f"{500 - len(why)} characters left", exact=False).wait_for()
    shot("dialog")
    assert_accessible(page, "decline dialog")
    # Escape keeps the request as it was.
    page.keyboard.press("Escape")
    dialog.wait_for(state="detached")
    assert get(web_stack, name)["state"] == "STATE_PENDING"

    item.get_by_role("button", name=re.compile("^Decline")).click()
    dialog.get_by_label(re.compile("^Why")).fill(why)
    dialog.get_by_role("button", name="Decline the request").click()
    item.wait_for(state="detached")
    stored = get(web_stack, name)
    assert stored["state"] == "STATE_DECLINED" and stored["cancellation"]["explanation"] == why
    shot("declined")

    client = new_page(browser)
    client_shot = Shots(client, "workspace-decline-client")
    sign_in_client(client, web_stack, ws.asker_name)
    client.get_by_role("link", name="Appointments", exact=True).click()
    card = client.locator(f'[data-appointment="{name}"]')
    card.get_by_text("Declined by your psychologist").wait_for()
    assert why in card.inner_text() and f"{ws.psychologist_name} wrote:" in card.inner_text()
    client_shot("declined-with-reason")
    assert_accessible(client, "appointments with a declined request")
    client.context.close()
    page.context.close()


def test_drag_to_free_then_taken_time(browser: Any, web_stack: Stack, workspace: Workspace) -> None:
    ws = workspace
    page = new_page(browser)
    shot = Shots(page, "workspace-drag")
    sign_in(page, web_stack, ws.psychologist_name)
    open_week(page, web_stack, ws.wednesday)
    first = at(web_stack, ws, ws.wednesday)
    el = event(page, first["name"])
    el.wait_for()
    shot("before")

    # Two hours later the same day is free: saved.
    drag_by(page, el, 120)
    page.get_by_text(re.compile("^Moved to")).wait_for()
    noon = ws.wednesday + dt.timedelta(hours=2)
    moved = eventually(lambda: at(web_stack, ws, noon), timeout=10, what="the moved appointment")
    assert get(web_stack, first["name"])["state"] == "STATE_CANCELLED"
    assert moved["rescheduledFrom"] == first["name"]
    shot("moved")

    # Onto the 14:00 session: the server refuses, the event goes back, the reason shows.
    el = event(page, moved["name"])
    el.wait_for()
    before = offset(page, el)
    drag_by(page, el, 120)
    alert = page.get_by_test_id("move-refused")
    alert.wait_for()
    assert "taken" in alert.inner_text(), alert.inner_text()
    # Back where it was in the grid (the notices above may shift the whole calendar).
    after = offset(page, event(page, moved["name"]))
    assert abs(after - before) < 2, (before, after)
    assert get(web_stack, moved["name"])["state"] == "STATE_BOOKED"
    assert instant(get(web_stack, moved["name"])["startTime"]) == noon
    shot("refused")
    assert_accessible(page, "week after a refused move")
    page.context.close()


def test_move_through_the_keyboard_dialog(browser: Any, web_stack: Stack, workspace: Workspace) -> None:
    ws = workspace
    page = new_page(browser)
    shot = Shots(page, "workspace-dialog")
    sign_in(page, web_stack, ws.psychologist_name)
    open_week(page, web_stack, ws.thursday)
    thu = at(web_stack, ws, ws.thursday)
    event(page, thu["name"]).wait_for()
    event(page, thu["name"]).focus()
    page.keyboard.press("Enter")
    panel = page.get_by_role("region", name="Selected appointment")
    panel.get_by_role("button", name="Move…").focus()
    page.keyboard.press("Enter")
    dialog = page.get_by_role("dialog")
    dialog.wait_for()
    shot("dialog")
    assert_accessible(page, "move dialog")

    # First onto the taken Wednesday 14:00: refused in words, nothing changes.
    dialog.get_by_label("New date").fill(ws.taken.date().isoformat())
    dialog.get_by_label("New start time").fill("14:00")
    dialog.get_by_label("New start time").press("Enter")
    dialog.get_by_role("alert").get_by_text(re.compile("taken")).wait_for()
    shot("dialog-refused")
    assert get(web_stack, thu["name"])["state"] == "STATE_BOOKED"

    # Then to 15:00 on the Thursday (free): the dialog closes, the server has it.
    dialog.get_by_label("New date").fill(ws.thursday.date().isoformat())
    dialog.get_by_label("New start time").fill("15:00")
    dialog.get_by_label("New start time").press("Enter")
    dialog.wait_for(state="hidden")
    later = ws.thursday.replace(hour=15)
    moved = eventually(lambda: at(web_stack, ws, later), timeout=10, what="the dialog's move")
    assert moved["rescheduledFrom"] == thu["name"]
    assert later.astimezone(TZ).hour == 15
    shot("dialog-moved")
    page.context.close()


def test_availability_change_reaches_the_clients_slots(
    browser: Any, web_stack: Stack, workspace: Workspace
) -> None:
    ws = workspace
    saturday = local_slot(TZ, 6, 9, weeks_ahead=1)  # not a working day yet
    offered = slot_starts(web_stack, ws, saturday)
    assert saturday not in offered, "Saturday is offered before any change"

    page = new_page(browser)
    shot = Shots(page, "workspace-availability")
    sign_in(page, web_stack, ws.psychologist_name)
    page.get_by_role("link", name="Availability").click()
    page.get_by_role("heading", name="Availability").wait_for()
    page.get_by_role("group", name="Monday interval 2").wait_for()  # the break shows as two intervals
    shot("editor")
    assert_accessible(page, "availability")

    page.get_by_role("button", name="Add extra hours").click()
    extra = page.get_by_role("group", name="Other hours")
    extra.get_by_label("Date", exact=True).fill(saturday.date().isoformat())
    page.get_by_role("button", name="Save availability").click()
    page.get_by_text(re.compile("^Saved")).wait_for()
    page.get_by_label("Session type").select_option(THERAPY)
    # The preview lists the first days only; the Saturday is more than a week ahead.
    page.get_by_role("button", name=re.compile(r"^Show all \d+ days$")).click()
    page.locator(f'[data-slot="{rfc3339(saturday).replace("Z", ".000Z")}"]').wait_for()
    shot("saved-with-preview")
    assert_accessible(page, "availability after saving")
    assert saturday in slot_starts(web_stack, ws, saturday)

    client = new_page(browser)
    sign_in_client(client, web_stack, ws.asker_name)
    client.get_by_role("link", name="Book a session").click()
    client.get_by_role("group", name="Session type").get_by_label(re.compile("45 min")).check()
    client.locator('input[name="slot"]').first.wait_for()
    values = client.locator('input[name="slot"]').evaluate_all("els => els.map(e => e.value)")
    assert any(instant(v) == saturday for v in values), "the client does not see the new Saturday hours"
    Shots(client, "workspace-availability-client")("saturday-offered")
    client.context.close()
    page.context.close()


def test_series_conflict_shown_before_saving(browser: Any, web_stack: Stack, workspace: Workspace) -> None:
    ws = workspace
    page = new_page(browser)
    shot = Shots(page, "workspace-series")
    sign_in(page, web_stack, ws.psychologist_name)
    page.get_by_role("link", name="Series").click()
    page.get_by_role("heading", name="Weekly series").wait_for()
    page.get_by_role("combobox", name=re.compile("^Client")).select_option(ws.regular)
    page.get_by_role("combobox", name=re.compile("^Session type")).select_option(THERAPY)
    first = ws.taken.date()
    page.get_by_label("First date", exact=True).fill(first.isoformat())
    page.get_by_label("Start time", exact=True).fill("14:00")  # the regular's booked Wednesday session
    page.get_by_label("Number of sessions", exact=True).fill("3")
    dates = [(first + dt.timedelta(weeks=i)).isoformat() for i in range(3)]
    for d in dates:
        page.locator(f'[data-date="{d}"]').wait_for()
    shot("preview")
    assert_accessible(page, "series")

    page.get_by_role("button", name="Book the series").click()
    clash = page.locator(f'[data-date="{dates[0]}"]')
    clash.get_by_text(re.compile("conflict")).wait_for()
    assert "conflict" not in page.locator(f'[data-date="{dates[1]}"]').inner_text()
    page.get_by_role("alert").get_by_text("1 date conflicts").wait_for()
    assert not [a for a in agenda(web_stack, ws) if a.get("series")], "a conflicting series was saved"
    shot("conflict")
    assert_accessible(page, "series with a conflict")

    page.get_by_label("Start time", exact=True).fill("16:00")
    page.get_by_role("button", name="Book the series").click()
    page.get_by_text("The series is saved: 3 sessions booked.").wait_for()
    made = [a for a in agenda(web_stack, ws) if a.get("series")]
    starts = sorted(instant(a["startTime"]).astimezone(TZ) for a in made)
    assert [s.date().isoformat() for s in starts] == dates and {s.hour for s in starts} == {16}
    shot("saved")

    # One occurrence moves on its own (an exception); the others keep their time.
    second = next(a for a in made if instant(a["startTime"]).astimezone(TZ).date().isoformat() == dates[1])
    open_week(page, web_stack, instant(second["startTime"]).astimezone(TZ))
    event(page, second["name"]).click()
    page.get_by_role("region", name="Selected appointment").get_by_role("button", name="Move…").click()
    dialog = page.get_by_role("dialog")
    dialog.get_by_label("New start time").fill("17:00")
    dialog.get_by_role("button", name="Move", exact=True).click()
    dialog.wait_for(state="hidden")
    moved = eventually(
        lambda: next((a for a in agenda(web_stack, ws) if a.get("rescheduledFrom") == second["name"]), None),
        timeout=10,
        what="the moved occurrence",
    )
    assert instant(moved["startTime"]).astimezone(TZ).hour == 17 and moved["series"] == second["series"]
    shot("occurrence-moved")
    page.context.close()


def slot_starts(stack: Stack, ws: Workspace, day: dt.datetime) -> list[dt.datetime]:
    start, end = rfc3339(day - dt.timedelta(hours=12)), rfc3339(day + dt.timedelta(hours=12))
    path = f"/v1/{ws.psychologist}/slots?sessionType={THERAPY}&startTime={start}&endTime={end}"
    resp = rest(stack.rest_url, "GET", path)
    assert resp.status == 200, resp
    return [instant(s["startTime"]) for s in resp.body.get("slots", [])]


def test_caseload_report_as_charts_and_figures(browser: Any, web_stack: Stack, workspace: Workspace) -> None:
    ws = workspace
    page = new_page(browser)
    shot = Shots(page, "workspace-caseload")
    sign_in(page, web_stack, ws.psychologist_name)
    page.get_by_role("link", name="Caseload").click()
    page.get_by_role("heading", name="My caseload").wait_for()
    first, last = ws.wednesday.date() - dt.timedelta(days=1), ws.thursday.date() + dt.timedelta(days=21)
    page.get_by_label("From", exact=True).fill(first.isoformat())
    page.get_by_label("To (inclusive)").fill(last.isoformat())
    page.get_by_role("button", name="Show my caseload").click()
    figures = page.get_by_role("table", name="The figures")
    figures.wait_for(timeout=30_000)
    sessions = figures.get_by_role("row", name=re.compile("^Sessions")).get_by_role("cell").inner_text()
    assert int(sessions) >= 3, sessions  # the workspace's bookings in that period
    assert page.locator(".psy-chart svg").count() >= 3, "the charts are not drawn"
    # Sessions per week: a bar per week of the range, stacked by state with a legend.
    chart = page.get_by_role("figure", name="Sessions per week by state")
    mondays = [first - dt.timedelta(days=first.weekday())]
    while mondays[-1] + dt.timedelta(days=7) <= last:
        mondays.append(mondays[-1] + dt.timedelta(days=7))
    assert len(mondays) == 4
    tick = chart.locator(".recharts-xAxis-tick-labels .recharts-cartesian-axis-tick-value")
    tick.first.wait_for()  # drawn once the container has measured itself
    ticks = tick.all_text_contents()
    # en-GB: "14 Dec" (its September is "Sept"), by each week's Monday in Toronto.
    assert all(re.fullmatch(r"\d{1,2} [A-Z][a-z]{2,3}", t) for t in ticks), ticks
    assert [int(t.split()[0]) for t in ticks] == [d.day for d in mondays], ticks
    legend = chart.locator(".recharts-legend-item-text").all_inner_texts()
    assert legend == ["Booked", "Completed", "Requested", "Cancelled", "Declined", "No-show"], legend
    shot("report")
    # The same figures per week, folded under a summary the keyboard opens.
    weekly = page.get_by_role("table", name="Sessions per week")
    assert not weekly.is_visible()
    page.get_by_text("Sessions per week as a table").focus()
    page.keyboard.press("Enter")
    weekly.wait_for()
    rows = weekly.locator("tbody tr")
    assert rows.count() == len(mondays)
    week_of = rows.first.get_by_role("rowheader").inner_text()
    assert re.fullmatch(rf"{mondays[0].day} [A-Z][a-z]{{2,3}} {mondays[0].year}", week_of), week_of
    counts = [[int(x) for x in row.get_by_role("cell").all_inner_texts()[:6]] for row in rows.all()]
    assert sum(map(sum, counts)) == int(sessions), counts  # every session in exactly one week
    shot("report-weekly-table")
    assert_accessible(page, "caseload")
    page.context.close()
