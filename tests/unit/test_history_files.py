"""Damaged history files and stored histories give typed errors that say what is wrong."""

from __future__ import annotations

import random
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import msgpack
import pytest

from tests.replay.workflows import build
from wfcore import export_history, import_history
from wfcore._codec import Codec
from wfcore._history import encode_lifecycle, read_history
from wfcore._replay import Replayer
from wfcore.errors import DecodeError, WfError

GOLDENS = sorted((Path(__file__).parents[1] / "replay" / "histories").glob("*.wfh"))


def _document(path: Path) -> dict[str, Any]:
    document: dict[str, Any] = msgpack.unpackb(path.read_bytes(), raw=False, strict_map_key=False)
    return document


def _first_invocation(document: dict[str, Any]) -> dict[str, Any]:
    invocation: dict[str, Any] = document["workflows"][0]["invocations"][0]
    return invocation


def _damaged(change: Callable[[dict[str, Any]], None]) -> bytes:
    document = _document(GOLDENS[0])
    change(document)
    return bytes(msgpack.packb(document, use_bin_type=True))


def _set_entries(value: Any) -> Callable[[dict[str, Any]], None]:
    def change(document: dict[str, Any]) -> None:
        _first_invocation(document)["entries"] = value

    return change


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        (_set_entries(5), "'entries' is int, expected list"),
        (_set_entries([5]), "history entry 0 is int, expected non-empty bytes"),
        (_set_entries([b"\x95", b""]), "history entry 1 is empty bytes"),
        (
            lambda d: _first_invocation(d).__setitem__("outcomes", {0: "x"}),
            "outcome 0 is str",
        ),
        (lambda d: _first_invocation(d).__setitem__("outcomes", [1]), "'outcomes' is list"),
        (lambda d: _first_invocation(d).pop("record"), "'record'"),
        (lambda d: d["workflows"][0].__setitem__("invocations", 3), "'invocations' is int"),
        (lambda d: d.__setitem__("workflows", {"a": 1}), "'workflows' is dict"),
        (lambda d: d.__setitem__("workflows", [7]), "expected a map holding 'record'"),
        (lambda d: d.__setitem__("root", msgpack.Timestamp(1)), "'root' is Timestamp"),
        (lambda d: d.__setitem__("root", "elsewhere"), "no root workflow 'elsewhere'"),
    ],
)
def test_damaged_history_file_is_a_decode_error_naming_file_and_part(
    change: Callable[[dict[str, Any]], None], problem: str
) -> None:
    # Given
    data = _damaged(change)

    # When
    with pytest.raises(DecodeError) as exc_info:
        import_history(data, source="order.wfh")

    # Then
    message = str(exc_info.value)
    assert message.startswith("order.wfh is a damaged wfcore history file")
    assert problem in message


def test_damaged_entry_names_its_invocation() -> None:
    # Given
    document = _document(GOLDENS[0])
    invocation_id = _first_invocation(document)["record"]["invocation_id"]
    _first_invocation(document)["entries"] = [b""]

    # When
    with pytest.raises(DecodeError) as exc_info:
        import_history(msgpack.packb(document), source="order.wfh")

    # Then
    assert f"invocation {invocation_id!r}" in str(exc_info.value)


def _store_with_entries(entries: list[bytes]) -> tuple[Any, str]:
    """A memory store holding one golden workflow whose first invocation has ``entries``."""
    store, root = import_history(GOLDENS[0].read_bytes())
    workflow = store.get_workflow(root)
    assert workflow is not None
    invocations = []
    for i, inv in enumerate(store.list_invocations(root)):
        snap = store.load(root, inv.invocation_id, claim=False)
        assert snap is not None
        invocations.append((inv, entries if i == 0 else snap.entries, snap.outcomes))
    store._restore(workflow, invocations)
    return store, root


def test_empty_entry_blob_in_a_store_is_a_decode_error_in_history() -> None:
    # Given: what `wfcore history` reads (before: IndexError in is_operation)
    store, root = _store_with_entries([b""])

    # When
    with pytest.raises(DecodeError) as exc_info:
        read_history(store, Codec(), root)

    # Then
    message = str(exc_info.value)
    assert "history entry 0 of invocation" in message
    assert "corrupt or truncated" in message


