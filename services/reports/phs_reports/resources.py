"""Row <-> resource mapping and parameter validation for reports."""

from __future__ import annotations

import datetime as dt
from typing import Any

from google.protobuf.message import Message
from google.rpc import status_pb2

from phs.reports.v1 import resources_pb2 as r
from phs_reports.domain.jobs import KIND_CASELOAD, KIND_EXPORT, KIND_PRACTICE
from phs_runtime.errors import Violations
from phs_runtime.resources import from_timestamp, parse_name, to_timestamp

MAX_RANGE = dt.timedelta(days=366)
CSV = "text/csv; charset=utf-8"

# Each kind: the Report oneof field of its params and of its result, and the params type.
KINDS: dict[str, tuple[str, str, type[Message]]] = {
    KIND_CASELOAD: ("caseload_params", "caseload", r.CaseloadParams),
    KIND_PRACTICE: ("practice_summary_params", "practice_summary", r.PracticeSummaryParams),
    KIND_EXPORT: ("export_params", "export", r.AppointmentExportParams),
}
KIND_OF_PARAMS = {params: kind for kind, (params, _, _) in KINDS.items()}

STATE_PB = {
    "QUEUED": r.Report.State.STATE_QUEUED,
    "RUNNING": r.Report.State.STATE_RUNNING,
    "SUCCEEDED": r.Report.State.STATE_SUCCEEDED,
    "FAILED": r.Report.State.STATE_FAILED,
    "CANCELLED": r.Report.State.STATE_CANCELLED,
}


def _interval(v: Violations, field: str, msg: Any) -> None:
    iv = msg.interval
    if not msg.HasField("interval") or not iv.HasField("start_time") or not iv.HasField("end_time"):
        v.add(f"{field}.interval", "needs start_time and end_time")
        return
    start, end = from_timestamp(iv.start_time), from_timestamp(iv.end_time)
    if end <= start:
        v.add(f"{field}.interval.end_time", "must be after start_time")
    elif end - start > MAX_RANGE:
        v.add(f"{field}.interval", "must span at most 366 days")


def validate_params(report: r.Report) -> tuple[str, bytes]:
    """(kind, serialized params) of a CreateReport request, or INVALID_ARGUMENT."""
    v = Violations()
    which = report.WhichOneof("params")
    if which is None:
        v.add("report.params", "one kind of report is required: " + ", ".join(KIND_OF_PARAMS))
        v.raise_if_any()
    assert which is not None
    field = f"report.{which}"
    params = getattr(report, which)
    if which == "caseload_params" and parse_name(params.psychologist, "psychologists") is None:
        v.add(f"{field}.psychologist", "is required, like psychologists/{id}")
    if (
        which == "export_params"
        and parse_name(params.psychologist, "psychologists", allow_wildcard=True) is None
    ):
        v.add(f"{field}.psychologist", "is required, like psychologists/{id} or psychologists/-")
    _interval(v, field, params)
    v.raise_if_any()
    return KIND_OF_PARAMS[which], params.SerializeToString(deterministic=True)


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
    rep.progress_appointments = getattr(row, "progress", 0) or 0
    rep.requester = getattr(row, "requester", "") or ""
    if getattr(row, "expire_time", None) is not None:
        rep.expire_time.CopyFrom(to_timestamp(row.expire_time))
    params_field, result_field, _ = KINDS[row.kind]
    getattr(rep, params_field).ParseFromString(row.params)
    if row.result is not None:
        getattr(rep, result_field).ParseFromString(row.result)
    if row.error is not None:
        rep.error.CopyFrom(status_pb2.Status.FromString(row.error))
    return rep
