"""The client's portal in Chromium, through Envoy on one origin, signed in with the
development provider's own form: a new client's intake request, the whole journey of
an assigned client at 390 px (a slot taken in between, the late-cancel warning, a move),
a keyboard-only pass, sign-out. axe-core scans every page (no serious or critical
violation); each step leaves a screenshot in test-artifacts/screenshots/."""

from __future__ import annotations

import datetime as dt
import json
import re
from typing import Any

import pytest
from axe_playwright_python.sync_playwright import Axe  # type: ignore[import-untyped]

from phs_devstack import Stack
from tests.helpers import eventually, rest
from tests.web.conftest import PSY_ZONE, VIEWER_ZONE, Practice, Shots, new_page

pytestmark = pytest.mark.slow

AXE = Axe()
REQUESTED = "Requested, waiting for your psychologist"


def assert_accessible(page: Any, where: str) -> None:
    """No serious or critical axe-core violation on the page as it is now."""
    violations = AXE.run(page).response["violations"]
    bad = [v for v in violations if v.get("impact") in ("serious", "critical")]
    assert not bad, f"{where}: " + "; ".join(
        f"{v['id']} ({v['impact']}): {v['help']} at {[n['target'] for n in v['nodes']][:3]}" for v in bad
    )


def sign_in(page: Any, stack: Stack, name: str) -> None:
    """Through the app's button and the development provider's own form."""
    page.goto(stack.rest_url + "/")
    page.get_by_role("button", name="Sign in", exact=True).click()
    page.get_by_label("Filter people by name or resource name").fill(name)
    page.get_by_role("button", name="Filter").click()
    page.get_by_role("button", name=f"Sign in as {name}").click()
    page.get_by_role("heading", name="Your sessions").wait_for()


def slot_values(page: Any) -> list[str]:
    values: list[str] = page.locator('input[name="slot"]').evaluate_all("els => els.map(e => e.value)")
    return values


def instant(text: str) -> dt.datetime:
    return dt.datetime.fromisoformat(text.replace("Z", "+00:00"))


def card(page: Any, appointment: str) -> Any:
    return page.locator(f'[data-appointment="{appointment}"]')


def appointment(stack: Stack, name: str) -> dict[str, Any]:
    resp = rest(stack.rest_url, "GET", f"/v1/{name}")
    assert resp.status == 200, resp
    body: dict[str, Any] = resp.body
    return body


def test_new_client_requests_an_intake(browser: Any, web_stack: Stack, practice: Practice) -> None:
    page = new_page(browser)
    shot = Shots(page, "new-client")
    page.goto(web_stack.rest_url + "/")
    page.get_by_role("button", name="Sign in", exact=True).wait_for()
    shot("sign-in")
    assert_accessible(page, "sign-in page")

    sign_in(page, web_stack, practice.newcomer_name)
    directory = page.get_by_role("region", name="Our psychologists")
    directory.get_by_text(practice.psychologist_name, exact=True).wait_for()
    shot("directory")
    assert_accessible(page, "overview, new client")

    page.get_by_role("link", name=f"Request an intake with {practice.psychologist_name}").click()
    page.get_by_role("heading", name="Book a session").wait_for()
    page.locator('input[name="slot"]').first.wait_for()
    # A new client may request the intake only: no choice of session type is offered.
    assert page.get_by_role("group", name="Session type").count() == 0
    page.get_by_text("you start with an intake session").wait_for()
    note = page.locator(".zone-note").inner_text()
    assert "Europe/Paris" in note and "America/Toronto" in note, note
    shot("slots")
    assert_accessible(page, "book, new client")

    first = page.locator('input[name="slot"]').first
    start = first.get_attribute("value")
    label = first.get_attribute("aria-label")
    assert label and "in America/Toronto" in label, label
    first.check()
    page.get_by_role("button", name="Request this time").click()
    page.get_by_role("heading", name="Your appointments").wait_for()
    upcoming = page.get_by_role("region", name="Upcoming")
    upcoming.get_by_text(REQUESTED).first.wait_for()
    shot("requested")
    assert_accessible(page, "appointments after a request")

    mine = rest(web_stack.rest_url, "GET", f"/v1/psychologists/-/appointments?client={practice.newcomer}")
    assert mine.status == 200, mine
    [made] = mine.body["appointments"]
    assert made["state"] == "STATE_PENDING" and made["sessionType"] == "sessionTypes/90791"
    assert instant(made["startTime"]) == instant(str(start)), (made, start)


