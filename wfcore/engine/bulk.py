"""Repairs in bulk: the workflows a repair selects, and resume or fork over each of them."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from wfcore._durations import to_seconds
from wfcore._models import WorkflowRecord, WorkflowStatus
from wfcore.engine.repair import Repairing
from wfcore.errors import ConfigurationError, WfError

__all__ = ["Bulk", "Repaired"]


@dataclass(frozen=True, slots=True)
class Repaired:
    """What a bulk repair did to one workflow.

    Attributes:
        workflow_id: the workflow repaired.
        result_id: the resumed workflow's id, or the fork's; None when it was refused.
        created: a fork this call created (False when the same ``fork_id`` found it), or a
            resume that happened.
        error: why it was refused (a divergence, a state that allows no repair...).
    """

    workflow_id: str
    result_id: str | None
    created: bool = False
    error: WfError | None = None


class Bulk(Repairing):
    """Selecting workflows to repair; ``resume_each``/``fork_each`` over them."""

    def repair_candidates(
        self,
        *,
        status: WorkflowStatus | str | None = WorkflowStatus.FAILED,
        workflow_type: str | None = None,
        since: float | str | timedelta | None = None,
        limit: int = 10_000,
    ) -> list[WorkflowRecord]:
        """Workflows with this status (and type) last updated within ``since``, newest first.

        Raises:
            ConfigurationError: an unknown status or an unreadable duration.
        """
        wanted = _status(status)
        cutoff = None
        if since is not None:
            try:
                cutoff = self.clock() - to_seconds(since)
            except ConfigurationError:
                raise ConfigurationError(
                    f"since={since!r} is not a duration; use seconds, a timedelta or a string "
                    'like "30m", "1h", "1d"'
                ) from None
        records = self.store.list_workflows(status=wanted, workflow_type=workflow_type, limit=limit)
        return [r for r in records if cutoff is None or r.updated_at >= cutoff]

    def resume_each(self, records: Iterable[WorkflowRecord]) -> Iterator[Repaired]:
        """Resume each workflow; what happened to each, as it goes (errors are reported)."""
        for record in records:
            try:
                self.resume(record.workflow_id)
            except WfError as e:
                yield Repaired(record.workflow_id, None, error=e)
            else:
                yield Repaired(record.workflow_id, record.workflow_id, created=True)

    def fork_each(self, records: Iterable[WorkflowRecord], **options: Any) -> Iterator[Repaired]:
        """Fork each workflow with ``options`` (those of ``fork``); what happened to each."""
        for record in records:
            try:
                fork, created = self.fork(record.workflow_id, **options)
            except WfError as e:
                yield Repaired(record.workflow_id, None, error=e)
            else:
                yield Repaired(record.workflow_id, fork.workflow_id, created=created)


def _status(status: WorkflowStatus | str | None) -> WorkflowStatus | None:
    if status is None or isinstance(status, WorkflowStatus):
        return status
    try:
        return WorkflowStatus(str(status).upper())
    except ValueError:
        names = ", ".join(s.value for s in WorkflowStatus)
        raise ConfigurationError(f"unknown status {status!r}; use one of {names}") from None
