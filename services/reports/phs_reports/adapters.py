"""Report jobs behind a repository over one connection, and the units of work that give
it one: `UnitOfWork` (db.write_transaction: commits at the end of its block, rolls back
if it raises; outgoing messages go into the outbox through it, so a job's change and
its message commit together) and `ReadOnlyUnitOfWork` (the reader engine)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from typing import Any, TypeVar

from google.protobuf.message import Message
from sqlalchemy import Connection, Engine, Row, and_, insert, or_, select, update

from phs_reports.domain.jobs import CANCELLED, FINAL_STATES, QUEUED, RUNNING
from phs_reports.tables import idempotency_keys, outbox, reports
from phs_runtime import unit_of_work as runtime

M = TypeVar("M", bound=Message)


class ReportRepository:
    """Report jobs. Changes are conditional updates, so a job delivered or swept twice
    takes effect once: each says whether it changed anything."""

    __slots__ = ("connection",)

    def __init__(self, connection: Connection) -> None:
        self.connection = connection

    def add(
        self,
        now: dt.datetime,
        job_id: str,
        kind: str,
        params: bytes,
        origin_request_id: str | None,
        idempotency_key: str | None = None,
        requester: tuple[str, str] = ("", ""),
    ) -> dict[str, Any]:
        row = {
            "id": job_id,
            "kind": kind,
            "params": params,
            "state": QUEUED,
            "result": None,
            "error": None,
            "attempts": 0,
            "publications": 1,
            "origin_request_id": origin_request_id,
            "idempotency_key": idempotency_key or None,
            "create_time": now,
            "update_time": now,
            "complete_time": None,
            "requester": requester[0],
            "requester_role": requester[1],
        }
        self.connection.execute(insert(reports), row)
        return row

    def find(self, job_id: str) -> Row[Any] | None:
        return self.connection.execute(select(reports).where(reports.c.id == job_id)).first()

    def content(self, job_id: str) -> Any:
        """An export's file with what decides whether it may be downloaded."""
        c = reports.c
        return self.connection.execute(
            select(c.state, c.kind, c.content, c.create_time).where(c.id == job_id)
        ).first()

    def list(self, after: list[Any] | None, limit: int, requester: str = "") -> Sequence[Row[Any]]:
        """Newest first, one more than `limit`; only `requester`'s jobs when given."""
        q = select(reports).order_by(reports.c.create_time.desc(), reports.c.id.desc()).limit(limit + 1)
        if requester:
            q = q.where(reports.c.requester == requester)
        if after:
            t, i = dt.datetime.fromisoformat(after[0]), after[1]
            q = q.where(or_(reports.c.create_time < t, and_(reports.c.create_time == t, reports.c.id < i)))
        return self.connection.execute(q).all()

    def stuck(
        self, queued_before: dt.datetime, running_before: dt.datetime, limit: int
    ) -> Sequence[Row[Any]]:
        """Jobs nobody is visibly working on: QUEUED or RUNNING without a change for too long."""
        c = reports.c
        return self.connection.execute(
            select(reports)
            .where(
                or_(
                    and_(c.state == QUEUED, c.update_time < queued_before),
                    and_(c.state == RUNNING, c.update_time < running_before),
                )
            )
            .order_by(c.update_time)
            .limit(limit)
        ).all()

    def change_if_untouched(self, row: Row[Any], now: dt.datetime, values: dict[str, Any]) -> bool:
        """Apply `values` only if the job is unchanged since `row` was read and not final."""
        res = self.connection.execute(
            update(reports)
            .where(
                reports.c.id == row.id,
                reports.c.update_time == row.update_time,
                reports.c.state.not_in(FINAL_STATES),
            )
            .values(**values, update_time=now)
        )
        return bool(res.rowcount == 1)

    def claim(self, job_id: str, now: dt.datetime) -> Row[Any] | None:
        """RUNNING with the attempt counted; None when final or unknown."""
        res = self.connection.execute(
            update(reports)
            .where(reports.c.id == job_id, reports.c.state.not_in(FINAL_STATES))
            .values(state=RUNNING, attempts=reports.c.attempts + 1, progress=0, update_time=now)
        )
        return self.find(job_id) if res.rowcount == 1 else None

    def finish(self, job_id: str, now: dt.datetime, values: dict[str, Any]) -> bool:
        """Final with `values`, unless it already is."""
        res = self.connection.execute(
            update(reports)
            .where(reports.c.id == job_id, reports.c.state.not_in(FINAL_STATES))
            .values(**values, update_time=now, complete_time=now)
        )
        return bool(res.rowcount == 1)

    def progress(self, job_id: str, now: dt.datetime, appointments: int) -> bool:
        res = self.connection.execute(
            update(reports)
            .where(reports.c.id == job_id, reports.c.state == RUNNING)
            .values(progress=appointments, update_time=now)
        )
        return bool(res.rowcount == 1)

    def release(self, job_id: str, now: dt.datetime) -> None:
        self.connection.execute(
            update(reports)
            .where(reports.c.id == job_id, reports.c.state == RUNNING)
            .values(state=QUEUED, update_time=now)
        )

    def cancel(self, job_id: str, now: dt.datetime) -> Row[Any] | None:
        """CANCELLED if still QUEUED or RUNNING; the row as it is now either way (None: unknown)."""
        self.connection.execute(
            update(reports)
            .where(reports.c.id == job_id, reports.c.state.in_((QUEUED, RUNNING)))
            .values(state=CANCELLED, update_time=now, complete_time=now)
        )
        return self.find(job_id)

    def purge_expired(self, now: dt.datetime) -> int:
        """Drop results past their expire_time (the job row stays, as history)."""
        res = self.connection.execute(
            update(reports)
            .where(reports.c.expire_time < now, reports.c.result.is_not(None))
            .values(result=None, content=None, update_time=now)
        )
        return int(res.rowcount)


class _Repositories:
    connection: Connection
    reports: ReportRepository

    def _bind(self, conn: Connection) -> None:
        self.connection = conn
        self.reports = ReportRepository(conn)


class UnitOfWork(_Repositories, runtime.UnitOfWork):
    """One write transaction: `with UnitOfWork(engine) as uow: uow.reports.claim(...)`."""

    OUTBOX = outbox


class ReadOnlyUnitOfWork(_Repositories, runtime.ReadOnlyUnitOfWork):
    """Reads in one read-only transaction (no write lock on SQLite)."""


def run_once(
    engine: Engine,
    method: str,
    request_id: str,
    request_hash: str,
    response_type: type[M],
    write: Callable[[UnitOfWork, dt.datetime], M],
) -> M:
    """`write` in a unit of work with its AIP-155 record and its audit entry
    (phs_runtime.unit_of_work.run_once)."""
    return runtime.run_once(
        UnitOfWork(engine), idempotency_keys, method, request_id, request_hash, response_type, write
    )
