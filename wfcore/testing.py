"""Helpers for users' tests: replay committed histories against the current code; run
PyWorkflow-style workflows in the test's process (``start_local``, ``resume_local``)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from wfcore._replay import Replayer, ReplayResult
from wfcore.errors import ConfigurationError
from wfcore.pyworkflow.local import LocalRun, LocalStorage, resume_local, start_local

__all__ = [
    "LocalRun",
    "LocalStorage",
    "assert_replays",
    "replay_histories",
    "resume_local",
    "start_local",
]


def replay_histories(app: Any, *paths: str | os.PathLike[str]) -> list[tuple[Path, ReplayResult]]:
    """Replay history files (or every ``*.wfh`` in directories) against ``app``'s code.

    Args:
        app: an App or a LocalRunner (anything with an ``engine``).
        paths: files or directories.
    """
    engine = getattr(app, "engine", None)
    if engine is None:
        raise ConfigurationError(f"{app!r} is not a wfcore App or LocalRunner")
    replayer = Replayer(engine.task, codec=engine.codec, resolve=engine.resolve_task)
    files: list[Path] = []
    for path in map(Path, paths):
        files.extend(sorted(path.glob("*.wfh")) if path.is_dir() else [path])
    if not files:
        raise ConfigurationError(f"no history files (*.wfh) found in {[str(p) for p in paths]}")
    return [(file, replayer.replay_file(file)) for file in files]


def assert_replays(app: Any, *paths: str | os.PathLike[str]) -> None:
    """Fail (AssertionError) if any history diverges from the current code.

    Example::

        def test_running_workflows_still_replay() -> None:
            assert_replays(app, "tests/histories")
    """
    failures = [
        f"{file}: {result.divergence.message}"
        + (f" (at {result.divergence.source})" if result.divergence.source else "")
        for file, result in replay_histories(app, *paths)
        if result.divergence is not None
    ]
    assert not failures, "histories diverge from the current code:\n" + "\n".join(failures)
