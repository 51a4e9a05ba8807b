"""The notifications service end to end, with real parts only: the Kafka-protocol
broker and the scheduling service of the devstack, notifications processes
(`python -m phs_notifications`), and aiosmtpd as the SMTP server (phs_devstack.mailsink).

Appointments are changed through the scheduling service's gRPC API; the events reach
the notifications service through the topic, and the tests read what the SMTP
server received. Reminder offsets are configured in seconds, relative to a start a
minute or two ahead (a start must be on a whole minute).

Every notifications process here starts a consumer group of its own at the start of
the topic (unless a test shares one), so it also sees earlier tests' events: the
tests look only at mail to their own, fresh addresses.
"""

from __future__ import annotations

import datetime as dt
import math
import signal
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from email.message import EmailMessage
from pathlib import Path
from zoneinfo import ZoneInfo

import grpc
import pytest
from google.protobuf import duration_pb2, field_mask_pb2
from google.protobuf.timestamp_pb2 import Timestamp
from google.type import dayofweek_pb2, timeofday_pb2
from icalendar import Calendar
from kafka import KafkaAdminClient, KafkaProducer
from kafka.admin import NewTopic
from kafka.consumer.fetcher import ConsumerRecord

from phs.notifications.v1 import notifications_service_pb2 as ns
from phs.notifications.v1 import notifications_service_pb2_grpc as ns_grpc
from phs.notifications.v1 import resources_pb2 as nr
from phs.scheduling.v1 import events_pb2 as ev
from phs.scheduling.v1 import resources_pb2 as sr
from phs.scheduling.v1 import scheduling_service_pb2 as ss
from phs.scheduling.v1 import scheduling_service_pb2_grpc as ss_grpc
from phs_devstack import Ports, Stack, free_port, wait_serving
from phs_devstack.mailsink import MailSink, Received
from phs_notifications import SERVICE_NAME
from phs_notifications.adapters.store import Delivery, Store
from phs_runtime import db
from tests.conftest import token_for
from tests.helpers import channel, eventually, read_topic

TOPIC = "phs.scheduling.appointments.v1"
# Reminders fall due in real time: most of this module's minutes are waits.
pytestmark = pytest.mark.waits
DAYS = [d for d in dayofweek_pb2.DayOfWeek.values() if d != dayofweek_pb2.DAY_OF_WEEK_UNSPECIFIED]


# -- the world: broker and scheduling, shared by the module ----------------------------------


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    s = Stack(root=tmp_path_factory.mktemp("notify-stack"), ports=Ports.free())
    try:
        s.start_kafka()
        s.start_scheduling()
        s.wait_scheduling()
        yield s
    finally:
        s.stop()


@pytest.fixture
def scheduling(stack: Stack) -> Iterator[ss_grpc.SchedulingServiceStub]:
    with channel(stack.scheduling_target) as ch:
        yield ss_grpc.SchedulingServiceStub(ch)


@pytest.fixture
def sink() -> Iterator[MailSink]:
    s = MailSink(free_port()).start()
    try:
        yield s
    finally:
        s.stop()


@dataclass
class People:
    psychologist: str
    client: str
    email: str
    name: str


def around_the_clock(psychologist: str) -> sr.Availability:
    return sr.Availability(
        name=f"{psychologist}/availability",
        weekly_hours=[
            sr.WeeklyInterval(
                day_of_week=d,
                start_time=timeofday_pb2.TimeOfDay(),
                end_time=timeofday_pb2.TimeOfDay(hours=24),
            )
            for d in DAYS
        ],
        booking_policy=sr.BookingPolicy(
            minimum_notice=duration_pb2.Duration(seconds=0),
            booking_horizon=duration_pb2.Duration(seconds=365 * 86400),
            slot_alignment=duration_pb2.Duration(seconds=300),
        ),
    )


def people(
    s: ss_grpc.SchedulingServiceStub, zone: str = "America/Toronto", psychologist: str | None = None
) -> People:
    """A psychologist (working around the clock) and a client of theirs with a fresh address."""
    tag = uuid.uuid4().hex[:8]
    if psychologist is None:
        p = s.CreatePsychologist(
            ss.CreatePsychologistRequest(
                psychologist=sr.Psychologist(display_name=f"Dr. Rowan {tag}", time_zone=zone)
            )
        )
        s.UpdateAvailability(ss.UpdateAvailabilityRequest(availability=around_the_clock(p.name)))
        psychologist = p.name
    name = f"Client Person {tag}"
    email = f"client-{tag}@example.org"
    c = s.CreateClient(
        ss.CreateClientRequest(client=sr.Client(display_name=name, email=email, psychologist=psychologist))
    )
    return People(psychologist, c.name, email, name)


