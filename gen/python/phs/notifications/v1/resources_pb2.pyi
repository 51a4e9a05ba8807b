import datetime

from google.api import field_behavior_pb2 as _field_behavior_pb2
from google.api import resource_pb2 as _resource_pb2
from google.protobuf import duration_pb2 as _duration_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from phs.api.v1 import field_limits_pb2 as _field_limits_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class ClientNotificationPreferences(_message.Message):
    __slots__ = ("name", "email_enabled", "reminder_offsets", "available_reminder_offsets", "time_zone", "update_time")
    NAME_FIELD_NUMBER: _ClassVar[int]
    EMAIL_ENABLED_FIELD_NUMBER: _ClassVar[int]
    REMINDER_OFFSETS_FIELD_NUMBER: _ClassVar[int]
    AVAILABLE_REMINDER_OFFSETS_FIELD_NUMBER: _ClassVar[int]
    TIME_ZONE_FIELD_NUMBER: _ClassVar[int]
    UPDATE_TIME_FIELD_NUMBER: _ClassVar[int]
    name: str
    email_enabled: bool
    reminder_offsets: _containers.RepeatedCompositeFieldContainer[_duration_pb2.Duration]
    available_reminder_offsets: _containers.RepeatedCompositeFieldContainer[_duration_pb2.Duration]
    time_zone: str
    update_time: _timestamp_pb2.Timestamp
    def __init__(self, name: _Optional[str] = ..., email_enabled: _Optional[bool] = ..., reminder_offsets: _Optional[_Iterable[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]]] = ..., available_reminder_offsets: _Optional[_Iterable[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]]] = ..., time_zone: _Optional[str] = ..., update_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class PsychologistNotificationPreferences(_message.Message):
    __slots__ = ("name", "new_request_emails", "email", "update_time")
    NAME_FIELD_NUMBER: _ClassVar[int]
    NEW_REQUEST_EMAILS_FIELD_NUMBER: _ClassVar[int]
    EMAIL_FIELD_NUMBER: _ClassVar[int]
    UPDATE_TIME_FIELD_NUMBER: _ClassVar[int]
    name: str
    new_request_emails: bool
    email: str
    update_time: _timestamp_pb2.Timestamp
    def __init__(self, name: _Optional[str] = ..., new_request_emails: _Optional[bool] = ..., email: _Optional[str] = ..., update_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...
