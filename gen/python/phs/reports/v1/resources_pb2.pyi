import datetime

from google.api import field_behavior_pb2 as _field_behavior_pb2
from google.api import resource_pb2 as _resource_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.rpc import status_pb2 as _status_pb2
from google.type import date_pb2 as _date_pb2
from google.type import interval_pb2 as _interval_pb2
from phs.api.v1 import field_limits_pb2 as _field_limits_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class CaseloadParams(_message.Message):
    __slots__ = ("psychologist", "interval")
    PSYCHOLOGIST_FIELD_NUMBER: _ClassVar[int]
    INTERVAL_FIELD_NUMBER: _ClassVar[int]
    psychologist: str
    interval: _interval_pb2.Interval
    def __init__(self, psychologist: _Optional[str] = ..., interval: _Optional[_Union[_interval_pb2.Interval, _Mapping]] = ...) -> None: ...

class PracticeSummaryParams(_message.Message):
    __slots__ = ("interval",)
    INTERVAL_FIELD_NUMBER: _ClassVar[int]
    interval: _interval_pb2.Interval
    def __init__(self, interval: _Optional[_Union[_interval_pb2.Interval, _Mapping]] = ...) -> None: ...

class AppointmentExportParams(_message.Message):
    __slots__ = ("psychologist", "interval")
    PSYCHOLOGIST_FIELD_NUMBER: _ClassVar[int]
    INTERVAL_FIELD_NUMBER: _ClassVar[int]
    psychologist: str
    interval: _interval_pb2.Interval
    def __init__(self, psychologist: _Optional[str] = ..., interval: _Optional[_Union[_interval_pb2.Interval, _Mapping]] = ...) -> None: ...

class SessionTypeFigures(_message.Message):
    __slots__ = ("session_type", "appointments", "completed", "scheduled_minutes")
    SESSION_TYPE_FIELD_NUMBER: _ClassVar[int]
    APPOINTMENTS_FIELD_NUMBER: _ClassVar[int]
    COMPLETED_FIELD_NUMBER: _ClassVar[int]
    SCHEDULED_MINUTES_FIELD_NUMBER: _ClassVar[int]
    session_type: str
    appointments: int
    completed: int
    scheduled_minutes: int
    def __init__(self, session_type: _Optional[str] = ..., appointments: _Optional[int] = ..., completed: _Optional[int] = ..., scheduled_minutes: _Optional[int] = ...) -> None: ...

class WeekFigures(_message.Message):
    __slots__ = ("week_start", "pending", "booked", "completed", "cancelled", "declined", "no_show", "scheduled_minutes")
    WEEK_START_FIELD_NUMBER: _ClassVar[int]
    PENDING_FIELD_NUMBER: _ClassVar[int]
    BOOKED_FIELD_NUMBER: _ClassVar[int]
    COMPLETED_FIELD_NUMBER: _ClassVar[int]
    CANCELLED_FIELD_NUMBER: _ClassVar[int]
    DECLINED_FIELD_NUMBER: _ClassVar[int]
    NO_SHOW_FIELD_NUMBER: _ClassVar[int]
    SCHEDULED_MINUTES_FIELD_NUMBER: _ClassVar[int]
    week_start: _date_pb2.Date
    pending: int
    booked: int
    completed: int
    cancelled: int
    declined: int
    no_show: int
    scheduled_minutes: int
    def __init__(self, week_start: _Optional[_Union[_date_pb2.Date, _Mapping]] = ..., pending: _Optional[int] = ..., booked: _Optional[int] = ..., completed: _Optional[int] = ..., cancelled: _Optional[int] = ..., declined: _Optional[int] = ..., no_show: _Optional[int] = ..., scheduled_minutes: _Optional[int] = ...) -> None: ...

class CaseloadSummary(_message.Message):
    __slots__ = ("psychologist", "appointments_total", "pending", "booked", "completed", "cancelled", "declined", "no_show", "scheduled_minutes", "distinct_clients", "late_cancelled", "no_show_rate", "late_cancel_rate", "by_session_type", "working_minutes", "utilization", "by_week")
    PSYCHOLOGIST_FIELD_NUMBER: _ClassVar[int]
    APPOINTMENTS_TOTAL_FIELD_NUMBER: _ClassVar[int]
    PENDING_FIELD_NUMBER: _ClassVar[int]
    BOOKED_FIELD_NUMBER: _ClassVar[int]
    COMPLETED_FIELD_NUMBER: _ClassVar[int]
    CANCELLED_FIELD_NUMBER: _ClassVar[int]
    DECLINED_FIELD_NUMBER: _ClassVar[int]
    NO_SHOW_FIELD_NUMBER: _ClassVar[int]
    SCHEDULED_MINUTES_FIELD_NUMBER: _ClassVar[int]
    DISTINCT_CLIENTS_FIELD_NUMBER: _ClassVar[int]
    LATE_CANCELLED_FIELD_NUMBER: _ClassVar[int]
    NO_SHOW_RATE_FIELD_NUMBER: _ClassVar[int]
    LATE_CANCEL_RATE_FIELD_NUMBER: _ClassVar[int]
    BY_SESSION_TYPE_FIELD_NUMBER: _ClassVar[int]
    WORKING_MINUTES_FIELD_NUMBER: _ClassVar[int]
    UTILIZATION_FIELD_NUMBER: _ClassVar[int]
    BY_WEEK_FIELD_NUMBER: _ClassVar[int]
    psychologist: str
    appointments_total: int
    pending: int
    booked: int
    completed: int
    cancelled: int
    declined: int
    no_show: int
    scheduled_minutes: int
    distinct_clients: int
    late_cancelled: int
    no_show_rate: float
    late_cancel_rate: float
    by_session_type: _containers.RepeatedCompositeFieldContainer[SessionTypeFigures]
    working_minutes: int
    utilization: float
    by_week: _containers.RepeatedCompositeFieldContainer[WeekFigures]
    def __init__(self, psychologist: _Optional[str] = ..., appointments_total: _Optional[int] = ..., pending: _Optional[int] = ..., booked: _Optional[int] = ..., completed: _Optional[int] = ..., cancelled: _Optional[int] = ..., declined: _Optional[int] = ..., no_show: _Optional[int] = ..., scheduled_minutes: _Optional[int] = ..., distinct_clients: _Optional[int] = ..., late_cancelled: _Optional[int] = ..., no_show_rate: _Optional[float] = ..., late_cancel_rate: _Optional[float] = ..., by_session_type: _Optional[_Iterable[_Union[SessionTypeFigures, _Mapping]]] = ..., working_minutes: _Optional[int] = ..., utilization: _Optional[float] = ..., by_week: _Optional[_Iterable[_Union[WeekFigures, _Mapping]]] = ...) -> None: ...