def ts(value: dt.datetime) -> Timestamp:
    t = Timestamp()
    t.FromDatetime(value)
    return t


def book(
    s: ss_grpc.SchedulingServiceStub, who: People, start: dt.datetime, *, request: bool = False
) -> sr.Appointment:
    a = sr.Appointment(client=who.client, session_type="sessionTypes/90834", start_time=ts(start))
    return s.CreateAppointment(
        ss.CreateAppointmentRequest(parent=who.psychologist, appointment=a, request_approval=request)
    )


def cancel(s: ss_grpc.SchedulingServiceStub, name: str, explanation: str = "") -> sr.Appointment:
    return s.CancelAppointment(
        ss.CancelAppointmentRequest(
            name=name,
            reason=sr.Cancellation.REASON_CLIENT_ILLNESS,
            cancelled_by=sr.Cancellation.ACTOR_STAFF,
            explanation=explanation,
        )
    )


def whole_minute(at_least: float) -> dt.datetime:
    """The first whole minute at least `at_least` seconds from now (starts must be on one)."""
    t = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=at_least)
    return dt.datetime.fromtimestamp(math.ceil(t.timestamp() / 60) * 60, dt.UTC)


def offsets_due_in(start: dt.datetime, *seconds_from_now: float) -> str:
    """PHS_NOTIFY_REMINDER_OFFSETS whose reminders of `start` fall due these many seconds from now."""
    now = dt.datetime.now(dt.UTC)
    return ",".join(f"{int((start - now).total_seconds() - s)}s" for s in seconds_from_now)


# -- notifications processes --------------------------------------------------------------------


class Notifier:
    """Notifications processes sharing one database (and, unless told otherwise, one group)."""

    def __init__(
        self, stack: Stack, sink: MailSink, tmp: Path, db_url: str | None = None, **env: str
    ) -> None:
        self.stack, self.sink = stack, sink
        self.db_url = db_url or f"sqlite:///{tmp / 'notifications.db'}"
        self.group = f"notify-{uuid.uuid4().hex[:8]}"
        self.env = {
            "PHS_DATABASE_URL": self.db_url,
            "PHS_NOTIFY_GROUP": self.group,
            "PHS_SMTP_PORT": str(sink.port),
            "PHS_SMTP_TIMEOUT_SECONDS": "2",
            "PHS_NOTIFY_RPC_TIMEOUT_SECONDS": "2",
            "PHS_NOTIFY_LEASE_SECONDS": "15",
            "PHS_NOTIFY_POLL_SECONDS": "0.2",
            "PHS_NOTIFY_RETRY_BASE_SECONDS": "1",
            "PHS_NOTIFY_WEB_URL": "https://app.example.org/",
            **env,
        }
        self.names: list[str] = []
        self.targets: dict[str, str] = {}

    def start(self, **env: str) -> str:
        name = f"notifications-{uuid.uuid4().hex[:6]}"
        port = free_port()
        self.stack.start_notifications(name, port, free_port(), {**self.env, **env})
        wait_serving(f"127.0.0.1:{port}", SERVICE_NAME, 60, self.stack.procs[name])
        self.names.append(name)
        self.targets[name] = f"127.0.0.1:{port}"
        return name

    def stop(self, name: str, sig: int = signal.SIGTERM) -> None:
        self.stack.stop_proc(name, sig)

    def close(self) -> None:
        self.stack.stop_procs(self.names)  # together: each drains for seconds

    def deliveries(self, appointment: str) -> list[Delivery]:
        store = Store(db.make_engine(self.db_url))
        try:
            return store.deliveries_of(appointment)
        finally:
            store.close()

    def log(self, name: str) -> str:
        return self.stack.log(name).read_text()


@pytest.fixture
def notifier(stack: Stack, sink: MailSink, tmp_path: Path) -> Iterator[Callable[..., Notifier]]:
    made: list[Notifier] = []

    def make(**env: str) -> Notifier:
        n = Notifier(stack, sink, tmp_path, **env)
        made.append(n)
        return n

    yield make
    for n in made:
        n.close()


# -- reading mail ----------------------------------------------------------------------------------


def subjects(sink: MailSink, address: str) -> list[str]:
    return [str(r.message["Subject"]) for r in sink.to(address)]


def wait_for_subjects(sink: MailSink, address: str, wanted: list[str], timeout: float = 40) -> list[Received]:
    try:
        eventually(lambda: sorted(subjects(sink, address)) == sorted(wanted) or None, timeout)
    except AssertionError:  # what came by the end of the wait, not what had come at its start
        raise AssertionError(
            f"{wanted} to {address} not met within {timeout}s (got {subjects(sink, address)})"
        ) from None
    return sink.to(address)


