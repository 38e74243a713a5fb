"""``DelegatingStore``: a store that passes every call to another; subclass to wrap one."""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence

from wfcore._models import (
    Batch,
    CommitResult,
    InvocationRecord,
    InvocationRef,
    OutcomeResult,
    QueuePush,
    Reopen,
    SignalResult,
    Snapshot,
    WorkflowRecord,
    WorkflowStatus,
)
from wfcore.store import StateStore

__all__ = ["DelegatingStore"]


class DelegatingStore:
    """Passes every ``StateStore`` call to ``inner``; override the calls to change."""

    def __init__(self, inner: StateStore) -> None:
        self.inner = inner

    @property
    def writes_pushes(self) -> bool:
        """Whether ``inner`` writes ``Batch.pushes`` (see ``RedisStore``)."""
        return bool(getattr(self.inner, "writes_pushes", False))

    def shares_server(self, client: object) -> bool:
        """``inner.shares_server(client)``; False for a store without one."""
        shares = getattr(self.inner, "shares_server", None)
        return bool(shares(client)) if shares is not None else False

    def create_workflow(
        self, workflow: WorkflowRecord, root: InvocationRecord, *, push: QueuePush | None = None
    ) -> tuple[WorkflowRecord, bool]:
        return self.inner.create_workflow(workflow, root, push=push)

    def get_workflow(self, workflow_id: str) -> WorkflowRecord | None:
        return self.inner.get_workflow(workflow_id)

    def list_workflows(
        self,
        *,
        status: WorkflowStatus | None = None,
        workflow_type: str | None = None,
        limit: int = 100,
        created_after: float | None = None,
        created_before: float | None = None,
        cursor: str | None = None,
    ) -> list[WorkflowRecord]:
        return self.inner.list_workflows(
            status=status,
            workflow_type=workflow_type,
            limit=limit,
            created_after=created_after,
            created_before=created_before,
            cursor=cursor,
        )

    def count_workflows(self, status: WorkflowStatus) -> int:
        return self.inner.count_workflows(status)

    def child_workflows(self, workflow_id: str) -> list[WorkflowRecord]:
        return self.inner.child_workflows(workflow_id)

    def get_invocation(self, workflow_id: str, invocation_id: str) -> InvocationRecord | None:
        return self.inner.get_invocation(workflow_id, invocation_id)

    def list_invocations(self, workflow_id: str) -> list[InvocationRecord]:
        return self.inner.list_invocations(workflow_id)

    def load(self, workflow_id: str, invocation_id: str, *, claim: bool = True) -> Snapshot | None:
        return self.inner.load(workflow_id, invocation_id, claim=claim)

    def read_data(self, workflow_id: str, key: str) -> bytes | None:
        return self.inner.read_data(workflow_id, key)

    def list_data(self, workflow_id: str) -> dict[str, bytes]:
        return self.inner.list_data(workflow_id)

    def send_signal(
        self, workflow_id: str, name: str, payload: bytes, *, signal_id: str | None = None
    ) -> SignalResult:
        return self.inner.send_signal(workflow_id, name, payload, signal_id=signal_id)

    def commit(self, workflow_id: str, invocation_id: str, batch: Batch) -> CommitResult:
        return self.inner.commit(workflow_id, invocation_id, batch)

    def record_outcome(
        self, workflow_id: str, invocation_id: str, seq: int, outcome: bytes
    ) -> OutcomeResult:
        return self.inner.record_outcome(workflow_id, invocation_id, seq, outcome)

    def request_cancel(self, workflow_id: str) -> WorkflowRecord | None:
        return self.inner.request_cancel(workflow_id)

    def recover_candidates(
        self, *, older_than: float, now: float, limit: int = 100
    ) -> list[InvocationRecord]:
        return self.inner.recover_candidates(older_than=older_than, now=now, limit=limit)

    def heartbeat(self, refs: Sequence[InvocationRef], now: float) -> None:
        self.inner.heartbeat(refs, now)

    def purge_expired(self, now: float) -> int:
        return self.inner.purge_expired(now)

    def purge_finished(self, workflow_ids: Sequence[str], before: float) -> int:
        return self.inner.purge_finished(workflow_ids, before)

    def ping(self) -> None:
        self.inner.ping()

    def close(self) -> None:
        self.inner.close()

    def reopen(
        self,
        workflow_id: str,
        changes: Sequence[Reopen],
        *,
        statuses: Collection[WorkflowStatus],
    ) -> WorkflowRecord | None:
        return self.inner.reopen(workflow_id, changes, statuses=statuses)

    def create_fork(
        self,
        workflow: WorkflowRecord,
        root: InvocationRecord,
        entries: Sequence[bytes],
        outcomes: Mapping[int, bytes],
        data: Mapping[str, bytes],
    ) -> tuple[WorkflowRecord, bool]:
        return self.inner.create_fork(workflow, root, entries, outcomes, data)
