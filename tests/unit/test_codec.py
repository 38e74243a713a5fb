"""Tests for wfcore._codec: round trips, error reporting and safety of decoding."""

from __future__ import annotations

import enum
import math
import pickle
import sys
import threading
from collections import OrderedDict, defaultdict, namedtuple
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime, time, timedelta, timezone, tzinfo
from decimal import Decimal
from typing import Any
from uuid import UUID, uuid4

import msgpack
import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import BaseModel

from wfcore._codec import DEFAULT_MAX_SIZE, Codec, RemoteError
from wfcore.errors import ConfigurationError, DecodeError, EncodeError

# ---------------------------------------------------------------------------------------------
# Helpers
# ---------------------------------------------------------------------------------------------


def assert_same(expected: Any, actual: Any) -> None:
    """Assert ``actual`` is an exact copy of ``expected``: same types, offsets, NaNs, -0."""
    assert type(actual) is type(expected), f"{type(actual)} is not {type(expected)}"
    if isinstance(expected, float):
        # repr tells -0.0 from 0.0 and is equal for two NaNs.
        assert repr(actual) == repr(expected)
    elif isinstance(expected, Decimal):
        # str keeps the exponent, the sign of zero and the kind of NaN, and never raises.
        assert str(actual) == str(expected)
    elif isinstance(expected, datetime):
        assert actual.replace(tzinfo=None) == expected.replace(tzinfo=None)
        assert actual.utcoffset() == expected.utcoffset()
        assert actual.fold == expected.fold
    elif isinstance(expected, time):
        assert actual.replace(tzinfo=None) == expected.replace(tzinfo=None)
        assert actual.utcoffset() == expected.utcoffset()
    elif isinstance(expected, (list, tuple)):
        assert len(actual) == len(expected)
        for expected_item, actual_item in zip(expected, actual, strict=True):
            assert_same(expected_item, actual_item)
    elif isinstance(expected, dict):
        assert list(actual) == list(expected)
        for key, expected_item in expected.items():
            assert_same(expected_item, actual[key])
    elif isinstance(expected, (set, frozenset)):
        assert actual == expected
        assert sorted(type(item).__name__ for item in actual) == sorted(
            type(item).__name__ for item in expected
        )
    else:
        assert actual == expected


def unimported_module() -> str:
    """Name of a stdlib module this process has not imported (so an import would show)."""
    for name in ("smtplib", "ftplib", "imaplib", "poplib", "nntplib", "telnetlib", "mailbox"):
        if name not in sys.modules:
            return name
    raise AssertionError("every candidate module is already imported")


# ---------------------------------------------------------------------------------------------
# Strategies
# ---------------------------------------------------------------------------------------------

_MICROSECONDS_PER_DAY = 24 * 3600 * 10**6

fixed_offsets = st.integers(-_MICROSECONDS_PER_DAY + 1, _MICROSECONDS_PER_DAY - 1).map(
    lambda us: timezone(timedelta(microseconds=us))
)
# Hours-and-minutes offsets are the common case; arbitrary microsecond offsets the edge one.
offsets: st.SearchStrategy[tzinfo] = (
    st.integers(-24 * 60 + 1, 24 * 60 - 1).map(lambda minutes: timezone(timedelta(minutes=minutes)))
    | fixed_offsets
)
timezones: st.SearchStrategy[tzinfo | None] = st.none() | offsets
# Years 1 and 9999 are avoided only because hashing an aware datetime there overflows.
_FIRST, _LAST = datetime(2, 1, 1), datetime(9998, 12, 31)
datetimes = st.datetimes(_FIRST, _LAST) | st.datetimes(_FIRST, _LAST, timezones=offsets)
msgpack_ints = st.integers(-(2**63), 2**64 - 1)

hashable_leaves = (
    st.none()
    | st.booleans()
    | msgpack_ints
    | st.floats(allow_nan=False)
    | st.text()
    | st.binary()
    | datetimes
    | st.dates()
    | st.times(timezones=timezones)
    | st.timedeltas()
    | st.uuids()
    | st.decimals(allow_nan=False)
)
hashables = st.recursive(
    hashable_leaves,
    lambda children: (
        st.lists(children, max_size=4).map(tuple) | st.frozensets(children, max_size=4)
    ),
    max_leaves=5,
)
leaves = hashable_leaves | st.floats() | st.decimals(allow_nan=True, allow_infinity=True)
values = st.recursive(
    leaves,
    lambda children: (
        st.lists(children, max_size=5)
        | st.lists(children, max_size=5).map(tuple)
        | st.dictionaries(hashables, children, max_size=5)
        | st.sets(hashables, max_size=5)
        | st.frozensets(hashables, max_size=5)
    ),
    max_leaves=10,
)


