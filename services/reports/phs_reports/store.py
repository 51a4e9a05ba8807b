"""The reports database as a process holds it (API and worker share it): the engine
(migrated on open), its reader, the health ping, and the operations the API, the worker
and the sweeper run, each one unit of work (phs_reports.adapters) over the report jobs'
repository. An unknown job is refused with the domain's NotFound.

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
from sqlalchemy import Connection, Row

from phs_reports import adapters
from phs_reports.adapters import ReadOnlyUnitOfWork, ReportRepository, UnitOfWork
from phs_reports.domain.errors import NotFound
from phs_reports.domain.jobs import FAILED, QUEUED, SUCCEEDED
from phs_reports.tables import outbox
from phs_runtime import db
from phs_runtime.outbox import OutboxMessage, enqueue
from phs_runtime.resources import utcnow

MIGRATIONS = Path(__file__).parent / "migrations"
VERSION_TABLE = "alembic_version_reports"

M = TypeVar("M", bound=Message)


def _found(row: Row[Any] | None, job_id: str) -> Row[Any]:
    if row is None:
        raise NotFound("Report", f"reports/{job_id}")
    return row


class Store(db.BaseStore):
    MIGRATIONS = MIGRATIONS
    VERSION_TABLE = VERSION_TABLE

    def unit_of_work(self) -> UnitOfWork:
        return UnitOfWork(self.engine)

    def read(self) -> ReadOnlyUnitOfWork:
        return ReadOnlyUnitOfWork(self.reader)

    # -- API side --------------------------------------------------------------

    def run_once(
        self,
        method: str,
        request_id: str,
        request_hash: str,
        response_type: type[M],
        write: Callable[[UnitOfWork, dt.datetime], M],
    ) -> M:
        """`write` in a unit of work with its AIP-155 record (a retry gets the first answer)."""
        return adapters.run_once(self.engine, method, request_id, request_hash, response_type, write)

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
        """`run_once` for a write given as a function of the connection (scripts, tests)."""
        return self.run_once(
            method, request_id, request_hash, response_type, lambda uow, now: write(uow.connection, now)
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
        """A new job and its message, in the caller's transaction (scripts, tests)."""
        row = ReportRepository(conn).add(
            now, job_id, kind, params, origin_request_id, idempotency_key, requester
        )
        enqueue(conn, outbox, message, now)
        return row

    def get(self, job_id: str) -> Row[Any]:
        with self.read() as uow:
            return _found(uow.reports.find(job_id), job_id)

    def list(self, after: list[Any] | None, limit: int, requester: str = "") -> Sequence[Row[Any]]:
        """Newest first; only `requester`'s jobs when given."""
        with self.read() as uow:
            return uow.reports.list(after, limit, requester)

    def content(self, job_id: str) -> Any:
        with self.read() as uow:
            return _found(uow.reports.content(job_id), job_id)

    @staticmethod
    def cancel(conn: Connection, now: dt.datetime, job_id: str) -> Row[Any]:
        """CANCELLED if still QUEUED or RUNNING; the row as it is now either way."""
        return _found(ReportRepository(conn).cancel(job_id, now), job_id)

    # -- sweeper ---------------------------------------------------------------------

    def stuck(
        self, queued_before: dt.datetime, running_before: dt.datetime, limit: int
    ) -> Sequence[Row[Any]]:
        """Jobs nobody is visibly working on: QUEUED or RUNNING without a change for too long."""
        with self.read() as uow:
            return uow.reports.stuck(queued_before, running_before, limit)

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
        with self.unit_of_work() as uow:
            now = utcnow()
            if not uow.reports.change_if_untouched(row, now, values):
                return False
            uow.enqueue(message, now)
            return True

    def purge_expired(self, now: dt.datetime) -> int:
        """Delete results past their expire_time (the job row stays, as history)."""
        with self.unit_of_work() as uow:
            return uow.reports.purge_expired(now)

    # -- worker side ------------------------------------------------------------------

    def claim(self, job_id: str) -> Row[Any] | None:
        """Mark a job RUNNING and count the attempt; None when it is already final
        (a duplicate delivery) or unknown."""
        with self.unit_of_work() as uow:
            return uow.reports.claim(job_id, utcnow())

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
        with self.unit_of_work() as uow:
            return uow.reports.progress(job_id, utcnow(), appointments)

    def release(self, job_id: str) -> None:
        """Put a RUNNING job back to QUEUED (worker shutting down mid-job)."""
        with self.unit_of_work() as uow:
            uow.reports.release(job_id, utcnow())

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
        with self.unit_of_work() as uow:
            now = utcnow()
            values = {
                "state": state,
                "result": result,
                "error": error,
                "content": content,
                "expire_time": now + retention if retention else None,
            }
            if not uow.reports.finish(job_id, now, values):
                return False
            if dead_letter is not None:
                uow.enqueue(dead_letter, now)
            return True
