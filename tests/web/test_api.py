"""The web view's JSON API through Starlette's TestClient: the CLI's --json data, filters and
pagination, actions, errors."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from typing import Any

import pytest
from starlette.testclient import TestClient

from tests.store.records import workflow
from tests.web import apps
from wfcore import WorkflowStatus, import_history, open_store
from wfcore._models import Batch, Finish
from wfcore.cli import main
from wfcore.store import StateStore
from wfcore.web import create_app

CSRF = {"X-Wfcore-CSRF": "1"}
DONE = Finish(WorkflowStatus.COMPLETED, b"\xc0")


@pytest.fixture(scope="module")
def made(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, apps.Demo]]:
    """A SQLite store with the demo workflows (a 12-child fan-out keeps it quick)."""
    url = f"sqlite:///{tmp_path_factory.mktemp('web') / 'web.sqlite3'}"
    store = open_store(url)
    demo = apps.build(store, children=12)
    yield url, demo
    store.close()


@pytest.fixture
def store(made: tuple[str, apps.Demo]) -> StateStore:
    return made[1].runner.store


@pytest.fixture
def client(made: tuple[str, apps.Demo]) -> TestClient:
    """The view with the runner as its App: a signal or cancel wakes the workflow at once."""
    url, demo = made
    return TestClient(create_app(demo.runner.store, app=demo.runner.engine, store_url=url))


@pytest.fixture
def bare(made: tuple[str, apps.Demo]) -> Iterator[TestClient]:
    """The view on its own connection without an App, as ``wfcore web --store URL`` runs."""
    store = open_store(made[0])
    yield TestClient(create_app(store, store_url=made[0]))
    store.close()


def _cli(capsys: pytest.CaptureFixture[str], url: str, *argv: str) -> Any:
    assert main(["--json", "--store", url, *argv]) == 0
    return json.loads(capsys.readouterr().out)


def test_api_returns_what_the_cli_prints_as_json(
    bare: TestClient, made: tuple[str, apps.Demo], capsys: pytest.CaptureFixture[str]
) -> None:
    url, demo = made
    client = bare
    listed = client.get("/api/workflows", params={"limit": 500}).json()
    assert listed["workflows"] == _cli(capsys, url, "list", "--limit", "500")
    assert listed["next_cursor"] is None
    for workflow_id in (demo.fanout, demo.failed, demo.parcel, demo.waiter):
        base = f"/api/workflows/{workflow_id}"
        assert client.get(base).json() == _cli(capsys, url, "show", workflow_id)
        assert client.get(f"{base}/history").json() == _cli(capsys, url, "history", workflow_id)
        assert client.get(f"{base}/tree").json() == _cli(capsys, url, "tree", workflow_id)
        assert client.get(f"{base}/data").json() == _cli(capsys, url, "data", workflow_id)


def test_values_of_unregistered_models_are_shown_generically(
    bare: TestClient, client: TestClient, made: tuple[str, apps.Demo]
) -> None:
    shown = bare.get(f"/api/workflows/{made[1].parcel}").json()
    assert shown["result"] == {
        "unregistered_model": "tests.web.apps.Parcel",
        "fields": {"sku": "blue-mug", "weight": 0.8},
    }
    data = bare.get(f"/api/workflows/{made[1].parcel}/data").json()
    assert data["label"]["fields"] == {"sku": "blue-mug", "weight": 0.4}
    page = bare.get(f"/workflows/{made[1].parcel}").text
    assert "tests.web.apps.Parcel" in page
    assert "blue-mug" in page
    # With the App (--app), its registered model decodes as itself: its fields.
    known = client.get(f"/api/workflows/{made[1].parcel}").json()
    assert known["result"] == {"sku": "blue-mug", "weight": 0.8}


def test_list_filters_and_search(client: TestClient, made: tuple[str, apps.Demo]) -> None:
    demo = made[1]

    def ids(**params: Any) -> list[str]:
        found = client.get("/api/workflows", params={"limit": 500, **params})
        assert found.status_code == 200, found.text
        return [w["workflow_id"] for w in found.json()["workflows"]]

    assert ids(status="FAILED") == [demo.failed]
    assert ids(type="web.waiter") == [demo.waiter]
    assert len(ids(type="web.leaf")) == 12
    assert ids(q="fanout-order") == [demo.fanout]  # part of the idempotency key
    assert ids(q=demo.sleeper) == [demo.sleeper]  # the id itself
    assert ids(q=demo.sleeper[4:12]) == [demo.sleeper]  # part of an id
    assert ids(data="blue-mug") == [demo.parcel]  # a data value
    assert ids(data='"children": 12') == [demo.fanout]
    assert ids(q="no such thing") == []
    assert set(ids(since="2000-01-01", until="2999-01-01")) == set(ids())
    assert ids(until="2000-01-01T00:00") == []
    assert ids(since="4102444800") == []  # epoch seconds: 2100-01-01


def test_cursor_pages_cover_every_workflow_once(client: TestClient) -> None:
    everything = [w["workflow_id"] for w in client.get("/api/workflows").json()["workflows"]]
    seen: list[str] = []
    params: dict[str, Any] = {"limit": 4}
    pages = 0
    while True:
        page = client.get("/api/workflows", params=params).json()
        assert len(page["workflows"]) <= 4
        seen += [w["workflow_id"] for w in page["workflows"]]
        pages += 1
        if page["next_cursor"] is None:
            break
        params["cursor"] = page["next_cursor"]
    assert seen == everything
    assert len(set(seen)) == len(seen) == 17
    assert pages == 5


@pytest.mark.postgres
def test_cursor_pages_and_filters_on_a_postgres_store(postgres_url: str) -> None:
    # Given 14 workflows in PostgreSQL, every third completed
    store = open_store(postgres_url)
    try:
        for i in range(14):
            record, root = workflow(f"wf-{i:02d}", created_at=1_700_000_000.0 + i // 2)
            store.create_workflow(record, root)
            if i % 3 == 0:
                store.load(record.workflow_id, root.invocation_id)
                store.commit(record.workflow_id, root.invocation_id, Batch(0, finish=DONE))
        view = TestClient(create_app(store, store_url=postgres_url))
        # When paging the view's API 4 at a time, all of them and then the completed ones
        walked: dict[str, list[str]] = {}
        for status in ("", "COMPLETED"):
            params: dict[str, Any] = {"limit": 4, "status": status} if status else {"limit": 4}
            walked[status] = []
            while True:
                page = view.get("/api/workflows", params=params).json()
                walked[status] += [w["workflow_id"] for w in page["workflows"]]
                if page["next_cursor"] is None:
                    break
                params["cursor"] = page["next_cursor"]
    finally:
        store.close()
    # Then every page follows the listing order (ties by id) once
    assert walked[""] == [f"wf-{i:02d}" for i in reversed(range(14))]
    assert walked["COMPLETED"] == [f"wf-{i:02d}" for i in reversed(range(0, 14, 3))]


@pytest.mark.parametrize(
    ("params", "text"),
    [
        ({"limit": "0"}, "limit '0' is not a number from 1 to 500"),
        ({"limit": "x"}, "limit 'x'"),
        ({"status": "DONE"}, "status 'DONE' is not one of PENDING"),
        ({"since": "yesterday"}, "since 'yesterday' is not a time"),
        ({"cursor": "nonsense"}, "cursor 'nonsense' is not a listing cursor wfcore made"),
    ],
)
def test_bad_list_parameters_are_400(client: TestClient, params: dict[str, str], text: str) -> None:
    answer = client.get("/api/workflows", params=params)
    assert answer.status_code == 400
    assert text in answer.json()["error"]


def test_unknown_workflow_is_a_404_json_error(client: TestClient) -> None:
    for suffix in ("", "/history", "/tree", "/data", "/timeline", "/export"):
        answer = client.get(f"/api/workflows/nope{suffix}")
        assert answer.status_code == 404
        assert "no workflow 'nope'" in answer.json()["error"]
    assert client.post("/api/workflows/nope/cancel", headers=CSRF).status_code == 404
    page = client.get("/workflows/nope")
    assert page.status_code == 404
    assert "no workflow &#39;nope&#39;" in page.text


def test_signal_delivers_and_rejects_bad_input(
    client: TestClient, store: StateStore, made: tuple[str, apps.Demo]
) -> None:
    demo = made[1]
    url = f"/api/workflows/{demo.waiter}/signal"
    bad = client.post(url, content=b"{not json", headers=CSRF)
    assert bad.status_code == 400
    assert "not JSON" in bad.json()["error"]
    shape = client.post(url, json={"payload": 1}, headers=CSRF)
    assert shape.status_code == 400
    assert '"name"' in shape.json()["error"]
    no_csrf = client.post(url, json={"name": "approve", "payload": {"ok": True}})
    assert no_csrf.status_code == 403
    sent = client.post(url, json={"name": "approve", "payload": {"ok": True}}, headers=CSRF)
    assert sent.json() == {
        "workflow_id": demo.waiter, "name": "approve", "duplicate": False, "delivered": True,
    }  # fmt: skip
    apps.settle(demo.runner)  # the test's runner reads the same store: it wakes the waiter
    assert apps.status(store, demo.waiter) is WorkflowStatus.COMPLETED
    assert client.get(f"/api/workflows/{demo.waiter}").json()["result"] == {"ok": True}
    history = client.get(f"/api/workflows/{demo.waiter}/history").json()
    assert [e["value"] for e in history if e["kind"] == "signal_received"] == [{"ok": True}]
    late = client.post(url, json={"name": "approve"}, headers=CSRF)
    assert late.status_code == 409
    assert "COMPLETED" in late.json()["error"]


def test_cancel_export_and_timeline(
    bare: TestClient, store: StateStore, made: tuple[str, apps.Demo]
) -> None:
    client = bare
    demo = made[1]
    timeline = client.get(f"/api/workflows/{demo.sleeper}/timeline").json()
    (row,) = timeline["rows"]
    assert [s["state"] for s in row["spans"]] == ["queued", "running", "suspended"]
    assert row["spans"][-1]["end"] == timeline["end"]  # still suspended: drawn up to now
    assert all(0 <= s["left"] <= 100 and s["left"] + s["width"] <= 100.5 for s in row["spans"])
    failed = client.get(f"/api/workflows/{demo.failed}/timeline").json()["rows"][0]
    running = [s for s in failed["spans"] if s["state"] == "running"]
    assert [m["kind"] for m in failed["marks"]] == ["failed"]
    assert running[-1]["end"] == failed["marks"][0]["at"]  # it ran until it failed
    url = f"/api/workflows/{demo.sleeper}/cancel"
    assert client.post(url).status_code == 403  # no CSRF header
    cross = client.post(url, headers={**CSRF, "Origin": "http://evil.example"})
    assert cross.status_code == 403
    assert client.post(url, headers=CSRF).json() == {
        "workflow_id": demo.sleeper, "cancelled": True,
    }  # fmt: skip
    demo.runner.run_until_idle()  # the sleeper wakes and sees the cancellation
    assert apps.status(store, demo.sleeper) is WorkflowStatus.CANCELLED
    assert client.post(url, headers=CSRF).json()["cancelled"] is False
    exported = client.get(f"/api/workflows/{demo.fanout}/export")
    assert exported.headers["content-disposition"] == (f'attachment; filename="{demo.fanout}.wfh"')
    imported, root = import_history(exported.content)
    assert root == demo.fanout
    assert len(imported.child_workflows(root)) == 12


def test_page_forms_need_the_csrf_field(
    client: TestClient, store: StateStore, made: tuple[str, apps.Demo]
) -> None:
    workflow_id = _fresh(made[1], "web.sleeper")
    page = client.get(f"/workflows/{workflow_id}")
    assert page.status_code == 200
    forged = client.post(f"/workflows/{workflow_id}/cancel", data={"csrf": "guess"})
    assert forged.status_code == 403
    assert not store.get_workflow(workflow_id).cancel_requested  # type: ignore[union-attr]
    done = client.post(
        f"/workflows/{workflow_id}/cancel",
        data={"csrf": _csrf_of(page.text)},
        follow_redirects=False,
    )
    assert done.status_code == 303
    assert done.headers["location"] == (f"/workflows/{workflow_id}?notice=cancellation+requested")
    assert store.get_workflow(workflow_id).cancel_requested  # type: ignore[union-attr]
    shown = client.get(done.headers["location"]).text
    assert "cancellation requested" in shown


def test_token_is_required_on_every_request(store: StateStore) -> None:
    client = TestClient(create_app(store, store_url="memory://", token="s3cret"))
    for path in ("/", "/api/workflows", "/static/style.css"):
        refused = client.get(path)
        assert refused.status_code == 401
    assert "needs its token" in client.get("/api/workflows").json()["error"]
    assert client.get("/api/workflows?token=wrong").status_code == 401
    bearer = {"Authorization": "Bearer s3cret"}
    assert client.get("/api/workflows", headers=bearer).status_code == 200
    assert client.post("/api/workflows/x/cancel", headers=bearer).status_code == 403  # CSRF
    opened = client.get("/?token=s3cret&status=FAILED", follow_redirects=False)
    assert opened.status_code == 303
    assert opened.headers["location"] == "/?status=FAILED"
    cookie = opened.headers["set-cookie"]
    assert "wfcore_token=s3cret" in cookie
    assert "HttpOnly" in cookie
    assert "SameSite=strict" in cookie
    assert client.get("/").status_code == 200  # the client now sends the cookie


def test_store_password_is_never_shown(store: StateStore) -> None:
    url = "redis://admin:hunter2@db.internal:6379/0?password=hunter2"
    client = TestClient(create_app(store, store_url=url))
    page = client.get("/").text
    assert "hunter2" not in page
    assert "redis://admin:***@db.internal:6379/0?password=***" in page


def test_refuses_to_bind_off_loopback_without_a_token(
    capsys: pytest.CaptureFixture[str],
) -> None:
    assert main(["web", "--store", "memory://", "--host", "0.0.0.0"]) == 1
    error = capsys.readouterr().err
    assert "refusing to serve the web view on '0.0.0.0' without a token" in error
    assert "--token" in error


def test_import_without_the_extra_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    from wfcore.errors import ConfigurationError

    for name in [m for m in sys.modules if m == "wfcore.web" or m.startswith("wfcore.web.")]:
        monkeypatch.delitem(sys.modules, name)
    monkeypatch.setitem(sys.modules, "starlette", None)
    with pytest.raises(ConfigurationError, match=r"pip install 'wfcore\[web\]'"):
        import wfcore.web  # noqa: F401


def test_page_sections(client: TestClient, made: tuple[str, apps.Demo]) -> None:
    demo = made[1]
    failed = client.get(f"/workflows/{demo.failed}").text
    assert "order A-1 cannot be shipped" in failed
    assert 'class="traceback"' in failed
    assert ", in broken" in failed  # the traceback reaches the workflow's own line
    fanout = client.get(f"/workflows/{demo.fanout}").text
    assert fanout.count("web.leaf") >= 12
    assert "fanout-order-17" in fanout
    listing = client.get("/", params={"status": "FAILED"}).text
    assert demo.failed in listing
    assert demo.fanout not in listing


def _fresh(demo: apps.Demo, task: str) -> str:
    """Start one more workflow of ``task`` and run it to its first suspension."""
    record, _ = demo.runner.engine.start(demo.runner._lookup(task))
    apps.settle(demo.runner)
    return record.workflow_id


def _csrf_of(page: str) -> str:
    return page.split('name="csrf" value="', 1)[1].split('"', 1)[0]


def test_signal_form_with_bad_json_shows_the_error(
    client: TestClient, made: tuple[str, apps.Demo]
) -> None:
    workflow_id = _fresh(made[1], "web.waiter")  # the module's waiter may be signalled
    page = client.get(f"/workflows/{workflow_id}").text
    assert 'value="approve"' in page  # the name it waits for, filled in
    answer = client.post(
        f"/workflows/{workflow_id}/signal",
        data={"csrf": _csrf_of(page), "name": "approve", "payload": "{oops"},
    )
    assert answer.status_code == 400
    assert "the payload of signal &#39;approve&#39; is not JSON" in answer.text
    sent = client.post(
        f"/workflows/{workflow_id}/signal",
        data={"csrf": _csrf_of(page), "name": "approve", "payload": '"yes"'},
        follow_redirects=False,
    )
    assert sent.status_code == 303
    assert "delivered" in sent.headers["location"]