# ---------------------------------------------------------------------------------------------
# Test types
# ---------------------------------------------------------------------------------------------


class Color(enum.Enum):
    RED = "red"
    WHERE = (1, 2)


class Priority(enum.IntEnum):
    HIGH = 1


class Mode(enum.StrEnum):
    FAST = "fast"


class Address(BaseModel):
    city: str
    moved_in: datetime


class Customer(BaseModel):
    id: UUID
    name: str
    address: Address
    tags: tuple[str, ...] = ()
    balance: Decimal = Decimal("0")


class PaymentDeclinedError(Exception):
    """A user exception that no codec registers unless a test does."""


class NeedsTwoArgsError(Exception):
    def __init__(self, code: int, reason: str) -> None:
        super().__init__(code, reason)
        self.code = code
        self.reason = reason


class Point(namedtuple("Point", "x y")):
    """A tuple subclass."""


class Label(str):
    """A str subclass that would encode as something else if its __str__ were used."""

    def __str__(self) -> str:
        return "overridden"


def raise_value_error() -> None:
    raise ValueError("x")


def caught(raiser: Callable[[], None]) -> BaseException:
    try:
        raiser()
    except BaseException as e:
        return e
    raise AssertionError("did not raise")


# ---------------------------------------------------------------------------------------------
# Property tests
# ---------------------------------------------------------------------------------------------


@given(values)
def test_round_trip_keeps_value_and_types(value: Any) -> None:
    codec = Codec()

    decoded = codec.decode(codec.encode(value))

    assert_same(value, decoded)


@given(st.lists(st.text() | msgpack_ints | st.binary() | st.uuids(), unique=True, max_size=20))
def test_equal_sets_encode_to_equal_bytes_whatever_the_insertion_order(items: list[Any]) -> None:
    codec = Codec()

    forward = codec.encode({"s": set(items), "f": frozenset(items)})
    backward = codec.encode({"s": set(reversed(items)), "f": frozenset(reversed(items))})

    assert forward == backward


@given(values, st.data())
def test_every_truncation_is_a_decode_error(value: Any, data: st.DataObject) -> None:
    codec = Codec()
    encoded = codec.encode(value)
    cut = data.draw(st.integers(0, len(encoded) - 1))

    with pytest.raises(DecodeError):
        codec.decode(encoded[:cut])


@given(st.binary(max_size=64))
def test_arbitrary_bytes_decode_or_raise_decode_error_only(data: bytes) -> None:
    codec = Codec()

    error: DecodeError | None = None
    try:
        codec.decode(data)
    except DecodeError as e:
        error = e

    assert error is None or str(error).startswith("cannot decode value: ")


# ---------------------------------------------------------------------------------------------
# Scalars and containers
# ---------------------------------------------------------------------------------------------


def test_aware_datetime_keeps_its_utc_offset() -> None:
    # Given
    codec = Codec()
    value = datetime(2024, 5, 17, 9, 30, 15, 123456, tzinfo=timezone(timedelta(hours=2)))

    # When
    decoded = codec.decode(codec.encode(value))

    # Then
    assert decoded == value
    assert decoded.utcoffset() == timedelta(hours=2)
    assert decoded.isoformat() == "2024-05-17T09:30:15.123456+02:00"


def test_utc_datetime_decodes_with_the_utc_singleton() -> None:
    # Given
    codec = Codec()
    value = datetime(2024, 5, 17, 9, 30, tzinfo=UTC)

    # When
    decoded = codec.decode(codec.encode(value))

    # Then
    assert decoded.tzinfo is UTC


def test_naive_datetime_stays_naive() -> None:
    # Given
    codec = Codec()
    value = datetime(2024, 5, 17, 9, 30, 15, 7)

    # When
    decoded = codec.decode(codec.encode(value))

    # Then
    assert decoded.tzinfo is None
    assert decoded == value


