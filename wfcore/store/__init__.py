"""The state-store contract (``StateStore``) and ``open_store(url)``, which builds one."""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING, Protocol, runtime_checkable
from urllib.parse import urlsplit

from wfcore._models import (
    Batch,
    CommitResult,
    InvocationRecord,
    InvocationRef,
    OutcomeResult,
    QueuePush,
    Snapshot,
    WorkflowRecord,
    WorkflowStatus,
)
from wfcore.errors import ConfigurationError

if TYPE_CHECKING:
    from wfcore.store._delegating import DelegatingStore
    from wfcore.store.memory import MemoryStore
    from wfcore.store.redis import RedisStore
    from wfcore.store.sqlite import SQLiteStore

__all__ = [
    "DelegatingStore",
    "MemoryStore",
    "RedisStore",
    "SQLiteStore",
    "StateStore",
    "open_store",
]


@runtime_checkable
class StateStore(Protocol):
    """Where workflows, invocations, histories, child outcomes and data live.

    Every method is atomic. Histories and values are opaque bytes (the engine encodes them).
    """

    def create_workflow(
        self, workflow: WorkflowRecord, root: InvocationRecord, *, push: QueuePush | None = None
    ) -> tuple[WorkflowRecord, bool]:
        """Create a workflow and its root invocation unless ``workflow_id`` exists.

        ``push`` (the message that runs the root; only for a store that ``writes_pushes``)
        is written with them, and only if this call creates them. Returns the stored
        workflow and whether this call created it.
        """
        ...

    def get_workflow(self, workflow_id: str) -> WorkflowRecord | None:
        """The workflow, or None."""
        ...

    def list_workflows(
        self,
        *,
        status: WorkflowStatus | None = None,
        workflow_type: str | None = None,
        limit: int = 100,
    ) -> list[WorkflowRecord]:
        """Workflows, newest first, optionally filtered by status and type."""
        ...

    def child_workflows(self, workflow_id: str) -> list[WorkflowRecord]:
        """Workflows whose parent is ``workflow_id``, oldest first."""
        ...

    def get_invocation(self, workflow_id: str, invocation_id: str) -> InvocationRecord | None:
        """The invocation, or None."""
        ...

    def list_invocations(self, workflow_id: str) -> list[InvocationRecord]:
        """Every invocation of the workflow, oldest first."""
        ...

    def load(self, workflow_id: str, invocation_id: str, *, claim: bool = True) -> Snapshot | None:
        """Workflow, invocation, history and child outcomes in one round trip.

        With ``claim`` a non-finished invocation becomes RUNNING and its attempt count grows.
        """
        ...

    def read_data(self, workflow_id: str, key: str) -> bytes | None:
        """One workflow data value, or None when the key was never set."""
        ...

    def commit(self, workflow_id: str, invocation_id: str, batch: Batch) -> CommitResult:
        """Apply ``batch`` atomically if the history still holds ``batch.base_seq`` entries.

        Raises:
            WorkflowNotFoundError: the invocation does not exist.
        """
        ...

    def record_outcome(
        self, workflow_id: str, invocation_id: str, seq: int, outcome: bytes
    ) -> OutcomeResult:
        """Record the outcome awaited at ``seq`` and decide, atomically, whether to wake."""
        ...

    def request_cancel(self, workflow_id: str) -> WorkflowRecord | None:
        """Set the workflow's persistent cancel flag; the updated record, or None."""
        ...

    def recover_candidates(
        self, *, older_than: float, now: float, limit: int = 100
    ) -> list[InvocationRecord]:
        """Claim up to ``limit`` unfinished invocations not updated since ``older_than``.

        Unfinished = status PENDING, RUNNING or SUSPENDED. Oldest ``updated_at`` first. Each one
        returned has had its ``updated_at`` set to ``now`` atomically, so concurrent sweepers (many
        worker processes) never both get the same invocation for the same stale period.
        """
        ...

    def heartbeat(self, refs: Sequence[InvocationRef], now: float) -> None:
        """Set ``updated_at`` to ``now`` for each of these invocations that is RUNNING,
        unless it is already later.

        Workers call it for the invocations they are running, so a long run is never taken
        for a stale one by ``recover_candidates``; finished, suspended or missing ones are
        left alone. Never moving ``updated_at`` back keeps a hold (``now`` in the future, for
        a queue's retry backoff) from being undone by a worker's concurrent heartbeat.
        """
        ...

    def purge_expired(self, now: float) -> int:
        """Delete finished workflows whose retention has passed; how many were deleted."""
        ...

    def ping(self) -> None:
        """Raise ``StoreUnavailableError`` if the store cannot be reached."""
        ...

    def close(self) -> None:
        """Release connections."""
        ...


def refuse_pushes(store: object, *pushes: QueuePush | None) -> None:
    """For stores that cannot write queue messages: fail loudly rather than drop them."""
    if any(push is not None for push in pushes):
        raise ConfigurationError(
            f"{store!r} cannot write queue messages in its writes (Batch.pushes, push=); "
            "only a store with writes_pushes (RedisStore) can; send the messages instead"
        )


def open_store(url: str, *, retention: float | None = None) -> StateStore:
    """Build a store from a URL.

    Args:
        url: ``memory://``, ``sqlite:///relative/path``, ``sqlite:////absolute/path`` or
            ``redis://[user:password@]host:port/db[?prefix=name&timeout=seconds]`` (also
            ``rediss://`` for TLS).
        retention: seconds a finished workflow is kept; None keeps it forever.

    Raises:
        ConfigurationError: the URL is malformed or names an unknown scheme.
    """
    if not isinstance(url, str) or "://" not in url:
        raise ConfigurationError(
            f"store URL {url!r} is not a URL; use 'memory://', 'sqlite:///path/to/file' "
            "or 'redis://host:port/db'"
        )
    scheme = urlsplit(url).scheme.lower()
    if scheme == "memory":
        from wfcore.store.memory import MemoryStore

        return MemoryStore(retention=retention)
    if scheme == "sqlite":
        from wfcore.store.sqlite import SQLiteStore

        return SQLiteStore.from_url(url, retention=retention)
    if scheme in ("redis", "rediss", "unix"):
        from wfcore.store.redis import RedisStore

        return RedisStore(url, retention=retention)
    raise ConfigurationError(
        f"unknown store URL scheme {scheme!r} in {url!r}; "
        "supported: memory://, sqlite:///path, redis://, rediss://"
    )


def __getattr__(name: str) -> object:
    # Lazy re-exports keep `import wfcore` free of redis and sqlite imports it may not need.
    if name == "DelegatingStore":
        from wfcore.store._delegating import DelegatingStore

        return DelegatingStore
    if name == "MemoryStore":
        from wfcore.store.memory import MemoryStore

        return MemoryStore
    if name == "SQLiteStore":
        from wfcore.store.sqlite import SQLiteStore

        return SQLiteStore
    if name == "RedisStore":
        from wfcore.store.redis import RedisStore

        return RedisStore
    raise AttributeError(name)