def parts(r: Received) -> dict[str, str]:
    out = {}
    for part in r.message.walk():
        if isinstance(part, EmailMessage) and not part.is_multipart():
            out[part.get_content_type()] = part.get_content()
    calendar = out.get("text/calendar")
    if isinstance(calendar, bytes):
        out["text/calendar"] = calendar.decode()
    return out


def calendar(r: Received) -> tuple[str, str, int, dt.datetime]:
    """(METHOD, UID, SEQUENCE, DTSTART) of a message's calendar part."""
    cal = Calendar.from_ical(parts(r)["text/calendar"])
    (event,) = cal.events
    start = event.start
    assert isinstance(start, dt.datetime)
    return str(cal["METHOD"]), str(event["UID"]), int(str(event["SEQUENCE"])), start


def all_text(sink: MailSink) -> str:
    return "\n".join(r.raw.decode("utf-8", "replace") for r in sink.received)


def settle(seconds: float) -> None:
    """Give the service time it would need to do something it must not do."""
    time.sleep(seconds)


# -- the tests ---------------------------------------------------------------------------------------


def test_each_confirmation_kind_with_preferences_and_privacy(
    stack: Stack, scheduling: ss_grpc.SchedulingServiceStub, sink: MailSink, notifier: Callable[..., Notifier]
) -> None:
    n = notifier()
    name = n.start()
    keys = Path(stack.keys or "")
    ada = people(scheduling)
    other = people(scheduling, psychologist=ada.psychologist)  # another client of the same psychologist
    quiet = people(scheduling, psychologist=ada.psychologist)  # a client who turned email off
    psy_email = f"psy-{uuid.uuid4().hex[:8]}@practice.example"
    with channel(n.targets[name], token_for(keys, ada.psychologist, "psychologist")) as ch:
        api = ns_grpc.NotificationServiceStub(ch)
        api.UpdatePsychologistNotificationPreferences(
            ns.UpdatePsychologistNotificationPreferencesRequest(
                preferences=nr.PsychologistNotificationPreferences(
                    name=f"{ada.psychologist}/notificationPreferences",
                    new_request_emails=True,
                    email=psy_email,
                )
            )
        )
        with pytest.raises(grpc.RpcError) as refused:  # someone else's preferences
            api.GetClientNotificationPreferences(
                ns.GetClientNotificationPreferencesRequest(name=f"{ada.client}/notificationPreferences")
            )
        assert refused.value.code() == grpc.StatusCode.PERMISSION_DENIED
    with channel(n.targets[name], token_for(keys, quiet.client, "client")) as ch:
        api = ns_grpc.NotificationServiceStub(ch)
        prefs = api.GetClientNotificationPreferences(
            ns.GetClientNotificationPreferencesRequest(name=f"{quiet.client}/notificationPreferences")
        )
        assert prefs.email_enabled and [d.seconds for d in prefs.available_reminder_offsets] == [86400, 7200]
        api.UpdateClientNotificationPreferences(
            ns.UpdateClientNotificationPreferencesRequest(
                preferences=nr.ClientNotificationPreferences(
                    name=f"{quiet.client}/notificationPreferences", email_enabled=False
                ),
                update_mask=field_mask_pb2.FieldMask(paths=["email_enabled"]),
            )
        )

    day = whole_minute(3 * 86400).replace(hour=15, minute=0)  # 15:00 UTC = 11:00 or 10:00 in Toronto
    secret = f"SECRET-EXPLANATION-{uuid.uuid4().hex[:6]}"
    # A request: received (client), new request (psychologist); approved; moved; cancelled.
    req = book(scheduling, ada, day, request=True)
    wait_for_subjects(sink, ada.email, ["Appointment request received"])
    wait_for_subjects(sink, psy_email, ["New appointment request"])
    approved = scheduling.ApproveAppointment(ss.ApproveAppointmentRequest(name=req.name))
    wait_for_subjects(sink, ada.email, ["Appointment request received", "Appointment confirmed"])
    moved = scheduling.RescheduleAppointment(
        ss.RescheduleAppointmentRequest(
            name=approved.name,
            start_time=ts(day + dt.timedelta(days=1)),
            rescheduled_by=sr.Cancellation.ACTOR_STAFF,
        )
    )
    wait_for_subjects(
        sink, ada.email, ["Appointment request received", "Appointment confirmed", "Appointment moved"]
    )
    cancel(scheduling, moved.name, explanation=secret)
    # A second request, declined with an explanation; a direct booking; the other clients.
    second = book(scheduling, ada, day + dt.timedelta(days=2), request=True)
    # Received before it is declined: read in one round, the decline's mail would supersede it.
    wait_for_subjects(sink, psy_email, ["New appointment request", "New appointment request"])
    wait_for_subjects(
        sink,
        ada.email,
        [
            "Appointment request received",
            "Appointment confirmed",
            "Appointment moved",
            "Appointment cancelled",
            "Appointment request received",
        ],
    )
    scheduling.DeclineAppointment(ss.DeclineAppointmentRequest(name=second.name, explanation=secret))
    book(scheduling, ada, day + dt.timedelta(days=3))
    book(scheduling, other, day + dt.timedelta(days=4))
    book(scheduling, quiet, day + dt.timedelta(days=5))
    mails = wait_for_subjects(
        sink,
        ada.email,
        [
            "Appointment request received",
            "Appointment confirmed",
            "Appointment moved",
            "Appointment cancelled",
            "Appointment request received",
            "Appointment request declined",
            "Appointment booked",
        ],
    )
    wait_for_subjects(sink, other.email, ["Appointment booked"])
    wait_for_subjects(sink, psy_email, ["New appointment request", "New appointment request"])
    settle(3)
    assert sink.to(quiet.email) == []  # email off

    by_subject = {str(r.message["Subject"]): r for r in mails}
    # Every message: text, HTML and a calendar part; times in the psychologist's zone.
    for r in mails:
        assert {"text/plain", "text/html", "text/calendar"} <= parts(r).keys()
        assert r.message["Message-ID"]
    confirmed = parts(by_subject["Appointment confirmed"])["text/plain"]
    local = day.astimezone(ZoneInfo("America/Toronto"))
    assert f"{local:%H:%M}" in confirmed and "(America/Toronto)" in confirmed
    assert "Psychotherapy" in confirmed and "Dr. Rowan" in confirmed
    aid = approved.name.split("/")[-1]
    assert f"https://app.example.org/appointments/{ada.psychologist.split('/')[1]}/{aid}/cancel" in confirmed
    # One calendar event through request, approval, move and cancellation.
    flow = [
        calendar(by_subject[s])
        for s in ("Appointment confirmed", "Appointment moved", "Appointment cancelled")
    ]
    received = [calendar(r) for r in mails if str(r.message["Subject"]) == "Appointment request received"]
    first = min(received, key=lambda c: c[3])
    assert len({c[1] for c in [first, *flow]}) == 1, "the UID stays the same"
    assert [c[2] for c in [first, *flow]] == sorted(c[2] for c in [first, *flow]) == [0, 1, 2, 3]
    assert [c[0] for c in flow] == ["REQUEST", "REQUEST", "CANCEL"]
    assert flow[1][3] == day + dt.timedelta(days=1)  # the move's new time
    assert calendar(by_subject["Appointment request declined"])[0] == "CANCEL"

    # Minimum necessary: no explanation, no other client, no client in the psychologist's mail.
    everything = all_text(sink)
    assert secret not in everything
    for r in sink.to(ada.email):
        assert other.name not in r.raw.decode() and quiet.name not in r.raw.decode()
    for r in sink.to(psy_email):
        assert ada.name not in r.raw.decode() and ada.email not in r.raw.decode()
    # ... and no names or addresses in the service's logs.
    logs = n.log(name)
    for value in (ada.name, ada.email, other.name, other.email, psy_email, secret):
        assert value not in logs


