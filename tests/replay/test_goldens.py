"""Golden histories, replayed on every test run: good ones must pass, broken ones must fail."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.replay.workflows import build
from wfcore.testing import assert_replays, replay_histories

HISTORIES = Path(__file__).parent / "histories"
GOOD = sorted(HISTORIES.glob("good-*.wfh"))
BROKEN = sorted(HISTORIES.glob("broken-*.wfh"))


def test_goldens_exist() -> None:
    assert len(GOOD) >= 2
    assert len(BROKEN) >= 1


@pytest.mark.parametrize("path", GOOD, ids=lambda p: p.name)
def test_good_history_replays_against_current_code(path: Path) -> None:
    runner, _ = build("current")
    assert_replays(runner, path)


@pytest.mark.parametrize("path", BROKEN, ids=lambda p: p.name)
def test_broken_history_is_caught(path: Path) -> None:
    runner, _ = build("current")
    [(_, result)] = replay_histories(runner, path)
    assert result.divergence is not None
    assert result.divergence.seq == 2
    assert result.divergence.recorded == "deterministic('fee')"
    with pytest.raises(AssertionError, match="diverge"):
        assert_replays(runner, path)


def test_old_history_needs_the_patched_guard() -> None:
    # The history recorded before the fee change replays with the guarded code (above), and
    # fails with the same change made without wf.patched.
    runner, _ = build("unguarded")
    [(_, result)] = replay_histories(runner, HISTORIES / "good-order-before-fee-change.wfh")
    assert result.divergence is not None
    assert result.divergence.attempted == "deterministic('fee')"


def test_directory_replay_covers_every_file() -> None:
    runner, _ = build("current")
    results = replay_histories(runner, HISTORIES)
    assert {p.name for p, _ in results} == {p.name for p in GOOD + BROKEN}
    assert [p.name for p, r in results if not r.ok] == [p.name for p in BROKEN]
