"""The App's repairs in bulk: ``fork_many`` and ``resume_many`` over selected workflows."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from wfcore import WorkflowStatus
from wfcore.engine import Repaired
from wfcore.errors import BulkRepairError
from wfcore_dramatiq._handle import WorkflowHandle

if TYPE_CHECKING:
    from wfcore import Engine

__all__ = ["Repairs"]

Since = float | str | timedelta | None


class Repairs:
    """``App.fork_many`` and ``App.resume_many``."""

    if TYPE_CHECKING:  # provided by App
        engine: Engine

        def start_worker(self) -> None: ...

    def fork_many(
        self,
        *,
        status: WorkflowStatus | str | None = WorkflowStatus.FAILED,
        workflow_type: str | None = None,
        since: Since = None,
        from_seq: int | None = None,
        from_failure: bool = False,
        from_step: str | None = None,
        fork_id: str | None = None,
        limit: int = 10_000,
    ) -> list[WorkflowHandle[Any]]:
        """Fork every workflow with ``status`` (and ``workflow_type``) updated within
        ``since`` (e.g. ``"1h"``), each as ``handle.fork`` would; handles of the forks.

        With a ``fork_id``, running it again returns the same forks and creates none.

        Raises:
            BulkRepairError: some workflows could not be forked (``errors`` says why, by
                workflow id); the others were (``done``: their forks' ids).
            ConfigurationError: a bad selector, status or duration.
        """
        records = self.engine.repair_candidates(
            status=status, workflow_type=workflow_type, since=since, limit=limit
        )
        options = {"from_seq": from_seq, "from_failure": from_failure, "from_step": from_step}
        self.start_worker()
        return self._collect("fork", self.engine.fork_each(records, fork_id=fork_id, **options))

    def resume_many(
        self,
        *,
        status: WorkflowStatus | str | None = WorkflowStatus.FAILED,
        workflow_type: str | None = None,
        since: Since = None,
        limit: int = 10_000,
    ) -> list[WorkflowHandle[Any]]:
        """Resume every workflow with ``status`` (FAILED or CANCELLED; and ``workflow_type``)
        updated within ``since``, each as ``handle.resume`` would; their handles.

        Raises:
            BulkRepairError: some workflows could not be resumed (``errors`` says why);
                the others were (``done``).
        """
        records = self.engine.repair_candidates(
            status=status, workflow_type=workflow_type, since=since, limit=limit
        )
        self.start_worker()
        return self._collect("resume", self.engine.resume_each(records))

    def _collect(self, what: str, repaired: Iterator[Repaired]) -> list[WorkflowHandle[Any]]:
        done: list[str] = []
        errors = {}
        for item in repaired:
            if item.result_id is not None:
                done.append(item.result_id)
            elif item.error is not None:
                errors[item.workflow_id] = item.error
        if errors:
            first, error = next(iter(errors.items()))
            raise BulkRepairError(
                f"could not {what} {len(errors)} of {len(errors) + len(done)} workflows "
                f"(first: {first!r}: {error}); the others were done. See .errors by id",
                done=done,
                errors=errors,
            )
        return [WorkflowHandle(self, workflow_id) for workflow_id in done]  # type: ignore[arg-type]
