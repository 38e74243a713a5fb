"""The msgpack codec for every value wfcore stores: no pickle, and decoding never imports."""

from __future__ import annotations

import builtins
import contextlib
from collections.abc import Callable, Iterable
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from enum import Enum
from traceback import format_exception
from typing import Any
from uuid import UUID

import msgpack
from pydantic import BaseModel, ValidationError

from wfcore._codec_ext import (
    EXT_DATE,
    EXT_DATETIME,
    EXT_DECIMAL,
    EXT_EXCEPTION,
    EXT_FROZENSET,
    EXT_MODEL,
    EXT_NAMES,
    EXT_SET,
    EXT_TIME,
    EXT_TIMEDELTA,
    EXT_TUPLE,
    EXT_UUID,
    decode_date,
    decode_datetime,
    decode_decimal,
    decode_time,
    decode_timedelta,
    decode_uuid,
    encode_date,
    encode_datetime,
    encode_decimal,
    encode_time,
    encode_timedelta,
    encode_uuid,
    ext,
)
from wfcore.errors import ConfigurationError, DecodeError, EncodeError

__all__ = ["DEFAULT_MAX_SIZE", "Codec", "RemoteError"]

DEFAULT_MAX_SIZE = 1 << 20
"""Default limit, in bytes, on the encoded size of one value (1 MiB)."""

_SUPPORTED = (
    "None, bool, int, float, str, bytes, list, dict, tuple, set, datetime, date, time, "
    "timedelta, UUID, Decimal, Enum, pydantic models, exceptions"
)

# Types msgpack packs itself under strict_types; anything else goes through the default hook.
_NATIVE: frozenset[type] = frozenset(
    {type(None), bool, int, float, str, bytes, bytearray, memoryview, list, dict}
)

# Built once from the builtins namespace so decoding resolves exception names with a dict
# lookup: a name read from storage can never reach an import or an attribute walk.
_BUILTIN_EXCEPTIONS: dict[str, type[Exception]] = {
    f"builtins.{name}": value
    for name, value in vars(builtins).items()
    if isinstance(value, type) and issubclass(value, Exception)
}

# Reused packers keep their buffer; one that packed a big value is dropped instead of pinning it.
_POOL_SIZE = 16
_POOL_BUFFER_LIMIT = 64 * 1024


def _qualified_name(cls: type) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"


def _array_header(length: int) -> bytes:
    if length < 16:
        return bytes((0x90 | length,))
    if length < 0x10000:
        return b"\xdc" + length.to_bytes(2, "big")
    return b"\xdd" + length.to_bytes(4, "big")


def _traceback_text(exc: BaseException) -> str:
    carried = getattr(exc, "wfcore_traceback", None)
    if isinstance(carried, str):
        # Already decoded from storage: the original traceback is the one worth keeping.
        return carried
    if exc.__traceback__ is None:
        return ""
    try:
        return "".join(format_exception(exc))
    except Exception:
        return ""


def _utf8_safe(text: str) -> str:
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


def _message(exc: BaseException) -> str:
    try:
        return str(exc)
    except Exception:
        return f"<unprintable {type(exc).__qualname__} object>"


class _UnsupportedTypeError(Exception):
    """Raised by the default hook; turned into EncodeError once ``what`` is known."""

    def __init__(self, cls: type) -> None:
        super().__init__(cls.__qualname__)
        self.type_name = cls.__qualname__


class _MalformedError(Exception):
    """Raised while decoding; turned into DecodeError once ``what`` is known."""


class RemoteError(Exception):
    """An exception decoded from storage whose type is not registered here.

    Decoding never imports the module an exception came from, so an error of a type this
    codec cannot rebuild arrives as a ``RemoteError`` that keeps what was recorded.

    Attributes:
        type_name: ``"module.QualName"`` of the original exception type.
        message: ``str()`` of the original exception.
        traceback: Formatted traceback text of the original, or ``""`` if it had none.
        wfcore_traceback: Same as ``traceback``, set on every exception the codec decodes.
    """

    def __init__(self, type_name: str, message: str, traceback: str = "") -> None:
        super().__init__(type_name, message, traceback)
        self.type_name = type_name
        self.message = message
        self.traceback = traceback
        self.wfcore_traceback = traceback

    def __str__(self) -> str:
        return f"{self.type_name}: {self.message}"


