"""The state-store contract (``StateStore``) and ``open_store(url)``, which builds one."""

from __future__ import annotations

import re
from collections.abc import Collection, Mapping, Sequence
from typing import TYPE_CHECKING, Protocol, runtime_checkable
from urllib.parse import urlsplit

from wfcore._models import (
    Batch,
    CommitResult,
    InvocationRecord,
    InvocationRef,
    OutcomeResult,
    QueuePush,
    QueueReceipt,
    Reopen,
    SignalResult,
    Snapshot,
    WorkflowRecord,
    WorkflowStatus,
)
from wfcore.errors import ConfigurationError

if TYPE_CHECKING:
    from wfcore.store._delegating import DelegatingStore
    from wfcore.store.memory import MemoryStore
    from wfcore.store.postgres import PostgresStore
    from wfcore.store.redis import RedisStore
    from wfcore.store.sqlite import SQLiteStore

__all__ = [
    "DelegatingStore",
    "MemoryStore",
    "PostgresStore",
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
        created_after: float | None = None,
        created_before: float | None = None,
        cursor: str | None = None,
    ) -> list[WorkflowRecord]:
        """Up to ``limit`` workflows, newest first, optionally filtered.

        Order: ``created_at`` descending, ties by ``workflow_id`` descending (code-point
        order); every store gives exactly this order. Filters combine: ``status``,
        ``workflow_type``, and the half-open creation range ``created_after <= created_at <
        created_before`` (epoch seconds). ``cursor`` (from ``listing.list_page`` or
        ``listing.cursor_for``) resumes after the workflow it names: a store turns it into a
        ``Position`` with ``listing.position(cursor, status=..., workflow_type=...,
        created_after=..., created_before=...)``, which raises ``InvalidCursorError`` for a
        bad one, and lists only the workflows ``Position.before`` accepts (keyset
        pagination: the cost of a page must not grow with its depth; use indexes on
        ``(created_at, workflow_id)`` per filter). Pages come from ``listing.list_page``.
        """
        ...

    def count_workflows(self, status: WorkflowStatus) -> int:
        """How many workflows have ``status`` now, counted by an index (metrics read it at
        every scrape: it must cost about one round trip whatever the store holds)."""
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

    def list_data(self, workflow_id: str) -> dict[str, bytes]:
        """Every workflow data value by key (empty when none, or no such workflow)."""
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

    def send_signal(
        self, workflow_id: str, name: str, payload: bytes, *, signal_id: str | None = None
    ) -> SignalResult:
        """Accept a signal for the workflow, atomically: refuse it, deliver it, or buffer it.

        Nothing is stored when the workflow is missing or finished, or when ``signal_id``
        names a signal accepted before (``duplicate``; checked first, so a client's retry
        after its workflow finished still learns it was accepted). Otherwise the oldest
        wait registered for ``name`` (``Batch.signal``) whose invocation is unfinished and
        has no outcome at its seq yet (a timeout may have won) gets ``payload`` as that
        outcome, exactly as ``record_outcome`` records it, waking it if that was what it
        waited for; with no such wait, ``payload`` joins the end of the ``name`` buffer.
        """
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

    def purge_finished(self, workflow_ids: Sequence[str], before: float) -> int:
        """Delete those of ``workflow_ids`` that are finished and were last updated before
        ``before`` (checked as each is deleted: never an unfinished one); how many."""
        ...

    def ping(self) -> None:
        """Raise ``StoreUnavailableError`` if the store cannot be reached."""
        ...

    def close(self) -> None:
        """Release connections."""
        ...

    # -- repair (resume, fork) -----------------------------------------------------------

    def reopen(
        self,
        workflow_id: str,
        changes: Sequence[Reopen],
        *,
        statuses: Collection[WorkflowStatus],
    ) -> WorkflowRecord | None:
        """Take finished invocations of a workflow back to PENDING, atomically (a resume).

        Refused (nothing written, None returned) unless the workflow exists with a status in
        ``statuses`` and every invocation named exists and holds exactly ``length`` history
        entries. Otherwise each change is applied (entries rewritten, events appended, the
        named outcomes forgotten; status PENDING, outcome and waiting cleared), and the
        workflow becomes PENDING with its cancel flag cleared and its retention expiry
        dropped. Returns the updated workflow.
        """
        ...

    def create_fork(
        self,
        workflow: WorkflowRecord,
        root: InvocationRecord,
        entries: Sequence[bytes],
        outcomes: Mapping[int, bytes],
        data: Mapping[str, bytes],
    ) -> tuple[WorkflowRecord, bool]:
        """Create a workflow whose root invocation starts with a recorded history (a fork).

        Like ``create_workflow`` (nothing is written when ``workflow_id`` exists), plus, in
        the same atomic write, the root's history ``entries``, its recorded child
        ``outcomes`` and the workflow's ``data``. Returns the stored workflow and whether
        this call created it.
        """
        ...


def refuse_pushes(store: object, *pushes: QueuePush | QueueReceipt | None) -> None:
    """For stores that cannot write queue messages: fail loudly rather than drop them."""
    if any(push is not None for push in pushes):
        raise ConfigurationError(
            f"{store!r} cannot write queue messages in its writes (Batch.pushes, push=, "
            "Batch.receipt); only a store with writes_pushes (RedisStore) can; send the "
            "messages instead"
        )


