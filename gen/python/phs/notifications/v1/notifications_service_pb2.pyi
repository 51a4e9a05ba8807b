from google.api import annotations_pb2 as _annotations_pb2
from google.api import field_behavior_pb2 as _field_behavior_pb2
from google.api import resource_pb2 as _resource_pb2
from google.protobuf import field_mask_pb2 as _field_mask_pb2
from phs.api.v1 import field_limits_pb2 as _field_limits_pb2
from phs.audit.v1 import audit_pb2 as _audit_pb2
from phs.notifications.v1 import resources_pb2 as _resources_pb2
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class GetClientNotificationPreferencesRequest(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class UpdateClientNotificationPreferencesRequest(_message.Message):
    __slots__ = ("preferences", "update_mask", "request_id")
    PREFERENCES_FIELD_NUMBER: _ClassVar[int]
    UPDATE_MASK_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    preferences: _resources_pb2.ClientNotificationPreferences
    update_mask: _field_mask_pb2.FieldMask
    request_id: str
    def __init__(self, preferences: _Optional[_Union[_resources_pb2.ClientNotificationPreferences, _Mapping]] = ..., update_mask: _Optional[_Union[_field_mask_pb2.FieldMask, _Mapping]] = ..., request_id: _Optional[str] = ...) -> None: ...

class GetPsychologistNotificationPreferencesRequest(_message.Message):
    __slots__ = ("name",)
    NAME_FIELD_NUMBER: _ClassVar[int]
    name: str
    def __init__(self, name: _Optional[str] = ...) -> None: ...

class UpdatePsychologistNotificationPreferencesRequest(_message.Message):
    __slots__ = ("preferences", "update_mask", "request_id")
    PREFERENCES_FIELD_NUMBER: _ClassVar[int]
    UPDATE_MASK_FIELD_NUMBER: _ClassVar[int]
    REQUEST_ID_FIELD_NUMBER: _ClassVar[int]
    preferences: _resources_pb2.PsychologistNotificationPreferences
    update_mask: _field_mask_pb2.FieldMask
    request_id: str
    def __init__(self, preferences: _Optional[_Union[_resources_pb2.PsychologistNotificationPreferences, _Mapping]] = ..., update_mask: _Optional[_Union[_field_mask_pb2.FieldMask, _Mapping]] = ..., request_id: _Optional[str] = ...) -> None: ...
