"""Searches (``q``, ``data``) over more workflows than one request looks at: the cursor goes
on where the scan stopped, so every match is found once, page by page."""

from __future__ import annotations

import pytest

from tests.store.records import workflow
from wfcore import _listing
from wfcore._identity import workflow_id_for_key
from wfcore._inspect import inspecting_engine
from wfcore._listing import ListQuery, find
from wfcore._models import Batch
from wfcore.store.memory import MemoryStore


def _walk(store: MemoryStore, **params: str) -> tuple[list[str], list[bool]]:
    engine = inspecting_engine(store)
    found: list[str] = []
    complete: list[bool] = []
    cursor: str | None = None
    while True:
        query = ListQuery.from_params({**params, "cursor": cursor})
        page = find(engine, query)
        found += [w.workflow_id for w in page.workflows]
        complete.append(page.complete)
        if page.next_cursor is None:
            return found, complete
        cursor = page.next_cursor


def test_a_search_longer_than_its_window_goes_on_by_cursor(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Given 40 workflows, every fourth with a matching idempotency key, and a search window
    # of 7 workflows a request
    monkeypatch.setattr(_listing, "SCAN", 7)
    store = MemoryStore()
    for i in range(40):
        record, root = workflow(f"wf-{i:02d}", created_at=1000.0 + i)
        key = f"{'match' if i % 4 == 0 else 'other'}-{i:02d}"
        store.create_workflow(record.model_copy(update={"idempotency_key": key}), root)
    # When paging through the search
    found, complete = _walk(store, q="match", limit="3")
    # Then every match comes once, newest first, and pages that stopped early say so
    assert found == [f"wf-{i:02d}" for i in reversed(range(0, 40, 4))]
    assert False in complete


def test_an_exact_idempotency_key_is_one_read() -> None:
    store = MemoryStore()
    key = "order-7"
    record, root = workflow(workflow_id_for_key(key))
    store.create_workflow(record.model_copy(update={"idempotency_key": key}), root)
    other, other_root = workflow("wf-x")
    store.create_workflow(other.model_copy(update={"idempotency_key": "order-77"}), other_root)
    page = find(inspecting_engine(store), ListQuery.from_params({"q": key}))
    assert [w.workflow_id for w in page.workflows] == [record.workflow_id]
    assert page.scanned == 1


def test_a_data_search_longer_than_its_decoding_window_goes_on_by_cursor(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    # Given 12 workflows with data, every third one "blue", and 2 decodings a request
    monkeypatch.setattr(_listing, "DATA_SCAN", 2)
    store = MemoryStore()
    codec = inspecting_engine(store).codec
    for i in range(12):
        record, root = workflow(f"wf-{i:02d}", created_at=1000.0 + i)
        store.create_workflow(record, root)
        store.load(record.workflow_id, root.invocation_id)
        colour = codec.encode("blue" if i % 3 == 0 else "red")
        store.commit(record.workflow_id, root.invocation_id, Batch(0, data={"colour": colour}))
    # When paging through the data search
    found, complete = _walk(store, data="blue", limit="5")
    # Then each match comes once, none skipped where a window ended
    assert found == ["wf-09", "wf-06", "wf-03", "wf-00"]
    assert False in complete