def test_date_time_and_timedelta_are_exact() -> None:
    # Given
    codec = Codec()
    value = [
        date(2024, 2, 29),
        time(23, 59, 59, 999999),
        time(8, 0, tzinfo=timezone(timedelta(hours=-5, minutes=-30))),
        timedelta(days=-3, microseconds=-1),
        timedelta(microseconds=1),
    ]

    # When
    decoded = codec.decode(codec.encode(value))

    # Then
    assert_same(value, decoded)
    assert type(decoded[0]) is date  # not a datetime, which is a date subclass
    assert decoded[3] == timedelta(days=-3, microseconds=-1)


@pytest.mark.parametrize(
    "text", ["1.10", "-0", "0E-7", "NaN", "-NaN", "sNaN", "Infinity", "-Infinity", "1E+999999"]
)
def test_decimal_is_exact(text: str) -> None:
    # Given
    codec = Codec()
    value = Decimal(text)

    # When
    decoded = codec.decode(codec.encode(value))

    # Then
    assert type(decoded) is Decimal
    assert str(decoded) == str(value)


def test_uuid_round_trips() -> None:
    # Given
    codec = Codec()
    value = uuid4()

    # When
    decoded = codec.decode(codec.encode(value))

    # Then
    assert type(decoded) is UUID
    assert decoded == value
    assert str(decoded) == str(value)
    assert hash(decoded) == hash(value)


def test_tuple_stays_tuple_even_nested() -> None:
    # Given
    codec = Codec()
    value = {"k": [(1, (2, "b")), ()], (3, 4): "tuple key"}

    # When
    decoded = codec.decode(codec.encode(value))

    # Then
    assert decoded == value
    assert type(decoded["k"][0]) is tuple
    assert type(decoded["k"][0][1]) is tuple
    assert decoded["k"][1] == ()
    assert decoded[(3, 4)] == "tuple key"


def test_set_and_frozenset_keep_their_type() -> None:
    # Given
    codec = Codec()
    value = [{1, "a", (2, 3)}, frozenset({b"x", frozenset({4})}), set()]

    # When
    decoded = codec.decode(codec.encode(value))

    # Then
    assert decoded == value
    assert [type(item) for item in decoded] == [set, frozenset, set]


def test_non_str_dict_keys_are_kept() -> None:
    # Given
    codec = Codec()
    value = {1: "int", None: "none", b"k": "bytes", (1, "a"): "tuple", 2.5: "float"}

    # When
    decoded = codec.decode(codec.encode(value))

    # Then
    assert decoded == value
    assert list(decoded) == list(value)


def test_enum_members_encode_as_their_plain_value() -> None:
    # Given
    codec = Codec()
    value = [Color.RED, Color.WHERE, Priority.HIGH, Mode.FAST]

    # When
    decoded = codec.decode(codec.encode(value))

    # Then: the enum type is not kept, only the value
    assert decoded == ["red", (1, 2), 1, "fast"]
    assert [type(item) for item in decoded] == [str, tuple, int, str]


def test_subclasses_of_basic_types_decode_as_the_base_type() -> None:
    # Given
    codec = Codec()
    counts: defaultdict[str, int] = defaultdict(int, {"a": 1})
    value = [OrderedDict(b=2), counts, Label("label"), Point(1, 2), bytearray(b"raw")]

    # When
    decoded = codec.decode(codec.encode(value))

    # Then
    assert decoded == [{"b": 2}, {"a": 1}, "label", (1, 2), b"raw"]
    assert [type(item) for item in decoded] == [dict, dict, str, tuple, bytes]


def test_bool_int_and_float_are_not_confused() -> None:
    # Given
    codec = Codec()
    value = [True, 1, 1.0, 0, False, -0.0, 2**64 - 1, -(2**63)]

    # When
    decoded = codec.decode(codec.encode(value))

    # Then
    assert_same(value, decoded)


# ---------------------------------------------------------------------------------------------
# Pydantic models
# ---------------------------------------------------------------------------------------------


def make_customer() -> Customer:
    return Customer(
        id=uuid4(),
        name="Ada",
        address=Address(
            city="Paris",
            moved_in=datetime(2020, 1, 2, 3, 4, 5, tzinfo=timezone(timedelta(hours=1))),
        ),
        tags=("vip", "eu"),
        balance=Decimal("12.50"),
    )