class PracticeSummary(_message.Message):
    __slots__ = ("psychologists", "total")
    PSYCHOLOGISTS_FIELD_NUMBER: _ClassVar[int]
    TOTAL_FIELD_NUMBER: _ClassVar[int]
    psychologists: _containers.RepeatedCompositeFieldContainer[CaseloadSummary]
    total: CaseloadSummary
    def __init__(self, psychologists: _Optional[_Iterable[_Union[CaseloadSummary, _Mapping]]] = ..., total: _Optional[_Union[CaseloadSummary, _Mapping]] = ...) -> None: ...

class ExportResult(_message.Message):
    __slots__ = ("rows", "bytes", "content_type", "filename")
    ROWS_FIELD_NUMBER: _ClassVar[int]
    BYTES_FIELD_NUMBER: _ClassVar[int]
    CONTENT_TYPE_FIELD_NUMBER: _ClassVar[int]
    FILENAME_FIELD_NUMBER: _ClassVar[int]
    rows: int
    bytes: int
    content_type: str
    filename: str
    def __init__(self, rows: _Optional[int] = ..., bytes: _Optional[int] = ..., content_type: _Optional[str] = ..., filename: _Optional[str] = ...) -> None: ...

class Report(_message.Message):
    __slots__ = ("name", "caseload_params", "practice_summary_params", "export_params", "state", "caseload", "practice_summary", "export", "error", "attempts", "create_time", "update_time", "complete_time", "expire_time", "progress_appointments", "requester")
    class State(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
        __slots__ = ()
        STATE_UNSPECIFIED: _ClassVar[Report.State]
        STATE_QUEUED: _ClassVar[Report.State]
        STATE_RUNNING: _ClassVar[Report.State]
        STATE_SUCCEEDED: _ClassVar[Report.State]
        STATE_FAILED: _ClassVar[Report.State]
        STATE_CANCELLED: _ClassVar[Report.State]
    STATE_UNSPECIFIED: Report.State
    STATE_QUEUED: Report.State
    STATE_RUNNING: Report.State
    STATE_SUCCEEDED: Report.State
    STATE_FAILED: Report.State
    STATE_CANCELLED: Report.State
    NAME_FIELD_NUMBER: _ClassVar[int]
    CASELOAD_PARAMS_FIELD_NUMBER: _ClassVar[int]
    PRACTICE_SUMMARY_PARAMS_FIELD_NUMBER: _ClassVar[int]
    EXPORT_PARAMS_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    CASELOAD_FIELD_NUMBER: _ClassVar[int]
    PRACTICE_SUMMARY_FIELD_NUMBER: _ClassVar[int]
    EXPORT_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    ATTEMPTS_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    UPDATE_TIME_FIELD_NUMBER: _ClassVar[int]
    COMPLETE_TIME_FIELD_NUMBER: _ClassVar[int]
    EXPIRE_TIME_FIELD_NUMBER: _ClassVar[int]
    PROGRESS_APPOINTMENTS_FIELD_NUMBER: _ClassVar[int]
    REQUESTER_FIELD_NUMBER: _ClassVar[int]
    name: str
    caseload_params: CaseloadParams
    practice_summary_params: PracticeSummaryParams
    export_params: AppointmentExportParams
    state: Report.State
    caseload: CaseloadSummary
    practice_summary: PracticeSummary
    export: ExportResult
    error: _status_pb2.Status
    attempts: int
    create_time: _timestamp_pb2.Timestamp
    update_time: _timestamp_pb2.Timestamp
    complete_time: _timestamp_pb2.Timestamp
    expire_time: _timestamp_pb2.Timestamp
    progress_appointments: int
    requester: str
    def __init__(self, name: _Optional[str] = ..., caseload_params: _Optional[_Union[CaseloadParams, _Mapping]] = ..., practice_summary_params: _Optional[_Union[PracticeSummaryParams, _Mapping]] = ..., export_params: _Optional[_Union[AppointmentExportParams, _Mapping]] = ..., state: _Optional[_Union[Report.State, str]] = ..., caseload: _Optional[_Union[CaseloadSummary, _Mapping]] = ..., practice_summary: _Optional[_Union[PracticeSummary, _Mapping]] = ..., export: _Optional[_Union[ExportResult, _Mapping]] = ..., error: _Optional[_Union[_status_pb2.Status, _Mapping]] = ..., attempts: _Optional[int] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., update_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., complete_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., expire_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., progress_appointments: _Optional[int] = ..., requester: _Optional[str] = ...) -> None: ...
