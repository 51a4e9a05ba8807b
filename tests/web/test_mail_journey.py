"""The mail a request brings, driven through the web app as `make up` runs it: the
psychologist turns on email about new requests in Settings, a client (times in their
messages in Paris) requests a session in the portal, the psychologist approves it in
the Requests inbox and moves it through the week's keyboard dialog, and the client
cancels it in the portal. After each step the test reads the messages the SMTP sink
kept in the stack's mail folder (.eml files, parsed with `email` and `icalendar`): one
message per step to the right person, saying the right thing, at the time in the
recipient's zone, one calendar event throughout (same UID, SEQUENCE going up, CANCEL
at the end), and nothing the privacy rules keep out. axe-core scans each page; each
step leaves a screenshot in test-artifacts/screenshots/."""

from __future__ import annotations

import datetime as dt
import re
import uuid
from dataclasses import dataclass
from email import message_from_bytes, policy
from email.message import EmailMessage
from email.utils import getaddresses
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from icalendar import Calendar, Event

from phs_devstack import Stack
from phs_notifications.adapters.store import Store
from phs_runtime import db
from tests.helpers import eventually, local_slot
from tests.web.conftest import PSY_ZONE, VIEWER_ZONE, Shots, new_page
from tests.web.psy_practice import TZ, Workspace, add_client, workspace
from tests.web.test_portal import assert_accessible, card
from tests.web.test_portal import sign_in as sign_in_client
from tests.web.test_psychologist import at, event, get, open_week
from tests.web.test_psychologist import sign_in as sign_in_psychologist

__all__ = ["workspace"]  # the fixture, imported for pytest

pytestmark = pytest.mark.slow

CLIENT_ZONE = VIEWER_ZONE  # the client asks for the times in their messages in Paris
LENGTH = dt.timedelta(minutes=45)  # the therapy session the client picks
MAIL_WAIT = 40.0  # seconds: an event through the broker to the notifications service to SMTP


# -- reading the mail folder --------------------------------------------------------------------


@dataclass(frozen=True)
class Mail:
    file: str
    message: EmailMessage

    @property
    def subject(self) -> str:
        return str(self.message["Subject"])

    @property
    def to(self) -> list[tuple[str, str]]:
        return getaddresses([str(v) for v in self.message.get_all("To", [])])

    def part(self, content_type: str) -> str:
        found = [p for p in self.message.walk() if p.get_content_type() == content_type]
        assert len(found) == 1, f"{self.subject}: {len(found)} {content_type} parts"
        content = found[0].get_content()
        return content.decode() if isinstance(content, bytes) else str(content)

    @property
    def text(self) -> str:
        return self.part("text/plain")

    @property
    def html(self) -> str:
        return self.part("text/html")

    @property
    def ics(self) -> str:
        return self.part("text/calendar")

    @property
    def everything(self) -> str:
        """Headers and every part decoded (a part may travel as base64 or quoted-printable)."""
        headers = "\n".join(f"{k}: {v}" for k, v in self.message.items())
        return "\n".join((headers, self.text, self.html, self.ics))

    @property
    def calendar(self) -> Calendar:
        return Calendar.from_ical(self.ics)

    @property
    def event(self) -> Event:
        (only,) = self.calendar.events
        return only


class MailFolder:
    """The .eml files the sink writes (one per message, renamed into place whole), read
    once each; the folder is shared by the session, so mail is picked by address."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.seen: dict[str, Mail] = {}

    def to(self, address: str) -> list[Mail]:
        for path in sorted(self.folder.glob("*.eml")):  # names start with the time, then a counter
            if path.name not in self.seen:
                parsed = message_from_bytes(path.read_bytes(), policy=policy.default)
                assert isinstance(parsed, EmailMessage)
                self.seen[path.name] = Mail(path.name, parsed)
        return [m for name, m in sorted(self.seen.items()) if address in {a for _, a in m.to}]

    def wait(self, address: str, count: int, what: str) -> list[Mail]:
        """The first `count` messages to `address`, polled for (mail is sent after the
        event is read); exactly `count`, so a second copy of a step's message fails here."""
        got = eventually(lambda: m if len(m := self.to(address)) >= count else None, MAIL_WAIT, 0.2, what)
        assert len(got) == count, f"{what}: {[m.subject for m in got]}"
        return got


