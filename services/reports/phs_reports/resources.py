"""Row <-> resource mapping and parameter validation for reports."""

from __future__ import annotations

import datetime as dt
from typing import Any

from google.rpc import status_pb2

from phs.reports.v1 import resources_pb2 as r
from phs_runtime.errors import Violations
from phs_runtime.resources import from_timestamp, parse_name, to_timestamp

KIND_CASELOAD = "caseload"
MAX_RANGE = dt.timedelta(days=366)

STATE_PB = {
    "QUEUED": r.Report.State.STATE_QUEUED,
    "RUNNING": r.Report.State.STATE_RUNNING,
    "SUCCEEDED": r.Report.State.STATE_SUCCEEDED,
    "FAILED": r.Report.State.STATE_FAILED,
}


def validate_params(report: r.Report) -> tuple[str, bytes]:
    """(kind, serialized params) of a CreateReport request, or INVALID_ARGUMENT."""
    v = Violations()
    which = report.WhichOneof("params")
    if which is None:
        v.add("report.params", "one kind of report is required, e.g. caseload_params")
        v.raise_if_any()
    p = report.caseload_params
    if parse_name(p.psychologist, "psychologists") is None:
        v.add("report.caseload_params.psychologist", "is required, like psychologists/{id}")
    iv = p.interval
    if not p.HasField("interval") or not iv.HasField("start_time") or not iv.HasField("end_time"):
        v.add("report.caseload_params.interval", "needs start_time and end_time")
    else:
        start, end = from_timestamp(iv.start_time), from_timestamp(iv.end_time)
        if end <= start:
            v.add("report.caseload_params.interval.end_time", "must be after start_time")
        elif end - start > MAX_RANGE:
            v.add("report.caseload_params.interval", "must span at most 366 days")
    v.raise_if_any()
    return KIND_CASELOAD, p.SerializeToString(deterministic=True)


def report_pb(row: Any) -> r.Report:
    rep = r.Report(
        name=f"reports/{row.id}",
        state=STATE_PB[row.state],
        attempts=row.attempts,
        create_time=to_timestamp(row.create_time),
        update_time=to_timestamp(row.update_time),
    )
    if row.complete_time is not None:
        rep.complete_time.CopyFrom(to_timestamp(row.complete_time))
    if row.kind == KIND_CASELOAD:
        rep.caseload_params.ParseFromString(row.params)
        if row.result is not None:
            rep.caseload.ParseFromString(row.result)
    if row.error is not None:
        rep.error.CopyFrom(status_pb2.Status.FromString(row.error))
    return rep
