"""Data access for the reports service (API and worker share it).

A job and its outgoing Kafka message are written in one transaction
(transactional outbox). Workers claim, finish and fail jobs with conditional
updates, so a job delivered twice takes effect once."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TypeVar

from google.protobuf.message import Message
from google.rpc import status_pb2
from sqlalchemy import Connection, Row, and_, insert, or_, select, update

from phs_reports.tables import (
    CANCELLED,
    FAILED,
    FINAL_STATES,
    QUEUED,
    RUNNING,
    SUCCEEDED,
    idempotency_keys,
    outbox,
    reports,
)
from phs_runtime import db, idempotency
from phs_runtime.errors import not_found
from phs_runtime.outbox import OutboxMessage, enqueue
from phs_runtime.resources import utcnow

MIGRATIONS = Path(__file__).parent / "migrations"
VERSION_TABLE = "alembic_version_reports"

M = TypeVar("M", bound=Message)


class Store(db.BaseStore):
    MIGRATIONS = MIGRATIONS
    VERSION_TABLE = VERSION_TABLE

    # -- API side --------------------------------------------------------------

    def create_job(
        self,
        request_id: str,
        request_hash: str,
        response_type: type[M],
        write: Callable[[Connection, dt.datetime], M],
    ) -> M:
        return self.once("CreateReport", request_id, request_hash, response_type, write)

    def once(
        self,
        method: str,
        request_id: str,
        request_hash: str,
        response_type: type[M],
        write: Callable[[Connection, dt.datetime], M],
    ) -> M:
        """`write` in one transaction with its AIP-155 record (a retry gets the first answer)."""
        return idempotency.run_once(
            self.engine, idempotency_keys, method, request_id, request_hash, response_type, write
        )

    @staticmethod
    def insert_job(
        conn: Connection,
        now: dt.datetime,
        job_id: str,
        kind: str,
        params: bytes,
        origin_request_id: str | None,
        message: OutboxMessage,
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
        conn.execute(insert(reports), row)
        enqueue(conn, outbox, message, now)
        return row

    def get(self, job_id: str) -> Row[Any]:
        with self.reader.connect() as conn:
            row = conn.execute(select(reports).where(reports.c.id == job_id)).first()
        if row is None:
            raise not_found("Report", f"reports/{job_id}")
        return row

    def list(self, after: list[Any] | None, limit: int, requester: str = "") -> Sequence[Row[Any]]:
        """Newest first; only `requester`'s jobs when given."""
        q = select(reports).order_by(reports.c.create_time.desc(), reports.c.id.desc()).limit(limit + 1)
        if requester:
            q = q.where(reports.c.requester == requester)
        if after:
            t, i = dt.datetime.fromisoformat(after[0]), after[1]
            q = q.where(or_(reports.c.create_time < t, and_(reports.c.create_time == t, reports.c.id < i)))
        with self.reader.connect() as conn:
            return conn.execute(q).all()

    # -- sweeper ---------------------------------------------------------------------

    def stuck(
        self, queued_before: dt.datetime, running_before: dt.datetime, limit: int
    ) -> Sequence[Row[Any]]:
        """Jobs nobody is visibly working on: QUEUED or RUNNING without a change for too long."""
        c = reports.c
        with self.reader.connect() as conn:
            return conn.execute(
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

    def republish(self, row: Row[Any], message: OutboxMessage) -> bool:
        """Queue the job again with a new message, unless someone touched it meanwhile."""
        return self._if_untouched(row, {"state": QUEUED, "publications": row.publications + 1}, message)

    def give_up(self, row: Row[Any], error: status_pb2.Status, dead_letter: OutboxMessage) -> bool:
        """FAILED after too many attempts, with the job's message on the dead-letter topic."""
        values = {"state": FAILED, "error": error.SerializeToString(), "complete_time": utcnow()}
        return self._if_untouched(row, values, dead_letter)

    def _if_untouched(self, row: Row[Any], values: dict[str, Any], message: OutboxMessage) -> bool:
        """Apply `values` and queue `message`, only if the job is unchanged since `row` was
        read and not final (so concurrent sweepers act once)."""
        with db.write_transaction(self.engine) as conn:
            now = utcnow()
            res = conn.execute(
                update(reports)
                .where(
                    reports.c.id == row.id,
                    reports.c.update_time == row.update_time,
                    reports.c.state.not_in(FINAL_STATES),
                )
                .values(**values, update_time=now)
            )
            if res.rowcount != 1:
                return False
            enqueue(conn, outbox, message, now)
            return True

    # -- worker side ------------------------------------------------------------------

    def claim(self, job_id: str) -> Row[Any] | None:
        """Mark a job RUNNING and count the attempt; None when it is already final
        (a duplicate delivery) or unknown."""
        with db.write_transaction(self.engine) as conn:
            now = utcnow()
            res = conn.execute(
                update(reports)
                .where(reports.c.id == job_id, reports.c.state.not_in(FINAL_STATES))
                .values(state=RUNNING, attempts=reports.c.attempts + 1, progress=0, update_time=now)
            )
            if res.rowcount != 1:
                return None
            row: Row[Any] | None = conn.execute(select(reports).where(reports.c.id == job_id)).first()
            return row

    def succeed(
        self, job_id: str, result: bytes, content: bytes | None = None, retention: dt.timedelta | None = None
    ) -> bool:
        """Store the result (and an export's file) atomically; False if another
        delivery already finished it, or it was cancelled."""
        return self._finish(
            job_id, SUCCEEDED, result=result, error=None, content=content, retention=retention
        )

    def fail(self, job_id: str, error: status_pb2.Status, dead_letter: OutboxMessage | None = None) -> bool:
        """FAILED with the reason; with `dead_letter`, its message is queued in the same transaction."""
        return self._finish(
            job_id, FAILED, result=None, error=error.SerializeToString(), dead_letter=dead_letter
        )

    def progress(self, job_id: str, appointments: int) -> bool:
        """Record progress (and that the job is alive, for the sweeper); False once the
        job is no longer RUNNING, e.g. cancelled."""
        with db.write_transaction(self.engine) as conn:
            res = conn.execute(
                update(reports)
                .where(reports.c.id == job_id, reports.c.state == RUNNING)
                .values(progress=appointments, update_time=utcnow())
            )
            return bool(res.rowcount == 1)

    def release(self, job_id: str) -> None:
        """Put a RUNNING job back to QUEUED (worker shutting down mid-job)."""
        with db.write_transaction(self.engine) as conn:
            conn.execute(
                update(reports)
                .where(reports.c.id == job_id, reports.c.state == RUNNING)
                .values(state=QUEUED, update_time=utcnow())
            )

    def _finish(
        self,
        job_id: str,
        state: str,
        result: bytes | None,
        error: bytes | None,
        content: bytes | None = None,
        retention: dt.timedelta | None = None,
        dead_letter: OutboxMessage | None = None,
    ) -> bool:
        with db.write_transaction(self.engine) as conn:
            now = utcnow()
            res = conn.execute(
                update(reports)
                .where(reports.c.id == job_id, reports.c.state.not_in(FINAL_STATES))
                .values(
                    state=state,
                    result=result,
                    error=error,
                    content=content,
                    update_time=now,
                    complete_time=now,
                    expire_time=now + retention if retention else None,
                )
            )
            if res.rowcount != 1:
                return False
            if dead_letter is not None:
                enqueue(conn, outbox, dead_letter, now)
            return True

    @staticmethod
    def cancel(conn: Connection, now: dt.datetime, job_id: str) -> Row[Any]:
        """CANCELLED if still QUEUED or RUNNING; the row as it is now either way."""
        conn.execute(
            update(reports)
            .where(reports.c.id == job_id, reports.c.state.in_((QUEUED, RUNNING)))
            .values(state=CANCELLED, update_time=now, complete_time=now)
        )
        row: Row[Any] | None = conn.execute(select(reports).where(reports.c.id == job_id)).first()
        if row is None:
            raise not_found("Report", f"reports/{job_id}")
        return row

    def content(self, job_id: str) -> Any:
        with self.reader.connect() as conn:
            row = conn.execute(
                select(reports.c.state, reports.c.kind, reports.c.content, reports.c.create_time).where(
                    reports.c.id == job_id
                )
            ).first()
        if row is None:
            raise not_found("Report", f"reports/{job_id}")
        return row

    def purge_expired(self, now: dt.datetime) -> int:
        """Delete results past their expire_time (the job row stays, as history)."""
        with db.write_transaction(self.engine) as conn:
            res = conn.execute(
                update(reports)
                .where(reports.c.expire_time < now, reports.c.result.is_not(None))
                .values(result=None, content=None, update_time=now)
            )
            return int(res.rowcount)