class Codec:
    """Encodes values to msgpack bytes and back, with wfcore's extension types.

    Besides the msgpack basics (None, bool, int, float, str, bytes, list, dict with any
    encodable keys) it keeps datetimes (with their exact UTC offset; a named zone such as
    ``ZoneInfo`` comes back as the fixed offset it had), dates, times, timedeltas, UUIDs,
    Decimals, tuples, sets, frozensets, pydantic models and exceptions. Enum members are stored
    as their plain value: the enum type is not kept. Subclasses of the basic types (e.g.
    ``OrderedDict``, a namedtuple) come back as the base type.

    Decoding only ever builds these types, the builtin exception classes and the classes given
    to :meth:`register`; it never imports a module named in the data.

    Instances are thread-safe.

    Args:
        max_size: Largest encoded size accepted by :meth:`encode`, in bytes.
        types: Pydantic model and exception classes to :meth:`register` at once.
        unregistered_model: decodes a stored model whose class is not registered, from its
            qualified class name and decoded fields, instead of raising ``DecodeError`` (for
            tools that only show values, such as the CLI; never for running workflows).

    Raises:
        ConfigurationError: ``max_size`` is not a positive integer, or a class in ``types``
            cannot be registered.
    """

    def __init__(
        self,
        *,
        max_size: int = DEFAULT_MAX_SIZE,
        types: Iterable[type] = (),
        unregistered_model: Callable[[str, Any], Any] | None = None,
    ) -> None:
        if isinstance(max_size, bool) or not isinstance(max_size, int) or max_size <= 0:
            raise ConfigurationError(f"max_size must be a positive int, got {max_size!r}")
        self._max_size = max_size
        self._unregistered_model = unregistered_model
        self._models: dict[str, type[BaseModel]] = {}
        self._exceptions: dict[str, type[Exception]] = {}
        # A pool rather than one packer: a msgpack Packer is not thread-safe, and the default
        # hook re-enters packing for nested payloads (tuples, sets, models, exceptions).
        self._packers: list[Any] = []
        self._encoders: dict[type, Callable[[Any], Any]] = {
            datetime: encode_datetime,
            date: encode_date,
            time: encode_time,
            timedelta: encode_timedelta,
            UUID: encode_uuid,
            Decimal: encode_decimal,
            tuple: self._encode_tuple,
            set: self._encode_set,
            frozenset: self._encode_set,
        }
        self._decoders: dict[int, Callable[[bytes], Any]] = {
            EXT_DATETIME: decode_datetime,
            EXT_DATE: decode_date,
            EXT_TIME: decode_time,
            EXT_TIMEDELTA: decode_timedelta,
            EXT_UUID: decode_uuid,
            EXT_DECIMAL: decode_decimal,
            EXT_TUPLE: self._decode_tuple,
            EXT_SET: self._decode_set,
            EXT_FROZENSET: self._decode_frozenset,
            EXT_MODEL: self._decode_model,
            EXT_EXCEPTION: self._decode_exception,
        }
        for cls in types:
            self.register(cls)

    def register(self, cls: type) -> None:
        """Register a class so that stored instances of it can be decoded.

        Pydantic models are also registered automatically when first encoded by this codec;
        registering up front is needed to decode them in a process that has not encoded one.
        Exceptions of unregistered non-builtin types decode as :class:`RemoteError`. When two
        classes share a qualified name the last one registered wins.

        Args:
            cls: A pydantic ``BaseModel`` subclass or an ``Exception`` subclass.

        Raises:
            ConfigurationError: ``cls`` is neither.
        """
        if isinstance(cls, type) and issubclass(cls, BaseModel):
            self._models[_qualified_name(cls)] = cls
        elif isinstance(cls, type) and issubclass(cls, Exception):
            self._exceptions[_qualified_name(cls)] = cls
        else:
            shown = _qualified_name(cls) if isinstance(cls, type) else repr(cls)
            raise ConfigurationError(
                f"cannot register {shown}: only pydantic BaseModel subclasses and Exception "
                "subclasses can be registered with the codec"
            )

    def registered_types(self) -> list[type]:
        """The model and exception classes this codec can decode (registered or encoded)."""
        return [*self._models.values(), *self._exceptions.values()]

    def encode(self, value: object, *, what: str = "value") -> bytes:
        """Encode ``value`` to bytes.

        Args:
            value: The value to encode.
            what: Names the value in error messages, e.g. ``"set_data('order')"``.

        Returns:
            The msgpack bytes.

        Raises:
            EncodeError: The value, or something inside it, has an unsupported type, an
                integer out of msgpack's 64-bit range, or the result exceeds ``max_size``.
        """
        try:
            data: bytes = self._pack(value)
        except _UnsupportedTypeError as e:
            raise EncodeError(
                f"cannot encode {what}: values of type {e.type_name!r} are not supported "
                f"(supported: {_SUPPORTED})"
            ) from e
        except OverflowError as e:
            raise EncodeError(
                f"cannot encode {what}: an integer is out of range "
                "(supported: -2**63 to 2**64 - 1; store bigger ones as str or Decimal)"
            ) from e
        except RecursionError as e:
            raise EncodeError(
                f"cannot encode {what}: it is nested too deeply or contains a reference cycle"
            ) from e
        except (ValueError, TypeError) as e:
            if "recursion limit" in str(e):
                problem = "it is nested too deeply or contains a reference cycle"
            else:
                problem = f"{type(e).__name__}: {e}"
            raise EncodeError(f"cannot encode {what}: {problem}") from e
        if len(data) > self._max_size:
            raise EncodeError(
                f"cannot encode {what}: its encoded size is {len(data)} bytes, over the limit "
                f"of {self._max_size} bytes; store a reference to the data (a key, path or URL) "
                "instead, or raise the codec's max_size"
            )
        return data

    def decode(self, data: bytes | bytearray | memoryview, *, what: str = "value") -> Any:
        """Decode bytes produced by :meth:`encode`.

        Args:
            data: The bytes (``bytearray`` and ``memoryview`` are accepted too).
            what: Names the value in error messages.

        Returns:
            The decoded value.

        Raises:
            DecodeError: ``data`` is not bytes, is corrupt, truncated or followed by extra
                bytes, or names a pydantic model that is not registered.
        """
        if type(data) is not bytes and not isinstance(data, (bytearray, memoryview)):
            raise DecodeError(
                f"cannot decode {what}: expected bytes, got {type(data).__qualname__!r}"
            )
        try:
            return self._unpack(data)
        except _MalformedError as e:
            raise DecodeError(f"cannot decode {what}: {e}") from e.__cause__
        except msgpack.ExtraData as e:
            raise DecodeError(
                f"cannot decode {what}: {len(e.extra)} unexpected bytes after the value"
            ) from e
        except Exception as e:
            raise DecodeError(
                f"cannot decode {what}: corrupt or truncated data ({type(e).__name__}: {e})"
            ) from e

    def _pack(self, value: object) -> bytes:
        packers = self._packers
        try:
            packer = packers.pop()
        except IndexError:
            packer = msgpack.Packer(
                default=self._default, strict_types=True, use_bin_type=True, buf_size=4096
            )
        # Not returned to the pool on error: it is cheap to rebuild and errors are rare.
        data: bytes = packer.pack(value)
        if len(data) <= _POOL_BUFFER_LIMIT and len(packers) < _POOL_SIZE:
            packers.append(packer)
        return data

    def _unpack(self, data: bytes | bytearray | memoryview) -> Any:
        return msgpack.unpackb(data, ext_hook=self._ext_hook, raw=False, strict_map_key=False)

    def _default(self, value: Any) -> Any:
        encoder = self._encoders.get(type(value))
        if encoder is not None:
            return encoder(value)
        return self._default_slow(value)

    def _default_slow(self, value: Any) -> Any:
        # msgpack calls the hook once per value, so whatever it returns must be packable as is.
        # Enum comes first: IntEnum and StrEnum members are also ints and strs.
        if isinstance(value, Enum):
            plain = value.value
            return plain if type(plain) in _NATIVE else self._default(plain)
        if isinstance(value, BaseModel):
            return self._encode_model(value)
        if isinstance(value, BaseException):
            return self._encode_exception(value)
        # strict_types hands subclasses of the basic types here; the base-type dunders bypass
        # any conversion method the subclass overrides.
        if isinstance(value, int):
            return int.__int__(value)
        if isinstance(value, float):
            return float.__float__(value)
        if isinstance(value, str):
            return str.__str__(value)
        if isinstance(value, bytes):
            return bytes(memoryview(value))
        if isinstance(value, dict):
            return dict(value)
        if isinstance(value, list):
            return list(value)
        if isinstance(value, tuple):
            return self._encode_tuple(value)
        if isinstance(value, (set, frozenset)):
            return self._encode_set(value)
        if isinstance(value, datetime):
            return encode_datetime(value)
        if isinstance(value, date):
            return encode_date(value)
        if isinstance(value, time):
            return encode_time(value)
        if isinstance(value, timedelta):
            return encode_timedelta(value)
        if isinstance(value, UUID):
            return encode_uuid(value)
        if isinstance(value, Decimal):
            return encode_decimal(value)
        raise _UnsupportedTypeError(type(value))

    def _ext_hook(self, code: int, payload: bytes) -> Any:
        decoder = self._decoders.get(code)
        if decoder is None:
            raise _MalformedError(f"unknown extension type code {code}")
        try:
            return decoder(payload)
        except _MalformedError:
            raise
        except Exception as e:
            raise _MalformedError(
                f"malformed {EXT_NAMES[code]} (extension type code {code}): {type(e).__name__}: {e}"
            ) from e

    def _unpack_list(self, payload: bytes, code: int) -> list[Any]:
        items = self._unpack(payload)
        if type(items) is not list:
            raise _MalformedError(
                f"malformed {EXT_NAMES[code]} (extension type code {code}): "
                f"expected an array, got {type(items).__qualname__!r}"
            )
        return items

    def _encode_tuple(self, value: tuple[Any, ...]) -> Any:
        return ext(EXT_TUPLE, self._pack(list(value)))

    def _decode_tuple(self, payload: bytes) -> tuple[Any, ...]:
        return tuple(self._unpack_list(payload, EXT_TUPLE))

    def _encode_set(self, value: set[Any] | frozenset[Any]) -> Any:
        # Iteration order of a set of strs changes with the hash seed of each process; sorting
        # the encoded items makes equal sets encode to equal bytes everywhere.
        items = sorted(map(self._pack, value))
        code = EXT_FROZENSET if isinstance(value, frozenset) else EXT_SET
        return ext(code, _array_header(len(items)) + b"".join(items))

    def _decode_set(self, payload: bytes) -> set[Any]:
        return set(self._unpack_list(payload, EXT_SET))

    def _decode_frozenset(self, payload: bytes) -> frozenset[Any]:
        return frozenset(self._unpack_list(payload, EXT_FROZENSET))

    def _encode_model(self, value: BaseModel) -> Any:
        cls = type(value)
        name = _qualified_name(cls)
        if self._models.get(name) is not cls:
            self._models[name] = cls
        return ext(EXT_MODEL, self._pack([name, value.model_dump(mode="python")]))

    def _decode_model(self, payload: bytes) -> Any:
        items = self._unpack_list(payload, EXT_MODEL)
        if len(items) != 2 or type(items[0]) is not str:
            raise ValueError("expected [class name, data]")
        name, data = items
        cls = self._models.get(name)
        if cls is None and self._unregistered_model is not None:
            return self._unregistered_model(name, data)
        if cls is None:
            raise _MalformedError(
                f"pydantic model {name!r} is not registered with this codec; register the "
                "class before decoding with codec.register(cls) (app.register_type(cls) on an "
                "App)"
            )
        try:
            return cls.model_validate(data)
        except ValidationError as e:
            raise _MalformedError(
                f"stored data for pydantic model {name!r} does not validate against the "
                f"registered class: {e}"
            ) from e

    def _encode_exception(self, exc: BaseException) -> Any:
        if isinstance(exc, RemoteError):
            # Re-storing an error that was decoded as RemoteError keeps the original identity.
            name, message, trace = exc.type_name, exc.message, exc.traceback
            args: list[Any] = [exc.message]
        else:
            name = _qualified_name(type(exc))
            message = _message(exc)
            trace = _traceback_text(exc)
            args = list(exc.args)
        try:
            payload = self._pack([name, args, message, trace])
        except (_UnsupportedTypeError, OverflowError, RecursionError, ValueError, TypeError):
            # An unencodable argument must not hide the error itself; nor may a lone surrogate
            # (an undecodable file name, say) in its text, which UTF-8 cannot carry.
            message, trace = _utf8_safe(message), _utf8_safe(trace)
            payload = self._pack([name, [message], message, trace])
        return ext(EXT_EXCEPTION, payload)

    def _decode_exception(self, payload: bytes) -> Exception:
        items = self._unpack_list(payload, EXT_EXCEPTION)
        if (
            len(items) != 4
            or type(items[0]) is not str
            or type(items[1]) is not list
            or type(items[2]) is not str
            or type(items[3]) is not str
        ):
            raise ValueError("expected [type name, args, message, traceback]")
        name, args, message, trace = items
        cls = self._exceptions.get(name) or _BUILTIN_EXCEPTIONS.get(name)
        if cls is None:
            return RemoteError(name, message, trace)
        try:
            exc = cls(*args)
        except Exception:
            return RemoteError(name, message, trace)
        # A class that refuses new attributes still decodes; only the traceback text is lost.
        with contextlib.suppress(Exception):
            exc.wfcore_traceback = trace  # type: ignore[attr-defined]
        return exc