def when(start: dt.datetime, zone: str) -> str:
    """How the messages write a time: 'Tuesday 14 March 2028, 16:00-16:45 (Europe/Paris)'."""
    a, b = start.astimezone(ZoneInfo(zone)), (start + LENGTH).astimezone(ZoneInfo(zone))
    return f"{a:%A} {a.day} {a:%B} {a.year}, {a:%H:%M}-{b:%H:%M} ({zone})"


def check_mail(
    mail: Mail,
    *,
    to: tuple[str, str],
    subject: str,
    says: list[str],
    links: list[str],
    start: dt.datetime,
    zone: str,
    method: str,
    status: str,
) -> tuple[str, int]:
    """One message: addressee, subject, the words of its kind in both bodies, its links,
    the time in the recipient's zone, and its calendar part; (UID, SEQUENCE)."""
    assert mail.to == [to], (mail.subject, mail.to)
    assert mail.subject == subject, mail.subject
    text, html = mail.text, mail.html
    # The HTML body is escaped; these sentences hold nothing to escape but an apostrophe.
    plain_html = html.replace("&#39;", "'").replace("&#x27;", "'")
    for words in [f"Hello {to[0]},", *says]:
        assert words in text, f"{subject}: {words!r} not in the text:\n{text}"
        assert words in plain_html, f"{subject}: {words!r} not in the HTML:\n{html}"
    assert f"When:  {when(start, zone)}" in text, f"{subject}: not at {when(start, zone)}:\n{text}"
    assert f"<td>{when(start, zone)}</td>" in html, f"{subject}: not at {when(start, zone)}:\n{html}"
    for url in links:
        assert url in text and f'href="{url}"' in html, f"{subject}: no link to {url}"
    calendar, ev = mail.calendar, mail.event
    assert str(calendar["METHOD"]) == method, (subject, calendar["METHOD"])
    [part] = [p for p in mail.message.walk() if p.get_content_type() == "text/calendar"]
    assert part.get_param("method") == method, subject  # said on the MIME part too (RFC 6047)
    assert str(ev["STATUS"]) == status, (subject, ev["STATUS"])
    assert ev.start == start.astimezone(dt.UTC) and ev.end == (start + LENGTH).astimezone(dt.UTC), subject
    assert str(ev["ATTENDEE"]) == f"mailto:{to[1]}", (subject, ev["ATTENDEE"])
    return str(ev["UID"]), int(str(ev["SEQUENCE"]))


# -- the journey --------------------------------------------------------------------------------------


