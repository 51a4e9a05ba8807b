"""The notifications schedule's claims on SQLite and PostgreSQL: a batch claim takes
only the rows nobody holds; renewing keeps only claims still held; a replica that
stops gives back what it did not get to; and a try that fails before its message
was handed to SMTP leaves an earlier send of unknown outcome counted."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterator

import pytest

from phs_notifications.adapters.store import Delivery, Store
from phs_notifications.adapters.tables import PENDING, SENDING
from phs_notifications.domain.model import Appointment, Kind, Method, Plan, PlannedSend, State

T0 = dt.datetime(2031, 3, 4, 9, 0, tzinfo=dt.UTC)
LEASE = dt.timedelta(seconds=60)


@pytest.fixture
def store(db_url: str) -> Iterator[Store]:
    s = Store.open(db_url)
    yield s
    s.close()


def plan(store: Store, n: int) -> list[str]:
    """n confirmations due at T0, one appointment each; their delivery ids."""
    sends = []
    for k in range(n):
        a = Appointment(
            name=f"psychologists/p{k}/appointments/{uuid.uuid4().hex}",
            client=f"clients/c{k}",
            session_type="sessionTypes/90834",
            start=T0 + dt.timedelta(days=2),
            end=T0 + dt.timedelta(days=2, minutes=50),
            state=State.BOOKED,
        )
        sends.append(PlannedSend(Kind.BOOKED, a.client, a, T0, dt.timedelta(0), "uid", 0, Method.REQUEST))
    store.record_event(uuid.uuid4().hex, None, [], lambda _: Plan(tuple(sends), (), {}), T0)
    return [one(store, s.appointment.name).id for s in sends]


def one(store: Store, appointment: str) -> Delivery:
    (d,) = store.deliveries_of(appointment)
    return d


def by_id(store: Store, delivery_id: str) -> Delivery:
    """The row, as the next poll after its due time reads it."""
    (d,) = [x for x in store.due(T0 + dt.timedelta(days=1), 100) if x.id == delivery_id]
    return d


def test_a_batch_claim_takes_only_free_rows_then_renews_and_releases(store: Store) -> None:
    ids = plan(store, 3)
    a = store.claim_all(ids[:2], "a", T0, LEASE)
    assert [x.id for x in a] == ids[:2] and {x.attempts for x in a} == {1}
    b = store.claim_all(list(reversed(ids)), "b", T0 + dt.timedelta(seconds=1), LEASE)
    assert [x.id for x in b] == [ids[2]]  # a's rows are a's while its lease runs
    # Renewing keeps what is still held, unexpired, by the one asking.
    later = T0 + dt.timedelta(seconds=50)
    assert store.renew(ids, "a", later, LEASE) == set(ids[:2])
    assert store.claim_all(ids[:2], "b", T0 + dt.timedelta(seconds=70), LEASE) == []  # renewed past 60 s
    # A stopping replica gives back what it did not get to: due at once, the attempt not counted.
    assert store.release([ids[1]], "a", later) == 1
    taken = store.claim_all([ids[1]], "b", later, LEASE)
    assert [(x.id, x.attempts) for x in taken] == [(ids[1], 1)]
    # An expired claim is no longer renewed.
    assert store.renew([ids[0]], "a", later + LEASE + dt.timedelta(seconds=1), LEASE) == set()


def test_a_failed_lookup_does_not_forget_an_earlier_send_of_unknown_outcome(store: Store) -> None:
    (delivery,) = plan(store, 1)
    (x,) = store.claim_all([delivery], "a", T0, LEASE)
    assert store.mark_sending(x.id, "a", T0, LEASE, "<m@practice.example>")  # handed over; "a" crashed
    after = T0 + LEASE + dt.timedelta(seconds=1)
    (x,) = store.claim_all([delivery], "b", after, LEASE)
    assert (x.state, x.unconfirmed) == (SENDING, 1)
    # b's lookups fail before it hands anything to SMTP: the row is put off as it was.
    assert store.retry_later(x.id, "b", after, "LOOKUP_UNAVAILABLE", after, not_sent=True, marked=False)
    x = by_id(store, delivery)
    assert (x.state, x.unconfirmed) == (SENDING, 1)
    # A try that did hand it over and was refused takes back only its own count.
    (x,) = store.claim_all([delivery], "b", after, LEASE)
    assert store.mark_sending(x.id, "b", after, LEASE, "<m@practice.example>")
    assert store.retry_later(x.id, "b", after, "SMTP_421", after, not_sent=True, marked=True)
    x = by_id(store, delivery)
    assert (x.state, x.unconfirmed) == (PENDING, 1)
