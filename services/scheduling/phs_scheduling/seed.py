"""`python -m phs_scheduling.seed`: fill a realistic demo practice.

Several psychologists in different time zones with working hours, a few dozen
clients (synthetic names), a year of history and the next months: weekly and
fortnightly series, one-off sessions, completed sessions, cancellations (some
late), no-shows and pending requests. Deterministic (a fixed random seed), and
written straight into the database, since the API rightly refuses to book the
past. Run it with the stack stopped or running (SQLite serializes writers).
"""

from __future__ import annotations

import argparse
import datetime as dt
import random
from zoneinfo import ZoneInfo

from sqlalchemy import Connection, func, select, update
from sqlalchemy.exc import IntegrityError

from phs.scheduling.v1 import resources_pb2 as r
from phs_runtime.config import env_str
from phs_runtime.resources import new_id, utcnow
from phs_scheduling.availability import series_starts
from phs_scheduling.store import Store
from phs_scheduling.tables import appointments, psychologists

PSYCHOLOGISTS = [
    ("Dr. Amelia Hart", "America/Toronto"),
    ("Dr. Louis Fontaine", "Europe/Paris"),
    ("Dr. Priya Raman", "America/Vancouver"),
    ("Dr. Kenji Mori", "Asia/Tokyo"),
]
FIRST = [
    "Alex",
    "Sam",
    "Jordan",
    "Taylor",
    "Morgan",
    "Casey",
    "Robin",
    "Jamie",
    "Avery",
    "Riley",
    "Quinn",
    "Charlie",
    "Drew",
    "Emerson",
    "Finley",
    "Harper",
    "Kai",
    "Logan",
    "Noor",
    "Sasha",
]
LAST = [
    "Martin",
    "Tremblay",
    "Nguyen",
    "Roy",
    "Singh",
    "Gagnon",
    "Smith",
    "Côté",
    "Chen",
    "Bouchard",
    "Wilson",
    "Lavoie",
    "Brown",
    "Pelletier",
    "Lee",
]
DAYS = range(1, 6)  # Monday to Friday
REASONS = ["CLIENT_REQUEST", "CLIENT_ILLNESS", "PSYCHOLOGIST_UNAVAILABLE"]


def _name(rng: random.Random) -> str:
    return f"{rng.choice(FIRST)} {rng.choice(LAST)}"


def _availability() -> r.Availability:
    a = r.Availability()
    for day in DAYS:
        a.weekly_hours.add(day_of_week=day, start_time={"hours": 9}, end_time={"hours": 12})
        a.weekly_hours.add(day_of_week=day, start_time={"hours": 13}, end_time={"hours": 18})
    a.booking_policy.minimum_notice.seconds = 24 * 3600
    a.booking_policy.booking_horizon.seconds = 90 * 86400
    a.booking_policy.slot_alignment.seconds = 15 * 60
    a.booking_policy.late_cancel_window.seconds = 24 * 3600
    return a


def _close(
    conn: Connection,
    appointment_id: str,
    state: str,
    now: dt.datetime,
    rng: random.Random,
    start: dt.datetime,
) -> None:
    values: dict[str, object] = {"state": state, "update_time": now}
    if state == "CANCELLED":
        late = rng.random() < 0.35
        values.update(
            cancel_reason=rng.choice(REASONS),
            cancelled_by=rng.choice(["CLIENT", "CLIENT", "PSYCHOLOGIST"]),
            cancel_late=late,
            cancel_time=start
            - (dt.timedelta(hours=rng.randint(2, 20)) if late else dt.timedelta(days=rng.randint(2, 10))),
        )
    conn.execute(update(appointments).where(appointments.c.id == appointment_id).values(**values))


