"""The practice staff's console in Chromium, through Envoy on one origin, signed in as
Alice Admin on the development provider's own form: people (a violation shown beside its
field, a psychologist and a client made and assigned), booking for a client outside
working hours (the warning), a practice summary and an export watched to SUCCEEDED, the
CSV downloaded and read, and the audit viewer showing those reads. axe-core scans every
page; each step leaves a screenshot in test-artifacts/screenshots/."""

from __future__ import annotations

import csv
import datetime as dt
import io
import signal
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo

import pytest

from phs_devstack import Stack
from tests.helpers import SESSION_START, eventually, local_slot, rest
from tests.web.conftest import PSY_ZONE, VIEWER_ZONE, Shots, new_page
from tests.web.test_portal import assert_accessible, sign_in

pytestmark = pytest.mark.slow

STAFF = "Alice Admin"


def sign_in_staff(page: Any, stack: Stack) -> None:
    """Through the app's button and the development provider's own form."""
    page.goto(stack.rest_url + "/")
    page.get_by_role("button", name="Sign in", exact=True).click()
    page.get_by_label("Filter people by name or resource name").fill(STAFF)
    page.get_by_role("button", name="Filter").click()
    page.get_by_role("button", name=f"Sign in as {STAFF}").click()
    page.get_by_role("heading", name="Psychologists", exact=True).wait_for()


def open_page(page: Any, link: str, heading: str) -> None:
    page.get_by_role("navigation", name="Main").get_by_role("link", name=link).click()
    page.get_by_role("heading", name=heading, exact=True).wait_for()


def row_with(page: Any, text: str, pages: int = 50) -> Any:
    """The table row naming `text`, paging forward (newest people come last)."""
    for _ in range(pages):
        row = page.locator("tbody tr", has_text=text)
        try:
            row.first.wait_for(timeout=2_000)
            return row.first
        except Exception:  # noqa: BLE001 - Playwright's timeout: try the next page
            nxt = page.get_by_role("button", name="Next page")
            if nxt.is_disabled():
                break
            nxt.click()
    raise AssertionError(f"no row with {text!r}")


def wall(instant: dt.datetime, zone: str) -> str:
    """A `datetime-local` value: the instant's wall-clock time in `zone`."""
    return instant.astimezone(ZoneInfo(zone)).strftime("%Y-%m-%dT%H:%M")


def report_row(page: Any, kind: str) -> Any:
    """The newest report of that kind (the history is newest first)."""
    return page.locator("tbody tr", has_text=kind).first


def assert_cells_fill_the_row(row: Any) -> None:
    """Every cell of a table row ends where the row does, so the lines between rows are
    straight (a cell laid out as something other than a table cell, e.g. flex, ends
    where its content does)."""
    bottoms = row.evaluate(
        "r => [r.getBoundingClientRect().bottom, ...[...r.cells].map(c => c.getBoundingClientRect().bottom)]"
    )
    assert all(abs(b - bottoms[0]) < 1 for b in bottoms[1:]), bottoms