def refuse_batch_pushes(store: object, batch: Batch) -> None:
    """``refuse_pushes`` for every message (and receipt) a batch asks its commit to write."""
    refuse_pushes(store, *batch.pushes, batch.parent_push, batch.suspend_push, batch.receipt)


MARK_EVERY = 0.005
"""Seconds: a commit marks its invocation alive (``updated_at``) only when the last mark is
older than this. Liveness is judged in seconds (``stale_after``), so a run committing many
steps in a row writes one mark per interval instead of one per commit."""


def suspend_slack(batch: Batch) -> int:
    """How many of ``batch.suspend`` may still miss an outcome when the invocation wakes."""
    assert batch.suspend is not None
    need = batch.suspend_need
    return 0 if need is None else max(0, len(batch.suspend) - need)


_URL_FORMS = (
    "'memory://', 'sqlite:///path/to/file', 'redis://[user:password@]host:6379/0' or "
    "'postgresql://[user:password@]host:5432/dbname'"
)
_BARE_SECRET = re.compile(r":[^:/@?#]*@")
_SECRET_QUERY = re.compile(r"([?&](?:password|passwd|pass|pwd)=)[^&#]*", re.IGNORECASE)


def mask_url(url: str) -> str:
    """``url`` with the password of its user info and any ``password=`` option shown as ``***``.

    Works on URLs too malformed to parse, so error messages can always show the URL.
    """
    scheme, sep, rest = url.partition("://")
    if sep:
        # Up to the query, not the first "/": an unencoded "/" in a password must not leak it.
        authority_end = rest.find("?") if "?" in rest else len(rest)
        userinfo, at, host = rest[:authority_end].rpartition("@")
        if at and ":" in userinfo:
            rest = f"{userinfo.split(':', 1)[0]}:***@{host}{rest[authority_end:]}"
    else:  # not even "scheme://": hide anything shaped like ":password@"
        scheme = _BARE_SECRET.sub(":***@", scheme)
    return _SECRET_QUERY.sub(r"\1***", f"{scheme}{sep}{rest}")


def open_store(url: str, *, retention: float | None = None, read_only: bool = False) -> StateStore:
    """Build a store from a URL.

    Args:
        url: ``memory://``, ``sqlite:///relative/path``, ``sqlite:////absolute/path`` or
            ``redis://[user:password@]host:port/db[?prefix=name&timeout=seconds]`` (also
            ``rediss://`` for TLS, ``unix:///path/redis.sock``, and for Redis Cluster
            ``redis+cluster://host1:port1,host2:port2[?prefix=name]``) or
            ``postgresql://[user:password@]host:port/dbname[?schema=name&max_size=n]`` (also
            ``postgres://``; needs the ``wfcore[postgres]`` extra).
        retention: seconds a finished workflow is kept; None keeps it forever.
        read_only: open an SQLite file or a PostgreSQL store read-only (it must exist;
            writes raise ``StoreError``), as the inspecting CLI commands do. Memory and Redis
            stores are opened as usual (grant a read-only Redis user through its ACL).

    Raises:
        ConfigurationError: the URL is malformed or names an unknown scheme; the message
            shows the URL with its password masked.
    """
    if not isinstance(url, str) or "://" not in url:
        shown = mask_url(url) if isinstance(url, str) else url
        raise ConfigurationError(f"store URL {shown!r} is not a URL; use {_URL_FORMS}")
    try:
        parts = urlsplit(url)
    except ValueError as e:  # e.g. an unclosed IPv6 bracket: redis://[::1/0
        raise ConfigurationError(
            f"store URL {mask_url(url)!r} is malformed ({e}); use {_URL_FORMS} "
            "(an IPv6 host goes in brackets: redis://[::1]:6379/0)"
        ) from None
    scheme = parts.scheme.lower()
    if scheme == "memory":
        if url.partition("://")[2]:
            raise ConfigurationError(
                f"memory store URL {mask_url(url)!r} must be exactly 'memory://': the memory "
                "store takes no host, path or options"
            )
        from wfcore.store.memory import MemoryStore

        return MemoryStore(retention=retention)
    if scheme == "sqlite":
        from wfcore.store.sqlite import SQLiteStore

        return SQLiteStore.from_url(url, retention=retention, read_only=read_only)
    if scheme in ("redis", "rediss", "unix", "redis+cluster", "rediss+cluster"):
        from wfcore.store.redis import RedisStore

        return RedisStore(url, retention=retention)
    if scheme in ("postgresql", "postgres"):
        from wfcore.store.postgres import PostgresStore

        return PostgresStore.from_url(url, retention=retention, read_only=read_only)
    raise ConfigurationError(
        f"unknown store URL scheme {scheme!r} in {mask_url(url)!r}; "
        "supported: memory://, sqlite:///path, redis://, rediss://, unix://, redis+cluster://, "
        "postgresql://"
    )


def __getattr__(name: str) -> object:
    # Lazy re-exports keep `import wfcore` free of store imports it may not need.
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
    if name == "PostgresStore":
        from wfcore.store.postgres import PostgresStore

        return PostgresStore
    raise AttributeError(name)
