"""The codec's nesting limit: deep values are refused with typed errors, never a crash."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import threading
from collections.abc import Callable
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from enum import Enum
from typing import Any
from uuid import UUID

import msgpack
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from pydantic import BaseModel

from wfcore._codec import MAX_DEPTH, Codec
from wfcore.errors import DecodeError, EncodeError

SMALL_STACK = 256 * 1024


class Box(BaseModel):
    item: Any = None


class Color(Enum):
    RED = "red"


def in_small_stack_thread(fn: Callable[[], Any]) -> Any:
    """Run ``fn`` in a thread with a 256 KiB stack; return its result or raise its error."""
    outcome: list[Any] = []

    def run() -> None:
        try:
            outcome.append(("ok", fn()))
        except BaseException as exc:
            outcome.append(("error", exc))

    previous = threading.stack_size(SMALL_STACK)
    try:
        thread = threading.Thread(target=run)
        thread.start()
        thread.join()
    finally:
        threading.stack_size(previous)
    [(kind, value)] = outcome
    if kind == "error":
        raise value
    return value


# ---------------------------------------------------------------------------------------------
# Hand-made deep bytes (built in linear time: headers are collected, then joined once)
# ---------------------------------------------------------------------------------------------


def _ext_header(code: int, length: int) -> bytes:
    if length < 0x100:
        return b"\xc7" + bytes((length, code))
    if length < 0x10000:
        return b"\xc8" + length.to_bytes(2, "big") + bytes((code,))
    return b"\xc9" + length.to_bytes(4, "big") + bytes((code,))


def deep_bytes(kinds: str, depth: int, leaf: bytes = b"\xc0") -> bytes:
    """``depth`` containers around ``leaf``, cycling through ``kinds``.

    Kinds: ``l`` list, ``d`` dict (the inner value under key 0), ``t`` tuple, ``s`` set,
    ``m`` model ``Box``, ``e`` exception ``ValueError``.
    """
    heads: list[bytes] = []
    tails: list[bytes] = []
    size = len(leaf)
    for level in range(depth):
        kind = kinds[level % len(kinds)]
        if kind == "l":
            head, tail = b"\x91", b""
        elif kind == "d":
            head, tail = b"\x81\x00", b""
        elif kind in "ts":
            body = 1 + size
            head = _ext_header(7 if kind == "t" else 8, body) + b"\x91"
            tail = b""
        elif kind == "m":
            name = msgpack.packb(f"{Box.__module__}.Box")
            body = 1 + len(name) + 1 + 5 + size
            head = _ext_header(10, body) + b"\x92" + name + b"\x81\xa4item"
            tail = b""
        else:
            name = msgpack.packb("builtins.ValueError")
            body = 1 + len(name) + 1 + size + 2
            head = _ext_header(11, body) + b"\x94" + name + b"\x91"
            tail = b"\xa0\xa0"
        heads.append(head)
        tails.append(tail)
        size += len(head) + len(tail)
    return b"".join(reversed(heads)) + leaf + b"".join(tails)


def test_deep_bytes_helper_builds_what_the_codec_reads() -> None:
    codec = Codec(types=[Box])
    assert deep_bytes("l", 2) == codec.encode([[None]])
    assert codec.decode(deep_bytes("ts", 2)) == {(None,)}
    assert codec.decode(deep_bytes("dm", 2)) == Box(item={0: None})
    error = codec.decode(deep_bytes("e", 1))
    assert type(error) is ValueError
    assert error.args == (None,)


# ---------------------------------------------------------------------------------------------
# The issue's reproducer, and far deeper data, in a separate process: a crash shows as -11
# ---------------------------------------------------------------------------------------------


_CHILD = textwrap.dedent(
    """
    import sys, threading
    sys.path[:0] = {paths!r}
    from tests.unit.test_codec_depth import Box, deep_bytes
    from wfcore._codec import Codec
    from wfcore.errors import DecodeError, EncodeError

    codec = Codec(types=[Box])
    results = []

    def run():
        value = None
        for _ in range(210):
            value = (value,)
        try:
            codec.decode(codec.encode(value))
            results.append("encoded")
        except EncodeError:
            results.append("EncodeError")
        for kinds, depth in {cases!r}:
            try:
                codec.decode(deep_bytes(kinds, depth))
                results.append("decoded")
            except DecodeError:
                results.append("DecodeError")

    run()
    threading.stack_size(256 * 1024)
    thread = threading.Thread(target=run)
    thread.start()
    thread.join()
    print(" ".join(results))
    """
)

CASES = [
    ("t", 210),  # the issue's value, as bytes the old encoder wrote
    ("l", 100_000),
    ("t", 100_000),
    ("lt", 100_000),
    ("ldtsme", 3_000),
    ("l", 1_000),
    ("m", 200),
]


def test_issue_reproducer_and_far_deeper_bytes_do_not_crash_a_process() -> None:
    # Given
    script = _CHILD.format(paths=sys.path, cases=CASES)

    # When: before the fix this process died of SIGSEGV (returncode -11)
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=120
    )

    # Then: once in the main thread, once in a 256 KiB thread
    assert done.returncode == 0, done.stderr[-2000:]
    expected = ["EncodeError"] + ["DecodeError"] * len(CASES)
    assert done.stdout.split() == expected * 2


# ---------------------------------------------------------------------------------------------
# Decoding deep bytes: refused with DecodeError, also in a thread with a small stack
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kinds", "depth"),
    [
        ("l", MAX_DEPTH + 1),
        ("d", MAX_DEPTH + 1),
        ("t", MAX_DEPTH + 1),
        ("s", MAX_DEPTH + 1),
        ("m", MAX_DEPTH + 1),
        ("e", MAX_DEPTH + 1),
        ("ltdsme", MAX_DEPTH + 1),
        ("l", 1_025),  # past msgpack's own stack
        ("l", 100_000),
        ("t", 100_000),
        ("tl", 100_000),
        ("lllllt", 100_000),
        ("ldtsme", 3_000),
    ],
)
def test_deep_bytes_are_a_decode_error_in_a_small_stack_thread(kinds: str, depth: int) -> None:
    # Given
    data = deep_bytes(kinds, depth)
    codec = Codec(types=[Box])

    # When
    with pytest.raises(DecodeError) as exc_info:
        in_small_stack_thread(lambda: codec.decode(data, what="result of 'x'"))

    # Then
    message = str(exc_info.value)
    assert message.startswith(f"cannot decode result of 'x': it nests more than {MAX_DEPTH}")
    assert "corrupt or was crafted" in message


@pytest.mark.parametrize("kinds", ["l", "d", "t", "m", "e", "ltdme", "mt", "lllt"])
def test_bytes_exactly_at_the_limit_decode_in_a_small_stack_thread(kinds: str) -> None:
    # Given
    data = deep_bytes(kinds, MAX_DEPTH)
    codec = Codec(types=[Box])

    # When
    value = in_small_stack_thread(lambda: codec.decode(data))

    # Then: the value is as deep as the bytes
    depth = 0
    while value is not None:
        depth += 1
        if isinstance(value, dict):
            value = value[0]
        elif isinstance(value, Box):
            value = value.item
        elif isinstance(value, ValueError):
            value = value.args[0]
        else:
            [value] = list(value)
    assert depth == MAX_DEPTH


def test_deep_value_inside_a_big_shallow_value_is_refused() -> None:
    # Given: past the cheap size tests, so the exact checks decide
    filler = [{"id": i, "name": f"item-{i}"} for i in range(2000)]
    deep = msgpack.unpackb(deep_bytes("l", MAX_DEPTH))
    codec = Codec()
    data = msgpack.packb([*filler, deep])

    # When
    with pytest.raises(DecodeError, match=f"nests more than {MAX_DEPTH} levels"):
        codec.decode(data)

    # Then: one level shallower decodes
    assert codec.decode(msgpack.packb([*filler, deep[0]]))[-1] == deep[0]


def test_deep_tuple_inside_a_big_value_is_refused() -> None:
    # Given: the tuples sit deep in plain lists; the total is what counts
    filler = list(range(5000))
    data = msgpack.packb([filler, msgpack.unpackb(deep_bytes("l", MAX_DEPTH - 2))])
    inner = deep_bytes("t", 2)
    data = data[: -len(msgpack.packb(None))] + inner

    # When / Then
    with pytest.raises(DecodeError, match=f"nests more than {MAX_DEPTH} levels"):
        Codec().decode(data)


# ---------------------------------------------------------------------------------------------
# msgpack's Timestamp extension: never written by wfcore, refused when read
# ---------------------------------------------------------------------------------------------

_TIMESTAMPS = [
    msgpack.packb(msgpack.Timestamp(1)),  # fixext 4
    msgpack.packb(msgpack.Timestamp(1, 5)),  # fixext 8
    msgpack.packb(msgpack.Timestamp(2**40, 5)),  # ext 8 of 12 bytes
]


@pytest.mark.parametrize("stamp", _TIMESTAMPS)
@pytest.mark.parametrize(
    "wrap",
    [
        lambda s: s,
        lambda s: b"\x92\x01" + s,
        lambda s: b"\x81" + s + b"\x01",  # as a map key
        lambda s: _ext_header(7, len(s) + 1) + b"\x91" + s,  # inside a tuple
        lambda s: (
            _ext_header(7, len(s) + 5) + b"\x91" + _ext_header(7, len(s) + 1) + b"\x91" + s
        ),  # inside a tuple inside a tuple
        lambda s: b"\xdc\x00\x64" + b"\xc0" * 99 + s,  # past the cheap size test
    ],
)
def test_msgpack_timestamp_is_a_decode_error(stamp: bytes, wrap: Callable[[bytes], bytes]) -> None:
    # When
    with pytest.raises(DecodeError) as exc_info:
        Codec().decode(wrap(stamp), what="entry")

    # Then
    assert "msgpack Timestamp (extension type code -1), which wfcore never writes" in str(
        exc_info.value
    )


def test_timestamp_lookalike_bytes_in_a_string_decode() -> None:
    # Given: the bytes d6 ff inside binary data are not a Timestamp
    value = {"blob": b"\xd6\xff\xd7\xff\xc7\x0c\xff" * 50, "n": -1}

    # When / Then
    assert Codec().decode(Codec().encode(value)) == value


# ---------------------------------------------------------------------------------------------
# Encoding: deeper than the limit is an EncodeError naming the value, the limit, the remedy
# ---------------------------------------------------------------------------------------------


def _nest(kind: str, inner: Any) -> Any:
    if kind == "l":
        return [inner]
    if kind == "d":
        return {"k": inner}
    if kind == "t":
        return (inner,)
    if kind == "f":
        return frozenset([inner]) if _hashable(inner) else (inner,)
    if kind == "m":
        return Box(item=inner)
    return ValueError(inner)


@pytest.mark.parametrize("kinds", ["l", "d", "t", "f", "m", "ltdfm", "mt"])
def test_value_past_the_limit_is_an_encode_error(kinds: str) -> None:
    # Given
    value: Any = None
    for level in range(MAX_DEPTH + 1):
        value = _nest(kinds[level % len(kinds)], value)
    codec = Codec()

    # When
    with pytest.raises(EncodeError) as exc_info:
        in_small_stack_thread(lambda: codec.encode(value, what="result of task 'report'"))

    # Then
    message = str(exc_info.value)
    assert message.startswith(
        f"cannot encode result of task 'report': it nests more than {MAX_DEPTH}"
    )
    assert f"over the limit of {MAX_DEPTH}" in message
    assert "store it flatter" in message


@pytest.mark.parametrize("kinds", ["l", "d", "t", "f", "m", "ltdfm", "mt"])
def test_value_at_the_limit_round_trips_in_a_small_stack_thread(kinds: str) -> None:
    # Given
    value: Any = None
    for level in range(MAX_DEPTH):
        value = _nest(kinds[level % len(kinds)], value)
    codec = Codec(types=[Box])

    # When
    decoded = in_small_stack_thread(lambda: codec.decode(codec.encode(value)))

    # Then
    assert _normal(decoded) == _normal(value)


def test_far_too_deep_value_is_an_encode_error() -> None:
    # Given
    value: Any = None
    for _ in range(100_000):
        value = [value]

    # When / Then
    with pytest.raises(EncodeError, match=f"nests more than {MAX_DEPTH}"):
        Codec().encode(value)


def test_exception_with_too_deeply_nested_arguments_keeps_its_message() -> None:
    # Given: storing an error must not fail, wherever it sits
    inner: Any = "bottom"
    for _ in range(MAX_DEPTH // 2):
        inner = [inner]
    error = KeyError(inner)
    codec = Codec()

    # When
    decoded = codec.decode(codec.encode([[error]]))

    # Then
    [[copy]] = decoded
    assert type(copy) is KeyError
    assert copy.args == (str(error),)


def test_exception_with_arguments_within_half_the_limit_keeps_them() -> None:
    # Given
    inner: Any = "bottom"
    for _ in range(MAX_DEPTH // 2 - 1):
        inner = [inner]
    codec = Codec()

    # When
    copy = codec.decode(codec.encode(KeyError(inner)))

    # Then
    assert copy.args == (inner,)


# ---------------------------------------------------------------------------------------------
# Property: nested mixes of every container and extension type
# ---------------------------------------------------------------------------------------------

_LEAVES = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**63), 2**64 - 1),
    st.floats(allow_nan=False),
    st.text(max_size=5),
    st.binary(max_size=5),
    st.datetimes(timezones=st.sampled_from([None, UTC])),
    st.dates(),
    st.times(),
    st.timedeltas(),
    st.uuids(),
    st.decimals(allow_nan=False, places=2),
    st.just(Color.RED),
)
_KINDS = st.sampled_from("ldktsfm" * 4 + "e")  # few exceptions: they cut deep arguments


def _hashable(value: Any) -> bool:
    try:
        hash(value)
    except TypeError:
        return False
    return True


def _wrap(kind: str, inner: Any, sibling: Any) -> tuple[Any, int]:
    """``inner`` inside a container of ``kind`` (with a scalar sibling); the levels it adds."""
    if kind in "ksf" and not _hashable(inner):
        kind = "t"
    if kind == "l":
        return [sibling, inner], 1
    if kind == "d":
        return {"a": sibling, "b": inner}, 1
    if kind == "k":
        return {inner: sibling}, 1
    if kind == "t":
        return (inner, sibling), 1
    if kind == "s":
        return {inner, "s"}, 1
    if kind == "f":
        return frozenset([inner]), 1
    if kind == "m":
        return Box(item=[sibling, inner]), 2  # the model, then its field's list
    return ValueError(inner, sibling), 1


@st.composite
def _nested(draw: st.DrawFn) -> tuple[Any, int, bool]:
    """A value, its nesting depth, and whether an exception's arguments got too deep."""
    value = draw(_LEAVES)
    depth = 0
    args_dropped = False
    size = draw(st.integers(0, MAX_DEPTH + 8))
    for kind in draw(st.lists(_KINDS, min_size=size, max_size=size)):
        value, levels = _wrap(kind, value, draw(_LEAVES))
        if isinstance(value, ValueError) and depth + 1 > MAX_DEPTH // 2:
            # Arguments deeper than half the limit are replaced by the message.
            args_dropped = True
            depth = 1
        else:
            depth += levels
    return value, depth, args_dropped


