"""The benchmark scripts still run and print their JSON (numbers are not checked here)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _run(script: str, *args: str) -> dict[str, object]:
    out = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / script), *args],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    report = json.loads(out.stdout)
    assert isinstance(report, dict)
    return report


@pytest.mark.timeout(150)
def test_b1_quick_prints_every_store_and_operation() -> None:
    report = _run("b1_operations.py", "--quick")
    stores = report["stores"]
    assert isinstance(stores, dict)
    assert set(stores) == {"memory", "sqlite", "redis"}


def test_b5_quick_replays_without_divergence() -> None:
    report = _run("b5_replay.py", "--quick")
    replay = report["replay"]
    assert isinstance(replay, dict)
    assert replay["events"] == 1000