def seed(store: Store, *, clients_per_psychologist: int = 14, seed_value: int = 20261126) -> dict[str, int]:
    rng = random.Random(seed_value)
    now = utcnow()
    counts = {"psychologists": 0, "clients": 0, "series": 0, "appointments": 0}
    for display_name, zone in PSYCHOLOGISTS:
        tz = ZoneInfo(zone)
        with store.unit_of_work() as uow:
            p = uow.psychologists.add(now, display_name, zone, True)
            uow.availability.put(now, p["id"], _availability().SerializeToString(deterministic=True))
            client_ids = [
                uow.clients.add(now, _name(rng), "", "", p["id"])["id"]
                for _ in range(clients_per_psychologist)
            ]
        counts["psychologists"] += 1
        counts["clients"] += len(client_ids)
        today = now.astimezone(tz).date()
        # Each client gets a weekly or fortnightly slot in the working week, started up to a
        # year ago and running into the coming months.
        free = [(d, h) for d in DAYS for h in (9, 10, 11, 13, 14, 15, 16, 17)]
        rng.shuffle(free)
        for cid in client_ids:
            day, hour = free.pop()
            weeks_ago = rng.randint(4, 52)
            first_day = today - dt.timedelta(weeks=weeks_ago, days=today.isoweekday() - day)
            first = dt.datetime(first_day.year, first_day.month, first_day.day, hour, tzinfo=tz)
            interval = rng.choice([1, 1, 1, 2])
            count = min(104, (weeks_ago + rng.randint(4, 16)) // interval)
            code = rng.choice(["90834", "90837"]) if hour not in (11, 17) else "90834"
            starts = series_starts(first.astimezone(dt.UTC), tz, interval, count, None)
            sid = new_id()
            try:
                with store.unit_of_work() as uow:
                    uow.series.add(
                        {
                            "id": sid,
                            "psychologist_id": p["id"],
                            "client_id": cid,
                            "session_type_code": code,
                            "first_start_time": starts[0],
                            "interval_weeks": interval,
                            "count": count,
                            "end_date": None,
                            "create_time": now,
                        }
                    )
                    for start in starts:
                        row = uow.appointments.add(now, p["id"], cid, code, start, "BOOKED", series_id=sid)
                        if start < now:
                            roll = rng.random()
                            state = "NO_SHOW" if roll < 0.06 else "CANCELLED" if roll < 0.16 else "COMPLETED"
                            _close(uow.connection, row["id"], state, now, rng, start)
                        elif rng.random() < 0.05:
                            _close(uow.connection, row["id"], "CANCELLED", now, rng, start)
                counts["series"] += 1
                counts["appointments"] += len(starts)
            except IntegrityError:  # overlaps an earlier series: skip
                continue  # a clash with an earlier series: this client has none
        # A few pending intake requests in the coming weeks.
        for k in range(3):
            when = today + dt.timedelta(days=7 + 2 * k)
            start = dt.datetime(when.year, when.month, when.day, 12, 0, tzinfo=tz).astimezone(dt.UTC)
            try:
                with store.unit_of_work() as uow:
                    client = uow.clients.add(now, _name(rng), "", "", None)
                    uow.appointments.add(now, p["id"], client["id"], "90791", start, "PENDING")
                counts["clients"] += 1
                counts["appointments"] += 1
            except IntegrityError:  # overlaps an earlier series: skip
                continue
    return counts


def seed_if_empty(database_url: str, clients_per_psychologist: int = 14) -> dict[str, int] | None:
    """Seed a database that has no psychologist yet (what `make up` does on its first
    start); None when it already holds a practice."""
    store = Store.open(database_url)
    try:
        with store.read() as uow:
            if uow.connection.execute(select(func.count()).select_from(psychologists)).scalar_one():
                return None
        return seed(store, clients_per_psychologist=clients_per_psychologist)
    finally:
        store.close()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--database-url", default=env_str("PHS_DATABASE_URL", "sqlite:///data/scheduling.db"))
    ap.add_argument("--if-empty", action="store_true", help="only when no psychologist exists yet")
    ns = ap.parse_args()
    if ns.if_empty:
        counts = seed_if_empty(ns.database_url)
        if counts is None:
            print("not seeded: the database already holds a practice")
            return
    else:
        store = Store.open(ns.database_url)
        try:
            counts = seed(store)
        finally:
            store.close()
    print("seeded: " + ", ".join(f"{v} {k}" for k, v in counts.items()))


if __name__ == "__main__":
    main()