@pytest.mark.parametrize(
    "event",
    [
        msgpack.packb(["task_started", None, "not a time", 1]),
        msgpack.packb(["task_started", None, 1.5, "one"]),
        b"\x94\x01\x02\x03\x04",
        b"\x94",
    ],
)
def test_malformed_lifecycle_event_is_a_decode_error(event: bytes) -> None:
    # Given
    store, root = _store_with_entries([event])

    # When
    with pytest.raises(DecodeError) as exc_info:
        read_history(store, Codec(), root)

    # Then
    assert "lifecycle event of invocation" in str(exc_info.value)


def test_well_formed_lifecycle_event_still_reads() -> None:
    # Given
    codec = Codec()
    store, root = _store_with_entries([encode_lifecycle(codec, "task_started", None, 1)])

    # When
    events = read_history(store, codec, root)

    # Then
    assert "task_started" in [e.kind for e in events]


def test_goldens_export_round_trip_through_the_checked_import() -> None:
    # The checks accept what export_history writes.
    for path in GOLDENS:
        store, root = import_history(path.read_bytes(), source=str(path))
        again = export_history(store, root)
        assert import_history(again)[1] == root


# ---------------------------------------------------------------------------------------------
# Fuzz: mutated history files through the read path of `wfcore replay` and assert_replays
# ---------------------------------------------------------------------------------------------


def _mutations(seed: int, count: int) -> Iterator[bytes]:
    """``count`` deterministic mutations of the golden files (and of a deep one)."""
    rng = random.Random(seed)
    originals = [path.read_bytes() for path in GOLDENS]
    for _ in range(count):
        data = bytearray(rng.choice(originals))
        for _ in range(rng.randint(1, 4)):
            how = rng.randrange(6)
            at = rng.randrange(len(data) + 1)
            if how == 0 and data:  # flip bits of one byte
                data[min(at, len(data) - 1)] ^= 1 << rng.randrange(8)
            elif how == 1 and data:  # replace a byte by an interesting one
                data[min(at, len(data) - 1)] = rng.choice(_INTERESTING)
            elif how == 2:  # insert bytes
                data[at:at] = bytes(rng.choice(_INTERESTING) for _ in range(rng.randint(1, 8)))
            elif how == 3:  # delete a range
                del data[at : at + rng.randint(1, 16)]
            elif how == 4:  # truncate
                del data[at:]
            else:  # duplicate a slice elsewhere
                piece = data[at : at + rng.randint(1, 64)]
                where = rng.randrange(len(data) + 1)
                data[where:where] = piece
        yield bytes(data)


# Headers of every msgpack type (deep arrays, ext types incl. Timestamp -1 and wfcore's 1-11),
# sizes at type boundaries.
_INTERESTING = [
    0x00, 0x01, 0x7F, 0x80, 0x8F, 0x90, 0x91, 0x9F, 0xA0, 0xC0, 0xC1, 0xC2, 0xC3, 0xC4, 0xC7,
    0xC9, 0xCA, 0xCB, 0xD4, 0xD6, 0xD7, 0xD8, 0xD9, 0xDC, 0xDD, 0xDE, 0xDF, 0xE0, 0xFF,
    0x07, 0x08, 0x09, 0x0A, 0x0B, 0x0C,
]  # fmt: skip


def _fuzz(count: int) -> dict[str, int]:
    runner, _ = build("current")
    replayer = Replayer(runner.engine.task, codec=runner.engine.codec)
    seen: dict[str, int] = {}
    for data in _mutations(seed=20240611, count=count):
        try:
            store, root = import_history(data, source="fuzzed.wfh")
            result = replayer.replay(store, root)
        except WfError as exc:
            outcome = type(exc).__name__
        else:
            outcome = "ok" if result.ok else "divergence"
        seen[outcome] = seen.get(outcome, 0) + 1
    return seen


def test_hundred_thousand_fuzzed_history_files_give_only_typed_errors() -> None:
    # Any other exception fails the test. (About 3 s: most mutations stop at decoding.)
    seen = _fuzz(100_000)
    assert sum(seen.values()) == 100_000
    assert seen.get("DecodeError", 0) > 50_000  # most mutations break the file
    assert seen.get("ok", 0) + seen.get("divergence", 0) > 1_000  # many get to replaying