def test_client_journey_on_a_phone(browser: Any, web_stack: Stack, practice: Practice) -> None:
    page = new_page(browser, width=390, height=844)
    shot = Shots(page, "client-390")
    sign_in(page, web_stack, practice.client_name)
    yours = page.get_by_role("region", name="Your psychologist")
    yours.get_by_text(practice.psychologist_name, exact=True).wait_for()
    card(page, practice.late).get_by_text("Booked", exact=True).wait_for()
    shot("overview")
    assert_accessible(page, "overview, assigned client")
    assert page.evaluate("document.documentElement.scrollWidth") <= 390

    # 2. The client's own psychologist: every session type; open times in the viewer's zone.
    page.get_by_role("link", name="Book a session").click()
    page.get_by_role("group", name="Session type").get_by_label(re.compile("45 min")).check()
    page.locator('input[name="slot"]').first.wait_for()
    page.get_by_text(f"works in {PSY_ZONE.replace('_', ' ')}").wait_for()
    assert VIEWER_ZONE in page.locator(".zone-note").inner_text()
    shot("slots")
    assert_accessible(page, "book, assigned client")
    assert page.evaluate("document.documentElement.scrollWidth") <= 390

    # 3. Someone else takes the chosen time between viewing and requesting.
    taken = slot_values(page)[0]
    page.locator(f'input[value="{taken}"]').check()
    other = web_stack.token(practice.other_client, "client")
    grab = rest(
        web_stack.rest_url,
        "POST",
        f"/v1/{practice.psychologist}/appointments",
        {"client": practice.other_client, "sessionType": "sessionTypes/90834", "startTime": taken},
        token=other,
    )
    assert grab.status == 200, grab
    page.get_by_role("button", name="Request this time").click()
    page.get_by_text("Someone else has just taken that time.").wait_for()
    eventually(lambda: taken not in slot_values(page) or None, what="fresh slots without the taken one")
    assert slot_values(page), "fresh slots are offered, not a dead end"
    shot("slot-taken")
    assert_accessible(page, "book, slot taken")

    chosen = slot_values(page)[0]
    page.locator(f'input[value="{chosen}"]').check()
    page.get_by_role("button", name="Request this time").click()
    page.get_by_role("heading", name="Your appointments").wait_for()
    page.get_by_role("region", name="Upcoming").get_by_text(REQUESTED).first.wait_for()
    shot("requested")
    assert_accessible(page, "appointments")

    # 5. Cancelling inside the late-cancel window warns first, and records it as late.
    card(page, practice.late).get_by_role("link", name=re.compile("^Cancel")).click()
    page.get_by_role("heading", name="Cancel a session").wait_for()
    page.get_by_text("This is a late cancellation.").wait_for()
    page.get_by_text("The session starts in less than 12 hours.").wait_for()
    page.get_by_role("button", name="Cancel anyway (late)").click()
    page.get_by_text("Please choose a reason.").wait_for()
    shot("late-cancel-warning")
    assert_accessible(page, "cancel, late, reason missing")
    page.get_by_label("I'm unwell").check()
    page.get_by_role("button", name="Cancel anyway (late)").click()
    page.get_by_text("It was recorded as a late cancellation.").wait_for()
    card(page, practice.late).get_by_text("Cancelled late by you").wait_for()
    shot("cancelled-late")
    cancelled = appointment(web_stack, practice.late)
    assert cancelled["state"] == "STATE_CANCELLED" and cancelled["cancellation"]["late"] is True
    assert cancelled["cancellation"]["reason"] == "REASON_CLIENT_ILLNESS"

    # 6. Moving is a request for another open time.
    card(page, practice.later).get_by_role("link", name=re.compile("^Move")).click()
    page.get_by_role("heading", name="Move a session").wait_for()
    page.locator('input[name="slot"]').first.wait_for()
    shot("move")
    assert_accessible(page, "move")
    page.locator('input[name="slot"]').first.check()
    page.get_by_role("button", name="Ask to move to this time").click()
    page.get_by_text("Your request to move is sent").wait_for()
    card(page, practice.later).get_by_text("Moved to another time").wait_for()
    shot("moved")
    old = appointment(web_stack, practice.later)
    new = appointment(web_stack, old["rescheduledTo"])
    assert new["state"] == "STATE_PENDING" and new["rescheduledFrom"] == practice.later
    card(page, new["name"]).get_by_text(REQUESTED).wait_for()

    # 4. Every state in plain words.
    past = page.get_by_role("region", name="Past and cancelled")
    for words in (
        "Cancelled late by you",
        "Moved to another time",
        "Cancelled by your psychologist",
        "Declined by your psychologist",
        "Took place",
        "Missed (no-show)",
    ):
        assert past.get_by_text(words, exact=True).count() == 1, words
    shot("every-state")
    assert page.evaluate("document.documentElement.scrollWidth") <= 390


