"""``wfcore.testing.start_local`` / ``resume_local``: the README's Testing example, and runs in
the test's process on a controlled clock (a one-day sleep, a 30 s ``retry_after``, take no
time), through the real engine, without a broker."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.integration.apps.pyworkflow_seed import Seeds, build_seeds
from wfcore import ConfigurationError, WorkflowNotFoundError
from wfcore.pyworkflow import EventType
from wfcore.testing import LocalStorage, resume_local, start_local
from wfcore.testing import LocalStorage as FileStorageBackend
from wfcore_dramatiq import App


@pytest.fixture
def seeds(tmp_path: Path) -> Iterator[Seeds]:
    """The README's workflows declared on an App that never runs them (no worker starts)."""
    app = App(store="memory://")
    try:
        yield build_seeds(app, tmp_path / "ledger")
    finally:
        app.close()


def test_readme_testing_example(seeds: Seeds) -> None:
    my_workflow = seeds.my_workflow

    async def test_my_workflow() -> None:
        # Use local execution for tests (no Celery required)
        storage = FileStorageBackend()
        run_id = await start_local(my_workflow, 5, storage=storage)

        # Get workflow result
        run = await storage.get_run(run_id)
        assert run.status == "completed"
        assert run.result == 11

    asyncio.run(test_my_workflow())


def test_onboarding_suspends_until_resumed_a_day_later(seeds: Seeds) -> None:
    async def scenario() -> None:
        # Given the onboarding workflow started locally
        storage = LocalStorage()
        user = f"user_{uuid.uuid4().hex[:8]}"
        t0 = time.monotonic()
        run_id = await start_local(seeds.onboarding_workflow, user_id=user, storage=storage)

        # Then it ran up to its one-day sleep and waits there
        run = await storage.get_run(run_id)
        assert (run.status, run.workflow_name) == ("suspended", "onboarding_workflow")
        assert seeds.ledger.read(f"mail-{user}") == ["welcome"]
        before = storage.runner.now()

        # When it is resumed: the clock jumps a day, the run finishes
        run = await resume_local(run_id)
        assert (run.status, run.result) == ("completed", "Onboarding complete")
        assert storage.runner.now() - before >= 86400
        assert time.monotonic() - t0 < 10  # a day of sleep took no real time
        assert seeds.ledger.read(f"mail-{user}") == ["welcome", "tips"]
        types = [e.type for e in storage.events(run_id)]
        assert types.index(EventType.SLEEP_CREATED) < types.index(EventType.SLEEP_COMPLETED)

    asyncio.run(scenario())


def test_retry_after_waits_on_the_runners_clock(seeds: Seeds) -> None:
    # Given a payment whose gateway times out once (RetryableError(retry_after="10s"))
    amount = 200.0 + uuid.uuid4().int % 1000 / 10_000

    async def scenario() -> None:
        storage = LocalStorage()
        run_id = await start_local(seeds.charge, amount, storage=storage)
        # Then the retry waits 10 s of the runner's clock
        assert (await storage.get_run(run_id)).status == "suspended"
        due = storage.runner.next_timer()
        assert due is not None
        assert due - storage.runner.now() == pytest.approx(10, abs=1)
        run = await resume_local(run_id, storage=storage)
        assert (run.status, run.result) == ("completed", {"charged": amount})
        retrying = [e for e in storage.events(run_id) if e.type is EventType.STEP_RETRYING]
        assert "Gateway timeout" in retrying[0].data

    asyncio.run(scenario())
    assert seeds.ledger.count(f"charge-{amount:.4f}") == 2


def test_retries_are_exhausted_then_the_run_fails(seeds: Seeds) -> None:
    # Given an API that answers 503 the first time (retry_after="30s"), then would answer
    # 200; and a step with max_retries=5: it succeeds on its second attempt
    async def scenario() -> str:
        storage = LocalStorage()
        run_id = await start_local(
            seeds.fetch_json, "https://api.test/overloaded/k1", storage=storage
        )
        run = await resume_local(run_id, storage=storage)
        assert run.status == "completed"
        missing = await start_local(
            seeds.fetch_json, "https://api.test/missing/k2", storage=storage
        )
        return (await storage.get_run(missing)).status

    assert asyncio.run(scenario()) == "failed"  # FatalError: at once, no retry
    assert seeds.ledger.count("http-k2") == 1


def test_bad_input_to_start_local(seeds: Seeds) -> None:
    async def scenario() -> None:
        with pytest.raises(ConfigurationError, match=r"@app\.workflow"):
            await start_local(seeds.app.task(lambda: 1), storage=LocalStorage())  # type: ignore[arg-type]
        with pytest.raises(ConfigurationError, match="cannot start workflow 'my_workflow'"):
            await start_local(seeds.my_workflow, 1, 2)
        with pytest.raises(WorkflowNotFoundError, match="pass the LocalStorage"):
            await resume_local("no-such-run")

    asyncio.run(scenario())
