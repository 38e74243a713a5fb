"""``load_since`` on every store, and the history cache over it: what was added since a mark,
and every way a held history can go stale being caught (see wfcore.store.incremental)."""

from __future__ import annotations

from tests.store.records import invocation, workflow
from tests.store.test_repair_ops import FAILED, _failed_tree
from wfcore._history_cache import HistoryCache
from wfcore._models import Batch, Finish, ParentOutcome, Reopen, WorkflowStatus
from wfcore.store import StateStore
from wfcore.store.incremental import EMPTY_MARK, HistoryMark, IncrementalLoad


def _with_children(store: StateStore, workflow_id: str = "wf-1") -> str:
    """A root that recorded op0 and started children at seqs 1 and 2, then suspended."""
    record, root = workflow(workflow_id)
    store.create_workflow(record, root)
    rid = root.invocation_id
    children = [
        invocation(workflow_id, f"{rid}.{seq}", parent_invocation_id=rid, parent_seq=seq)
        for seq in (1, 2)
    ]
    store.load(workflow_id, rid)
    store.commit(workflow_id, rid, Batch(0, [b"op0", b"op1", b"op2"], children=children))
    store.commit(workflow_id, rid, Batch(3, [b"suspended"], suspend=[1, 2]))
    return rid


def _finish_child(store: StateStore, root: str, seq: int, value: bytes) -> None:
    child = f"{root}.{seq}"
    store.load("wf-1", child)
    done = Finish(WorkflowStatus.COMPLETED, value)
    store.commit("wf-1", child, Batch(0, finish=done, parent=ParentOutcome(root, seq)))


def test_every_store_loads_incrementally(store: StateStore) -> None:
    assert isinstance(store, IncrementalLoad)


def test_an_empty_mark_reads_everything_and_claims(store: StateStore) -> None:
    # Given a suspended root with one finished child
    root = _with_children(store)
    _finish_child(store, root, 1, b"one")
    assert isinstance(store, IncrementalLoad)
    # When it is loaded since nothing
    delta = store.load_since("wf-1", root, EMPTY_MARK)
    # Then it holds the whole history and every outcome, claimed as load claims
    assert delta is not None
    assert delta.tail == [b"op0", b"op1", b"op2", b"suspended"]
    assert delta.outcomes == {1: b"one"}
    assert delta.outcome_count == 1
    assert delta.epoch == 0
    assert delta.invocation.status is WorkflowStatus.RUNNING
    assert delta.invocation.attempts == 2
    assert store.load_since("wf-1", "nope", EMPTY_MARK) is None


def test_a_mark_reads_from_its_last_entry_and_its_open_seqs(store: StateStore) -> None:
    # Given a reader that holds the history up to the suspension, and outcome 1
    root = _with_children(store)
    _finish_child(store, root, 1, b"one")
    assert isinstance(store, IncrementalLoad)
    mark = HistoryMark(0, 4, b"suspended", (2,))
    # When child 2 finishes and the root records more
    _finish_child(store, root, 2, b"two")
    store.load("wf-1", root)
    store.commit("wf-1", root, Batch(4, [b"resumed", b"op3"]))
    delta = store.load_since("wf-1", root, mark, claim=False)
    # Then only the held last entry, what follows, and the open outcome come back
    assert delta is not None
    assert delta.tail == [b"suspended", b"resumed", b"op3"]
    assert delta.outcomes == {2: b"two"}
    assert delta.outcome_count == 2


def test_a_shorter_history_gives_an_empty_tail(store: StateStore) -> None:
    root = _with_children(store)
    assert isinstance(store, IncrementalLoad)
    delta = store.load_since("wf-1", root, HistoryMark(0, 9, b"x", ()), claim=False)
    assert delta is not None
    assert delta.tail == []


def test_a_reopen_changes_the_epoch(store: StateStore) -> None:
    # Given a failed tree a reader loaded
    root, _child = _failed_tree(store)
    assert isinstance(store, IncrementalLoad)
    before = store.load_since("wf-1", root, EMPTY_MARK, claim=False)
    assert before is not None
    # When a resume rewrites its history (same last entry kept, outcome forgotten)
    store.reopen("wf-1", [Reopen(root, 3, rewrite={0: b"op0-fixed"}, forget=[1])], statuses=FAILED)
    after = store.load_since("wf-1", root, EMPTY_MARK, claim=False)
    # Then its epoch moved on
    assert after is not None
    assert after.epoch == before.epoch + 1
    assert after.tail[0] == b"op0-fixed"


