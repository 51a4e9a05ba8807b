"""Notification choices and the calendar feed in Chromium through the real stack: a
client's Notifications page (email on and off, which reminders, the time zone; every
state in words; by keyboard alone; on a phone), and a psychologist's Settings page
(email about new requests, and the calendar feed: its address shown once with copy,
a new address that ends the old one, what events say about clients, the feed off).
axe-core scans every state; each step leaves a screenshot in test-artifacts/screenshots/."""

from __future__ import annotations

import urllib.error
import urllib.request
import uuid
from typing import Any

import pytest

from phs_devstack import Stack
from tests.helpers import rest
from tests.web.conftest import PSY_ZONE, Shots, new_page
from tests.web.test_phone_width import PHONE, assert_fits
from tests.web.test_portal import assert_accessible
from tests.web.test_portal import sign_in as sign_in_client
from tests.web.test_psychologist import sign_in as sign_in_psychologist

pytestmark = pytest.mark.slow


def _ok(resp: Any) -> dict[str, Any]:
    assert resp.status == 200, resp
    body: dict[str, Any] = resp.body
    return body


def _people(stack: Stack) -> tuple[str, str, str, str]:
    """A psychologist and a client of theirs of this test's own: names and display names."""
    tag = uuid.uuid4().hex[:6]
    psy_name, client_name = f"Dr Settings {tag}", f"Sam Settings {tag}"
    made = rest(stack.rest_url, "POST", "/v1/psychologists", {"displayName": psy_name, "timeZone": PSY_ZONE})
    p = _ok(made)
    body = {"displayName": client_name, "email": f"{tag}@example.org", "psychologist": p["name"]}
    c = _ok(rest(stack.rest_url, "POST", "/v1/clients", body))
    return str(p["name"]), psy_name, str(c["name"]), client_name


def _fetch(url: str) -> int:
    """A calendar app's GET (no token): the status."""
    try:
        with urllib.request.urlopen(url, timeout=10) as resp:
            assert resp.headers["content-type"].startswith("text/calendar")
            assert resp.read().startswith(b"BEGIN:VCALENDAR")
            return int(resp.status)
    except urllib.error.HTTPError as err:
        return int(err.code)


def _check(page: Any, shot: Shots, step: str, phone: bool = False) -> None:
    shot(step)
    assert_accessible(page, step)
    if phone:
        assert_fits(page, step)


def test_a_client_chooses_their_notifications_on_a_phone_by_keyboard(browser: Any, web_stack: Stack) -> None:
    _, _, client, client_name = _people(web_stack)
    page = new_page(browser, *PHONE)
    shot = Shots(page, "settings-client-notifications")
    sign_in_client(page, web_stack, client_name)
    page.get_by_role("link", name="Notifications").click()
    page.get_by_role("heading", name="Notifications").wait_for()
    now = page.get_by_role("region", name="What you get now")
    now.get_by_text("You get an email when a session is booked, moved or cancelled.").wait_for()
    now.get_by_text("You get a reminder 1 day before and 2 hours before each session.").wait_for()
    _check(page, shot, "defaults", phone=True)

    # Keyboard only: off with Space on the focused checkbox, then save with Enter.
    email = page.get_by_role("checkbox", name="Send me email about my sessions")
    email.focus()
    page.keyboard.press("Space")
    page.get_by_text("Off: the practice sends you no email about your sessions.").wait_for()
    page.get_by_text("Reminders come by email: turn email on to choose them.").wait_for()
    assert page.get_by_role("checkbox", name="1 day before each session").is_disabled()
    _check(page, shot, "email-off", phone=True)
    page.keyboard.press("Space")  # back on: the reminders can be chosen again
    day = page.get_by_role("checkbox", name="1 day before each session")
    assert day.is_enabled()
    day.focus()
    page.keyboard.press("Space")  # only the 2-hour reminder
    page.get_by_text("1 of 2 reminders chosen.").wait_for()
    zone = page.get_by_label("Time zone for the times in messages")
    zone.focus()
    zone.select_option("Europe/Paris")
    save = page.get_by_role("button", name="Save my choices")
    save.focus()
    page.keyboard.press("Enter")
    page.get_by_text("Your choices are saved.").wait_for()
    now.get_by_text("You get a reminder 2 hours before each session.").wait_for()
    now.get_by_text("Times in messages are in Europe/Paris.").wait_for()
    _check(page, shot, "saved", phone=True)

    saved = _ok(rest(web_stack.rest_url, "GET", f"/v1/{client}/notificationPreferences"))
    assert saved["emailEnabled"] is True and saved["reminderOffsets"] == ["7200s"]
    assert saved["timeZone"] == "Europe/Paris"

    # Off altogether, saved: the summary says so.
    email.click()
    save.click()
    now.get_by_text("You get no email from the practice about your sessions, and so no reminders.").wait_for()
    _check(page, shot, "saved-off", phone=True)
    page.context.close()