def test_reminders_at_the_configured_offsets(
    scheduling: ss_grpc.SchedulingServiceStub, sink: MailSink, notifier: Callable[..., Notifier]
) -> None:
    start = whole_minute(50)
    offsets = offsets_due_in(start, 22, 30)
    n = notifier(PHS_NOTIFY_REMINDER_OFFSETS=offsets)
    name = n.start()
    both, nearest = people(scheduling), people(scheduling)
    # One client wants only the later reminder (the smaller offset).
    smaller = min(int(o.rstrip("s")) for o in offsets.split(","))
    with channel(n.targets[name]) as ch:
        ns_grpc.NotificationServiceStub(ch).UpdateClientNotificationPreferences(
            ns.UpdateClientNotificationPreferencesRequest(
                preferences=nr.ClientNotificationPreferences(
                    name=f"{nearest.client}/notificationPreferences",
                    reminder_offsets=[duration_pb2.Duration(seconds=smaller)],
                ),
                update_mask=field_mask_pb2.FieldMask(paths=["reminder_offsets"]),
            )
        )
    a = book(scheduling, both, start)
    book(scheduling, nearest, start + dt.timedelta(minutes=5))  # its reminders are further off
    wait_for_subjects(sink, both.email, ["Appointment booked"])
    mails = wait_for_subjects(
        sink,
        both.email,
        ["Appointment booked", "Reminder: your appointment", "Reminder: your appointment"],
        60,
    )
    reminders = [r for r in mails if str(r.message["Subject"]).startswith("Reminder")]
    due = sorted(d.send.due for d in n.deliveries(a.name) if d.send.kind.value == "REMINDER")
    assert len(due) == 2
    for r, when in zip(sorted(reminders, key=lambda r: r.at), due, strict=True):
        assert when.timestamp() - 0.5 <= r.at < start.timestamp()  # not before its time, before the start
        method, _, _, begins = calendar(r)
        assert method == "REQUEST" and begins == start
    assert {d.state for d in n.deliveries(a.name)} == {"SENT"}
    wait_for_subjects(sink, nearest.email, ["Appointment booked"])
    settle(2)
    assert subjects(sink, both.email).count("Reminder: your appointment") == 2


