"""Notifications storage on SQLite and PostgreSQL: the events of a moved appointment,
planned in any order, keep one calendar entry for the whole chain of moves (every
appointment of it updated together), an older change read after a newer one stores no
message, and a confirmation overtaken by a later message about the same calendar event
is known as such when its turn to be sent comes."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Sequence

import pytest

from phs_notifications.adapters.store import Delivery, Store
from phs_notifications.adapters.tables import SENT
from phs_notifications.domain.model import Appointment, Change, Event, Kind, Plan, State
from phs_notifications.domain.rules import calendar_uid, chain, history_needed, plan

H = dt.timedelta(hours=1)
T0 = dt.datetime(2027, 3, 10, 9, 0, tzinfo=dt.UTC)
START = dt.datetime(2027, 3, 14, 15, 0, tzinfo=dt.UTC)
OFFSETS = (24 * H, 2 * H)
CHAIN = [f"psychologists/p1/appointments/a{k}" for k in range(1, 5)]


@pytest.fixture
def store(db_url: str) -> Iterator[Store]:
    s = Store.open(db_url)
    yield s
    s.close()


def moved_chain() -> list[Event]:
    """a1 booked, moved to a2, a3 and a4 (a minute apart), a4 cancelled."""
    at = [T0 + dt.timedelta(minutes=k) for k in range(5)]

    def appt(k: int, state: State) -> Appointment:
        start = START + k * 24 * H
        return Appointment(
            CHAIN[k], "clients/c1", "sessionTypes/90834", start, start + H, state, CHAIN[k - 1] if k else ""
        )

    out = [Event("e0", Change.CREATED, appt(0, State.BOOKED), None, at[0])]
    out += [
        Event(f"e{k}", Change.RESCHEDULED, appt(k - 1, State.CANCELLED), appt(k, State.BOOKED), at[k])
        for k in range(1, 4)
    ]
    return [*out, Event("e4", Change.CANCELLED, appt(3, State.CANCELLED), None, at[4])]


def record(store: Store, e: Event, history: Sequence[str] = ()) -> Plan | None:
    """What the consumer does with one event (the history as scheduling would give it)."""
    return store.record_event(
        e.event_id,
        "rid",
        [*chain(e), *history],
        lambda known: plan(e, OFFSETS, known, history),
        T0 + H,
    )


def test_a_cancellation_read_before_the_moves_and_the_moves_after_it(store: Store) -> None:
    booked, *moves, cancelled = moved_chain()
    record(store, booked)
    assert history_needed(cancelled, store.calendar_entries(chain(cancelled)))
    p = record(store, cancelled, history=[CHAIN[1], CHAIN[0]])
    assert p is not None and [(s.kind, s.sequence) for s in p.sends] == [(Kind.CANCELLED, 1)]
    entries = store.calendar_entries(CHAIN)
    assert set(entries) == set(CHAIN)  # the booking's row, and those the cancellation named
    assert {(e.uid, e.sequence, e.changed) for e in entries.values()} == {
        (calendar_uid(CHAIN[0]), 1, cancelled.time)
    }

    for e in reversed(moves):  # older than the cancellation: nothing to send
        p = record(store, e)
        assert p is not None and p.sends == ()
    assert record(store, moves[0]) is None  # a redelivery plans nothing at all
    assert {(e.sequence, e.changed) for e in store.calendar_entries(CHAIN).values()} == {(1, cancelled.time)}
    sent_kinds = {d.send.kind for name in CHAIN for d in store.deliveries_of(name)}
    assert sent_kinds == {Kind.BOOKED, Kind.REMINDER, Kind.CANCELLED}
    # The first move, read late, still voids the booking's reminders.
    reminders = [d for d in store.deliveries_of(CHAIN[0]) if d.send.kind is Kind.REMINDER]
    assert [(d.state, d.outcome) for d in reminders] == [("SKIPPED", "VOIDED")] * 2


def test_in_order_every_row_of_the_chain_follows_the_latest_message(store: Store) -> None:
    for e in moved_chain():
        record(store, e)
    entries = store.calendar_entries(CHAIN)
    assert {(e.uid, e.sequence) for e in entries.values()} == {(calendar_uid(CHAIN[0]), 4)}


def _confirmation(store: Store, name: str) -> Delivery:
    return next(d for d in store.deliveries_of(name) if d.send.kind is not Kind.REMINDER)


def test_a_confirmation_overtaken_by_a_later_one_to_the_same_recipient(store: Store) -> None:
    booked, first, second, *_ = moved_chain()
    for e in (booked, first, second):
        record(store, e)
    earliest, earlier, latest = (_confirmation(store, n) for n in CHAIN[:3])
    assert [d.send.sequence for d in (earliest, earlier, latest)] == [0, 1, 2]
    assert not any(store.later_message_sent(d) for d in (earliest, earlier, latest))

    now = T0 + 2 * H
    assert store.claim(latest.id, "me", now, H) is not None
    assert store.mark_sending(latest.id, "me", now, H, "<m@x>")  # on its way: already counts
    assert store.later_message_sent(earliest) and store.later_message_sent(earlier)
    assert store.finish(latest.id, "me", SENT, "", now)
    assert store.later_message_sent(earliest) and store.later_message_sent(earlier)
    assert not store.later_message_sent(latest)