def test_model_round_trips_with_nested_model_and_datetime() -> None:
    # Given
    codec = Codec()
    customer = make_customer()

    # When
    decoded = codec.decode(codec.encode({"customer": customer}))

    # Then
    assert decoded["customer"] == customer
    assert type(decoded["customer"].address) is Address
    assert decoded["customer"].address.moved_in.utcoffset() == timedelta(hours=1)
    assert str(decoded["customer"].balance) == "12.50"


def test_unregistered_model_is_a_decode_error_that_says_to_register() -> None:
    # Given: bytes written by another process, read by a codec that never saw Customer
    data = Codec().encode(make_customer())
    fresh = Codec()

    # When
    with pytest.raises(DecodeError) as exc_info:
        fresh.decode(data, what="result of 'checkout'")

    # Then
    message = str(exc_info.value)
    assert "result of 'checkout'" in message
    assert f"{Customer.__module__}.Customer" in message
    assert "register" in message


def test_registered_model_decodes_in_a_fresh_codec() -> None:
    # Given
    customer = make_customer()
    data = Codec().encode(customer)
    fresh = Codec(types=[Customer])

    # When
    decoded = fresh.decode(data)

    # Then
    assert decoded == customer


def test_stored_model_data_that_no_longer_validates_is_a_decode_error() -> None:
    # Given: a class registered under the name of Address but with an incompatible field
    data = Codec().encode(Address(city="Oslo", moved_in=datetime(2020, 1, 1)))

    class Renamed(BaseModel):
        city: int

    Renamed.__module__ = Address.__module__
    Renamed.__qualname__ = Address.__qualname__
    codec = Codec(types=[Renamed])

    # When
    with pytest.raises(DecodeError) as exc_info:
        codec.decode(data)

    # Then
    assert "does not validate" in str(exc_info.value)


@pytest.mark.parametrize("cls", [int, dict, BaseException, KeyboardInterrupt, object])
def test_register_rejects_what_it_cannot_decode(cls: type) -> None:
    # Given
    codec = Codec()

    # When
    with pytest.raises(ConfigurationError) as exc_info:
        codec.register(cls)

    # Then
    assert cls.__qualname__ in str(exc_info.value)
    assert "BaseModel" in str(exc_info.value)


def test_register_rejects_non_classes() -> None:
    # Given
    codec = Codec()

    # When
    with pytest.raises(ConfigurationError) as exc_info:
        codec.register(make_customer())  # type: ignore[arg-type]

    # Then
    assert "cannot register" in str(exc_info.value)


# ---------------------------------------------------------------------------------------------
# Exceptions
# ---------------------------------------------------------------------------------------------


def test_builtin_exception_is_rebuilt_with_args_and_traceback() -> None:
    # Given
    codec = Codec()
    error = caught(raise_value_error)

    # When
    decoded = codec.decode(codec.encode(error))

    # Then
    assert type(decoded) is ValueError
    assert decoded.args == ("x",)
    assert 'raise ValueError("x")' in vars(decoded)["wfcore_traceback"]
    assert "in raise_value_error" in vars(decoded)["wfcore_traceback"]


def test_exception_never_raised_has_empty_traceback() -> None:
    # Given
    codec = Codec()

    # When
    decoded = codec.decode(codec.encode(KeyError("missing")))

    # Then
    assert type(decoded) is KeyError
    assert decoded.args == ("missing",)
    assert vars(decoded)["wfcore_traceback"] == ""


def test_carried_traceback_survives_a_second_round_trip() -> None:
    # Given: an error decoded once, then stored again (e.g. a child failure re-raised)
    codec = Codec()
    once = codec.decode(codec.encode(caught(raise_value_error)))

    # When
    twice = codec.decode(codec.encode(once))

    # Then
    assert vars(twice)["wfcore_traceback"] == vars(once)["wfcore_traceback"]
    assert "raise_value_error" in vars(twice)["wfcore_traceback"]


def test_unregistered_exception_decodes_as_remote_error() -> None:
    # Given
    codec = Codec()

    def fail() -> None:
        raise PaymentDeclinedError("card 4242 declined")

    data = codec.encode(caught(fail))

    # When
    decoded = codec.decode(data)

    # Then
    type_name = f"{PaymentDeclinedError.__module__}.PaymentDeclinedError"
    assert type(decoded) is RemoteError
    assert decoded.type_name == type_name
    assert decoded.message == "card 4242 declined"
    assert "raise PaymentDeclinedError" in decoded.traceback
    assert vars(decoded)["wfcore_traceback"] == decoded.traceback
    assert str(decoded) == f"{type_name}: card 4242 declined"


