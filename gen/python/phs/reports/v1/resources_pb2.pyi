import datetime

from google.api import field_behavior_pb2 as _field_behavior_pb2
from google.api import resource_pb2 as _resource_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.rpc import status_pb2 as _status_pb2
from google.type import interval_pb2 as _interval_pb2
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class CaseloadParams(_message.Message):
    __slots__ = ("psychologist", "interval")
    PSYCHOLOGIST_FIELD_NUMBER: _ClassVar[int]
    INTERVAL_FIELD_NUMBER: _ClassVar[int]
    psychologist: str
    interval: _interval_pb2.Interval
    def __init__(self, psychologist: _Optional[str] = ..., interval: _Optional[_Union[_interval_pb2.Interval, _Mapping]] = ...) -> None: ...

class CaseloadSummary(_message.Message):
    __slots__ = ("psychologist", "appointments_total", "pending", "booked", "completed", "cancelled", "declined", "no_show", "scheduled_minutes", "distinct_clients", "late_cancelled")
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
    def __init__(self, psychologist: _Optional[str] = ..., appointments_total: _Optional[int] = ..., pending: _Optional[int] = ..., booked: _Optional[int] = ..., completed: _Optional[int] = ..., cancelled: _Optional[int] = ..., declined: _Optional[int] = ..., no_show: _Optional[int] = ..., scheduled_minutes: _Optional[int] = ..., distinct_clients: _Optional[int] = ..., late_cancelled: _Optional[int] = ...) -> None: ...

class Report(_message.Message):
    __slots__ = ("name", "caseload_params", "state", "caseload", "error", "attempts", "create_time", "update_time", "complete_time")
    class State(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
        __slots__ = ()
        STATE_UNSPECIFIED: _ClassVar[Report.State]
        STATE_QUEUED: _ClassVar[Report.State]
        STATE_RUNNING: _ClassVar[Report.State]
        STATE_SUCCEEDED: _ClassVar[Report.State]
        STATE_FAILED: _ClassVar[Report.State]
    STATE_UNSPECIFIED: Report.State
    STATE_QUEUED: Report.State
    STATE_RUNNING: Report.State
    STATE_SUCCEEDED: Report.State
    STATE_FAILED: Report.State
    NAME_FIELD_NUMBER: _ClassVar[int]
    CASELOAD_PARAMS_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    CASELOAD_FIELD_NUMBER: _ClassVar[int]
    ERROR_FIELD_NUMBER: _ClassVar[int]
    ATTEMPTS_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    UPDATE_TIME_FIELD_NUMBER: _ClassVar[int]
    COMPLETE_TIME_FIELD_NUMBER: _ClassVar[int]
    name: str
    caseload_params: CaseloadParams
    state: Report.State
    caseload: CaseloadSummary
    error: _status_pb2.Status
    attempts: int
    create_time: _timestamp_pb2.Timestamp
    update_time: _timestamp_pb2.Timestamp
    complete_time: _timestamp_pb2.Timestamp
    def __init__(self, name: _Optional[str] = ..., caseload_params: _Optional[_Union[CaseloadParams, _Mapping]] = ..., state: _Optional[_Union[Report.State, str]] = ..., caseload: _Optional[_Union[CaseloadSummary, _Mapping]] = ..., error: _Optional[_Union[_status_pb2.Status, _Mapping]] = ..., attempts: _Optional[int] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., update_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., complete_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...
