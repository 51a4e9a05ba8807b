import datetime

from google.api import field_behavior_pb2 as _field_behavior_pb2
from google.api import resource_pb2 as _resource_pb2
from google.protobuf import duration_pb2 as _duration_pb2
from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.type import date_pb2 as _date_pb2
from google.type import dayofweek_pb2 as _dayofweek_pb2
from google.type import timeofday_pb2 as _timeofday_pb2
from phs.api.v1 import field_limits_pb2 as _field_limits_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class Psychologist(_message.Message):
    __slots__ = ("name", "display_name", "time_zone", "active", "create_time", "update_time")
    NAME_FIELD_NUMBER: _ClassVar[int]
    DISPLAY_NAME_FIELD_NUMBER: _ClassVar[int]
    TIME_ZONE_FIELD_NUMBER: _ClassVar[int]
    ACTIVE_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    UPDATE_TIME_FIELD_NUMBER: _ClassVar[int]
    name: str
    display_name: str
    time_zone: str
    active: bool
    create_time: _timestamp_pb2.Timestamp
    update_time: _timestamp_pb2.Timestamp
    def __init__(self, name: _Optional[str] = ..., display_name: _Optional[str] = ..., time_zone: _Optional[str] = ..., active: _Optional[bool] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., update_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class Client(_message.Message):
    __slots__ = ("name", "display_name", "email", "phone", "psychologist", "create_time", "update_time")
    NAME_FIELD_NUMBER: _ClassVar[int]
    DISPLAY_NAME_FIELD_NUMBER: _ClassVar[int]
    EMAIL_FIELD_NUMBER: _ClassVar[int]
    PHONE_FIELD_NUMBER: _ClassVar[int]
    PSYCHOLOGIST_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    UPDATE_TIME_FIELD_NUMBER: _ClassVar[int]
    name: str
    display_name: str
    email: str
    phone: str
    psychologist: str
    create_time: _timestamp_pb2.Timestamp
    update_time: _timestamp_pb2.Timestamp
    def __init__(self, name: _Optional[str] = ..., display_name: _Optional[str] = ..., email: _Optional[str] = ..., phone: _Optional[str] = ..., psychologist: _Optional[str] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., update_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class SessionType(_message.Message):
    __slots__ = ("name", "display_name", "duration", "buffer_before", "buffer_after", "client_bookable")
    NAME_FIELD_NUMBER: _ClassVar[int]
    DISPLAY_NAME_FIELD_NUMBER: _ClassVar[int]
    DURATION_FIELD_NUMBER: _ClassVar[int]
    BUFFER_BEFORE_FIELD_NUMBER: _ClassVar[int]
    BUFFER_AFTER_FIELD_NUMBER: _ClassVar[int]
    CLIENT_BOOKABLE_FIELD_NUMBER: _ClassVar[int]
    name: str
    display_name: str
    duration: _duration_pb2.Duration
    buffer_before: _duration_pb2.Duration
    buffer_after: _duration_pb2.Duration
    client_bookable: bool
    def __init__(self, name: _Optional[str] = ..., display_name: _Optional[str] = ..., duration: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., buffer_before: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., buffer_after: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., client_bookable: _Optional[bool] = ...) -> None: ...

class WeeklyInterval(_message.Message):
    __slots__ = ("day_of_week", "start_time", "end_time")
    DAY_OF_WEEK_FIELD_NUMBER: _ClassVar[int]
    START_TIME_FIELD_NUMBER: _ClassVar[int]
    END_TIME_FIELD_NUMBER: _ClassVar[int]
    day_of_week: _dayofweek_pb2.DayOfWeek
    start_time: _timeofday_pb2.TimeOfDay
    end_time: _timeofday_pb2.TimeOfDay
    def __init__(self, day_of_week: _Optional[_Union[_dayofweek_pb2.DayOfWeek, str]] = ..., start_time: _Optional[_Union[_timeofday_pb2.TimeOfDay, _Mapping]] = ..., end_time: _Optional[_Union[_timeofday_pb2.TimeOfDay, _Mapping]] = ...) -> None: ...

class DateOverride(_message.Message):
    __slots__ = ("date", "intervals")
    DATE_FIELD_NUMBER: _ClassVar[int]
    INTERVALS_FIELD_NUMBER: _ClassVar[int]
    date: _date_pb2.Date
    intervals: _containers.RepeatedCompositeFieldContainer[TimeInterval]
    def __init__(self, date: _Optional[_Union[_date_pb2.Date, _Mapping]] = ..., intervals: _Optional[_Iterable[_Union[TimeInterval, _Mapping]]] = ...) -> None: ...

class TimeInterval(_message.Message):
    __slots__ = ("start_time", "end_time")
    START_TIME_FIELD_NUMBER: _ClassVar[int]
    END_TIME_FIELD_NUMBER: _ClassVar[int]
    start_time: _timeofday_pb2.TimeOfDay
    end_time: _timeofday_pb2.TimeOfDay
    def __init__(self, start_time: _Optional[_Union[_timeofday_pb2.TimeOfDay, _Mapping]] = ..., end_time: _Optional[_Union[_timeofday_pb2.TimeOfDay, _Mapping]] = ...) -> None: ...

class BookingPolicy(_message.Message):
    __slots__ = ("minimum_notice", "booking_horizon", "slot_alignment", "late_cancel_window")
    MINIMUM_NOTICE_FIELD_NUMBER: _ClassVar[int]
    BOOKING_HORIZON_FIELD_NUMBER: _ClassVar[int]
    SLOT_ALIGNMENT_FIELD_NUMBER: _ClassVar[int]
    LATE_CANCEL_WINDOW_FIELD_NUMBER: _ClassVar[int]
    minimum_notice: _duration_pb2.Duration
    booking_horizon: _duration_pb2.Duration
    slot_alignment: _duration_pb2.Duration
    late_cancel_window: _duration_pb2.Duration
    def __init__(self, minimum_notice: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., booking_horizon: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., slot_alignment: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ..., late_cancel_window: _Optional[_Union[datetime.timedelta, _duration_pb2.Duration, _Mapping]] = ...) -> None: ...

class Availability(_message.Message):
    __slots__ = ("name", "weekly_hours", "date_overrides", "booking_policy", "update_time")
    NAME_FIELD_NUMBER: _ClassVar[int]
    WEEKLY_HOURS_FIELD_NUMBER: _ClassVar[int]
    DATE_OVERRIDES_FIELD_NUMBER: _ClassVar[int]
    BOOKING_POLICY_FIELD_NUMBER: _ClassVar[int]
    UPDATE_TIME_FIELD_NUMBER: _ClassVar[int]
    name: str
    weekly_hours: _containers.RepeatedCompositeFieldContainer[WeeklyInterval]
    date_overrides: _containers.RepeatedCompositeFieldContainer[DateOverride]
    booking_policy: BookingPolicy
    update_time: _timestamp_pb2.Timestamp
    def __init__(self, name: _Optional[str] = ..., weekly_hours: _Optional[_Iterable[_Union[WeeklyInterval, _Mapping]]] = ..., date_overrides: _Optional[_Iterable[_Union[DateOverride, _Mapping]]] = ..., booking_policy: _Optional[_Union[BookingPolicy, _Mapping]] = ..., update_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class Appointment(_message.Message):
    __slots__ = ("name", "client", "session_type", "start_time", "end_time", "state", "create_time", "update_time", "etag", "cancellation", "rescheduled_from", "rescheduled_to", "fhir_status", "series", "original_start_time", "late_cancel_time")
    class State(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
        __slots__ = ()
        STATE_UNSPECIFIED: _ClassVar[Appointment.State]
        STATE_PENDING: _ClassVar[Appointment.State]
        STATE_BOOKED: _ClassVar[Appointment.State]
        STATE_DECLINED: _ClassVar[Appointment.State]
        STATE_CANCELLED: _ClassVar[Appointment.State]
        STATE_COMPLETED: _ClassVar[Appointment.State]
        STATE_NO_SHOW: _ClassVar[Appointment.State]
    STATE_UNSPECIFIED: Appointment.State
    STATE_PENDING: Appointment.State
    STATE_BOOKED: Appointment.State
    STATE_DECLINED: Appointment.State
    STATE_CANCELLED: Appointment.State
    STATE_COMPLETED: Appointment.State
    STATE_NO_SHOW: Appointment.State
    NAME_FIELD_NUMBER: _ClassVar[int]
    CLIENT_FIELD_NUMBER: _ClassVar[int]
    SESSION_TYPE_FIELD_NUMBER: _ClassVar[int]
    START_TIME_FIELD_NUMBER: _ClassVar[int]
    END_TIME_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    UPDATE_TIME_FIELD_NUMBER: _ClassVar[int]
    ETAG_FIELD_NUMBER: _ClassVar[int]
    CANCELLATION_FIELD_NUMBER: _ClassVar[int]
    RESCHEDULED_FROM_FIELD_NUMBER: _ClassVar[int]
    RESCHEDULED_TO_FIELD_NUMBER: _ClassVar[int]
    FHIR_STATUS_FIELD_NUMBER: _ClassVar[int]
    SERIES_FIELD_NUMBER: _ClassVar[int]
    ORIGINAL_START_TIME_FIELD_NUMBER: _ClassVar[int]
    LATE_CANCEL_TIME_FIELD_NUMBER: _ClassVar[int]
    name: str
    client: str
    session_type: str
    start_time: _timestamp_pb2.Timestamp
    end_time: _timestamp_pb2.Timestamp
    state: Appointment.State
    create_time: _timestamp_pb2.Timestamp
    update_time: _timestamp_pb2.Timestamp
    etag: str
    cancellation: Cancellation
    rescheduled_from: str
    rescheduled_to: str
    fhir_status: str
    series: str
    original_start_time: _timestamp_pb2.Timestamp
    late_cancel_time: _timestamp_pb2.Timestamp
    def __init__(self, name: _Optional[str] = ..., client: _Optional[str] = ..., session_type: _Optional[str] = ..., start_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., end_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., state: _Optional[_Union[Appointment.State, str]] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., update_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., etag: _Optional[str] = ..., cancellation: _Optional[_Union[Cancellation, _Mapping]] = ..., rescheduled_from: _Optional[str] = ..., rescheduled_to: _Optional[str] = ..., fhir_status: _Optional[str] = ..., series: _Optional[str] = ..., original_start_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., late_cancel_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class Slot(_message.Message):
    __slots__ = ("start_time", "end_time")
    START_TIME_FIELD_NUMBER: _ClassVar[int]
    END_TIME_FIELD_NUMBER: _ClassVar[int]
    start_time: _timestamp_pb2.Timestamp
    end_time: _timestamp_pb2.Timestamp
    def __init__(self, start_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., end_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class Series(_message.Message):
    __slots__ = ("name", "client", "session_type", "first_start_time", "interval_weeks", "count", "end_date", "occurrences", "create_time")
    NAME_FIELD_NUMBER: _ClassVar[int]
    CLIENT_FIELD_NUMBER: _ClassVar[int]
    SESSION_TYPE_FIELD_NUMBER: _ClassVar[int]
    FIRST_START_TIME_FIELD_NUMBER: _ClassVar[int]
    INTERVAL_WEEKS_FIELD_NUMBER: _ClassVar[int]
    COUNT_FIELD_NUMBER: _ClassVar[int]
    END_DATE_FIELD_NUMBER: _ClassVar[int]
    OCCURRENCES_FIELD_NUMBER: _ClassVar[int]
    CREATE_TIME_FIELD_NUMBER: _ClassVar[int]
    name: str
    client: str
    session_type: str
    first_start_time: _timestamp_pb2.Timestamp
    interval_weeks: int
    count: int
    end_date: _date_pb2.Date
    occurrences: _containers.RepeatedScalarFieldContainer[str]
    create_time: _timestamp_pb2.Timestamp
    def __init__(self, name: _Optional[str] = ..., client: _Optional[str] = ..., session_type: _Optional[str] = ..., first_start_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., interval_weeks: _Optional[int] = ..., count: _Optional[int] = ..., end_date: _Optional[_Union[_date_pb2.Date, _Mapping]] = ..., occurrences: _Optional[_Iterable[str]] = ..., create_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class Cancellation(_message.Message):
    __slots__ = ("reason", "cancelled_by", "late", "cancel_time", "explanation")
    class Reason(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
        __slots__ = ()
        REASON_UNSPECIFIED: _ClassVar[Cancellation.Reason]
        REASON_CLIENT_REQUEST: _ClassVar[Cancellation.Reason]
        REASON_CLIENT_ILLNESS: _ClassVar[Cancellation.Reason]
        REASON_PSYCHOLOGIST_UNAVAILABLE: _ClassVar[Cancellation.Reason]
        REASON_RESCHEDULED: _ClassVar[Cancellation.Reason]
        REASON_DECLINED: _ClassVar[Cancellation.Reason]
        REASON_OTHER: _ClassVar[Cancellation.Reason]
    REASON_UNSPECIFIED: Cancellation.Reason
    REASON_CLIENT_REQUEST: Cancellation.Reason
    REASON_CLIENT_ILLNESS: Cancellation.Reason
    REASON_PSYCHOLOGIST_UNAVAILABLE: Cancellation.Reason
    REASON_RESCHEDULED: Cancellation.Reason
    REASON_DECLINED: Cancellation.Reason
    REASON_OTHER: Cancellation.Reason
    class Actor(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
        __slots__ = ()
        ACTOR_UNSPECIFIED: _ClassVar[Cancellation.Actor]
        ACTOR_CLIENT: _ClassVar[Cancellation.Actor]
        ACTOR_PSYCHOLOGIST: _ClassVar[Cancellation.Actor]
        ACTOR_STAFF: _ClassVar[Cancellation.Actor]
    ACTOR_UNSPECIFIED: Cancellation.Actor
    ACTOR_CLIENT: Cancellation.Actor
    ACTOR_PSYCHOLOGIST: Cancellation.Actor
    ACTOR_STAFF: Cancellation.Actor
    REASON_FIELD_NUMBER: _ClassVar[int]
    CANCELLED_BY_FIELD_NUMBER: _ClassVar[int]
    LATE_FIELD_NUMBER: _ClassVar[int]
    CANCEL_TIME_FIELD_NUMBER: _ClassVar[int]
    EXPLANATION_FIELD_NUMBER: _ClassVar[int]
    reason: Cancellation.Reason
    cancelled_by: Cancellation.Actor
    late: bool
    cancel_time: _timestamp_pb2.Timestamp
    explanation: str
    def __init__(self, reason: _Optional[_Union[Cancellation.Reason, str]] = ..., cancelled_by: _Optional[_Union[Cancellation.Actor, str]] = ..., late: _Optional[bool] = ..., cancel_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., explanation: _Optional[str] = ...) -> None: ...

class CalendarFeed(_message.Message):
    __slots__ = ("name", "state", "client_detail", "url", "rotate_time", "update_time")
    class State(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
        __slots__ = ()
        STATE_UNSPECIFIED: _ClassVar[CalendarFeed.State]
        STATE_ACTIVE: _ClassVar[CalendarFeed.State]
        STATE_INACTIVE: _ClassVar[CalendarFeed.State]
    STATE_UNSPECIFIED: CalendarFeed.State
    STATE_ACTIVE: CalendarFeed.State
    STATE_INACTIVE: CalendarFeed.State
    class ClientDetail(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
        __slots__ = ()
        CLIENT_DETAIL_UNSPECIFIED: _ClassVar[CalendarFeed.ClientDetail]
        CLIENT_DETAIL_INITIALS: _ClassVar[CalendarFeed.ClientDetail]
        CLIENT_DETAIL_NONE: _ClassVar[CalendarFeed.ClientDetail]
    CLIENT_DETAIL_UNSPECIFIED: CalendarFeed.ClientDetail
    CLIENT_DETAIL_INITIALS: CalendarFeed.ClientDetail
    CLIENT_DETAIL_NONE: CalendarFeed.ClientDetail
    NAME_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    CLIENT_DETAIL_FIELD_NUMBER: _ClassVar[int]
    URL_FIELD_NUMBER: _ClassVar[int]
    ROTATE_TIME_FIELD_NUMBER: _ClassVar[int]
    UPDATE_TIME_FIELD_NUMBER: _ClassVar[int]
    name: str
    state: CalendarFeed.State
    client_detail: CalendarFeed.ClientDetail
    url: str
    rotate_time: _timestamp_pb2.Timestamp
    update_time: _timestamp_pb2.Timestamp
    def __init__(self, name: _Optional[str] = ..., state: _Optional[_Union[CalendarFeed.State, str]] = ..., client_detail: _Optional[_Union[CalendarFeed.ClientDetail, str]] = ..., url: _Optional[str] = ..., rotate_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., update_time: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...
