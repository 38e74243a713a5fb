"""The codec's nesting limit and the cheap checks that enforce it without recursing in C."""

from __future__ import annotations

from enum import Enum
from typing import Any

import msgpack
from pydantic import BaseModel

__all__ = [
    "MAX_DEPTH",
    "TOO_DEEP",
    "Nested",
    "TooDeepError",
    "may_hold_timestamp",
    "shallow",
    "value_within",
    "within_depth",
]

MAX_DEPTH = 32
"""Most containers (list, dict, tuple, set, frozenset, pydantic model, exception) one stored
value may nest, counted together along any path. A model's fields and an exception's
arguments sit one level below it.

Not higher: pydantic validates (and dumps) nested models recursively on the C stack, about
4 KiB a level, and a 256 KiB thread stack crashed at 58 levels of nested models."""

TOO_DEEP = (
    f"it nests more than {MAX_DEPTH} levels of containers (lists, dicts, tuples, sets, "
    "pydantic models and exceptions count together)"
)

# msgpack's C unpacker keeps open containers in a fixed stack of this many entries (checked:
# 1024 nested arrays unpack, 1025 raise StackError); it never recurses on the C stack for them.
_MSGPACK_STACK = 1024
_WRAPPERS = b"\x91" * _MSGPACK_STACK  # arrays of one element: each nests what follows once

# The msgpack array and map headers (fix, 16- and 32-bit forms): a value nests at most as
# deep as it has bytes among these. (Few to delete keeps bytes.translate cheap.)
_CONTAINER_HEADERS = bytes([*range(0x80, 0xA0), *range(0xDC, 0xE0)])
# Past this size within_depth (about as fast per byte, and exact) is the better test.
_COUNT_LIMIT = 8192
# Past this many 0xff bytes, may_hold_timestamp searches for the headers directly.
_FF_LOOKS = 32


class TooDeepError(Exception):
    """Raised while encoding or decoding past MAX_DEPTH; turned into a typed error."""


class Nested:
    """Stands in, during decoding, for a tuple, set, model or exception not yet built.

    The extension hook returns one instead of unpacking the payload in place: unpacking from
    inside the hook would nest a C unpacker (about 40 KiB of C stack) per level.
    """

    __slots__ = ("code", "payload")

    def __init__(self, code: int, payload: bytes) -> None:
        self.code = code
        self.payload = payload


def shallow(data: bytes | bytearray, budget: int) -> bool:
    """True when ``data`` certainly nests at most ``budget`` arrays and maps; C speed.

    False means only "maybe deeper" (or too big to count cheaply): :func:`within_depth`
    decides exactly.
    """
    size = len(data)
    return size <= budget or (
        size <= _COUNT_LIMIT and size - len(data.translate(None, _CONTAINER_HEADERS)) <= budget
    )


def within_depth(data: bytes | bytearray, budget: int) -> bool:
    """True when the arrays and maps of ``data`` nest at most ``budget`` deep.

    Extension payloads count as scalars here. The check lets msgpack's own C unpacker skip
    the data inside ``1024 - budget`` wrapping arrays, so its fixed stack overflows (a
    StackError, not a crash) exactly when ``data`` is deeper; nothing is built.
    """
    if budget < 0:
        return False
    if budget >= _MSGPACK_STACK:
        return True
    unpacker = msgpack.Unpacker(max_buffer_size=len(data) + _MSGPACK_STACK)
    unpacker.feed(_WRAPPERS[: _MSGPACK_STACK - budget])
    unpacker.feed(data)
    try:
        unpacker.skip()
    except msgpack.StackError:
        return False
    return True


def may_hold_timestamp(data: bytes | bytearray) -> bool:
    """False when ``data`` certainly holds no msgpack Timestamp; C speed.

    The only encodings of a Timestamp (extension type -1) are fixext 4 (``d6 ff``), fixext 8
    (``d7 ff``) and ext 8 of 12 bytes (``c7 0c ff``); msgpack builds Timestamp objects itself,
    without calling the extension hook.
    """
    find = data.find
    at = find(0xFF, 1)
    for _ in range(_FF_LOOKS):
        if at < 0:
            return False
        before = data[at - 1]
        if before == 0xD6 or before == 0xD7 or (before == 0x0C and data[at - 2] == 0xC7):
            return True
        at = find(0xFF, at + 1)
    return b"\xd6\xff" in data or b"\xd7\xff" in data or b"\xc7\x0c\xff" in data


_SCALARS = frozenset({type(None), bool, int, float, str, bytes})
_SEQUENCES = (list, tuple, set, frozenset)


def value_within(value: Any, budget: int, *, exceptions: bool = False) -> bool:
    """True when the Python ``value`` nests at most ``budget`` containers.

    A Python walk with its own stack (no recursion), for checks before ``model_dump`` (which
    recurses on the C stack) and of an exception's arguments. A model counts its fields one
    level down; an exception is a scalar (``model_dump`` leaves them to the codec, which
    bounds their arguments on its own) unless ``exceptions``, then its arguments count.
    """
    stack = [(value, 0)]
    while stack:
        item, enclosing = stack.pop()
        members: Any
        if type(item) in _SCALARS:
            continue
        if isinstance(item, _SEQUENCES):
            members = item
        elif isinstance(item, dict):
            members = [*item, *item.values()]
        elif isinstance(item, BaseModel):
            members = [*item.__dict__.values(), *(item.__pydantic_extra__ or {}).values()]
        elif exceptions and isinstance(item, BaseException):
            members = item.args
        elif isinstance(item, Enum):
            stack.append((item.value, enclosing))
            continue
        else:
            continue
        if enclosing >= budget:
            return False
        stack.extend((member, enclosing + 1) for member in members)
    return True
