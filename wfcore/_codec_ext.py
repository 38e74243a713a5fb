"""Codec extension types for standard-library values: type codes, layouts, encode/decode."""

from __future__ import annotations

import struct
from datetime import UTC, date, datetime, time, timedelta, timezone
from decimal import Decimal
from typing import Any
from uuid import UUID, SafeUUID

import msgpack

__all__ = [
    "EXT_DATE",
    "EXT_DATETIME",
    "EXT_DECIMAL",
    "EXT_EXCEPTION",
    "EXT_FROZENSET",
    "EXT_MODEL",
    "EXT_NAMES",
    "EXT_SET",
    "EXT_TIME",
    "EXT_TIMEDELTA",
    "EXT_TUPLE",
    "EXT_UUID",
    "decode_date",
    "decode_datetime",
    "decode_decimal",
    "decode_time",
    "decode_timedelta",
    "decode_uuid",
    "encode_date",
    "encode_datetime",
    "encode_decimal",
    "encode_time",
    "encode_timedelta",
    "encode_uuid",
    "ext",
]

# Extension type codes. They are part of the storage format: never renumber or reuse one.
#
#   code  type                payload
#   ----  ------------------  -----------------------------------------------------------------
#      1  datetime.datetime   struct <HBBBBBIB: year month day hour minute second microsecond
#                             fold (12 bytes, naive) + q: UTC offset in microseconds (20, aware)
#      2  datetime.date       struct <HBB: year month day
#      3  datetime.time       struct <BBBIB: hour minute second microsecond fold (8 bytes, naive)
#                             + q: UTC offset in microseconds (16 bytes, aware)
#      4  datetime.timedelta  struct <iiI: days seconds microseconds (normalized, exact)
#      5  uuid.UUID           the 16 bytes of UUID.bytes
#      6  decimal.Decimal     str(value) as ASCII (exact, incl. NaN, sNaN, Infinity, -0)
#      7  tuple               msgpack array of the items
#      8  set                 msgpack array of the items, each encoded then sorted by its bytes
#      9  frozenset           as 8
#     10  pydantic model      msgpack array [qualified class name, model_dump(mode="python")]
#     11  exception           msgpack array [qualified type name, args, str(exc), traceback text]
#
# Code -1 is msgpack's own Timestamp type; wfcore never writes it.
EXT_DATETIME = 1
EXT_DATE = 2
EXT_TIME = 3
EXT_TIMEDELTA = 4
EXT_UUID = 5
EXT_DECIMAL = 6
EXT_TUPLE = 7
EXT_SET = 8
EXT_FROZENSET = 9
EXT_MODEL = 10
EXT_EXCEPTION = 11

EXT_NAMES = {
    EXT_DATETIME: "datetime",
    EXT_DATE: "date",
    EXT_TIME: "time",
    EXT_TIMEDELTA: "timedelta",
    EXT_UUID: "UUID",
    EXT_DECIMAL: "Decimal",
    EXT_TUPLE: "tuple",
    EXT_SET: "set",
    EXT_FROZENSET: "frozenset",
    EXT_MODEL: "pydantic model",
    EXT_EXCEPTION: "exception",
}

_DATETIME_NAIVE = struct.Struct("<HBBBBBIB")
_DATETIME_AWARE = struct.Struct("<HBBBBBIBq")
_DATE = struct.Struct("<HBB")
_TIME_NAIVE = struct.Struct("<BBBIB")
_TIME_AWARE = struct.Struct("<BBBIBq")
_TIMEDELTA = struct.Struct("<iiI")
_ONE_MICROSECOND = timedelta(microseconds=1)

# Aware values usually share a handful of offsets; building a timezone costs more than the rest
# of decoding a datetime. Bounded so hostile data cannot grow it without limit.
_TIMEZONES: dict[int, timezone] = {0: UTC}
_TIMEZONE_CACHE_SIZE = 1024

_ExtType = msgpack.ExtType
_new_tuple = tuple.__new__
_new_object = object.__new__
_set_attribute = object.__setattr__
_UUID_SAFETY_UNKNOWN = SafeUUID.unknown