def test_a_cancellation_between_planning_and_sending_sends_no_reminder(
    scheduling: ss_grpc.SchedulingServiceStub, sink: MailSink, notifier: Callable[..., Notifier]
) -> None:
    start = whole_minute(45)
    n = notifier(PHS_NOTIFY_REMINDER_OFFSETS=offsets_due_in(start, 25))
    n.start()
    who = people(scheduling)
    a = book(scheduling, who, start)
    moved_away = book(scheduling, who, start + dt.timedelta(hours=2))
    eventually(lambda: len(n.deliveries(a.name)) == 2 or None, 30, what="the reminder planned")
    # Both bookings' mails out first: read in one round with the cancellation and the move,
    # each would be superseded by design (the later message about the same event goes alone).
    wait_for_subjects(sink, who.email, ["Appointment booked", "Appointment booked"])
    cancel(scheduling, a.name)
    # A move: the old time's reminder is void; the new time is far enough off to plan none yet.
    scheduling.RescheduleAppointment(
        ss.RescheduleAppointmentRequest(
            name=moved_away.name,
            start_time=ts(start + dt.timedelta(days=2)),
            rescheduled_by=sr.Cancellation.ACTOR_STAFF,
        )
    )
    wait_for_subjects(
        sink,
        who.email,
        ["Appointment booked", "Appointment booked", "Appointment cancelled", "Appointment moved"],
    )
    reminder = next(d for d in n.deliveries(a.name) if d.send.kind.value == "REMINDER")
    eventually(lambda: time.time() > reminder.send.due.timestamp() + 3 or None, 60, what="past the due time")
    assert "Reminder: your appointment" not in subjects(sink, who.email)
    states = {(d.send.kind.value, d.state) for d in n.deliveries(a.name)}
    assert ("REMINDER", "SKIPPED") in states


def test_a_redelivered_event_and_a_kill_mid_send_give_one_message(
    stack: Stack, scheduling: ss_grpc.SchedulingServiceStub, sink: MailSink, notifier: Callable[..., Notifier]
) -> None:
    """Redelivery (the same record published again, and a new consumer group reading the
    whole topic again) plans nothing twice. A process killed while the SMTP server holds
    its message (received, reply not yet sent: the worst moment) resends it once after
    its lease, with the same Message-ID, which is what mail clients use to show one
    message; it is never sent a third time."""
    # The kill comes within the SMTP timeout (the sender still waits for the reply).
    n = notifier(
        PHS_NOTIFY_LEASE_SECONDS="18", PHS_SMTP_TIMEOUT_SECONDS="4", PHS_NOTIFY_RPC_TIMEOUT_SECONDS="1"
    )
    first = n.start()
    who = people(scheduling)
    a = book(scheduling, who, whole_minute(3 * 86400))
    wait_for_subjects(sink, who.email, ["Appointment booked"])
    # The same event again, as the outbox relay or a rebalance may deliver it.
    records = eventually(
        lambda: (
            [r for r in read_topic(stack.kafka_bootstrap, TOPIC) or [] if r.key == a.name.encode()] or None
        ),
        20,
        what="the event on the topic",
    )
    producer = KafkaProducer(bootstrap_servers=[stack.kafka_bootstrap])
    for r in records:
        producer.send(TOPIC, key=r.key, value=r.value, headers=list(r.headers or []))
    producer.flush()
    producer.close()
    # And every event once more, through a new consumer group over the same database.
    n.stop(first)
    n.group = f"notify-{uuid.uuid4().hex[:8]}"
    n.env["PHS_NOTIFY_GROUP"] = n.group
    second = n.start()
    settle(8)
    assert subjects(sink, who.email) == ["Appointment booked"]

    # kill -9 while the SMTP server has the message and holds back its reply.
    sink.handler.hold_for = who.email
    sink.handler.hold.set()
    b = book(scheduling, who, whole_minute(4 * 86400))
    eventually(lambda: sink.handler.holding.is_set() or None, 30, what="the sink to hold a message")
    n.stop(second, signal.SIGKILL)
    sink.handler.hold.clear()
    sink.handler.release.set()
    row = next(d for d in n.deliveries(b.name) if d.send.kind.value == "BOOKED")
    assert row.state == "SENDING" and row.unconfirmed == 1  # handed to SMTP, outcome unknown
    n.start()

    def copies() -> list[Received]:
        return [r for r in sink.to(who.email) if str(r.message["Message-ID"]) == row.message_id]

    eventually(lambda: len(copies()) == 2 or None, 40, what="the resend after the lease")

    def booked() -> Delivery:
        return next(d for d in n.deliveries(b.name) if d.send.kind.value == "BOOKED")

    eventually(lambda: booked().state == "SENT" or None, 10, what="recorded as sent")
    done = booked()
    assert done.unconfirmed == 2 and done.message_id == row.message_id
    settle(4)
    assert len(sink.to(who.email)) == 3  # the first booking's one, and this one's two copies
    assert len({str(r.message["Message-ID"]) for r in sink.to(who.email)}) == 2


