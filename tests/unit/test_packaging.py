"""Package shape: what wfcore exports, and that it never imports dramatiq."""

from __future__ import annotations

import pickle
import subprocess
import sys

import pytest

import wfcore
from wfcore import errors


def test_wfcore_never_imports_dramatiq() -> None:
    code = (
        "import sys, wfcore, wfcore.store.memory, wfcore.store.sqlite, wfcore.store.redis;"
        "print('dramatiq' in sys.modules or any(m.startswith('dramatiq.') for m in sys.modules))"
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
            "Codec", "ConfigurationError", "DecodeError", "Dispatcher", "Divergence",
            "EncodeError", "Engine", "Entry", "FatalError", "HistoryEvent", "InvocationRef",
            "LocalRunner", "NonDeterminismError", "NotInWorkflowError", "Outcome", "RemoteError",
            "ReplayResult", "Replayer", "RetryableError", "RunResult", "RunStatus", "StateStore",
            "StoreUnavailableError", "Task", "TaskFailedError", "TaskHandle", "TaskResult",
            "TaskSpec", "WfError", "WorkflowCancelled", "WorkflowCancelledError",
            "WorkflowContext", "WorkflowFailedError", "WorkflowIdentity", "WorkflowNotFoundError",
            "WorkflowRecord", "WorkflowStatus", "current", "current_or_none", "export_history",
            "import_history", "open_store",
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