def ext(code: int, payload: bytes) -> Any:
    # ExtType.__new__ re-validates code and payload in Python, which would double the cost of
    # encoding a UUID or datetime; both are always valid here.
    return _new_tuple(_ExtType, (code, payload))


def _timezone(offset_us: int) -> timezone:
    tz = _TIMEZONES.get(offset_us)
    if tz is None:
        tz = timezone(timedelta(microseconds=offset_us))
        if len(_TIMEZONES) < _TIMEZONE_CACHE_SIZE:
            _TIMEZONES[offset_us] = tz
    return tz


def encode_datetime(value: datetime) -> Any:
    offset = value.utcoffset()
    if offset is None:
        return ext(
            EXT_DATETIME,
            _DATETIME_NAIVE.pack(
                value.year,
                value.month,
                value.day,
                value.hour,
                value.minute,
                value.second,
                value.microsecond,
                value.fold,
            ),
        )
    return ext(
        EXT_DATETIME,
        _DATETIME_AWARE.pack(
            value.year,
            value.month,
            value.day,
            value.hour,
            value.minute,
            value.second,
            value.microsecond,
            value.fold,
            offset // _ONE_MICROSECOND,
        ),
    )


def decode_datetime(payload: bytes) -> datetime:
    if len(payload) == _DATETIME_NAIVE.size:
        year, month, day, hour, minute, second, micro, fold = _DATETIME_NAIVE.unpack(payload)
        return datetime(year, month, day, hour, minute, second, micro, fold=fold)
    year, month, day, hour, minute, second, micro, fold, offset = _DATETIME_AWARE.unpack(payload)
    return datetime(year, month, day, hour, minute, second, micro, _timezone(offset), fold=fold)


def encode_date(value: date) -> Any:
    return ext(EXT_DATE, _DATE.pack(value.year, value.month, value.day))


def decode_date(payload: bytes) -> date:
    return date(*_DATE.unpack(payload))


def encode_time(value: time) -> Any:
    offset = value.utcoffset()
    if offset is None:
        return ext(
            EXT_TIME,
            _TIME_NAIVE.pack(value.hour, value.minute, value.second, value.microsecond, value.fold),
        )
    return ext(
        EXT_TIME,
        _TIME_AWARE.pack(
            value.hour,
            value.minute,
            value.second,
            value.microsecond,
            value.fold,
            offset // _ONE_MICROSECOND,
        ),
    )


def decode_time(payload: bytes) -> time:
    if len(payload) == _TIME_NAIVE.size:
        hour, minute, second, micro, fold = _TIME_NAIVE.unpack(payload)
        return time(hour, minute, second, micro, fold=fold)
    hour, minute, second, micro, fold, offset = _TIME_AWARE.unpack(payload)
    return time(hour, minute, second, micro, _timezone(offset), fold=fold)


def encode_timedelta(value: timedelta) -> Any:
    return ext(EXT_TIMEDELTA, _TIMEDELTA.pack(value.days, value.seconds, value.microseconds))


def decode_timedelta(payload: bytes) -> timedelta:
    days, seconds, micro = _TIMEDELTA.unpack(payload)
    return timedelta(days, seconds, micro)


def encode_uuid(value: UUID) -> Any:
    return ext(EXT_UUID, value.bytes)


def decode_uuid(payload: bytes) -> UUID:
    if len(payload) != 16:
        raise ValueError(f"expected 16 bytes, got {len(payload)}")
    # Any 128-bit integer is a valid UUID, and UUID(bytes=...) spends 3x longer re-checking
    # arguments; this is how uuid itself builds instances (its __init__ and __setstate__).
    value: UUID = _new_object(UUID)
    _set_attribute(value, "int", int.from_bytes(payload, "big"))
    _set_attribute(value, "is_safe", _UUID_SAFETY_UNKNOWN)
    return value


def encode_decimal(value: Decimal) -> Any:
    return ext(EXT_DECIMAL, Decimal.__str__(value).encode("ascii"))


def decode_decimal(payload: bytes) -> Decimal:
    return Decimal(payload.decode("ascii"))
