"""Listing workflows by pages (keyset cursors) and time ranges, on every store."""

from __future__ import annotations

import base64
import time
from typing import Any

import pytest

from tests.store.records import workflow
from tests.store.test_repair_ops import FAILED, _failed_tree
from wfcore._models import Batch, Finish, Reopen, WorkflowRecord, WorkflowStatus
from wfcore.errors import InvalidCursorError
from wfcore.store import StateStore
from wfcore.store.listing import cursor_for, list_page

T0 = 1_000_000.0


def _seed(store: StateStore, n: int, *, kinds: tuple[str, ...] = ("order", "refund")) -> None:
    """n workflows, created every second from T0; each third shares its creation time with
    the one before (ties sort by id), types alternating."""
    for i in range(n):
        created = T0 + i - (1 if i % 3 == 2 else 0)
        kind = kinds[i % len(kinds)]
        record, root = workflow(f"wf-{i:03d}", workflow_type=kind, created_at=created)
        store.create_workflow(record, root)


def _finish(store: StateStore, workflow_id: str, status: WorkflowStatus) -> None:
    root = f"{workflow_id}-root"
    store.load(workflow_id, root)
    store.commit(workflow_id, root, Batch(0, [b"e"], finish=Finish(status, b"r")))


def _pages(store: StateStore, limit: int, **filters: object) -> list[list[str]]:
    pages: list[list[str]] = []
    cursor = None
    while True:
        page = list_page(store, limit=limit, cursor=cursor, **filters)  # type: ignore[arg-type]
        pages.append([w.workflow_id for w in page.workflows])
        if page.next_cursor is None:
            return pages
        cursor = page.next_cursor


def _expected(store: StateStore, **filters: object) -> list[str]:
    return [w.workflow_id for w in store.list_workflows(limit=10_000, **filters)]  # type: ignore[arg-type]


def test_pages_walk_every_workflow_once_newest_first_ties_by_id(store: StateStore) -> None:
    # Given 25 workflows, some created at the same instant
    _seed(store, 25)
    # When walking them 7 at a time by cursor
    pages = _pages(store, 7)
    # Then the pages are full but the last, and together are the listing order exactly:
    # created_at descending, ties by workflow id descending
    assert [len(p) for p in pages] == [7, 7, 7, 4]
    walked = [wid for page in pages for wid in page]
    records = {w.workflow_id: w for w in store.list_workflows(limit=100)}
    expected = sorted(records, key=lambda i: (records[i].created_at, i), reverse=True)
    assert walked == expected == _expected(store)
    assert walked[:3] == ["wf-024", "wf-023", "wf-022"]  # 023 and 022 tie: higher id first


def test_a_page_boundary_is_stable_while_workflows_are_created(store: StateStore) -> None:
    # Given the first page of a listing
    _seed(store, 12)
    first = list_page(store, limit=5)
    assert first.next_cursor is not None
    # When newer workflows are created before the next page is asked for, and one older
    # than the boundary too
    for i in range(3):
        record, root = workflow(f"new-{i}", created_at=T0 + 100 + i)
        store.create_workflow(record, root)
    old, old_root = workflow("old-0", created_at=T0 - 50)
    store.create_workflow(old, old_root)
    rest = list_page(store, limit=100, cursor=first.next_cursor)
    # Then the next page starts right after the first one's last workflow: nothing repeated
    # or skipped, the newer ones belong to an earlier page, the older one is listed
    before = [w.workflow_id for w in first.workflows]
    after = [w.workflow_id for w in rest.workflows]
    assert not set(before) & set(after)
    assert before + after == [w for w in _expected(store) if not w.startswith("new-")]
    assert after[-1] == "old-0"
    assert rest.next_cursor is None


def test_filters_and_time_ranges_combine_with_cursors(store: StateStore) -> None:
    # Given 30 workflows of two types, some completed and some failed
    _seed(store, 30)
    for i in range(0, 30, 4):
        _finish(store, f"wf-{i:03d}", WorkflowStatus.COMPLETED)
    _finish(store, "wf-005", WorkflowStatus.FAILED)
    after, before = T0 + 5, T0 + 22
    cases: list[dict[str, Any]] = [
        {"status": WorkflowStatus.COMPLETED},
        {"status": WorkflowStatus.PENDING, "workflow_type": "refund"},
        {"workflow_type": "order", "created_after": after},
        {"created_after": after, "created_before": before},
        {"status": WorkflowStatus.COMPLETED, "workflow_type": "order", "created_before": before},
        {"status": WorkflowStatus.FAILED},
    ]
    records = {w.workflow_id: w for w in store.list_workflows(limit=100)}
    for filters in cases:
        # When paging each filter 3 at a time
        walked = [wid for page in _pages(store, 3, **filters) for wid in page]
        # Then the pages hold exactly the matching workflows, in listing order
        want = [
            wid
            for wid in sorted(records, key=lambda i: (records[i].created_at, i), reverse=True)
            if _matches(records[wid], filters)
        ]
        assert walked == want, filters
        assert walked, filters
    # The range is half-open: created_after inclusive, created_before exclusive
    exact = store.list_workflows(created_after=T0 + 3, created_before=T0 + 4)
    assert [w.created_at for w in exact] == [T0 + 3]


