"""The msgpack codec for every value wfcore stores: no pickle, and decoding never imports."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterable
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from enum import Enum
from typing import Any
from uuid import UUID

import msgpack
from pydantic import BaseModel

from wfcore._codec_decode import Decoding, MalformedError
from wfcore._codec_errors import (
    RemoteError,
    message_of,
    qualified_name,
    traceback_text,
    utf8_safe,
)
from wfcore._codec_ext import (
    EXT_EXCEPTION,
    EXT_FROZENSET,
    EXT_MODEL,
    EXT_SET,
    EXT_TUPLE,
    encode_date,
    encode_datetime,
    encode_decimal,
    encode_time,
    encode_timedelta,
    encode_uuid,
    ext,
)
from wfcore._codec_limits import (
    MAX_DEPTH,
    TOO_DEEP,
    TooDeepError,
    shallow,
    value_within,
    within_depth,
)
from wfcore.errors import ConfigurationError, DecodeError, EncodeError

__all__ = ["DEFAULT_MAX_SIZE", "MAX_DEPTH", "Codec", "RemoteError"]

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

# Reused packers keep their buffer; one that packed a big value is dropped instead of pinning it.
_POOL_SIZE = 16
_POOL_BUFFER_LIMIT = 64 * 1024


def _array_header(length: int) -> bytes:
    if length < 16:
        return bytes((0x90 | length,))
    if length < 0x10000:
        return b"\xdc" + length.to_bytes(2, "big")
    return b"\xdd" + length.to_bytes(4, "big")


# An exception keeps arguments nested at most this deep; deeper ones are replaced by its
# message, so that storing an error never fails on its arguments (it may sit at any depth).
_ARGS_DEPTH = MAX_DEPTH // 2


def _nests_like(value: Any) -> Any:
    """Packer hook standing in for a value by the arrays and maps it nests like.

    A tuple or set nests like a list, a model like its fields (a map), an exception like its
    arguments; anything else is a scalar.
    """
    if isinstance(value, (tuple, list, set, frozenset)):
        return list(value)
    if isinstance(value, dict):
        return dict(value)
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, BaseModel):
        return value.model_dump(mode="python")
    if isinstance(value, RemoteError):
        return [value.message]
    if isinstance(value, BaseException):
        args = list(value.args)
        return args if _args_fit(args) else [message_of(value)]
    return None


def _args_fit(args: list[Any]) -> bool:
    """Whether an exception (the list) and its arguments nest at most _ARGS_DEPTH deep."""
    return value_within(args, _ARGS_DEPTH, exceptions=True)


class _UnsupportedTypeError(Exception):
    """Raised by the default hook; turned into EncodeError once ``what`` is known."""

    def __init__(self, cls: type) -> None:
        super().__init__(cls.__qualname__)
        self.type_name = cls.__qualname__


class Codec(Decoding):
    """Encodes values to msgpack bytes and back, with wfcore's extension types.

    Besides the msgpack basics (None, bool, int, float, str, bytes, list, dict with any
    encodable keys) it keeps datetimes (with their exact UTC offset; a named zone such as
    ``ZoneInfo`` comes back as the fixed offset it had), dates, times, timedeltas, UUIDs,
    Decimals, tuples, sets, frozensets, pydantic models and exceptions. Enum members are stored
    as their plain value: the enum type is not kept. Subclasses of the basic types (e.g.
    ``OrderedDict``, a namedtuple) come back as the base type.

    Decoding only ever builds these types, the builtin exception classes and the classes given
    to :meth:`register`; it never imports a module named in the data.

    A value may nest at most ``MAX_DEPTH`` (32) containers -- lists, dicts, tuples, sets,
    models and exceptions counted together -- both ways; an exception's arguments deeper than
    16 levels are stored as its message. Decoding never recurses on the C stack per level.

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
        super().__init__(unregistered_model)
        self._max_size = max_size
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
        # Bumped by every tuple, set, model and exception encoded: encode() compares it
        # before and after packing to learn whether the value held one. (Another thread's
        # bumps can only cost a needless exact check, never skip a needed one.)
        self._containers = itertools.count()
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
            self._models[qualified_name(cls)] = cls
        elif isinstance(cls, type) and issubclass(cls, Exception):
            self._exceptions[qualified_name(cls)] = cls
        else:
            shown = qualified_name(cls) if isinstance(cls, type) else repr(cls)
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
                integer out of msgpack's 64-bit range, it nests more than ``MAX_DEPTH``
                containers, or the result exceeds ``max_size``.
        """
        before = next(self._containers)
        try:
            data: bytes = self._pack(value)
            if not shallow(data, MAX_DEPTH):
                self._check_depth(value, data, next(self._containers) != before + 1)
        except TooDeepError as e:
            raise EncodeError(
                f"cannot encode {what}: {TOO_DEEP}, over the limit of {MAX_DEPTH}; store it "
                "flatter (e.g. a list of records that refer to each other by key)"
            ) from e
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
                f"cannot encode {what}: {TOO_DEEP}, over the limit of {MAX_DEPTH}, or it "
                "contains a reference cycle; store it flatter"
            ) from e
        except (ValueError, TypeError) as e:
            if "recursion limit" in str(e):
                problem = (
                    f"{TOO_DEEP}, over the limit of {MAX_DEPTH}, or it contains a reference "
                    "cycle; store it flatter"
                )
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
                bytes, nests more than ``MAX_DEPTH`` containers, holds an extension type
                wfcore does not write, or names a pydantic model that is not registered.
        """
        if type(data) is not bytes and not isinstance(data, (bytearray, memoryview)):
            raise DecodeError(
                f"cannot decode {what}: expected bytes, got {type(data).__qualname__!r}"
            )
        if type(data) is memoryview:
            data = data.tobytes()
        try:
            return self._unpack(data)
        except MalformedError as e:
            raise DecodeError(f"cannot decode {what}: {e}") from e.__cause__
        except (TooDeepError, msgpack.StackError) as e:
            raise DecodeError(
                f"cannot decode {what}: {TOO_DEEP}, over the limit of {MAX_DEPTH}; wfcore never "
                "stores such a value, so the data is corrupt or was crafted"
            ) from e
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

    def _check_depth(self, value: object, data: bytes, holds_containers: bool) -> None:
        """Raise TooDeepError past MAX_DEPTH; for values the cheap ``shallow`` test let by."""
        if holds_containers:
            # Tuples, sets, models and exceptions are opaque extension payloads in ``data``:
            # pack them once more as the arrays and maps they nest like.
            data = msgpack.packb(value, default=_nests_like, strict_types=True)
        if not within_depth(data, MAX_DEPTH):
            raise TooDeepError

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

    def _encode_tuple(self, value: tuple[Any, ...]) -> Any:
        next(self._containers)
        return ext(EXT_TUPLE, self._pack(list(value)))

    def _encode_set(self, value: set[Any] | frozenset[Any]) -> Any:
        # Iteration order of a set of strs changes with the hash seed of each process; sorting
        # the encoded items makes equal sets encode to equal bytes everywhere.
        next(self._containers)
        items = sorted(map(self._pack, value))
        code = EXT_FROZENSET if isinstance(value, frozenset) else EXT_SET
        return ext(code, _array_header(len(items)) + b"".join(items))

    def _encode_model(self, value: BaseModel) -> Any:
        next(self._containers)
        if not value_within(value, MAX_DEPTH):
            raise TooDeepError  # before model_dump, which would recurse all the way down
        cls = type(value)
        name = qualified_name(cls)
        if self._models.get(name) is not cls:
            self._models[name] = cls
        return ext(EXT_MODEL, self._pack([name, value.model_dump(mode="python")]))

    def _encode_exception(self, exc: BaseException) -> Any:
        next(self._containers)
        if isinstance(exc, RemoteError):
            # Re-storing an error that was decoded as RemoteError keeps the original identity.
            name, message, trace = exc.type_name, exc.message, exc.traceback
            args: list[Any] = [exc.message]
        else:
            name = qualified_name(type(exc))
            message = message_of(exc)
            trace = traceback_text(exc)
            args = list(exc.args)
        try:
            if not _args_fit(args):
                raise TooDeepError
            payload = self._pack([name, args, message, trace])
        except (
            _UnsupportedTypeError,
            TooDeepError,
            OverflowError,
            RecursionError,
            ValueError,
            TypeError,
        ):
            # An unencodable argument must not hide the error itself; nor may a lone surrogate
            # (an undecodable file name, say) in its text, which UTF-8 cannot carry.
            message, trace = utf8_safe(message), utf8_safe(trace)
            payload = self._pack([name, [message], message, trace])
        return ext(EXT_EXCEPTION, payload)