def test_registered_exception_is_rebuilt() -> None:
    # Given
    data = Codec().encode(NeedsTwoArgsError(402, "payment required"))
    codec = Codec(types=[NeedsTwoArgsError])

    # When
    decoded = codec.decode(data)

    # Then
    assert type(decoded) is NeedsTwoArgsError
    assert (decoded.code, decoded.reason) == (402, "payment required")
    assert vars(decoded)["wfcore_traceback"] == ""


def test_exception_whose_constructor_rejects_its_args_becomes_remote_error() -> None:
    # Given: args that cannot be encoded are replaced by [str(exc)], which the class rejects
    error = NeedsTwoArgsError(1, "x")
    error.args = (object(), "x")
    data = Codec().encode(error)
    codec = Codec(types=[NeedsTwoArgsError])

    # When
    decoded = codec.decode(data)

    # Then
    assert type(decoded) is RemoteError
    assert decoded.type_name.endswith("NeedsTwoArgsError")


def test_exception_with_unencodable_args_keeps_its_message() -> None:
    # Given
    codec = Codec()
    error = RuntimeError(object(), "context")

    # When
    decoded = codec.decode(codec.encode(error))

    # Then
    assert type(decoded) is RuntimeError
    assert decoded.args == (str(error),)


def test_exception_with_a_lone_surrogate_in_its_message_is_still_stored() -> None:
    # Given: text UTF-8 cannot carry, as os.fsdecode makes of an undecodable file name
    codec = Codec()
    error = ValueError("bad file name b\udcff")

    # When
    decoded = codec.decode(codec.encode(error))

    # Then
    assert type(decoded) is ValueError
    assert decoded.args == ("bad file name b\\udcff",)


def test_base_exception_only_types_are_not_rebuilt() -> None:
    # Given
    codec = Codec()

    # When
    decoded = codec.decode(codec.encode(SystemExit(3)))

    # Then
    assert type(decoded) is RemoteError
    assert decoded.type_name == "builtins.SystemExit"
    assert decoded.message == "3"


def test_remote_error_pickles() -> None:
    # Given
    error = RemoteError("billing.CardError", "declined", "Traceback ...\n")

    # When
    copy = pickle.loads(pickle.dumps(error))

    # Then
    assert type(copy) is RemoteError
    assert (copy.type_name, copy.message, copy.traceback) == (
        "billing.CardError",
        "declined",
        "Traceback ...\n",
    )
    assert str(copy) == "billing.CardError: declined"


def test_remote_error_stored_again_keeps_the_original_identity() -> None:
    # Given
    codec = Codec()
    error = RemoteError("billing.CardError", "declined", "tb text")

    # When
    decoded = codec.decode(codec.encode(error))

    # Then
    assert type(decoded) is RemoteError
    assert (decoded.type_name, decoded.message, decoded.traceback) == (
        "billing.CardError",
        "declined",
        "tb text",
    )


def test_exception_group_is_rebuilt_with_its_members() -> None:
    # Given
    codec = Codec()
    group = ExceptionGroup("many", [ValueError("a"), PaymentDeclinedError("b")])

    # When
    decoded = codec.decode(codec.encode(group))

    # Then
    assert type(decoded) is ExceptionGroup
    assert [type(e) for e in decoded.exceptions] == [ValueError, RemoteError]


# ---------------------------------------------------------------------------------------------
# Decoding never imports
# ---------------------------------------------------------------------------------------------


def test_exception_naming_os_system_decodes_as_remote_error_without_imports() -> None:
    # Given: bytes claiming the error type is os.system
    class Impostor(Exception):
        __module__ = "os"
        __qualname__ = "system"

    data = Codec().encode(Impostor("echo pwned"))
    codec = Codec()
    before = set(sys.modules)

    # When
    decoded = codec.decode(data)

    # Then
    assert type(decoded) is RemoteError
    assert decoded.type_name == "os.system"
    assert set(sys.modules) == before