# -- the cache over the store -----------------------------------------------------------


def test_the_cache_reads_only_what_is_new(store: StateStore) -> None:
    # Given a cache that loaded a suspended root and got it back from its run
    cache = HistoryCache()
    root = _with_children(store)
    snap, held = cache.load(store, "wf-1", root)
    assert snap is not None
    assert held is not None
    cache.give_back(("wf-1", root), held, [])
    # When a child finishes and the root is loaded again
    _finish_child(store, root, 1, b"one")
    snap, held = cache.load(store, "wf-1", root)
    # Then it was a hit, and the snapshot is the full history with the new outcome
    assert cache.hits == 1
    assert snap is not None
    assert held is not None
    assert snap.entries == [b"op0", b"op1", b"op2", b"suspended"]
    assert snap.outcomes == {1: b"one"}
    assert 1 not in held.open  # (these test entries are no msgpack: every seq may get one)
    assert 2 in held.open


def _held_then(store: StateStore, cache: HistoryCache, root: str) -> None:
    snap, held = cache.load(store, "wf-1", root)
    assert snap is not None
    assert held is not None
    cache.give_back(("wf-1", root), held, [])


def test_another_writer_advancing_it_is_read(store: StateStore) -> None:
    # Given a cache holding the root, and another writer that then records more
    cache = HistoryCache()
    root = _with_children(store)
    _held_then(store, cache, root)
    store.commit("wf-1", root, Batch(4, [b"resumed", b"op3"]))
    _finish_child(store, root, 2, b"two")
    # When it is loaded through the cache
    snap, _ = cache.load(store, "wf-1", root)
    # Then what the other writer added is there
    assert snap is not None
    assert snap.entries == [b"op0", b"op1", b"op2", b"suspended", b"resumed", b"op3"]
    assert snap.outcomes == {2: b"two"}


def test_a_repair_is_never_read_from_the_cache(store: StateStore) -> None:
    # Given a cache holding a failed root
    cache = HistoryCache()
    root, _child = _failed_tree(store)
    _held_then(store, cache, root)
    # When a resume rewrites an entry the cache holds, keeping the length and last entry
    store.reopen("wf-1", [Reopen(root, 3, rewrite={0: b"op0-fixed"}, forget=[1])], statuses=FAILED)
    snap, _ = cache.load(store, "wf-1", root)
    # Then the load is in full: the rewritten entry and no forgotten outcome
    assert snap is not None
    assert snap.entries[0] == b"op0-fixed"
    assert snap.outcomes == {}
    assert cache.misses == 2


def test_a_purged_and_recreated_workflow_is_never_read_from_the_cache(
    store: StateStore,
) -> None:
    # Given a cache holding a root, whose workflow is then purged and created again under
    # the same ids with a longer, different history
    cache = HistoryCache()
    root = _with_children(store)
    _held_then(store, cache, root)
    _finish_child(store, root, 1, b"one")
    _finish_child(store, root, 2, b"two")
    store.commit("wf-1", root, Batch(4, finish=Finish(WorkflowStatus.COMPLETED, b"done")))
    assert store.purge_finished(["wf-1"], before=float("inf")) == 1
    record, again = workflow("wf-1")
    store.create_workflow(record, again)
    store.load("wf-1", root)
    store.commit("wf-1", root, Batch(0, [b"new0", b"new1", b"new2", b"new3", b"new4"]))
    # When it is loaded through the cache
    snap, _ = cache.load(store, "wf-1", root)
    # Then nothing stale is in it
    assert snap is not None
    assert snap.entries == [b"new0", b"new1", b"new2", b"new3", b"new4"]
    assert snap.outcomes == {}


def test_an_outcome_the_cache_did_not_expect_forces_a_full_load(store: StateStore) -> None:
    # Given a cache holding a root that believes seq 2 can get no outcome
    cache = HistoryCache()
    root = _with_children(store)
    snap, held = cache.load(store, "wf-1", root)
    assert held is not None
    held.open.discard(2)
    cache.give_back(("wf-1", root), held, [])
    # When child 2 finishes
    _finish_child(store, root, 2, b"two")
    snap, _ = cache.load(store, "wf-1", root)
    # Then the count told it, and it read in full
    assert snap is not None
    assert snap.outcomes == {2: b"two"}
    assert cache.misses == 2
