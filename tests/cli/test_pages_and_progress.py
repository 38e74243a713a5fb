"""``wfcore list`` by pages and filters; ``show``'s data and lineage; progress bars of
``export`` of many, ``replay`` of a directory and ``purge``; ``wfcore upgrade``."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path

import pytest
import redis

from tests.cli import apps
from tests.store.records import workflow
from wfcore import LocalRunner, open_store
from wfcore._models import Batch, Finish, WorkflowStatus
from wfcore.cli import main
from wfcore.store import StateStore

T0 = 1_700_000_000.0


def _seeded(tmp_path: Path, n: int = 12, url: str | None = None) -> str:
    """A store (SQLite unless ``url``) of n workflows, one a second from T0, types
    alternating; every third completed."""
    url = url or f"sqlite:///{tmp_path / 'pages.sqlite3'}"
    store = open_store(url)
    for i in range(n):
        record, root = workflow(f"wf-{i:02d}", workflow_type=("a", "b")[i % 2], created_at=T0 + i)
        record = record.model_copy(update={"idempotency_key": f"key-{i:02d}"})
        store.create_workflow(record, root)
        if i % 3 == 0:
            _complete(store, record.workflow_id)
    store.close()
    return url


def _complete(store: StateStore, workflow_id: str) -> None:
    root = f"{workflow_id}-root"
    store.load(workflow_id, root)
    store.commit(workflow_id, root, Batch(0, finish=Finish(WorkflowStatus.COMPLETED, b"\xc0")))


def _page(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[list[str], str | None]:
    assert main(["--json", *argv]) == 0
    out, err = capsys.readouterr()
    ids = [w["workflow_id"] for w in json.loads(out)]
    cursor = err.split("next cursor: ", 1)[1].strip() if "next cursor: " in err else None
    return ids, cursor


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def listed_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Twelve workflows (see ``_seeded``) in a SQLite file or a PostgreSQL schema."""
    if request.param == "postgres":
        return _seeded(tmp_path, url=request.getfixturevalue("postgres_url"))
    return _seeded(tmp_path)


