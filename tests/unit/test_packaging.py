"""Package shape: what wfcore exports, that it never imports dramatiq, what it declares."""

from __future__ import annotations

import pickle
import re
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest

import wfcore
from wfcore import errors
from wfcore_dramatiq._compat import SUPPORTED_DRAMATIQ


def test_wfcore_never_imports_dramatiq() -> None:
    code = (
        "import sys, wfcore, wfcore.store.memory, wfcore.store.sqlite, wfcore.store.redis;"
        "print('dramatiq' in sys.modules or any(m.startswith('dramatiq.') for m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_wfcore_flow_never_imports_dramatiq() -> None:
    # The durable executor takes the user's App; nothing of wfcore.flow imports the plugin
    code = (
        "import sys, wfcore.flow, wfcore.flow.durable;"
        "print(any(m.split('.')[0] in ('dramatiq', 'wfcore_dramatiq') for m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_plain_import_does_not_load_redis() -> None:
    code = "import sys, wfcore; print('redis' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_public_names_are_pinned() -> None:
    assert sorted(wfcore.__all__) == sorted(
        [
            "AsyncWorkflowContext", "Codec", "ConfigurationError", "DecodeError", "Dispatcher",
            "Divergence",
            "EncodeError", "Engine", "Entry", "FatalError", "HistoryEvent", "InvocationRef",
            "LocalRunner", "NonDeterminismError", "NotInWorkflowError", "Outcome", "RemoteError",
            "ReplayResult", "Replayer", "RetryableError", "RunResult", "RunStatus",
            "SignalTimeoutError", "StateStore",
            "StoreUnavailableError", "Task", "TaskFailedError", "TaskHandle", "TaskResult",
            "TaskSpec", "WfError", "WorkflowCancelled", "WorkflowCancelledError",
            "WorkflowContext", "WorkflowFailedError", "WorkflowIdentity", "WorkflowNotFoundError",
            "WorkflowNotRunningError",
            "WorkflowRecord", "WorkflowStatus", "current", "current_or_none", "export_history",
            "import_history", "open_store", "RepairError",
            # PyWorkflow style (issue 14): `await wfcore.sleep(...)`, the logging set-up,
            # and wfcore.testing's start_local
            "configure_logging", "sleep", "testing",
        ]
    )  # fmt: skip
    for name in wfcore.__all__:
        assert getattr(wfcore, name) is not None


ALL_ERRORS = [getattr(errors, name) for name in errors.__all__]


@pytest.mark.parametrize("cls", ALL_ERRORS, ids=lambda c: c.__name__)
def test_every_error_pickles_with_its_attributes(cls: type[BaseException]) -> None:
    error = cls("wf-1") if cls is errors.WorkflowCancelled else cls("something went wrong")
    if isinstance(error, errors.TaskFailedError):
        error = errors.TaskFailedError("m", task_name="t", error_type="ValueError", traceback="tb")
    clone = pickle.loads(pickle.dumps(error))
    assert type(clone) is cls
    assert str(clone) == str(error)
    assert clone.__dict__ == error.__dict__


def test_hierarchy_has_one_root_and_signals_are_base_exceptions() -> None:
    for cls in ALL_ERRORS:
        if cls is errors.WorkflowCancelled:
            assert not issubclass(cls, Exception)
        else:
            assert issubclass(cls, errors.WfError), cls
    assert issubclass(errors.StoreUnavailableError, errors.StoreError)
    assert issubclass(errors.EncodeError, errors.CodecError)
    assert issubclass(errors.TaskFailedError, errors.WorkflowError)


# -- distribution metadata (pyproject.toml) ----------------------------------------------------

ROOT = Path(__file__).resolve().parents[2]


def _project() -> dict[str, Any]:
    return dict(tomllib.loads((ROOT / "pyproject.toml").read_text())["project"])


def test_dramatiq_is_bounded_to_the_tested_major_version() -> None:
    # Given the run-time requirements
    requires = {re.split(r"[\[<>=!~ ]", r, maxsplit=1)[0]: r for r in _project()["dependencies"]}

    # Then Dramatiq is required with Redis support only, in the range the self-check accepts
    assert requires["dramatiq"] == f"dramatiq[redis]{SUPPORTED_DRAMATIQ}"
    assert not any("rabbitmq" in r or "pika" in r for r in requires.values())


def test_rabbitmq_is_an_extra_and_the_tests_install_it() -> None:
    # Given the project's extras and its dev dependency group (what scripts/test installs)
    project = _project()
    groups = tomllib.loads((ROOT / "pyproject.toml").read_text())["dependency-groups"]

    # Then `pip install wfcore[rabbitmq]` brings pika through Dramatiq's own extra, and the
    # test group has it too, so the RabbitMQ test runs under `--group dev`
    assert project["optional-dependencies"]["rabbitmq"] == [
        f"dramatiq[rabbitmq]{SUPPORTED_DRAMATIQ}"
    ]
    assert f"dramatiq[rabbitmq]{SUPPORTED_DRAMATIQ}" in groups["test"]
    assert {"include-group": "test"} in groups["dev"]


def test_the_declared_license_is_the_shipped_license_file() -> None:
    # Given the declared license and the file shipped with it
    project = _project()
    text = (ROOT / "LICENSE").read_text()

    # Then both say MIT, held by the wfcore developers
    assert project["license"] == "MIT"
    assert project["license-files"] == ["LICENSE"]
    assert text.startswith("MIT License\n")
    assert "the wfcore developers" in text.splitlines()[2]
    assert "Permission is hereby granted, free of charge" in text


def test_classifiers_and_project_urls_are_declared() -> None:
    project = _project()
    assert "Programming Language :: Python :: 3.11" in project["classifiers"]
    assert "Typing :: Typed" in project["classifiers"]
    assert not any(c.startswith("License ::") for c in project["classifiers"])  # SPDX instead
    assert set(project["urls"]) >= {"Homepage", "Source", "Issues", "Documentation"}
    assert all(url.startswith("https://") for url in project["urls"].values())


def test_the_plugin_does_not_import_pika() -> None:
    # RabbitMQ is optional: importing the plugin (and using it with Redis) never needs pika
    code = (
        "import sys, wfcore_dramatiq, wfcore_dramatiq._outbox, wfcore_dramatiq._foreground;"
        "print('pika' in sys.modules)"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"