def _tab_to(page: Any, test: str, limit: int = 120) -> None:
    """Press Tab until the focused element passes `test` (a JS expression on `el`)."""
    for _ in range(limit):
        page.keyboard.press("Tab")
        if page.evaluate(f"(() => {{ const el = document.activeElement; return !!el && ({test}); }})()"):
            return
    raise AssertionError(f"Tab never reached an element where {test}")


def new_client(stack: Stack, practice: Practice, first: str) -> tuple[str, str]:
    """A client of the practice's psychologist: (resource name, display name)."""
    name = f"{first} {practice.psychologist[-6:]}"
    made = rest(
        stack.rest_url,
        "POST",
        "/v1/clients",
        {"displayName": name, "email": "someone@example.org", "psychologist": practice.psychologist},
    )
    assert made.status == 200, made
    return str(made.body["name"]), name


def test_a_lost_answer_is_retried_with_the_same_key(
    browser: Any, web_stack: Stack, practice: Practice
) -> None:
    """The request reaches the service but its answer is lost on the way back: the app
    sends the same action again with the same Idempotency-Key and X-Request-ID, and the
    service answers it once (one appointment)."""
    client, name = new_client(web_stack, practice, "Rita Retry")
    page = new_page(browser)
    sign_in(page, web_stack, name)
    page.get_by_role("link", name="Book a session").click()
    page.locator('input[name="slot"]').first.check()
    sent: list[dict[str, str]] = []

    def lose_first_answer(route: Any) -> None:
        if route.request.method != "POST":
            route.continue_()
            return
        sent.append(route.request.headers)
        if len(sent) == 1:
            route.fetch()  # the service does the work ...
            route.abort("connectionreset")  # ... and the answer never arrives
        else:
            route.continue_()

    page.route(re.compile(r"/v1/psychologists/[^/?]+/appointments(\?|$)"), lose_first_answer)
    page.get_by_role("button", name="Request this time").click()
    page.get_by_role("region", name="Upcoming").get_by_text(REQUESTED).wait_for()
    assert len(sent) == 2, sent
    assert sent[0]["idempotency-key"] == sent[1]["idempotency-key"]
    assert sent[0]["x-request-id"] == sent[1]["x-request-id"]
    mine = rest(web_stack.rest_url, "GET", f"/v1/psychologists/-/appointments?client={client}")
    assert len(mine.body["appointments"]) == 1, mine


def test_keyboard_only(browser: Any, web_stack: Stack, practice: Practice) -> None:
    client, name = new_client(web_stack, practice, "Kim Keys")
    page = new_page(browser)
    shot = Shots(page, "keyboard")
    page.goto(web_stack.rest_url + "/")
    page.get_by_role("button", name="Sign in", exact=True).wait_for()
    _tab_to(page, "el.textContent.trim() === 'Sign in'")
    page.keyboard.press("Enter")
    page.get_by_label("Filter people by name or resource name").wait_for()
    _tab_to(page, "el.id === 'q'")
    page.keyboard.type(name)
    page.keyboard.press("Enter")
    page.get_by_role("button", name=f"Sign in as {name}").wait_for()
    _tab_to(page, f"el.textContent.trim() === 'Sign in as {name}'")
    page.keyboard.press("Enter")
    page.get_by_role("heading", name="Your sessions").wait_for()
    page.get_by_role("link", name="Book a session").wait_for()
    shot("signed-in")

    _tab_to(page, "el.textContent.trim() === 'Book a session'")
    page.keyboard.press("Enter")
    page.locator('input[name="slot"]').first.wait_for()
    _tab_to(page, "el.name === 'slot'")
    page.keyboard.press("ArrowRight")  # the next open time (arrows move within the group)
    picked = page.evaluate("document.activeElement.value")
    assert page.locator(f'input[value="{picked}"]').is_checked()
    shot("slot-picked")
    _tab_to(page, "el.textContent.trim() === 'Request this time'")
    page.keyboard.press("Enter")
    page.get_by_role("heading", name="Your appointments").wait_for()
    page.get_by_role("region", name="Upcoming").get_by_text(REQUESTED).wait_for()
    shot("requested")

    _tab_to(page, "el.textContent.startsWith('Cancel the session')")
    page.keyboard.press("Enter")
    page.get_by_role("heading", name="Cancel a session").wait_for()
    _tab_to(page, "el.name === 'reason'")
    page.keyboard.press("Space")
    _tab_to(page, "el.type === 'submit'")
    page.keyboard.press("Enter")
    page.get_by_text("The session is cancelled").wait_for()
    shot("cancelled")
    mine = rest(web_stack.rest_url, "GET", f"/v1/psychologists/-/appointments?client={client}")
    [one] = mine.body["appointments"]
    assert one["state"] == "STATE_CANCELLED" and instant(one["startTime"]) == instant(picked), (one, picked)


