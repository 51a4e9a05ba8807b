import datetime

from google.api import annotations_pb2 as _annotations_pb2
from google.api import field_behavior_pb2 as _field_behavior_pb2
from google.api import httpbody_pb2 as _httpbody_pb2
from google.api import resource_pb2 as _resource_pb2
from google.protobuf import field_mask_pb2 as _field_mask_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from phs.api.v1 import field_limits_pb2 as _field_limits_pb2
from phs.audit.v1 import audit_pb2 as _audit_pb2
from phs.scheduling.v1 import events_pb2 as _events_pb2
from phs.scheduling.v1 import resources_pb2 as _resources_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class CreatePsychologistRequest(_message.Message):
    __slots__ = ("psychologist", "request_id")
    PSYCHOLOGIST_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    psychologist: _resources_pb2.Psychologist
    request_id: str
    def __init__(self, psychologist: _Optional[_Union[_resources_pb2.Psychologist, _Mapping]] = ..., request_id: _Optional[str] = ...) -> None: ...

class GetPsychologistRequest(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class ListPsychologistsRequest(_message.Message):
    __slots__ = ("page_size", "page_token")
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    page_size: int
    page_token: str
    def __init__(self, page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListPsychologistsResponse(_message.Message):
    __slots__ = ("psychologists", "next_page_token")
    PSYCHOLOGISTS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    psychologists: _containers.RepeatedCompositeFieldContainer[_resources_pb2.Psychologist]
    next_page_token: str
    def __init__(self, psychologists: _Optional[_Iterable[_Union[_resources_pb2.Psychologist, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class CreateClientRequest(_message.Message):
    __slots__ = ("client", "request_id")
    CLIENT_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    client: _resources_pb2.Client
    request_id: str
    def __init__(self, client: _Optional[_Union[_resources_pb2.Client, _Mapping]] = ..., request_id: _Optional[str] = ...) -> None: ...

class GetClientRequest(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class ListClientsRequest(_message.Message):
    __slots__ = ("page_size", "page_token", "psychologist")
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    PSYCHOLOGIST_FIELD_NUMBER: _ClassVar[int]
    page_size: int
    page_token: str
    psychologist: str
    def __init__(self, page_size: _Optional[int] = ..., page_token: _Optional[str] = ..., psychologist: _Optional[str] = ...) -> None: ...

class ListClientsResponse(_message.Message):
    __slots__ = ("clients", "next_page_token")
    CLIENTS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    clients: _containers.RepeatedCompositeFieldContainer[_resources_pb2.Client]
    next_page_token: str
    def __init__(self, clients: _Optional[_Iterable[_Union[_resources_pb2.Client, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class ListSessionTypesRequest(_message.Message):
    __slots__ = ("page_size", "page_token")
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    page_size: int
    page_token: str
    def __init__(self, page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class ListSessionTypesResponse(_message.Message):
    __slots__ = ("session_types", "next_page_token")
    SESSION_TYPES_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    session_types: _containers.RepeatedCompositeFieldContainer[_resources_pb2.SessionType]
    next_page_token: str
    def __init__(self, session_types: _Optional[_Iterable[_Union[_resources_pb2.SessionType, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class CreateAppointmentRequest(_message.Message):
    __slots__ = ("parent", "appointment", "request_id", "request_approval")
    PARENT_FIELD_NUMBER: _ClassVar[int]
    APPOINTMENT_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    REQUEST_APPROVAL_FIELD_NUMBER: _ClassVar[int]
    parent: str
    appointment: _resources_pb2.Appointment
    request_id: str
    request_approval: bool
    def __init__(self, parent: _Optional[str] = ..., appointment: _Optional[_Union[_resources_pb2.Appointment, _Mapping]] = ..., request_id: _Optional[str] = ..., request_approval: _Optional[bool] = ...) -> None: ...

class GetAppointmentRequest(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class ListAppointmentsRequest(_message.Message):
    __slots__ = ("parent", "page_size", "page_token", "start_time", "end_time", "states", "client")
    PARENT_FIELD_NUMBER: _ClassVar[int]
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    START_TIME_FIELD_NUMBER: _ClassVar[int]
    END_TIME_FIELD_NUMBER: _ClassVar[int]
    STATES_FIELD_NUMBER: _ClassVar[int]
    CLIENT_FIELD_NUMBER: _ClassVar[int]
    parent: str
    page_size: int
    page_token: str
    start_time: _timestamp_pb2.Timestamp
    end_time: _timestamp_pb2.Timestamp
    states: _containers.RepeatedScalarFieldContainer[_resources_pb2.Appointment.State]
    client: str
    def __init__(self, parent: _Optional[str] = ..., page_size: _Optional[int] = ..., page_token: _Optional[str] = ..., start_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., end_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., states: _Optional[_Iterable[_Union[_resources_pb2.Appointment.State, str]]] = ..., client: _Optional[str] = ...) -> None: ...

class ListAppointmentsResponse(_message.Message):
    __slots__ = ("appointments", "next_page_token")
    APPOINTMENTS_FIELD_NUMBER: _ClassVar[int]
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    appointments: _containers.RepeatedCompositeFieldContainer[_resources_pb2.Appointment]
    next_page_token: str
    def __init__(self, appointments: _Optional[_Iterable[_Union[_resources_pb2.Appointment, _Mapping]]] = ..., next_page_token: _Optional[str] = ...) -> None: ...

class ApproveAppointmentRequest(_message.Message):
    __slots__ = ("name", "etag", "request_id")
    NAME_FIELD_NUMBER: _ClassVar[int]
    ETAG_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    name: str
    etag: str
    request_id: str
    def __init__(self, name: _Optional[str] = ..., etag: _Optional[str] = ..., request_id: _Optional[str] = ...) -> None: ...

class DeclineAppointmentRequest(_message.Message):
    __slots__ = ("name", "etag", "request_id", "explanation")
    NAME_FIELD_NUMBER: _ClassVar[int]
    ETAG_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    EXPLANATION_FIELD_NUMBER: _ClassVar[int]
    name: str
    etag: str
    request_id: str
    explanation: str
    def __init__(self, name: _Optional[str] = ..., etag: _Optional[str] = ..., request_id: _Optional[str] = ..., explanation: _Optional[str] = ...) -> None: ...

class CancelAppointmentRequest(_message.Message):
    __slots__ = ("name", "reason", "cancelled_by", "etag", "request_id", "explanation")
    NAME_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    CANCELLED_BY_FIELD_NUMBER: _ClassVar[int]
    ETAG_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    EXPLANATION_FIELD_NUMBER: _ClassVar[int]
    name: str
    reason: _resources_pb2.Cancellation.Reason
    cancelled_by: _resources_pb2.Cancellation.Actor
    etag: str
    request_id: str
    explanation: str
    def __init__(self, name: _Optional[str] = ..., reason: _Optional[_Union[_resources_pb2.Cancellation.Reason, str]] = ..., cancelled_by: _Optional[_Union[_resources_pb2.Cancellation.Actor, str]] = ..., etag: _Optional[str] = ..., request_id: _Optional[str] = ..., explanation: _Optional[str] = ...) -> None: ...

class RescheduleAppointmentRequest(_message.Message):
    __slots__ = ("name", "start_time", "rescheduled_by", "etag", "request_id")
    NAME_FIELD_NUMBER: _ClassVar[int]
    START_TIME_FIELD_NUMBER: _ClassVar[int]
    RESCHEDULED_BY_FIELD_NUMBER: _ClassVar[int]
    ETAG_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    name: str
    start_time: _timestamp_pb2.Timestamp
    rescheduled_by: _resources_pb2.Cancellation.Actor
    etag: str
    request_id: str
    def __init__(self, name: _Optional[str] = ..., start_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., rescheduled_by: _Optional[_Union[_resources_pb2.Cancellation.Actor, str]] = ..., etag: _Optional[str] = ..., request_id: _Optional[str] = ...) -> None: ...

class CompleteAppointmentRequest(_message.Message):
    __slots__ = ("name", "etag", "request_id")
    NAME_FIELD_NUMBER: _ClassVar[int]
    ETAG_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    name: str
    etag: str
    request_id: str
    def __init__(self, name: _Optional[str] = ..., etag: _Optional[str] = ..., request_id: _Optional[str] = ...) -> None: ...

class MarkAppointmentNoShowRequest(_message.Message):
    __slots__ = ("name", "etag", "request_id")
    NAME_FIELD_NUMBER: _ClassVar[int]
    ETAG_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    name: str
    etag: str
    request_id: str
    def __init__(self, name: _Optional[str] = ..., etag: _Optional[str] = ..., request_id: _Optional[str] = ...) -> None: ...

class FindSlotsRequest(_message.Message):
    __slots__ = ("psychologist", "session_type", "start_time", "end_time")
    PSYCHOLOGIST_FIELD_NUMBER: _ClassVar[int]
    SESSION_TYPE_FIELD_NUMBER: _ClassVar[int]
    START_TIME_FIELD_NUMBER: _ClassVar[int]
    END_TIME_FIELD_NUMBER: _ClassVar[int]
    psychologist: str
    session_type: str
    start_time: _timestamp_pb2.Timestamp
    end_time: _timestamp_pb2.Timestamp
    def __init__(self, psychologist: _Optional[str] = ..., session_type: _Optional[str] = ..., start_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., end_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class FindSlotsResponse(_message.Message):
    __slots__ = ("slots",)
    SLOTS_FIELD_NUMBER: _ClassVar[int]
    slots: _containers.RepeatedCompositeFieldContainer[_resources_pb2.Slot]
    def __init__(self, slots: _Optional[_Iterable[_Union[_resources_pb2.Slot, _Mapping]]] = ...) -> None: ...

class GetAvailabilityRequest(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class UpdateAvailabilityRequest(_message.Message):
    __slots__ = ("availability", "update_mask", "request_id")
    AVAILABILITY_FIELD_NUMBER: _ClassVar[int]
    UPDATE_MASK_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    availability: _resources_pb2.Availability
    update_mask: _field_mask_pb2.FieldMask
    request_id: str
    def __init__(self, availability: _Optional[_Union[_resources_pb2.Availability, _Mapping]] = ..., update_mask: _Optional[_Union[_field_mask_pb2.FieldMask, _Mapping]] = ..., request_id: _Optional[str] = ...) -> None: ...

class CreateSeriesRequest(_message.Message):
    __slots__ = ("parent", "series", "request_id")
    PARENT_FIELD_NUMBER: _ClassVar[int]
    SERIES_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    parent: str
    series: _resources_pb2.Series
    request_id: str
    def __init__(self, parent: _Optional[str] = ..., series: _Optional[_Union[_resources_pb2.Series, _Mapping]] = ..., request_id: _Optional[str] = ...) -> None: ...

class GetSeriesRequest(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class CancelSeriesRequest(_message.Message):
    __slots__ = ("name", "from_time", "reason", "cancelled_by", "request_id")
    NAME_FIELD_NUMBER: _ClassVar[int]
    FROM_TIME_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    CANCELLED_BY_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    name: str
    from_time: _timestamp_pb2.Timestamp
    reason: _resources_pb2.Cancellation.Reason
    cancelled_by: _resources_pb2.Cancellation.Actor
    request_id: str
    def __init__(self, name: _Optional[str] = ..., from_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., reason: _Optional[_Union[_resources_pb2.Cancellation.Reason, str]] = ..., cancelled_by: _Optional[_Union[_resources_pb2.Cancellation.Actor, str]] = ..., request_id: _Optional[str] = ...) -> None: ...

class RescheduleSeriesRequest(_message.Message):
    __slots__ = ("name", "from_time", "new_start_time", "rescheduled_by", "request_id")
    NAME_FIELD_NUMBER: _ClassVar[int]
    FROM_TIME_FIELD_NUMBER: _ClassVar[int]
    NEW_START_TIME_FIELD_NUMBER: _ClassVar[int]
    RESCHEDULED_BY_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    name: str
    from_time: _timestamp_pb2.Timestamp
    new_start_time: _timestamp_pb2.Timestamp
    rescheduled_by: _resources_pb2.Cancellation.Actor
    request_id: str
    def __init__(self, name: _Optional[str] = ..., from_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., new_start_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., rescheduled_by: _Optional[_Union[_resources_pb2.Cancellation.Actor, str]] = ..., request_id: _Optional[str] = ...) -> None: ...

class UpdatePsychologistRequest(_message.Message):
    __slots__ = ("psychologist", "update_mask", "request_id")
    PSYCHOLOGIST_FIELD_NUMBER: _ClassVar[int]
    UPDATE_MASK_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    psychologist: _resources_pb2.Psychologist
    update_mask: _field_mask_pb2.FieldMask
    request_id: str
    def __init__(self, psychologist: _Optional[_Union[_resources_pb2.Psychologist, _Mapping]] = ..., update_mask: _Optional[_Union[_field_mask_pb2.FieldMask, _Mapping]] = ..., request_id: _Optional[str] = ...) -> None: ...

class UpdateClientRequest(_message.Message):
    __slots__ = ("client", "update_mask", "request_id")
    CLIENT_FIELD_NUMBER: _ClassVar[int]
    UPDATE_MASK_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    client: _resources_pb2.Client
    update_mask: _field_mask_pb2.FieldMask
    request_id: str
    def __init__(self, client: _Optional[_Union[_resources_pb2.Client, _Mapping]] = ..., update_mask: _Optional[_Union[_field_mask_pb2.FieldMask, _Mapping]] = ..., request_id: _Optional[str] = ...) -> None: ...

class CreateSessionTypeRequest(_message.Message):
    __slots__ = ("session_type", "session_type_id", "request_id")
    SESSION_TYPE_FIELD_NUMBER: _ClassVar[int]
    SESSION_TYPE_ID_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    session_type: _resources_pb2.SessionType
    session_type_id: str
    request_id: str
    def __init__(self, session_type: _Optional[_Union[_resources_pb2.SessionType, _Mapping]] = ..., session_type_id: _Optional[str] = ..., request_id: _Optional[str] = ...) -> None: ...

class UpdateSessionTypeRequest(_message.Message):
    __slots__ = ("session_type", "update_mask", "request_id")
    SESSION_TYPE_FIELD_NUMBER: _ClassVar[int]
    UPDATE_MASK_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    session_type: _resources_pb2.SessionType
    update_mask: _field_mask_pb2.FieldMask
    request_id: str
    def __init__(self, session_type: _Optional[_Union[_resources_pb2.SessionType, _Mapping]] = ..., update_mask: _Optional[_Union[_field_mask_pb2.FieldMask, _Mapping]] = ..., request_id: _Optional[str] = ...) -> None: ...

class ExportAppointmentsRequest(_message.Message):
    __slots__ = ("parent", "start_time", "end_time")
    PARENT_FIELD_NUMBER: _ClassVar[int]
    START_TIME_FIELD_NUMBER: _ClassVar[int]
    END_TIME_FIELD_NUMBER: _ClassVar[int]
    parent: str
    start_time: _timestamp_pb2.Timestamp
    end_time: _timestamp_pb2.Timestamp
    def __init__(self, parent: _Optional[str] = ..., start_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., end_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class ExportAppointmentsResponse(_message.Message):
    __slots__ = ("appointments",)
    APPOINTMENTS_FIELD_NUMBER: _ClassVar[int]
    appointments: _containers.RepeatedCompositeFieldContainer[_resources_pb2.Appointment]
    def __init__(self, appointments: _Optional[_Iterable[_Union[_resources_pb2.Appointment, _Mapping]]] = ...) -> None: ...

class WatchAppointmentsRequest(_message.Message):
    __slots__ = ("parent",)
    PARENT_FIELD_NUMBER: _ClassVar[int]
    parent: str
    def __init__(self, parent: _Optional[str] = ...) -> None: ...

class WatchAppointmentsResponse(_message.Message):
    __slots__ = ("change", "heartbeat_time")
    CHANGE_FIELD_NUMBER: _ClassVar[int]
    HEARTBEAT_TIME_FIELD_NUMBER: _ClassVar[int]
    change: _events_pb2.AppointmentEvent
    heartbeat_time: _timestamp_pb2.Timestamp
    def __init__(self, change: _Optional[_Union[_events_pb2.AppointmentEvent, _Mapping]] = ..., heartbeat_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class ComputeWorkingTimeRequest(_message.Message):
    __slots__ = ("psychologist", "start_time", "end_time")
    PSYCHOLOGIST_FIELD_NUMBER: _ClassVar[int]
    START_TIME_FIELD_NUMBER: _ClassVar[int]
    END_TIME_FIELD_NUMBER: _ClassVar[int]
    psychologist: str
    start_time: _timestamp_pb2.Timestamp
    end_time: _timestamp_pb2.Timestamp
    def __init__(self, psychologist: _Optional[str] = ..., start_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., end_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class WorkingTime(_message.Message):
    __slots__ = ("psychologist", "minutes")
    PSYCHOLOGIST_FIELD_NUMBER: _ClassVar[int]
    MINUTES_FIELD_NUMBER: _ClassVar[int]
    psychologist: str
    minutes: int
    def __init__(self, psychologist: _Optional[str] = ..., minutes: _Optional[int] = ...) -> None: ...

class GetCalendarFeedRequest(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class UpdateCalendarFeedRequest(_message.Message):
    __slots__ = ("calendar_feed", "update_mask", "request_id")
    CALENDAR_FEED_FIELD_NUMBER: _ClassVar[int]
    UPDATE_MASK_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    calendar_feed: _resources_pb2.CalendarFeed
    update_mask: _field_mask_pb2.FieldMask
    request_id: str
    def __init__(self, calendar_feed: _Optional[_Union[_resources_pb2.CalendarFeed, _Mapping]] = ..., update_mask: _Optional[_Union[_field_mask_pb2.FieldMask, _Mapping]] = ..., request_id: _Optional[str] = ...) -> None: ...

class RotateCalendarFeedRequest(_message.Message):
    __slots__ = ("name", "request_id")
    NAME_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    name: str
    request_id: str
    def __init__(self, name: _Optional[str] = ..., request_id: _Optional[str] = ...) -> None: ...

class RevokeCalendarFeedRequest(_message.Message):
    __slots__ = ("name", "request_id")
    NAME_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    name: str
    request_id: str
    def __init__(self, name: _Optional[str] = ..., request_id: _Optional[str] = ...) -> None: ...

class GetCalendarFeedContentRequest(_message.Message):
    __slots__ = ("secret",)
    SECRET_FIELD_NUMBER: _ClassVar[int]
    secret: str
    def __init__(self, secret: _Optional[str] = ...) -> None: ...