@pytest.mark.parametrize("backend", ["sqlite", "postgres"])
def test_two_replicas_send_each_message_once(
    backend: str,
    request: pytest.FixtureRequest,
    scheduling: ss_grpc.SchedulingServiceStub,
    sink: MailSink,
    notifier: Callable[..., Notifier],
) -> None:
    db_url = None
    if backend == "postgres":
        db_url = request.getfixturevalue("pg_database")()
    start = whole_minute(55)
    n = notifier(db_url=db_url, PHS_NOTIFY_REMINDER_OFFSETS=offsets_due_in(start, 28, 34))
    n.start()
    n.start()
    clients = [people(scheduling) for _ in range(3)]  # each with a psychologist of their own
    for who in clients:
        book(scheduling, who, start)
    wanted = ["Appointment booked", "Reminder: your appointment", "Reminder: your appointment"]
    for who in clients:
        wait_for_subjects(sink, who.email, wanted, 60)
    settle(4)
    for who in clients:
        assert sorted(subjects(sink, who.email)) == wanted


def test_down_over_the_due_time_sends_on_return_only_before_the_appointment(
    scheduling: ss_grpc.SchedulingServiceStub, sink: MailSink, notifier: Callable[..., Notifier]
) -> None:
    """A's reminder falls due while the service is down and it returns after A has
    started: nothing. B's falls due while it is down and it returns before B: sent late."""
    first = whole_minute(90)
    offset = offsets_due_in(first, 25)  # A's reminder in 25 s; B's (a minute later) in 85 s
    n = notifier(PHS_NOTIFY_REMINDER_OFFSETS=offset)
    name = n.start()
    who_a, who_b = people(scheduling), people(scheduling)
    a = book(scheduling, who_a, first)
    b = book(scheduling, who_b, first + dt.timedelta(minutes=1))
    wait_for_subjects(sink, who_a.email, ["Appointment booked"])
    wait_for_subjects(sink, who_b.email, ["Appointment booked"])
    n.stop(name)
    due_b = next(d.send.due for d in n.deliveries(b.name) if d.send.kind.value == "REMINDER")
    due_a = next(d.send.due for d in n.deliveries(a.name) if d.send.kind.value == "REMINDER")
    assert time.time() < due_a.timestamp() and due_b < first + dt.timedelta(seconds=2)
    eventually(lambda: time.time() > first.timestamp() + 2 or None, 160, interval=0.5, what="A has started")
    n.start()
    mails = wait_for_subjects(sink, who_b.email, ["Appointment booked", "Reminder: your appointment"], 30)
    late = next(r for r in mails if str(r.message["Subject"]).startswith("Reminder"))
    assert due_b.timestamp() < late.at < (first + dt.timedelta(minutes=1)).timestamp()
    settle(3)
    assert subjects(sink, who_a.email) == ["Appointment booked"]
    reminder_a = next(d for d in n.deliveries(a.name) if d.send.kind.value == "REMINDER")
    assert (reminder_a.state, reminder_a.outcome) == ("SKIPPED", "TOO_LATE")