def test_mail_follows_a_request_from_asking_to_cancelling(
    browser: Any, web_stack: Stack, workspace: Workspace
) -> None:
    ws = workspace
    base = web_stack.rest_url
    tag = uuid.uuid4().hex[:6]
    # A client of the workspace's psychologist with an address of their own (the mail
    # folder is shared by every test of the session), and a phone no message may show.
    client_name, client_email, phone = f"Mara Mail {tag}", f"mara-{tag}@example.org", "+1 416 555 0142"
    client = add_client(base, ws.psychologist, client_name, client_email, phone)
    psy_email = f"dr-mail-{tag}@practice.example"
    mailbox = MailFolder(web_stack.mail_dir)
    # A Tuesday 10:00 in Toronto a week or more ahead: inside working hours, clear of the
    # workspace's Wednesday and Thursday sessions, and days before any reminder falls due.
    wish = local_slot(TZ, 2, 10, weeks_ahead=1)

    # 1. The psychologist turns on email about new requests.
    psy = new_page(browser)
    psy_shot = Shots(psy, "mail-journey-psychologist")
    sign_in_psychologist(psy, web_stack, ws.psychologist_name)
    psy.get_by_role("link", name="Settings").click()
    psy.get_by_role("heading", name="Settings").wait_for()
    psy.get_by_role("checkbox", name="Email me when a client requests a session").check()
    psy.get_by_label("Email address (required)").fill(psy_email)
    psy.get_by_role("button", name="Save email choice").click()
    psy.get_by_text(f"On: each new request from a client is announced by email to {psy_email}.").wait_for()
    psy_shot("request-mail-on")
    assert_accessible(psy, "settings, request mail on")

    # 2. The client keeps the times in their messages in Paris, then asks for the Tuesday.
    page = new_page(browser)
    shot = Shots(page, "mail-journey-client")
    sign_in_client(page, web_stack, client_name)
    page.get_by_role("link", name="Notifications").click()
    page.get_by_role("heading", name="Notifications").wait_for()
    page.get_by_label("Time zone for the times in messages").select_option(CLIENT_ZONE)
    page.get_by_role("button", name="Save my choices").click()
    page.get_by_text(f"Times in messages are in {CLIENT_ZONE}.").first.wait_for()
    shot("messages-in-paris")
    assert_accessible(page, "notifications, zone chosen")

    page.get_by_role("link", name="Book", exact=True).click()
    page.get_by_role("group", name="Session type").get_by_label(re.compile("45 min")).check()
    slot = page.locator(f'input[name="slot"][value="{wish.astimezone(dt.UTC):%Y-%m-%dT%H:%M:%S}.000Z"]')
    slot.check()
    shot("slot-picked")
    page.get_by_role("button", name="Request this time").click()
    page.get_by_role("heading", name="Your appointments").wait_for()
    request = eventually(lambda: at(web_stack, ws, wish), 10, what="the request")
    assert request["state"] == "STATE_PENDING" and request["client"] == client, request
    _, pid, _, aid = request["name"].split("/")
    card(page, request["name"]).get_by_text("Requested, waiting for your psychologist").wait_for()
    shot("requested")
    assert_accessible(page, "appointments, requested")

    to_client = (client_name, client_email)
    to_psy = (ws.psychologist_name, psy_email)
    [received] = mailbox.wait(client_email, 1, "the client's 'request received'")
    uid, seq = check_mail(
        received,
        to=to_client,
        subject="Appointment request received",
        says=[
            "We received your request for an appointment.",
            f"{ws.psychologist_name} will confirm or decline it.",
        ],
        links=[f"{base}/appointments/{pid}/{aid}/cancel", f"{base}/appointments/{pid}/{aid}/move"],
        start=wish,
        zone=CLIENT_ZONE,
        method="REQUEST",
        status="TENTATIVE",
    )
    [announced] = mailbox.wait(psy_email, 1, "the psychologist's 'new request'")
    psy_uid, psy_seq = check_mail(
        announced,
        to=to_psy,
        subject="New appointment request",
        says=[
            "A client requested an appointment with you.",
            "Please confirm or decline it in the practice's web app.",
        ],
        links=[f"{base}/requests"],
        start=wish,
        zone=PSY_ZONE,  # the psychologist's own zone, not the client's
        method="REQUEST",
        status="TENTATIVE",
    )
    assert (psy_uid, psy_seq) == (uid, seq)  # the same calendar event, as it stands now
    # The psychologist's mail never says who asked: that is behind sign-in.
    for secret in (client_name, client_email, phone, client.split("/")[1]):
        assert secret not in announced.everything, f"{secret!r} in the new-request mail"

    # 3. The psychologist approves it in the Requests inbox.
    psy.get_by_role("link", name="Requests").click()
    psy.get_by_role("heading", name="Requests").wait_for()
    item = psy.locator(f'[data-appointment="{request["name"]}"]')
    item.wait_for()
    psy_shot("request-in-inbox")
    assert_accessible(psy, "requests, one waiting")
    item.get_by_role("button", name=re.compile("^Approve")).click()
    item.wait_for(state="detached")
    assert get(web_stack, request["name"])["state"] == "STATE_BOOKED"
    psy_shot("approved")

    mails = mailbox.wait(client_email, 2, "the client's approval")
    assert mails[0] is received
    uid_2, seq_2 = check_mail(
        mails[1],
        to=to_client,
        subject="Appointment confirmed",
        says=[
            f"{ws.psychologist_name} confirmed your appointment.",
            "See you then.",
        ],
        links=[f"{base}/appointments/{pid}/{aid}/cancel", f"{base}/appointments/{pid}/{aid}/move"],
        start=wish,
        zone=CLIENT_ZONE,
        method="REQUEST",
        status="CONFIRMED",
    )
    page.reload()
    card(page, request["name"]).get_by_text("Booked", exact=True).wait_for()
    shot("booked")

    # 4. The psychologist moves it to 15:00 the same day, through the week's keyboard dialog.
    open_week(psy, web_stack, wish)
    booked = event(psy, request["name"])
    booked.wait_for()
    booked.focus()
    psy.keyboard.press("Enter")
    psy.get_by_role("region", name="Selected appointment").get_by_role("button", name="Move…").click()
    dialog = psy.get_by_role("dialog")
    dialog.get_by_label("New date").fill(wish.date().isoformat())
    dialog.get_by_label("New start time").fill("15:00")
    psy_shot("move-dialog")
    assert_accessible(psy, "move dialog")
    dialog.get_by_label("New start time").press("Enter")
    dialog.wait_for(state="hidden")
    later = wish.replace(hour=15)
    moved = eventually(lambda: at(web_stack, ws, later), 10, what="the moved appointment")
    assert moved["rescheduledFrom"] == request["name"] and moved["state"] == "STATE_BOOKED", moved
    event(psy, moved["name"]).wait_for()
    psy_shot("moved")

    before = mails
    mails = mailbox.wait(client_email, 3, "the client's 'moved'")
    assert mails[:2] == before
    mid = moved["name"].split("/")[3]
    uid_3, seq_3 = check_mail(
        mails[2],
        to=to_client,
        subject="Appointment moved",
        says=[
            "Your appointment has moved to a new time.",
            "See you then.",
        ],
        links=[f"{base}/appointments/{pid}/{mid}/cancel", f"{base}/appointments/{pid}/{mid}/move"],
        start=later,
        zone=CLIENT_ZONE,
        method="REQUEST",
        status="CONFIRMED",
    )
    # ... and where it was, in the same zone.
    assert f"(was:  {when(wish, CLIENT_ZONE)})" in mails[2].text
    assert f"<td>{when(wish, CLIENT_ZONE)}</td>" in mails[2].html
    page.reload()
    card(page, request["name"]).get_by_text("Moved to another time").wait_for()
    card(page, moved["name"]).get_by_text("Booked", exact=True).wait_for()
    shot("moved")

    # 5. The client cancels the new time in the portal, for a reason that is health information.
    card(page, moved["name"]).get_by_role("link", name=re.compile("^Cancel")).click()
    page.get_by_role("heading", name="Cancel a session").wait_for()
    page.get_by_label("I'm unwell").check()
    shot("cancel")
    assert_accessible(page, "cancel")
    page.get_by_role("button", name="Cancel this session").click()
    page.get_by_text("The session is cancelled").wait_for()
    card(page, moved["name"]).get_by_text("Cancelled by you").wait_for()
    shot("cancelled")
    assert get(web_stack, moved["name"])["cancellation"]["reason"] == "REASON_CLIENT_ILLNESS"

    before = mails
    mails = mailbox.wait(client_email, 4, "the client's 'cancelled'")
    assert mails[:3] == before
    cancelled = mails[3]
    uid_4, seq_4 = check_mail(
        cancelled,
        to=to_client,
        subject="Appointment cancelled",
        says=["Your appointment is cancelled.", "If you did not expect this, please contact the practice."],
        links=[],
        start=later,
        zone=CLIENT_ZONE,
        method="CANCEL",
        status="CANCELLED",
    )
    assert "/appointments/" not in cancelled.text + cancelled.html  # nothing left to cancel or move

    # One calendar event from the request to the cancellation, each message newer than the last.
    assert {uid, uid_2, uid_3, uid_4} == {uid}, "the UID changed"
    assert seq < seq_2 < seq_3 < seq_4, (seq, seq_2, seq_3, seq_4)
    assert len({m.message["Message-ID"] for m in mails}) == 4
    # The psychologist asked only about new requests: nothing about the approval, move or cancellation.
    assert mailbox.to(psy_email) == [announced]

    # The minimum in every message: no reason for the cancellation, no phone, no other client,
    # not the psychologist's own address in the client's mail.
    for m in mails:
        raw = m.everything
        for secret in ("unwell", "ILLNESS", "illness", phone, ws.regular_name, ws.asker_name, psy_email):
            assert secret not in raw, f"{secret!r} in {m.subject!r}"
    # Nothing more is on its way: every confirmation of the two appointments went out once and
    # for good (a resend would reuse its Message-ID), and the reminders died with the move and
    # the cancellation.
    store = Store(db.make_engine(str(web_stack.notifications_db)))
    try:
        rows = [d for name in (request["name"], moved["name"]) for d in store.deliveries_of(name)]
    finally:
        store.close()
    sent = [d for d in rows if d.send.kind.value != "REMINDER"]
    assert {(d.state, d.unconfirmed) for d in sent} == {("SENT", 1)}, [(d.send.kind, d.state) for d in sent]
    assert sorted(d.message_id for d in sent) == sorted(
        str(m.message["Message-ID"]) for m in [*mails, announced]
    )
    assert {d.state for d in rows if d.send.kind.value == "REMINDER"} <= {"SKIPPED"}
    # ... and no name or address in the notifications service's log.
    log = web_stack.log("notifications").read_text()
    for secret in (client_name, client_email, phone, psy_email):
        assert secret not in log, f"{secret!r} in the notifications log"
    page.context.close()
    psy.context.close()