def test_staff_console(browser: Any, web_stack: Stack) -> None:
    base = web_stack.rest_url
    tag = uuid.uuid4().hex[:6]
    psy_name, client_name = f"Dr Staffed {tag}", f"Kai Staffed {tag}"
    page = new_page(browser)
    shot = Shots(page, "staff")

    # 1. Sign in as staff: the console opens on the psychologists.
    sign_in_staff(page, web_stack)
    nav = page.get_by_role("navigation", name="Main")
    for link in ("Psychologists", "Clients", "Session types", "Reports", "Audit log", "Book for a client"):
        nav.get_by_role("link", name=link).wait_for()
    shot("psychologists")
    assert_accessible(page, "psychologists")

    # 2. A violation is shown beside its field; then the psychologist is added.
    form = page.get_by_role("form", name="New psychologist")
    form.get_by_label("Name").fill(f"Dr Draft {tag}")
    form.get_by_label("Time zone").fill("Mars/Olympus")
    form.get_by_role("button", name="Add psychologist").click()
    form.locator(".field-errors").get_by_text("is not an IANA time zone").wait_for()
    assert form.get_by_label("Time zone").get_attribute("aria-invalid") == "true"
    shot("psychologist-violation")
    assert_accessible(page, "psychologist form with a violation")
    form.get_by_label("Time zone").fill(PSY_ZONE)
    form.get_by_role("button", name="Add psychologist").click()
    page.get_by_text(f"Added Dr Draft {tag}.").wait_for()
    # Renamed through its row's edit form.
    draft = row_with(page, f"Dr Draft {tag}")
    draft.get_by_role("button", name=f"Edit Dr Draft {tag}").click()
    edit = draft.get_by_role("form", name=f"Edit Dr Draft {tag}")
    edit.get_by_label("Name").fill(psy_name)
    edit.get_by_role("button", name="Save").click()
    row_with(page, psy_name).get_by_text("Active", exact=True).wait_for()
    listed = rest(base, "GET", "/v1/psychologists?pageSize=1000").body["psychologists"]
    [psy] = [p for p in listed if p["displayName"] == psy_name]
    assert psy["timeZone"] == PSY_ZONE and psy["active"] is True
    p = psy["name"]
    row_with(page, psy_name).get_by_role("button", name=f"Deactivate {psy_name}").click()
    row_with(page, psy_name).get_by_text("Inactive", exact=True).wait_for()
    assert rest(base, "GET", f"/v1/{p}").body.get("active", False) is False
    row_with(page, psy_name).get_by_role("button", name=f"Reactivate {psy_name}").click()
    row_with(page, psy_name).get_by_text("Active", exact=True).wait_for()
    assert rest(base, "GET", f"/v1/{p}").body["active"] is True
    week = ["MONDAY", "TUESDAY", "WEDNESDAY", "THURSDAY", "FRIDAY"]
    hours = [{"dayOfWeek": d, "startTime": {"hours": 9}, "endTime": {"hours": 17}} for d in week]
    assert rest(base, "PATCH", f"/v1/{p}/availability", {"weeklyHours": hours}).status == 200
    shot("psychologist-added")

    # 3. A client without a psychologist, then assigned from the list.
    open_page(page, "Clients", "Clients")
    form = page.get_by_role("form", name="New client")
    form.get_by_label("Name").fill(client_name)
    form.get_by_label("Email").fill(f"{tag}@example.org")
    form.get_by_role("button", name="Add client").click()
    page.get_by_text(f"Added {client_name}.").wait_for()
    row = row_with(page, client_name)
    row.get_by_text("None yet").wait_for()
    row.get_by_label(f"Assign {client_name} to").select_option(label=psy_name)
    row.get_by_role("button", name="Assign").click()
    row_with(page, client_name).get_by_role("cell", name=psy_name, exact=True).wait_for()
    shot("client-assigned")
    assert_accessible(page, "clients")
    listed = rest(base, "GET", f"/v1/clients?psychologist={p}").body["clients"]
    [client] = [c for c in listed if c["displayName"] == client_name]
    c = client["name"]

    # 4. A session type (staff only): a bad code is shown beside its field; then edited.
    open_page(page, "Session types", "Session types")
    page.locator("tbody tr").first.wait_for()
    kind = f"Walk and talk {tag}"
    form = page.get_by_role("form", name="New session type")
    form.get_by_label("Code").fill("bad code!")
    form.get_by_label("Name").fill(kind)
    form.get_by_label("Length in minutes").fill("60")
    form.get_by_role("button", name="Add session type").click()
    form.locator(".field-errors").get_by_text("letters, digits or dashes").wait_for()
    form.get_by_label("Code").fill(f"walk-{tag}")
    form.get_by_role("button", name="Add session type").click()
    page.get_by_text(f"Added {kind}.").wait_for()
    row = row_with(page, kind)
    row.get_by_role("button", name=f"Edit {kind}").click()
    edit = row.get_by_role("form", name=f"Edit {kind}")
    edit.get_by_label("Length in minutes").fill("50")
    edit.get_by_role("button", name="Save").click()
    row_with(page, kind).get_by_role("cell", name="50 min", exact=True).wait_for()
    made_type = rest(base, "GET", "/v1/sessionTypes?pageSize=1000").body["sessionTypes"]
    [walk] = [t for t in made_type if t["displayName"] == kind]
    assert walk["name"] == f"sessionTypes/walk-{tag}" and walk["duration"] == "3000s", walk
    assert not walk.get("clientBookable", False)
    shot("session-types")
    assert_accessible(page, "session types")

    # 5. Booking for the client: 06:00 in Toronto (outside 9-17) is warned about, and booked.
    open_page(page, "Book for a client", "Book for a client")
    shot("book-empty")
    assert_accessible(page, "book for a client")
    page.get_by_label("Psychologist", exact=True).select_option(label=psy_name)
    booking = page.get_by_role("form", name="Booking")
    booking.get_by_label("Client").select_option(label=client_name)
    booking.get_by_label("Session type").select_option(value="sessionTypes/90834")
    warning = page.locator('[data-warning="outside-working-hours"]')
    inside = local_slot(ZoneInfo(PSY_ZONE), 3, 10).astimezone(dt.UTC)  # a Wednesday 10:00 there
    booking.get_by_label("Starts at").fill(wall(inside, VIEWER_ZONE))
    booking.get_by_text(f"in {PSY_ZONE.replace('_', ' ')}, where").wait_for()
    assert warning.count() == 0, "10:00 on a Wednesday is inside the working hours"
    early = local_slot(ZoneInfo(PSY_ZONE), 3, 6).astimezone(dt.UTC)  # the same day, 06:00
    booking.get_by_label("Starts at").fill(wall(early, VIEWER_ZONE))
    warning.get_by_text(f"Outside {psy_name}'s working hours").wait_for()
    shot("book-outside-hours-warning")
    assert_accessible(page, "book for a client, outside working hours")
    booking.get_by_role("button", name="Book this session").click()
    page.get_by_text(f"Booked outside {psy_name}'s working hours").wait_for()
    page.get_by_text("Booked for").wait_for()
    shot("booked-outside-hours")
    made = rest(base, "GET", f"/v1/{p}/appointments?client={c}").body["appointments"]
    assert [(a["state"], dt.datetime.fromisoformat(a["startTime"].replace("Z", "+00:00"))) for a in made] == [
        ("STATE_BOOKED", early)
    ], made
    appointment = made[0]["name"]

    # 6. A practice summary and an export of the psychologist, watched to SUCCEEDED.
    open_page(page, "Reports", "Reports")
    report_form = page.get_by_role("form", name="New report")
    today = SESSION_START.astimezone(ZoneInfo(VIEWER_ZONE)).date()
    report_form.get_by_label("From (first day)").fill(today.isoformat())
    report_form.get_by_label("To (last day)").fill((today + dt.timedelta(days=40)).isoformat())
    report_form.get_by_label("Practice summary").check()
    report_form.get_by_role("button", name="Create report").click()
    summary = report_row(page, "Practice summary")
    summary.locator('[data-state="Succeeded"]').wait_for(timeout=60_000)
    summary.get_by_text("Appointments").wait_for()
    shot("summary-succeeded")
    report_form.get_by_label("Appointment export (CSV)").check()
    report_form.get_by_label("Psychologist", exact=True).select_option(label=psy_name)
    note = report_form.locator(".zone-note").inner_text()
    assert "Europe/Paris" in note and f"works in {PSY_ZONE.replace('_', ' ')}" in note, note
    report_form.get_by_role("button", name="Create report").click()
    export = report_row(page, f"Export: {psy_name}")
    export.locator('[data-state="Succeeded"]').wait_for(timeout=60_000)
    export.get_by_text("1 row", exact=True).wait_for()
    shot("export-succeeded")
    assert_accessible(page, "reports")
    export_name = export.get_attribute("data-report")
    assert export_name and export_name.startswith("reports/"), export_name
    job = rest(base, "GET", f"/v1/{export_name}").body
    assert job["state"] == "STATE_SUCCEEDED" and job["exportParams"]["psychologist"] == p, job

    # 7. The CSV: a header and the one appointment, by resource names only.
    with page.expect_download() as info:
        export.get_by_role("button", name="Download CSV").click()
    path = info.value.path()
    text = Path(path).read_text(encoding="utf-8")
    rows = list(csv.DictReader(io.StringIO(text)))
    assert [
        (r["appointment"], r["psychologist"], r["client"], r["state"], r["start_time"]) for r in rows
    ] == [(appointment, p, c, "BOOKED", early.strftime("%Y-%m-%dT%H:%M:%SZ"))], text
    assert client_name not in text and info.value.suggested_filename.endswith(".csv")

    # 8. The audit viewer: the reports log shows those reads of the export.
    open_page(page, "Audit log", "Audit log")
    filters = page.get_by_role("form", name="Audit filters")
    filters.get_by_label("Service").select_option("reports")
    filters.get_by_label("Resource").fill(export_name)
    filters.get_by_label("Who (subject)").fill("staff/alice")
    filters.get_by_role("button", name="Show events").click()
    download_row = page.locator('tbody tr[data-method="/phs.reports.v1.ReportService/GetReportContent"]')
    download_row.first.get_by_text("Success").wait_for()
    # The page followed the export through its watch (no GetReport polling).
    read_row = page.locator('tbody tr[data-method="/phs.reports.v1.ReportService/WatchReport"]')
    read_row.first.wait_for()
    methods = page.locator("tbody tr").evaluate_all("rs => rs.map(r => r.dataset.method)")
    assert methods[0].endswith("/GetReportContent"), methods  # newest first
    assert methods[-1].endswith("/CreateReport"), methods
    shot("audit-report-reads")
    assert_accessible(page, "audit log")
    filters.get_by_label("Method").select_option(label="GetReportContent")
    filters.get_by_role("button", name="Show events").click()
    eventually(
        lambda: page.locator("tbody tr").count() == 1 and download_row.count() == 1,
        timeout=10,
        what="only the download listed",
    )
    # An over-long filter: the API's violation appears beside that field.
    filters.get_by_label("Who (subject)").fill("s" * 201)
    filters.get_by_role("button", name="Show events").click()
    filters.locator(".field-errors").wait_for()
    assert filters.get_by_label("Who (subject)").get_attribute("aria-invalid") == "true"
    shot("audit-violation")
    assert_accessible(page, "audit log with a violation")
    filters.get_by_label("Who (subject)").fill("staff/alice")
    filters.get_by_label("Outcome").select_option(label="Refused")
    filters.get_by_role("button", name="Show events").click()
    page.get_by_text("No events match these filters.").wait_for()
    # A period that ends before the export was made holds none of its events.
    filters.get_by_label("Outcome").select_option(label="Any outcome")
    filters.get_by_label("Until").fill(wall(SESSION_START - dt.timedelta(days=1), VIEWER_ZONE))
    filters.get_by_role("button", name="Show events").click()
    page.get_by_text("No events match these filters.").wait_for()
    filters.get_by_label("Until").fill("")
    # And the scheduling log: the staff booking, as Alice.
    filters.get_by_label("Service").select_option("scheduling")
    filters.get_by_label("Resource").fill(appointment)
    filters.get_by_role("button", name="Show events").click()
    page.locator(
        'tbody tr[data-method="/phs.scheduling.v1.SchedulingService/CreateAppointment"]'
    ).first.wait_for()
    shot("audit-scheduling")