def _matches(r: WorkflowRecord, filters: dict[str, Any]) -> bool:
    status, kind = filters.get("status"), filters.get("workflow_type")
    low, high = filters.get("created_after"), filters.get("created_before")
    return (
        (status is None or r.status is status)
        and (kind is None or r.workflow_type == kind)
        and (low is None or r.created_at >= low)
        and (high is None or r.created_at < high)
    )


def test_status_listings_follow_every_status_change(store: StateStore) -> None:
    # Given a pending workflow
    record, root = workflow("wf-1", workflow_type="order")
    store.create_workflow(record, root)

    def where() -> list[str]:
        return [
            s.value
            for s in WorkflowStatus
            for kind in (None, "order")
            if [w.workflow_id for w in store.list_workflows(status=s, workflow_type=kind)]
            == ["wf-1"]
        ]

    assert where() == ["PENDING", "PENDING"]
    # When it runs, suspends, is woken, and completes: one status listing holds it each time
    store.load("wf-1", root.invocation_id)
    assert where() == ["RUNNING", "RUNNING"]
    store.commit("wf-1", root.invocation_id, Batch(0, [b"a"], suspend=[0]))
    assert where() == ["SUSPENDED", "SUSPENDED"]
    store.record_outcome("wf-1", root.invocation_id, 0, b"o")
    assert where() == ["PENDING", "PENDING"]
    store.load("wf-1", root.invocation_id)
    store.commit("wf-1", root.invocation_id, Batch(1, finish=Finish(WorkflowStatus.CANCELLED, b"")))
    assert where() == ["CANCELLED", "CANCELLED"]
    # And once purged it is in none
    assert store.purge_finished(["wf-1"], before=time.time() + 10) == 1
    assert where() == []
    assert store.list_workflows() == []


def test_a_resumed_workflow_moves_back_to_the_pending_listing(store: StateStore) -> None:
    # Given a failed workflow
    root, child = _failed_tree(store)
    assert [w.workflow_id for w in store.list_workflows(status=WorkflowStatus.FAILED)] == ["wf-1"]
    # When it is reopened (a resume)
    changes = [Reopen(root, 3, append=[b"resumed"], forget=[1]), Reopen(child, 1)]
    assert store.reopen("wf-1", changes, statuses=FAILED) is not None
    # Then it is listed as pending, no longer as failed
    assert store.list_workflows(status=WorkflowStatus.FAILED) == []
    assert [w.workflow_id for w in store.list_workflows(status=WorkflowStatus.PENDING)] == ["wf-1"]


def test_a_fork_is_listed_under_its_status(store: StateStore) -> None:
    fork, fork_root = workflow("fork-1", workflow_type="order")
    store.create_fork(fork, fork_root, [b"e"], {}, {})
    listed = store.list_workflows(status=WorkflowStatus.PENDING, workflow_type="order")
    assert [w.workflow_id for w in listed] == ["fork-1"]


def _altered(cursor: str) -> str:
    raw = bytearray(base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)))
    raw[-3] ^= 0x01  # one bit of the position
    return base64.urlsafe_b64encode(bytes(raw)).decode().rstrip("=")


def test_bad_cursors_are_typed_errors_and_change_nothing(store: StateStore) -> None:
    # Given a listing and the cursor of its second page
    _seed(store, 6)
    page = list_page(store, limit=2, workflow_type="order")
    assert page.next_cursor is not None
    before = _expected(store)
    # When a cursor is garbage, altered, cut short, or used with other filters
    for bad, filters, text in (
        ("not-a-cursor", {"workflow_type": "order"}, "not a listing cursor"),
        ("", {}, "not a listing cursor"),
        (_altered(page.next_cursor), {"workflow_type": "order"}, "altered"),
        (page.next_cursor[:-4], {"workflow_type": "order"}, "cut"),
        (page.next_cursor, {"workflow_type": "refund"}, "other filters"),
        (page.next_cursor, {}, "other filters"),
    ):
        # Then listing raises InvalidCursorError saying what to do, and nothing changed
        with pytest.raises(InvalidCursorError, match=text) as caught:
            store.list_workflows(cursor=bad, **filters)  # type: ignore[arg-type]
        assert "without a cursor" in str(caught.value)
    assert _expected(store) == before


def test_cursor_for_a_record_resumes_after_it(store: StateStore) -> None:
    _seed(store, 5)
    records = store.list_workflows()
    cursor = cursor_for(records[1])
    assert store.list_workflows(cursor=cursor) == records[2:]


def test_count_workflows_follows_statuses(store: StateStore) -> None:
    # Given ten workflows, three completed and one failed
    _seed(store, 10)
    for wid in ("wf-001", "wf-004", "wf-007"):
        _finish(store, wid, WorkflowStatus.COMPLETED)
    _finish(store, "wf-002", WorkflowStatus.FAILED)
    store.load("wf-003", "wf-003-root")  # running
    # Then each status counts its own
    counts = {s: store.count_workflows(s) for s in WorkflowStatus}
    assert counts == {
        WorkflowStatus.PENDING: 5,
        WorkflowStatus.RUNNING: 1,
        WorkflowStatus.SUSPENDED: 0,
        WorkflowStatus.COMPLETED: 3,
        WorkflowStatus.FAILED: 1,
        WorkflowStatus.CANCELLED: 0,
    }