def test_list_pages_by_cursor_with_the_web_views_filters(
    listed_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    url = listed_url
    # Walking every page of 5: all twelve once, newest first; the JSON stays a list
    walked: list[str] = []
    cursor: str | None = None
    pages = 0
    while True:
        extra = [] if cursor is None else ["--cursor", cursor]
        ids, cursor = _page(capsys, "--store", url, "list", "--limit", "5", *extra)
        walked += ids
        pages += 1
        if cursor is None:
            break
    assert walked == [f"wf-{i:02d}" for i in reversed(range(12))]
    assert pages == 3
    # Filters: status and type, a time range, a search by idempotency key
    done_b, _ = _page(capsys, "--store", url, "list", "--status", "COMPLETED", "--type", "b")
    assert done_b == ["wf-09", "wf-03"]
    since, until = str(T0 + 3), "2023-11-14T22:13:27"  # T0 + 7 s, as ISO 8601 UTC
    ranged, _ = _page(capsys, "--store", url, "list", "--since", since, "--until", until)
    assert ranged == ["wf-06", "wf-05", "wf-04", "wf-03"]
    found, _ = _page(capsys, "--store", url, "list", "--search", "key-1")
    assert found == ["wf-11", "wf-10"]
    # For people: a table, then the next cursor on stdout
    assert main(["--store", url, "list", "--limit", "2"]) == 0
    out = capsys.readouterr().out
    assert "wf-11" in out
    assert "next cursor: " in out


def test_list_with_a_bad_cursor_is_a_one_line_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    url = _seeded(tmp_path, 4)
    _, cursor = _page(capsys, "--store", url, "list", "--limit", "1", "--type", "a")
    assert cursor is not None
    for argv in (["--cursor", "bogus"], ["--cursor", cursor, "--type", "b"]):
        assert main(["--store", url, "list", *argv]) == 1
        err = capsys.readouterr().err
        assert err.startswith("wfcore: error: ")
        assert "without a cursor" in err
        assert err.count("\n") == 1


def test_show_prints_arguments_result_data_and_lineage(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given a parent workflow that set data and started a child workflow
    url = f"sqlite:///{tmp_path / 'show.sqlite3'}"
    runner = LocalRunner(open_store(url))

    @runner.task(name="show.child", force_new_workflow=True)
    def child(x: int) -> int:
        return x + 1

    @runner.task(name="show.parent")
    def parent(x: int) -> int:
        parent.wf.set_data("progress", {"step": "child", "x": x})
        return int(parent.wf.execute_task(child, x).result)

    workflow_id = runner.start(parent, 4)
    runner.run_until_idle()
    [kid] = runner.store.child_workflows(workflow_id)
    runner.store.close()
    # When it is shown, as JSON and for people
    assert main(["--json", "--store", url, "show", workflow_id]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert main(["--store", url, "show", kid.workflow_id]) == 0
    text = capsys.readouterr().out
    # Then arguments, result, data and lineage (children; parent and root) are there
    assert shown["args"] == [4]
    assert shown["result"] == 5
    assert shown["data"] == {"progress": {"step": "child", "x": 4}}
    assert shown["children"] == [kid.workflow_id]
    assert shown["root_workflow_id"] == workflow_id
    assert workflow_id in text  # the child's parent_workflow_id and root_workflow_id


def test_export_of_many_and_replay_of_a_directory_show_progress_to_people(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given three finished workflows of the CLI test app
    url = f"sqlite:///{tmp_path / 'many.sqlite3'}"
    runner, flow = apps.build_runner(open_store(url))
    ids = sorted(runner.start(flow, x) for x in (1, 2, 3))
    runner.run_until_idle()
    runner.store.close()
    folder = tmp_path / "histories"
    folder.mkdir()
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True)  # a terminal: bars are shown
    # When every completed one is exported into a directory, then that directory replayed
    argv = ["--store", url, "export", "--status", "COMPLETED", "--type", "cli.flow"]
    assert main([*argv, "-o", str(folder)]) == 0
    out, err = capsys.readouterr()
    assert "exporting 3 workflow(s)" in err
    assert "wrote 3 history file(s)" in out
    assert sorted(p.stem for p in folder.iterdir()) == ids
    assert main(["replay", "--app", "tests.cli.apps:runner", str(folder)]) == 0
    out, err = capsys.readouterr()
    assert "replaying 3 history file(s)" in err
    assert out.count("replay ok") == 3
    # And with --json nothing but JSON is written, no bar
    assert main(["--json", "replay", "--app", "tests.cli.apps:runner", str(folder)]) == 0
    out, err = capsys.readouterr()
    assert [r["ok"] for r in json.loads(out)] == [True, True, True]
    assert "replaying" not in err
    # Bad selections are one-line errors
    assert main(["--store", url, "export"]) == 1
    assert "needs WORKFLOW_ID(s) or a selection" in capsys.readouterr().err
    assert main([*argv, "-o", str(tmp_path / "nowhere")]) == 1
    assert "is not a directory" in capsys.readouterr().err
    assert main(["replay", "--app", "tests.cli.apps:runner", str(tmp_path)]) == 1
    assert "holds no .wfh file" in capsys.readouterr().err


def test_purge_of_many_batches_shows_progress_to_people(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given more old finished workflows than one purge batch holds
    url = f"sqlite:///{tmp_path / 'purge.sqlite3'}"
    store = open_store(url)
    old = time.time() - 40 * 86400
    for i in range(501):
        record, root = workflow(f"old-{i:03d}", created_at=old)
        store.create_workflow(record, root)
        with monkeypatch.context() as past:
            past.setattr(time, "time", lambda: old)
            _complete(store, record.workflow_id)
    store.close()
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True)
    # When they are purged
    assert main(["--store", url, "purge", "--older-than", "30d"]) == 0
    out, err = capsys.readouterr()
    # Then a bar showed on stderr and the summary on stdout
    assert "purging 501 workflow(s)" in err
    assert "purged 501 finished workflow(s)" in out


def test_upgrade_reports_on_sqlite(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    url = _seeded(tmp_path, 2)
    assert main(["--json", "--store", url, "upgrade"]) == 0
    assert json.loads(capsys.readouterr().out) == {"upgraded": True, "indexed": 0}


@pytest.mark.redis
def test_upgrade_builds_the_status_indexes_of_an_older_redis_database(
    redis_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given a Redis database whose workflows were written before the status indexes
    prefix = f"upgrade-{time.monotonic_ns()}"
    url = f"{redis_url}{'&' if '?' in redis_url else '?'}prefix={prefix}"
    store = open_store(url)
    for i in range(3):
        record, root = workflow(f"wf-{i}", created_at=T0 + i)
        store.create_workflow(record, root)
    store.close()
    raw = redis.Redis.from_url(redis_url.split("?", 1)[0])
    try:
        raw.delete(*raw.keys(f"{prefix}:idx:status:*"))
        # When `wfcore upgrade` runs
        assert main(["--json", "--store", url, "upgrade"]) == 0
        # Then every workflow is in its status index, which is marked complete
        assert json.loads(capsys.readouterr().out) == {"upgraded": True, "indexed": 3}
        assert raw.zcard(f"{prefix}:idx:status:PENDING") == 3
        assert raw.get(f"{prefix}:idx:status:ready") == b"1"
    finally:
        keys = raw.keys(f"{prefix}:*")
        if keys:
            raw.delete(*keys)
        raw.close()