def test_model_naming_subprocess_popen_is_a_decode_error_without_imports() -> None:
    # Given: bytes claiming the model is subprocess.Popen
    class Impostor(BaseModel):
        __module__ = "subprocess"
        __qualname__ = "Popen"
        args: list[str]

    data = Codec().encode(Impostor(args=["rm", "-rf", "/"]))
    codec = Codec()
    before = set(sys.modules)

    # When
    with pytest.raises(DecodeError) as exc_info:
        codec.decode(data)

    # Then
    assert "subprocess.Popen" in str(exc_info.value)
    assert set(sys.modules) == before


def test_names_of_unimported_modules_are_not_imported() -> None:
    # Given
    module = unimported_module()

    class ErrorImpostor(Exception):
        __module__ = module
        __qualname__ = "Error"

    class ModelImpostor(BaseModel):
        __module__ = module
        __qualname__ = "Model"

    error_data = Codec().encode(ErrorImpostor("boom"))
    model_data = Codec().encode(ModelImpostor())
    codec = Codec()

    # When
    decoded = codec.decode(error_data)
    with pytest.raises(DecodeError):
        codec.decode(model_data)

    # Then
    assert type(decoded) is RemoteError
    assert module not in sys.modules


# ---------------------------------------------------------------------------------------------
# Encode errors
# ---------------------------------------------------------------------------------------------


class Foo:
    pass


def _generator() -> Iterator[int]:
    yield 1


@pytest.mark.parametrize(
    ("value", "type_name"),
    [
        (Foo(), "Foo"),
        (object(), "object"),
        (lambda: None, "function"),
        (Foo, "type"),
        (_generator(), "generator"),
        ({"nested": [1, (2, Foo())]}, "Foo"),
        ({Foo(): 1}, "Foo"),
        ({frozenset({(1, Foo())})}, "Foo"),
    ],
)
def test_unsupported_value_is_an_encode_error_naming_what_and_type(
    value: object, type_name: str
) -> None:
    # Given
    codec = Codec()

    # When
    with pytest.raises(EncodeError) as exc_info:
        codec.encode(value, what="set_data('order')")

    # Then
    message = str(exc_info.value)
    assert message.startswith(
        f"cannot encode set_data('order'): values of type {type_name!r} are not supported"
    )
    assert "supported: None, bool, int" in message


@pytest.mark.parametrize("value", [2**64, -(2**63) - 1, [1, (2, {"k": 10**30})]])
def test_integer_out_of_range_is_an_encode_error(value: object) -> None:
    # Given
    codec = Codec()

    # When
    with pytest.raises(EncodeError) as exc_info:
        codec.encode(value, what="result")

    # Then
    assert "cannot encode result: an integer is out of range" in str(exc_info.value)
    assert isinstance(exc_info.value.__cause__, OverflowError)


def test_reference_cycle_is_an_encode_error() -> None:
    # Given
    codec = Codec()
    loop: list[Any] = []
    loop.append(loop)

    # When
    with pytest.raises(EncodeError) as exc_info:
        codec.encode(loop)

    # Then
    assert "reference cycle" in str(exc_info.value)


def test_oversized_value_is_an_encode_error_mentioning_the_limit() -> None:
    # Given
    codec = Codec(max_size=1000)

    # When
    with pytest.raises(EncodeError) as exc_info:
        codec.encode(b"x" * 1000, what="input of 'report'")

    # Then
    message = str(exc_info.value)
    assert "input of 'report'" in message
    assert "1003 bytes" in message
    assert "limit of 1000 bytes" in message
    assert "reference" in message
    assert "max_size" in message


def test_value_exactly_at_the_limit_is_accepted() -> None:
    # Given: a bin 16 header is 3 bytes, so 997 bytes of payload encode to exactly 1000
    codec = Codec(max_size=1000)

    # When
    data = codec.encode(b"x" * 997)

    # Then
    assert len(data) == 1000


def test_default_limit_is_one_mebibyte() -> None:
    # Given
    codec = Codec()

    # When
    with pytest.raises(EncodeError) as exc_info:
        codec.encode(b"x" * DEFAULT_MAX_SIZE)

    # Then
    assert DEFAULT_MAX_SIZE == 1 << 20
    assert f"limit of {DEFAULT_MAX_SIZE} bytes" in str(exc_info.value)


@pytest.mark.parametrize("max_size", [0, -1, 1.5, True])
def test_invalid_max_size_is_a_configuration_error(max_size: Any) -> None:
    # When
    with pytest.raises(ConfigurationError) as exc_info:
        Codec(max_size=max_size)

    # Then
    assert "max_size" in str(exc_info.value)


