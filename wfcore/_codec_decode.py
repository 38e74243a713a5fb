"""Decoding stored bytes into values, depth-bounded and without ever recursing in C."""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import Any

import msgpack
from pydantic import BaseModel, ValidationError

from wfcore._codec_errors import BUILTIN_EXCEPTIONS, RemoteError
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
)
from wfcore._codec_limits import (
    MAX_DEPTH,
    Nested,
    TooDeepError,
    may_hold_timestamp,
    shallow,
    within_depth,
)

__all__ = ["Decoding", "MalformedError"]

_unpackb = msgpack.unpackb

# Extension codes whose payload holds other values, built once their members are decoded.
_NESTED_CODES = frozenset({EXT_TUPLE, EXT_SET, EXT_FROZENSET, EXT_MODEL, EXT_EXCEPTION})
# In these payloads the member at this index is the value's own body (a model's fields, an
# exception's arguments): it is not a level of its own.
_BODY = {EXT_MODEL: 1, EXT_EXCEPTION: 1}
# Built in the extension hook when shallow enough: cheap, and no user code runs.
_SEQUENCES: dict[int, Callable[[list[Any]], Any]] = {
    EXT_TUPLE: tuple,
    EXT_SET: set,
    EXT_FROZENSET: frozenset,
}
# What a decoding walk must look into: containers, stand-ins and msgpack Timestamps.
_UNRESOLVED = frozenset({list, dict, Nested, msgpack.Timestamp})


class MalformedError(Exception):
    """Raised while decoding; turned into DecodeError once ``what`` is known."""


def malformed(code: int, error: Exception) -> MalformedError:
    return MalformedError(
        f"malformed {EXT_NAMES[code]} (extension type code {code}): {type(error).__name__}: {error}"
    )


def _not_an_array(code: int, members: object) -> MalformedError:
    return MalformedError(
        f"malformed {EXT_NAMES[code]} (extension type code {code}): "
        f"expected an array, got {type(members).__qualname__!r}"
    )


def _unknown(code: int) -> MalformedError:
    return MalformedError(f"unknown extension type code {code}")


class _HoldsNested(Exception):
    """Stops the one-pass decode: the value holds a tuple, set, model or exception."""


_HOLDS_NESTED = _HoldsNested()