def test_sign_out_and_where_tokens_live(browser: Any, web_stack: Stack, practice: Practice) -> None:
    page = new_page(browser)
    shot = Shots(page, "session")
    urls: list[str] = []
    page.on("framenavigated", lambda f: urls.append(f.url))
    sign_in(page, web_stack, practice.client_name)
    stored = page.evaluate("JSON.stringify(sessionStorage)")
    assert "access_token" in stored  # kept for this tab only
    assert "token" not in page.evaluate("JSON.stringify(localStorage)")

    page.goto(web_stack.rest_url + "/no/such/page")
    page.get_by_role("heading", name="Page not found").wait_for()
    shot("not-found")
    assert_accessible(page, "not found")

    page.get_by_role("button", name="Sign out").click()
    page.get_by_role("heading", name="Your sessions with the practice").wait_for()
    assert "access_token" not in page.evaluate("JSON.stringify(sessionStorage)")
    shot("signed-out")
    leaked = [u for u in urls if re.search(r"access_token|refresh_token|[?&]id_token=", u)]
    assert not leaked, leaked
    # The provider ended the sign-in: a reload does not sign back in.
    page.reload()
    page.get_by_role("button", name="Sign in", exact=True).wait_for()


def test_an_outage_is_explained_and_recovers(browser: Any, web_stack: Stack, practice: Practice) -> None:
    """Scheduling down: the page says so in plain words with a way to try again (no
    blank page, no raw error), and works again once the service is back."""
    page = new_page(browser, width=390, height=844)
    shot = Shots(page, "outage")
    sign_in(page, web_stack, practice.client_name)
    web_stack.stop_proc("scheduling")
    try:
        page.get_by_role("link", name="Book", exact=True).click()
        alert = page.get_by_role("alert").filter(has_text="The service is busy or restarting")
        alert.first.wait_for(timeout=30_000)
        assert alert.first.get_by_text("Reference for the practice:").count() == 1
        shot("outage")
        assert_accessible(page, "book, service down")
    finally:
        web_stack.start_scheduling()
        web_stack.wait_scheduling()
    eventually(lambda: rest(web_stack.rest_url, "GET", "/v1/sessionTypes").status == 200 or None)
    page.get_by_role("button", name="Try again").first.click()
    page.locator('input[name="slot"]').first.wait_for()
    shot("recovered")


def test_a_refused_field_is_shown_next_to_it(browser: Any, web_stack: Stack, practice: Practice) -> None:
    """A BadRequest field violation from the service lands next to the field it names:
    the request is altered on its way (a start off the psychologist's grid) so that the
    real service refuses it."""
    _, name = new_client(web_stack, practice, "Fay Field")
    page = new_page(browser)
    shot = Shots(page, "field-violation")
    sign_in(page, web_stack, name)
    page.get_by_role("link", name="Book a session").click()
    page.locator('input[name="slot"]').first.check()

    def off_grid(route: Any) -> None:
        if route.request.method != "POST":
            route.continue_()
            return
        body = json.loads(route.request.post_data)
        start = instant(body["startTime"]) + dt.timedelta(minutes=7)
        body["startTime"] = start.isoformat().replace("+00:00", "Z")
        route.continue_(post_data=json.dumps(body))

    page.route(re.compile(r"/v1/psychologists/[^/?]+/appointments(\?|$)"), off_grid)
    page.get_by_role("button", name="Request this time").click()
    errors = page.locator("#slot-errors")
    errors.get_by_text("grid").wait_for()
    assert page.get_by_role("group", name="Pick a time").get_attribute("aria-describedby") == "slot-errors"
    page.get_by_role("alert").filter(has_text="Some details need fixing.").wait_for()
    shot("violation")
    assert_accessible(page, "book, field violation")


def test_a_psychologist_gets_their_workspace_not_the_portal(
    browser: Any, web_stack: Stack, practice: Practice
) -> None:
    page = new_page(browser, width=390, height=844)
    shot = Shots(page, "psychologist")
    page.goto(web_stack.rest_url + "/")
    page.get_by_role("button", name="Sign in", exact=True).click()
    page.get_by_label("Filter people by name or resource name").fill(practice.psychologist_name)
    page.get_by_role("button", name="Filter").click()
    page.get_by_role("button", name=f"Sign in as {practice.psychologist_name}").click()
    page.get_by_role("heading", name="Today").wait_for()
    nav = page.get_by_role("navigation", name="Main")
    nav.get_by_role("link", name="Week").wait_for()
    assert nav.get_by_role("link", name="Book").count() == 0  # no client pages offered
    shot("welcome")
    assert_accessible(page, "psychologist's landing page")