# -- one calendar event through moves and a cancellation: SEQUENCE order ------------------------
#
# Events are keyed by the appointment they change (a move's by the old one), so the events of
# one calendar event (A booked, A moved to B, B to C, ..., the last cancelled) are spread
# over partitions: Kafka orders each partition, not the chain. A consumer reading several
# partitions (after an outage, a rebalance, a new group) or two replicas of one group, and the
# outbox relay re-sending what a broker lost, can all hand the service an older change after
# a newer one.


def move(s: ss_grpc.SchedulingServiceStub, name: str, start: dt.datetime) -> sr.Appointment:
    return s.RescheduleAppointment(
        ss.RescheduleAppointmentRequest(
            name=name, start_time=ts(start), rescheduled_by=sr.Cancellation.ACTOR_STAFF
        )
    )


def moved_and_cancelled(
    s: ss_grpc.SchedulingServiceStub, who: People, day: dt.datetime, moves: int, wait: Callable[[int], None]
) -> list[dt.datetime]:
    """Book `day`, move it a day later `moves` times and cancel it, calling `wait(k)` after
    the k-th change; the starts it had, in order."""
    current = book(s, who, day)
    starts = [day]
    wait(1)
    for k in range(1, moves + 1):
        current = move(s, current.name, day + dt.timedelta(days=k))
        starts.append(day + dt.timedelta(days=k))
        wait(k + 1)
    cancel(s, current.name)
    wait(moves + 2)
    return starts


def chain_events(stack: Stack, client: str) -> list[tuple[ConsumerRecord, ev.AppointmentEvent]]:
    """This client's appointment events on the topic, in the order they happened."""
    out = []
    for r in read_topic(stack.kafka_bootstrap, TOPIC) or []:
        event = ev.AppointmentEvent.FromString(r.value)
        if event.appointment.client == client:
            out.append((r, event))
    return sorted(out, key=lambda x: x[1].event_time.ToDatetime())


def test_moves_and_a_cancellation_raise_the_sequence_in_the_order_of_the_changes(
    stack: Stack, scheduling: ss_grpc.SchedulingServiceStub, sink: MailSink, notifier: Callable[..., Notifier]
) -> None:
    """One mail per change when each is read before the next is made: one UID, SEQUENCE
    0, 1, 2, ... and METHOD:CANCEL last. Then the older events once more on the topic (as
    the relay or a rebalance delivers them): no mail."""
    n = notifier()
    n.start()
    who = people(scheduling)
    subjects_after = ["Appointment booked", *["Appointment moved"] * 3, "Appointment cancelled"]

    def one_more(k: int) -> None:
        eventually(
            lambda: len(sink.to(who.email)) == k or None, 40, what=f"{subjects_after[:k]} to {who.email}"
        )

    starts = moved_and_cancelled(scheduling, who, whole_minute(3 * 86400), 3, one_more)
    mails = sink.to(who.email)
    assert [str(r.message["Subject"]) for r in mails] == subjects_after
    flow = [calendar(r) for r in mails]
    assert len({uid for _, uid, _, _ in flow}) == 1
    assert [seq for _, _, seq, _ in flow] == [0, 1, 2, 3, 4]
    assert [method for method, _, _, _ in flow] == ["REQUEST"] * 4 + ["CANCEL"]
    assert [start for _, _, _, start in flow] == [*starts, starts[-1]]

    events = chain_events(stack, who.client)
    assert len(events) == 5
    producer = KafkaProducer(bootstrap_servers=[stack.kafka_bootstrap])
    for r, _ in events[:-1]:  # every change but the last, again
        producer.send(TOPIC, key=r.key, value=r.value, headers=list(r.headers or []))
    producer.flush()
    producer.close()
    settle(6)
    assert len(sink.to(who.email)) == 5


def test_changes_made_faster_than_they_are_read_never_lower_the_sequence(
    scheduling: ss_grpc.SchedulingServiceStub, sink: MailSink, notifier: Callable[..., Notifier]
) -> None:
    """The changes made at once, each on another key, before the service reads them (an
    outage, a new group): read back in whatever order the partitions give, the mails that
    go out keep one UID, their SEQUENCE only rises, they follow the changes' order, and
    the cancellation is last."""
    who = people(scheduling)
    starts = moved_and_cancelled(scheduling, who, whole_minute(3 * 86400), 4, lambda k: None)
    notifier().start()  # a group of its own: it reads every partition from its start
    eventually(
        lambda: any("cancelled" in s for s in subjects(sink, who.email)) or None, 40, what="the cancellation"
    )
    settle(4)
    flow = [calendar(r) for r in sink.to(who.email)]
    assert len({uid for _, uid, _, _ in flow}) == 1, flow
    sequences = [seq for _, _, seq, _ in flow]
    assert sequences == sorted(set(sequences)), flow  # strictly rising, in the order received
    assert flow[-1][0] == "CANCEL" and flow[-1][3] == starts[-1]
    assert all(method == "REQUEST" for method, _, _, _ in flow[:-1]), flow
    told = [start for _, _, _, start in flow[:-1]]
    assert told == sorted(told) and set(told) <= set(starts), flow  # never an older time after a newer


