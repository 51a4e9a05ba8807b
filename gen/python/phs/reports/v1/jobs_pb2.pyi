from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from typing import ClassVar as _ClassVar, Optional as _Optional

DESCRIPTOR: _descriptor.FileDescriptor

class ReportJobMessage(_message.Message):
    __slots__ = ("report", "publication")
    REPORT_FIELD_NUMBER: _ClassVar[int]
    PUBLICATION_FIELD_NUMBER: _ClassVar[int]
    report: str
    publication: int
    def __init__(self, report: _Optional[str] = ..., publication: _Optional[int] = ...) -> None: ...
