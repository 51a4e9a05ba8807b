from google.protobuf import descriptor_pb2 as _descriptor_pb2
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor
LIMITS_FIELD_NUMBER: _ClassVar[int]
limits: _descriptor.FieldDescriptor

class FieldLimits(_message.Message):
    __slots__ = ("max_length", "max_items", "content")
    class Content(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
        __slots__ = ()
        CONTENT_UNSPECIFIED: _ClassVar[FieldLimits.Content]
        CONTENT_TOKEN: _ClassVar[FieldLimits.Content]
        CONTENT_TEXT: _ClassVar[FieldLimits.Content]
    CONTENT_UNSPECIFIED: FieldLimits.Content
    CONTENT_TOKEN: FieldLimits.Content
    CONTENT_TEXT: FieldLimits.Content
    MAX_LENGTH_FIELD_NUMBER: _ClassVar[int]
    MAX_ITEMS_FIELD_NUMBER: _ClassVar[int]
    CONTENT_FIELD_NUMBER: _ClassVar[int]
    max_length: int
    max_items: int
    content: FieldLimits.Content
    def __init__(self, max_length: _Optional[int] = ..., max_items: _Optional[int] = ..., content: _Optional[_Union[FieldLimits.Content, str]] = ...) -> None: ...