def _normal(value: Any) -> Any:
    """Comparable form: exceptions by type, Enum members by value, models by their fields."""
    if isinstance(value, BaseException):
        # Arguments past half the limit become the message (tested on their own above).
        return ("exception", type(value).__name__)
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, list):
        return [_normal(v) for v in value]
    if isinstance(value, tuple):
        return tuple(_normal(v) for v in value)
    if isinstance(value, dict):
        return {_normal(k): _normal(v) for k, v in value.items()}
    if isinstance(value, (set, frozenset)):
        return frozenset(_normal(v) for v in value)
    if isinstance(value, Box):
        # A model inside a model's Any field comes back as its fields (model_dump's doing).
        return {"item": _normal(value.item)}
    return value


@settings(max_examples=300, deadline=None)
@given(_nested())
def test_nested_mixes_round_trip_within_the_limit_and_are_refused_beyond(
    case: tuple[Any, int, bool],
) -> None:
    value, depth, _ = case
    codec = Codec(types=[Box])
    if depth <= MAX_DEPTH:
        assert _normal(codec.decode(codec.encode(value))) == _normal(value)
    else:
        with pytest.raises(EncodeError, match=f"nests more than {MAX_DEPTH}"):
            codec.encode(value)


def test_property_covers_both_sides_of_the_limit() -> None:
    # The strategy reaches past the limit and stays within it (guards the property's reach).
    seen: set[bool] = set()

    @settings(max_examples=300, deadline=None, database=None)
    @given(_nested())
    def probe(case: tuple[Any, int, bool]) -> None:
        seen.add(case[1] > MAX_DEPTH)

    probe()
    assert seen == {True, False}


def test_leaf_types_are_not_levels() -> None:
    # Datetimes, UUIDs, Decimals ... are scalars: MAX_DEPTH lists around them still encode.
    leaf: list[Any] = [
        datetime(2024, 1, 1),
        date(2024, 1, 1),
        time(1),
        timedelta(1),
        UUID(int=1),
        Decimal("1.5"),
    ]
    value: Any = leaf
    for _ in range(MAX_DEPTH - 1):
        value = [value]
    codec = Codec()
    assert codec.decode(codec.encode(value)) == value
