from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class AckStatus(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    ACK_STATUS_UNSPECIFIED: _ClassVar[AckStatus]
    ACK_STATUS_OK: _ClassVar[AckStatus]
    ACK_STATUS_PARTIAL: _ClassVar[AckStatus]
    ACK_STATUS_REJECTED: _ClassVar[AckStatus]
    ACK_STATUS_RATE_LIMITED: _ClassVar[AckStatus]
    ACK_STATUS_UNAVAILABLE: _ClassVar[AckStatus]
ACK_STATUS_UNSPECIFIED: AckStatus
ACK_STATUS_OK: AckStatus
ACK_STATUS_PARTIAL: AckStatus
ACK_STATUS_REJECTED: AckStatus
ACK_STATUS_RATE_LIMITED: AckStatus
ACK_STATUS_UNAVAILABLE: AckStatus

class Reading(_message.Message):
    __slots__ = ("device_id", "time_unix_nano", "metric", "value", "tags", "unit", "location", "geohash", "site")
    class TagsEntry(_message.Message):
        __slots__ = ("key", "value")
        KEY_FIELD_NUMBER: _ClassVar[int]
        VALUE_FIELD_NUMBER: _ClassVar[int]
        key: str
        value: str
        def __init__(self, key: _Optional[str] = ..., value: _Optional[str] = ...) -> None: ...
    DEVICE_ID_FIELD_NUMBER: _ClassVar[int]
    TIME_UNIX_NANO_FIELD_NUMBER: _ClassVar[int]
    METRIC_FIELD_NUMBER: _ClassVar[int]
    VALUE_FIELD_NUMBER: _ClassVar[int]
    TAGS_FIELD_NUMBER: _ClassVar[int]
    UNIT_FIELD_NUMBER: _ClassVar[int]
    LOCATION_FIELD_NUMBER: _ClassVar[int]
    GEOHASH_FIELD_NUMBER: _ClassVar[int]
    SITE_FIELD_NUMBER: _ClassVar[int]
    device_id: str
    time_unix_nano: int
    metric: str
    value: float
    tags: _containers.ScalarMap[str, str]
    unit: str
    location: Location
    geohash: str
    site: str
    def __init__(self, device_id: _Optional[str] = ..., time_unix_nano: _Optional[int] = ..., metric: _Optional[str] = ..., value: _Optional[float] = ..., tags: _Optional[_Mapping[str, str]] = ..., unit: _Optional[str] = ..., location: _Optional[_Union[Location, _Mapping]] = ..., geohash: _Optional[str] = ..., site: _Optional[str] = ...) -> None: ...

class Location(_message.Message):
    __slots__ = ("lat", "lon")
    LAT_FIELD_NUMBER: _ClassVar[int]
    LON_FIELD_NUMBER: _ClassVar[int]
    lat: float
    lon: float
    def __init__(self, lat: _Optional[float] = ..., lon: _Optional[float] = ...) -> None: ...

class ReadingBatch(_message.Message):
    __slots__ = ("seq", "source_id", "readings", "session_id")
    SEQ_FIELD_NUMBER: _ClassVar[int]
    SOURCE_ID_FIELD_NUMBER: _ClassVar[int]
    READINGS_FIELD_NUMBER: _ClassVar[int]
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    seq: int
    source_id: str
    readings: _containers.RepeatedCompositeFieldContainer[Reading]
    session_id: str
    def __init__(self, seq: _Optional[int] = ..., source_id: _Optional[str] = ..., readings: _Optional[_Iterable[_Union[Reading, _Mapping]]] = ..., session_id: _Optional[str] = ...) -> None: ...

class Ack(_message.Message):
    __slots__ = ("seq", "status", "accepted", "rejections", "retry_after_ms", "reason")
    SEQ_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    ACCEPTED_FIELD_NUMBER: _ClassVar[int]
    REJECTIONS_FIELD_NUMBER: _ClassVar[int]
    RETRY_AFTER_MS_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    seq: int
    status: AckStatus
    accepted: int
    rejections: _containers.RepeatedCompositeFieldContainer[Rejection]
    retry_after_ms: int
    reason: str
    def __init__(self, seq: _Optional[int] = ..., status: _Optional[_Union[AckStatus, str]] = ..., accepted: _Optional[int] = ..., rejections: _Optional[_Iterable[_Union[Rejection, _Mapping]]] = ..., retry_after_ms: _Optional[int] = ..., reason: _Optional[str] = ...) -> None: ...

class Rejection(_message.Message):
    __slots__ = ("index", "reason", "message")
    INDEX_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    index: int
    reason: str
    message: str
    def __init__(self, index: _Optional[int] = ..., reason: _Optional[str] = ..., message: _Optional[str] = ...) -> None: ...

class RejectedBatch(_message.Message):
    __slots__ = ("source_id", "session_id", "seq", "readings")
    SOURCE_ID_FIELD_NUMBER: _ClassVar[int]
    SESSION_ID_FIELD_NUMBER: _ClassVar[int]
    SEQ_FIELD_NUMBER: _ClassVar[int]
    READINGS_FIELD_NUMBER: _ClassVar[int]
    source_id: str
    session_id: str
    seq: int
    readings: _containers.RepeatedCompositeFieldContainer[RejectedReading]
    def __init__(self, source_id: _Optional[str] = ..., session_id: _Optional[str] = ..., seq: _Optional[int] = ..., readings: _Optional[_Iterable[_Union[RejectedReading, _Mapping]]] = ...) -> None: ...

class RejectedReading(_message.Message):
    __slots__ = ("index", "reason", "message", "reading")
    INDEX_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    MESSAGE_FIELD_NUMBER: _ClassVar[int]
    READING_FIELD_NUMBER: _ClassVar[int]
    index: int
    reason: str
    message: str
    reading: Reading
    def __init__(self, index: _Optional[int] = ..., reason: _Optional[str] = ..., message: _Optional[str] = ..., reading: _Optional[_Union[Reading, _Mapping]] = ...) -> None: ...