def test_a_client_never_loads_the_console(browser: Any, web_stack: Stack) -> None:
    """The console is its own chunk: a client's pages never fetch it; staff's do."""
    name = f"Ciro Portal {uuid.uuid4().hex[:6]}"
    made = rest(web_stack.rest_url, "POST", "/v1/clients", {"displayName": name})
    assert made.status == 200, made
    for who, expect in ((name, False), (STAFF, True)):
        page = new_page(browser)
        scripts: list[str] = []
        page.on("request", lambda r, seen=scripts: seen.append(r.url) if r.url.endswith(".js") else None)
        if who == STAFF:
            sign_in_staff(page, web_stack)
        else:
            sign_in(page, web_stack, name)
        page.wait_for_load_state("networkidle")
        console = [u for u in scripts if "/assets/StaffConsole-" in u]
        assert bool(console) is expect, (who, scripts)
        page.context.close()


def test_staff_cancel_a_queued_caseload(browser: Any, web_stack: Stack) -> None:
    """With the worker paused the job stays QUEUED: the page follows it through its
    WatchReport stream (says so, and reads no GetReport meanwhile), and cancels it."""
    psy_name = f"Dr Paused {uuid.uuid4().hex[:6]}"
    made = rest(
        web_stack.rest_url, "POST", "/v1/psychologists", {"displayName": psy_name, "timeZone": PSY_ZONE}
    )
    assert made.status == 200, made
    page = new_page(browser)
    shot = Shots(page, "staff-cancel")
    sign_in_staff(page, web_stack)
    # The paths of the page's calls on single reports (GetReport, WatchReport, CancelReport).
    reads: list[str] = []

    def seen(request: Any) -> None:
        path = urlsplit(request.url).path
        if path.startswith("/v1/reports/"):
            reads.append(path)

    page.on("request", seen)
    open_page(page, "Reports", "Reports")
    form = page.get_by_role("form", name="New report")
    form.get_by_label("Caseload of one psychologist").check()
    form.get_by_label("Psychologist", exact=True).select_option(label=psy_name)
    worker = web_stack.procs["reports-worker"].popen
    worker.send_signal(signal.SIGSTOP)
    try:
        form.get_by_role("button", name="Create report").click()
        row = report_row(page, f"Caseload: {psy_name}")
        row.locator('[data-state="Queued"]').wait_for()
        row.get_by_role("status").filter(has_text="Progress updates live.").wait_for()
        name = row.get_attribute("data-report")
        assert reads == [f"/v1/{name}:watch"], reads
        # Polling would read the job every second; while the watch is open, nothing is read.
        page.wait_for_timeout(3_000)
        assert reads == [f"/v1/{name}:watch"], reads
        shot("queued")
        assert_accessible(page, "reports with a queued job")
        row.get_by_role("button", name="Cancel").click()
        row.locator('[data-state="Cancelled"]').wait_for()
        assert row.get_by_role("button", name="Cancel").count() == 0
        # Final: the watch is closed and no longer announced.
        row.get_by_role("status").wait_for(state="detached")
        assert f"/v1/{name}" not in reads, reads
        assert_cells_fill_the_row(row)  # its actions cell is empty now
        shot("cancelled")
    finally:
        worker.send_signal(signal.SIGCONT)
    job = rest(web_stack.rest_url, "GET", f"/v1/{name}").body
    assert job["state"] == "STATE_CANCELLED" and job["caseloadParams"]["psychologist"] == made.body["name"], (
        job
    )