def test_an_older_change_read_after_a_newer_one_sends_nothing(
    stack: Stack, scheduling: ss_grpc.SchedulingServiceStub, sink: MailSink, notifier: Callable[..., Notifier]
) -> None:
    """The worst order, made certain: the real events of a booking moved three times and
    cancelled, copied onto a topic of one partition as: the booking, the cancellation,
    then the moves (newest first: a re-send after a broker lost them, or partitions read
    one after the other), then the booking again. The cancellation (its history looked up
    in scheduling: none of its earlier moves has been read) withdraws the booking's
    calendar event with the next SEQUENCE; the older moves then send nothing."""
    who = people(scheduling)
    moved_and_cancelled(scheduling, who, whole_minute(3 * 86400), 3, lambda k: None)
    events = eventually(
        lambda: (lambda got: got if len(got) == 5 else None)(chain_events(stack, who.client)),
        20,
        what="the five events on the topic",
    )
    booked, *moves, cancelled = [r for r, _ in events]
    topic = f"phs.test.reordered.{uuid.uuid4().hex[:8]}"
    admin = KafkaAdminClient(bootstrap_servers=[stack.kafka_bootstrap])
    admin.create_topics([NewTopic(name=topic, num_partitions=1, replication_factor=1)])
    admin.close()
    producer = KafkaProducer(bootstrap_servers=[stack.kafka_bootstrap])
    for r in [booked, cancelled, *reversed(moves), booked]:
        producer.send(topic, key=r.key, value=r.value, headers=list(r.headers or []), partition=0)
    producer.flush()
    producer.close()

    n = notifier(PHS_APPOINTMENT_EVENTS_TOPIC=topic, PHS_APPOINTMENT_EVENTS_PARTITIONS="1")
    n.start()
    wait_for_subjects(sink, who.email, ["Appointment booked", "Appointment cancelled"])
    settle(6)
    mails = sink.to(who.email)
    assert [str(r.message["Subject"]) for r in mails] == ["Appointment booked", "Appointment cancelled"]
    (m0, uid0, seq0, start0), (m1, uid1, seq1, _) = [calendar(r) for r in mails]
    assert (m0, m1) == ("REQUEST", "CANCEL")
    assert uid0 == uid1, "the cancellation withdraws the event the booking made"
    assert seq1 > seq0
    assert start0 == events[0][1].appointment.start_time.ToDatetime(tzinfo=dt.UTC)


def test_a_burst_shares_smtp_connections_and_a_refused_address_fails_alone(
    scheduling: ss_grpc.SchedulingServiceStub, sink: MailSink, notifier: Callable[..., Notifier]
) -> None:
    """Reminders due at one instant go out as one batch: its appointments looked up
    together, its messages over a few shared SMTP connections. A refused address fails
    its own message only; the others are sent once each and recorded as sent."""
    start = whole_minute(50)
    n = notifier(PHS_NOTIFY_REMINDER_OFFSETS=offsets_due_in(start, 25), PHS_SMTP_CONNECTIONS="2")
    n.start()
    clients = [people(scheduling) for _ in range(8)]
    refused, others = clients[0], clients[1:]
    sink.handler.refuse.add(refused.email)
    booked = {who.email: book(scheduling, who, start).name for who in clients}
    wanted = ["Appointment booked", "Reminder: your appointment"]
    for who in others:
        wait_for_subjects(sink, who.email, wanted, 60)
    settle(3)
    reminders = []
    for who in others:
        assert sorted(subjects(sink, who.email)) == wanted
        reminders += [r for r in sink.to(who.email) if str(r.message["Subject"]).startswith("Reminder")]
        rows = {d.send.kind.value: d for d in n.deliveries(booked[who.email])}
        assert rows["REMINDER"].state == "SENT" and rows["REMINDER"].unconfirmed == 1
    assert len({str(r.message["Message-ID"]) for r in reminders}) == len(others)
    assert len({r.peer for r in reminders}) < len(reminders)  # connections carried several messages
    assert sink.to(refused.email) == []
    rows = {d.send.kind.value: d for d in n.deliveries(booked[refused.email])}
    assert (rows["REMINDER"].state, rows["REMINDER"].outcome) == ("FAILED", "SMTP_RCPT_550")