def test_a_psychologist_sets_request_mail_and_runs_a_calendar_feed(browser: Any, web_stack: Stack) -> None:
    psychologist, psy_name, _, _ = _people(web_stack)
    page = new_page(browser)
    page.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=web_stack.rest_url)
    shot = Shots(page, "settings-psychologist")
    sign_in_psychologist(page, web_stack, psy_name)
    page.get_by_role("link", name="Settings").click()
    page.get_by_role("heading", name="Settings").wait_for()
    page.get_by_text("Off: new requests wait in your Requests inbox; no email is sent.").wait_for()
    page.get_by_text("Off: you have no calendar feed.").wait_for()
    _check(page, shot, "defaults")

    # Email about new requests.
    page.get_by_role("checkbox", name="Email me when a client requests a session").check()
    page.get_by_label("Email address (required)").fill("dr.settings@example.org")
    page.get_by_role("button", name="Save email choice").click()
    on = "On: each new request from a client is announced by email to dr.settings@example.org."
    page.get_by_text(on).wait_for()
    _check(page, shot, "request-mail-on")

    # The feed: made, its address shown once and copied.
    feed = page.get_by_role("region", name="Calendar feed")
    feed.get_by_role("button", name="Make a feed address").click()
    address = feed.get_by_label("Subscribe to this address in your calendar app")
    address.wait_for()
    first = address.input_value()
    assert first.startswith(web_stack.rest_url + "/v1/feeds/") and first.endswith("/calendar.ics"), first
    feed.get_by_text("This is the only time the address is shown.").wait_for()
    feed.get_by_role("button", name="Copy the address").click()
    feed.get_by_text("Copied.").wait_for()
    assert page.evaluate("navigator.clipboard.readText()") == first
    feed.get_by_text("On: calendar apps subscribed to its address receive your appointments").wait_for()
    assert _fetch(first) == 200
    _check(page, shot, "feed-made")

    # A new address ends the old one.
    feed.get_by_role("button", name="Make a new address").click()
    changed = "old => document.querySelector('.feed-url')?.value !== old"
    page.wait_for_function(changed, arg=first)
    second = address.input_value()
    assert second != first and _fetch(first) == 404 and _fetch(second) == 200
    _check(page, shot, "feed-rotated")

    # Nothing about clients in events.
    feed.get_by_role("radio", name="The session type only: nothing about the client").check()
    feed.get_by_role("button", name="Save what events say").click()
    feed.get_by_text("Saved: calendar apps get the change at their next refresh.").wait_for()
    got = _ok(rest(web_stack.rest_url, "GET", f"/v1/{psychologist}/calendarFeed"))
    assert got["clientDetail"] == "CLIENT_DETAIL_NONE" and got["url"] == ""
    _check(page, shot, "feed-no-client-detail")

    # After a reload the address is gone for good; the feed is off once revoked.
    page.reload()
    page.get_by_role("heading", name="Settings").wait_for()
    feed.get_by_text("On: calendar apps subscribed to its address receive your appointments").wait_for()
    assert page.locator(".feed-url").count() == 0
    feed.get_by_role("button", name="Turn the feed off").click()
    feed.get_by_text("The feed is off: its address no longer works.").wait_for()
    feed.get_by_text("Off: you have no calendar feed.").wait_for()
    assert _fetch(second) == 404
    _check(page, shot, "feed-off")
    page.context.close()


def test_the_settings_page_fits_a_phone(browser: Any, web_stack: Stack) -> None:
    _, psy_name, _, _ = _people(web_stack)
    page = new_page(browser, *PHONE)
    page.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=web_stack.rest_url)
    shot = Shots(page, "settings-psychologist-phone")
    sign_in_psychologist(page, web_stack, psy_name)
    page.goto(web_stack.rest_url + "/settings")
    page.get_by_role("heading", name="Settings").wait_for()
    feed = page.get_by_role("region", name="Calendar feed")
    feed.get_by_role("button", name="Make a feed address").click()
    address = feed.get_by_label("Subscribe to this address in your calendar app")
    address.wait_for()
    _check(page, shot, "feed-made", phone=True)
    # The whole address is in view, wrapped: its box neither scrolls nor cuts it off,
    # and the box itself is inside the screen.
    url = address.input_value()
    assert url.startswith(web_stack.rest_url + "/v1/feeds/") and url.endswith("/calendar.ics"), url
    sizes = address.evaluate(
        "el => ({sw: el.scrollWidth, cw: el.clientWidth, sh: el.scrollHeight, ch: el.clientHeight,"
        " right: el.getBoundingClientRect().right})"
    )
    assert sizes["sw"] <= sizes["cw"] and sizes["sh"] <= sizes["ch"], sizes
    assert sizes["right"] <= PHONE[0], sizes
    # Still copied whole from the phone.
    feed.get_by_role("button", name="Copy the address").click()
    feed.get_by_text("Copied.").wait_for()
    assert page.evaluate("navigator.clipboard.readText()") == url
    page.context.close()
