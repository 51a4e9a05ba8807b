import datetime

from google.api import field_behavior_pb2 as _field_behavior_pb2
from google.api import resource_pb2 as _resource_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from phs.api.v1 import field_limits_pb2 as _field_limits_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class AuditEvent(_message.Message):
    __slots__ = ("name", "record_time", "action", "outcome", "status_code", "agent", "source", "method", "entities", "request_id")
    class Action(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
        __slots__ = ()
        ACTION_UNSPECIFIED: _ClassVar[AuditEvent.Action]
        ACTION_CREATE: _ClassVar[AuditEvent.Action]
        ACTION_READ: _ClassVar[AuditEvent.Action]
        ACTION_UPDATE: _ClassVar[AuditEvent.Action]
        ACTION_DELETE: _ClassVar[AuditEvent.Action]
        ACTION_EXECUTE: _ClassVar[AuditEvent.Action]
    ACTION_UNSPECIFIED: AuditEvent.Action
    ACTION_CREATE: AuditEvent.Action
    ACTION_READ: AuditEvent.Action
    ACTION_UPDATE: AuditEvent.Action
    ACTION_DELETE: AuditEvent.Action
    ACTION_EXECUTE: AuditEvent.Action
    class Outcome(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
        __slots__ = ()
        OUTCOME_UNSPECIFIED: _ClassVar[AuditEvent.Outcome]
        OUTCOME_SUCCESS: _ClassVar[AuditEvent.Outcome]
        OUTCOME_MINOR_FAILURE: _ClassVar[AuditEvent.Outcome]
        OUTCOME_SERIOUS_FAILURE: _ClassVar[AuditEvent.Outcome]
        OUTCOME_MAJOR_FAILURE: _ClassVar[AuditEvent.Outcome]
    OUTCOME_UNSPECIFIED: AuditEvent.Outcome
    OUTCOME_SUCCESS: AuditEvent.Outcome
    OUTCOME_MINOR_FAILURE: AuditEvent.Outcome
    OUTCOME_SERIOUS_FAILURE: AuditEvent.Outcome
    OUTCOME_MAJOR_FAILURE: AuditEvent.Outcome
    class Agent(_message.Message):
        __slots__ = ("subject", "role")
        SUBJECT_FIELD_NUMBER: _ClassVar[int]
        ROLE_FIELD_NUMBER: _ClassVar[int]
        subject: str
        role: str
        def __init__(self, subject: _Optional[str] = ..., role: _Optional[str] = ...) -> None: ...
    NAME_FIELD_NUMBER: _ClassVar[int]
    RECORD_TIME_FIELD_NUMBER: _ClassVar[int]
    ACTION_FIELD_NUMBER: _ClassVar[int]
    OUTCOME_FIELD_NUMBER: _ClassVar[int]
    STATUS_CODE_FIELD_NUMBER: _ClassVar[int]
    AGENT_FIELD_NUMBER: _ClassVar[int]
    SOURCE_FIELD_NUMBER: _ClassVar[int]
    METHOD_FIELD_NUMBER: _ClassVar[int]
    ENTITIES_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    name: str
    record_time: _timestamp_pb2.Timestamp
    action: AuditEvent.Action
    outcome: AuditEvent.Outcome
    status_code: str
    agent: AuditEvent.Agent
    source: str
    method: str
    entities: _containers.RepeatedScalarFieldContainer[str]
    request_id: str
    def __init__(self, name: _Optional[str] = ..., record_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., action: _Optional[_Union[AuditEvent.Action, str]] = ..., outcome: _Optional[_Union[AuditEvent.Outcome, str]] = ..., status_code: _Optional[str] = ..., agent: _Optional[_Union[AuditEvent.Agent, _Mapping]] = ..., source: _Optional[str] = ..., method: _Optional[str] = ..., entities: _Optional[_Iterable[str]] = ..., request_id: _Optional[str] = ...) -> None: ...

class ListAuditEventsRequest(_message.Message):
    __slots__ = ("parent", "page_size", "page_token", "subject", "method", "entity", "outcome", "start_time", "end_time")
    PARENT_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    SUBJECT_FIELD_NUMBER: _ClassVar[int]
    METHOD_FIELD_NUMBER: _ClassVar[int]
    ENTITY_FIELD_NUMBER: _ClassVar[int]
    OUTCOME_FIELD_NUMBER: _ClassVar[int]
    START_TIME_FIELD_NUMBER: _ClassVar[int]
    END_TIME_FIELD_NUMBER: _ClassVar[int]
    parent: str
    page_size: int
    page_token: str
    subject: str
    method: str
    entity: str
    outcome: AuditEvent.Outcome
    start_time: _timestamp_pb2.Timestamp
    end_time: _timestamp_pb2.Timestamp
    def __init__(self, parent: _Optional[str] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ..., subject: _Optional[str] = ..., method: _Optional[str] = ..., entity: _Optional[str] = ..., outcome: _Optional[_Union[AuditEvent.Outcome, str]] = ..., start_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., end_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class ListAuditEventsResponse(_message.Message):
    __slots__ = ("audit_events", "next_page_token")
    AUDIT_EVENTS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    audit_events: _containers.RepeatedCompositeFieldContainer[AuditEvent]
    next_page_token: str
    def __init__(self, audit_events: _Optional[_Iterable[_Union[AuditEvent, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...