class Decoding:
    """The decoding half of :class:`~wfcore._codec.Codec`: registries and the walk.

    Extension payloads are never unpacked from inside msgpack's extension hook, which would
    nest a C unpacker (about 40 KiB of C stack) per level: the hook returns a ``Nested``
    stand-in and ``_resolve`` builds them once the unpacker has returned. That walk is a
    Python recursion bounded by ``MAX_DEPTH``; plain arrays and maps nest in msgpack's own
    fixed stack, and ``within_depth`` checks them at C speed.
    """

    def __init__(self, unregistered_model: Callable[[str, Any], Any] | None = None) -> None:
        self._unregistered_model = unregistered_model
        self._models: dict[str, type[BaseModel]] = {}
        self._exceptions: dict[str, type[Exception]] = {}
        self._leaves: dict[int, Callable[[bytes], Any]] = {
            EXT_DATETIME: decode_datetime,
            EXT_DATE: decode_date,
            EXT_TIME: decode_time,
            EXT_TIMEDELTA: decode_timedelta,
            EXT_UUID: decode_uuid,
            EXT_DECIMAL: decode_decimal,
        }
        self._builders: dict[int, Callable[[list[Any]], Any]] = {
            EXT_TUPLE: tuple,
            EXT_SET: set,
            EXT_FROZENSET: frozenset,
            EXT_MODEL: self._decode_model,
            EXT_EXCEPTION: self._decode_exception,
        }

    def _unpack(self, data: bytes | bytearray) -> Any:
        """Decode a whole stored value."""
        try:
            if len(data) <= MAX_DEPTH or shallow(data, MAX_DEPTH):
                # Too few containers to nest too deep: the hook may build a tuple or set of
                # flat values in place (two C unpackers deep at most).
                value = _unpackb(data, ext_hook=self._shallow_hook, raw=False, strict_map_key=False)
            else:
                value = _unpackb(data, ext_hook=self._flat_hook, raw=False, strict_map_key=False)
                if not within_depth(data, MAX_DEPTH):
                    raise TooDeepError
            if 0xFF in data and may_hold_timestamp(data):
                raise _HOLDS_NESTED
        except _HoldsNested:
            # The general case: stand-ins now, built by the walk once the unpacker returned.
            return self._resolve(self._unpackb(data, []), 0)
        return value

    def _flat_hook(self, code: int, payload: bytes) -> Any:
        decoder = self._leaves.get(code)
        if decoder is None:
            raise _HOLDS_NESTED if code in _NESTED_CODES else _unknown(code)
        try:
            return decoder(payload)
        except Exception as e:
            raise malformed(code, e) from e

    def _shallow_hook(self, code: int, payload: bytes) -> Any:
        build = _SEQUENCES.get(code)
        if build is None:
            return self._flat_hook(code, payload)
        if 0xFF in payload and may_hold_timestamp(payload):
            raise _HOLDS_NESTED
        items = _unpackb(payload, ext_hook=self._flat_hook, raw=False, strict_map_key=False)
        if type(items) is not list:
            raise _not_an_array(code, items)
        try:
            return build(items)
        except Exception as e:
            raise malformed(code, e) from e

    def _unpackb(self, data: bytes | bytearray, nested: list[Nested]) -> Any:
        leaves = self._leaves

        def hook(code: int, payload: bytes) -> Any:
            decoder = leaves.get(code)
            if decoder is not None:
                try:
                    return decoder(payload)
                except Exception as e:
                    raise malformed(code, e) from e
            if code in _NESTED_CODES:
                item = Nested(code, payload)
                nested.append(item)
                return item
            raise _unknown(code)

        return _unpackb(data, ext_hook=hook, raw=False, strict_map_key=False)

    def _resolve(self, value: Any, enclosing: int) -> Any:
        """``value`` (inside ``enclosing`` containers) with every stand-in built."""
        kind = type(value)
        if kind is Nested:
            if enclosing >= MAX_DEPTH:
                raise TooDeepError
            return self._build(value, enclosing + 1)
        if kind is list or kind is dict:
            if enclosing >= MAX_DEPTH:
                raise TooDeepError
            return self._resolve_members(value, enclosing + 1)
        if kind is msgpack.Timestamp:
            raise MalformedError(
                "it holds a msgpack Timestamp (extension type code -1), which wfcore never "
                "writes; the data is corrupt or was not written by wfcore"
            )
        return value

    def _resolve_members(self, container: Any, level: int) -> Any:
        """Resolve, in place, the members of a list or dict that is at ``level``."""
        if type(container) is list:
            for index, item in enumerate(container):
                if type(item) in _UNRESOLVED:
                    container[index] = self._resolve(item, level)
            return container
        rekey = False
        for key, item in list(container.items()):
            if type(item) in _UNRESOLVED:
                container[key] = self._resolve(item, level)
            rekey = rekey or type(key) in _UNRESOLVED
        if rekey:  # a tuple or frozenset key: rebuilt in order once its stand-in is built
            items = [(self._resolve(key, level), item) for key, item in container.items()]
            container.clear()
            container.update(items)
        return container

    def _build(self, item: Nested, level: int) -> Any:
        """The tuple, set, model or exception ``item`` stands in for, at ``level``."""
        code, payload = item.code, item.payload
        nested: list[Nested] = []
        members = self._unpackb(payload, nested)
        if type(members) is not list:
            raise _not_an_array(code, members)
        body = _BODY.get(code)
        if not nested:
            # The payload's array (and a body) hold the members without being levels.
            budget = MAX_DEPTH - level + (1 if body is None else 2)
            if not shallow(payload, budget) and not within_depth(payload, budget):
                raise TooDeepError
        if nested or (0xFF in payload and may_hold_timestamp(payload)):
            for index, member in enumerate(members):
                kind = type(member)
                if index == body and (kind is list or kind is dict):
                    self._resolve_members(member, level)
                elif kind in _UNRESOLVED:
                    members[index] = self._resolve(member, level)
        try:
            return self._builders[code](members)
        except MalformedError:
            raise
        except Exception as e:
            raise malformed(code, e) from e

    def _decode_model(self, items: list[Any]) -> Any:
        if len(items) != 2 or type(items[0]) is not str:
            raise ValueError("expected [class name, data]")
        name, data = items
        cls = self._models.get(name)
        if cls is None and self._unregistered_model is not None:
            return self._unregistered_model(name, data)
        if cls is None:
            raise MalformedError(
                f"pydantic model {name!r} is not registered with this codec; register the "
                "class before decoding with codec.register(cls) (app.register_type(cls) on an "
                "App)"
            )
        try:
            return cls.model_validate(data)
        except ValidationError as e:
            raise MalformedError(
                f"stored data for pydantic model {name!r} does not validate against the "
                f"registered class: {e}"
            ) from e

    def _decode_exception(self, items: list[Any]) -> Exception:
        if (
            len(items) != 4
            or type(items[0]) is not str
            or type(items[1]) is not list
            or type(items[2]) is not str
            or type(items[3]) is not str
        ):
            raise ValueError("expected [type name, args, message, traceback]")
        name, args, message, trace = items
        cls = self._exceptions.get(name) or BUILTIN_EXCEPTIONS.get(name)
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
