import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from phs.scheduling.v1 import resources_pb2 as _resources_pb2
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class AppointmentEvent(_message.Message):
    __slots__ = ("event_id", "type", "appointment", "replacement", "event_time")
    class Type(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
        __slots__ = ()
        TYPE_UNSPECIFIED: _ClassVar[AppointmentEvent.Type]
        TYPE_CREATED: _ClassVar[AppointmentEvent.Type]
        TYPE_APPROVED: _ClassVar[AppointmentEvent.Type]
        TYPE_DECLINED: _ClassVar[AppointmentEvent.Type]
        TYPE_CANCELLED: _ClassVar[AppointmentEvent.Type]
        TYPE_RESCHEDULED: _ClassVar[AppointmentEvent.Type]
        TYPE_COMPLETED: _ClassVar[AppointmentEvent.Type]
        TYPE_NO_SHOW: _ClassVar[AppointmentEvent.Type]
    TYPE_UNSPECIFIED: AppointmentEvent.Type
    TYPE_CREATED: AppointmentEvent.Type
    TYPE_APPROVED: AppointmentEvent.Type
    TYPE_DECLINED: AppointmentEvent.Type
    TYPE_CANCELLED: AppointmentEvent.Type
    TYPE_RESCHEDULED: AppointmentEvent.Type
    TYPE_COMPLETED: AppointmentEvent.Type
    TYPE_NO_SHOW: AppointmentEvent.Type
    EVENT_ID_FIELD_NUMBER: _ClassVar[int]
    TYPE_FIELD_NUMBER: _ClassVar[int]
    APPOINTMENT_FIELD_NUMBER: _ClassVar[int]
    REPLACEMENT_FIELD_NUMBER: _ClassVar[int]
    EVENT_TIME_FIELD_NUMBER: _ClassVar[int]
    event_id: str
    type: AppointmentEvent.Type
    appointment: _resources_pb2.Appointment
    replacement: _resources_pb2.Appointment
    event_time: _timestamp_pb2.Timestamp
    def __init__(self, event_id: _Optional[str] = ..., type: _Optional[_Union[AppointmentEvent.Type, str]] = ..., appointment: _Optional[_Union[_resources_pb2.Appointment, _Mapping]] = ..., replacement: _Optional[_Union[_resources_pb2.Appointment, _Mapping]] = ..., event_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...