# ---------------------------------------------------------------------------------------------
# Decode errors
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("data", "problem"),
    [
        (b"", "corrupt or truncated"),
        (b"\xc1", "corrupt or truncated"),  # never-used msgpack byte
        (b"\x92\x01", "corrupt or truncated"),  # array of 2 with only one item
        (b"\xa3ab", "corrupt or truncated"),  # str of 3 with only two bytes
        (b"\xa2\xff\xfe", "corrupt or truncated"),  # invalid UTF-8
        (b"\x01\x02", "1 unexpected bytes after the value"),
        (msgpack.packb(msgpack.ExtType(99, b"")), "unknown extension type code 99"),
        (msgpack.packb(msgpack.ExtType(1, b"abc")), "malformed datetime"),
        (msgpack.packb(msgpack.ExtType(5, b"short")), "malformed UUID"),
        (msgpack.packb(msgpack.ExtType(6, b"not a number")), "malformed Decimal"),
        (msgpack.packb(msgpack.ExtType(7, msgpack.packb("abc"))), "malformed tuple"),
        (msgpack.packb(msgpack.ExtType(8, msgpack.packb([[1]]))), "malformed set"),
        (msgpack.packb(msgpack.ExtType(11, msgpack.packb(["x"]))), "malformed exception"),
        (b"\x81\x91\x01\x02", "corrupt"),  # map whose key is an array
    ],
)
def test_bad_bytes_are_a_decode_error_naming_what_and_problem(data: bytes, problem: str) -> None:
    # Given
    codec = Codec()

    # When
    with pytest.raises(DecodeError) as exc_info:
        codec.decode(data, what="history of wf-1")

    # Then
    message = str(exc_info.value)
    assert message.startswith("cannot decode history of wf-1: ")
    assert problem in message


def test_malformed_payload_nested_in_a_tuple_is_reported() -> None:
    # Given: a tuple whose only item is a datetime payload of the wrong length
    inner = msgpack.packb([msgpack.ExtType(1, b"abc")])
    data = msgpack.packb(msgpack.ExtType(7, inner))

    # When
    with pytest.raises(DecodeError) as exc_info:
        Codec().decode(data)

    # Then
    assert "malformed datetime" in str(exc_info.value)


@pytest.mark.parametrize("data", ["text", None, 5, [1]])
def test_non_bytes_input_is_a_decode_error(data: Any) -> None:
    # When
    with pytest.raises(DecodeError) as exc_info:
        Codec().decode(data, what="input")

    # Then
    assert f"expected bytes, got {type(data).__qualname__!r}" in str(exc_info.value)


def test_bytearray_and_memoryview_are_accepted() -> None:
    # Given
    codec = Codec()
    data = codec.encode((1, "a"))

    # When
    from_bytearray = codec.decode(bytearray(data))
    from_memoryview = codec.decode(memoryview(data))

    # Then
    assert from_bytearray == from_memoryview == (1, "a")


# ---------------------------------------------------------------------------------------------
# Concurrency
# ---------------------------------------------------------------------------------------------


def test_one_codec_is_safe_to_share_between_threads() -> None:
    # Given: values that make the default hook re-enter packing (tuples, sets, models)
    codec = Codec()
    failures: list[str] = []

    def work(worker: int) -> None:
        for i in range(300):
            value = {
                "worker": worker,
                "i": i,
                "t": (worker, (i, {i, worker + 1000})),
                "when": datetime(2024, 1, 1, tzinfo=timezone(timedelta(minutes=worker))),
                "model": Address(city=str(i), moved_in=datetime(2024, 1, 1)),
            }
            decoded = codec.decode(codec.encode(value))
            if decoded != value:
                failures.append(f"worker {worker} item {i}: {decoded!r}")

    threads = [threading.Thread(target=work, args=(n,)) for n in range(8)]

    # When
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    # Then
    assert failures == []


def test_float_nan_and_infinities_survive() -> None:
    # Given
    codec = Codec()
    value = [math.nan, math.inf, -math.inf, -0.0]

    # When
    decoded = codec.decode(codec.encode(value))

    # Then
    assert math.isnan(decoded[0])
    assert decoded[1:] == [math.inf, -math.inf, 0.0]
    assert math.copysign(1.0, decoded[3]) == -1.0
