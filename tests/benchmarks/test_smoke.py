"""The benchmark scripts still run and print their JSON (numbers are not checked here)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.postgres_server import SERVER_URL

ROOT = Path(__file__).resolve().parents[2]


def _run(script: str, *args: str, env: dict[str, str] | None = None) -> dict[str, object]:
    out = subprocess.run(
        [sys.executable, str(ROOT / "benchmarks" / script), *args],
        cwd=ROOT,
        env=None if env is None else {**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    report = json.loads(out.stdout)
    assert isinstance(report, dict)
    return report


@pytest.mark.timeout(150)
def test_b1_quick_prints_every_store_and_operation() -> None:
    report = _run("b1_operations.py", "--quick")
    stores = report["stores"]
    assert isinstance(stores, dict)
    assert set(stores) == {"memory", "sqlite", "redis"}


def test_b5_quick_replays_without_divergence() -> None:
    report = _run("b5_replay.py", "--quick")
    replay = report["replay"]
    assert isinstance(replay, dict)
    assert replay["events"] == 1000


@pytest.mark.redis
@pytest.mark.timeout(150)
def test_b7_quick_measures_signals_hops_and_polling() -> None:
    report = _run("b7_signals.py", "--quick")
    assert report["benchmark"] == "B7"
    assert report["signals"] == 20
    for side in ("signal_latency", "raw_hop_latency", "paired_extra_ms"):
        latency = report[side]
        assert isinstance(latency, dict)
        assert set(latency) == {"p50_ms", "p90_ms", "p99_ms", "min_ms", "max_ms"}
    assert isinstance(report["ratio_p50_signal_to_raw_hop"], float)
    assert isinstance(report["target_met"], bool)
    polling = report["polling"]
    assert isinstance(polling, dict)
    assert polling["samples"] == 2
    waiting = report["waiting"]
    assert isinstance(waiting, dict)
    assert set(waiting) == {"wait_s", "idle", "signal_wait", "polling"}
    for window in ("signal_wait", "polling"):
        assert set(waiting[window]["over_idle"]) >= {"redis_commands", "worker_cpu_ms"}


@pytest.mark.timeout(150)
def test_b8_quick_compares_each_style_with_execute_task() -> None:
    report = _run("b8_styles.py", "--quick")
    assert report["benchmark"] == "B8"
    modes = report["modes"]
    assert isinstance(modes, dict)
    assert set(modes) == {"embedded"}
    embedded = modes["embedded"]
    for style in ("execute_task", "steps", "flow", "pyworkflow"):
        numbers = embedded[style]
        assert numbers["per_step_ms"] > 0
        assert len(numbers["per_step_ms_rounds"]) == report["rounds"]
        # Every step is a recorded child: the history grows with the steps.
        assert numbers["history_events"] > numbers["history_events_one_step"]
    ratios = embedded["ratios"]
    assert set(ratios) == {"steps", "flow", "pyworkflow"}
    for ratio in ratios.values():
        assert ratio["target"] == 1.5
        assert isinstance(ratio["per_step_ratio"], float)
        assert isinstance(ratio["target_met"], bool)
    assert isinstance(report["target_met"], bool)


@pytest.mark.redis
@pytest.mark.timeout(150)
def test_b9_quick_lists_pages_on_sqlite_and_redis() -> None:
    report = _run("b9_listing.py", "--quick")
    assert report["benchmark"] == "b9_listing"
    stores = report["stores"]
    assert isinstance(stores, dict)
    assert set(stores) == {"sqlite", "redis"}
    for numbers in stores.values():
        results = numbers["results"]
        assert {"first_page", "deep_page_cursor_at_10pct", "status_failed"} <= set(results)
        for surface in ("store_list_page", "web_api", "web_html", "cli_list_in_process"):
            assert results["first_page"][surface]["median_ms"] > 0
        assert isinstance(numbers["verdict"]["ok"], bool)


@pytest.mark.redis
@pytest.mark.timeout(150)
def test_b2_async_quick_compares_the_async_body_with_the_sync_one() -> None:
    report = _run("b2_throughput.py", "--quick", "--async", "--workflows", "20")
    assert report["benchmark"] == "B2"
    for side in ("wfcore", "wfcore_async"):
        numbers = report[side]
        assert isinstance(numbers, dict)
        assert numbers["messages_per_s"] > 0
        assert numbers["messages_counted_per_workflow"] == 7.0  # the same 7 messages
    assert isinstance(report["ratio_async_to_sync_messages_per_s"], float)
    assert report["async_target_ratio"] == 0.9
    assert isinstance(report["async_target_met"], bool)


@pytest.mark.redis
@pytest.mark.timeout(150)
def test_b3_async_quick_measures_wait_and_gather_fan_outs() -> None:
    report = _run("b3_fanout.py", "--quick", "--async", "--children", "30")
    assert report["benchmark"] == "B3"
    for side in ("wfcore", "wfcore_async", "wfcore_gather"):
        numbers = report[side]
        assert isinstance(numbers, dict)
        assert numbers["exactly_once_every_round"] is True  # past the join once per workflow
        assert numbers["rounds"][0]["children_counted"] == 30
    resumes = report["gather_parent_resumes_max"]
    assert isinstance(resumes, int)
    assert 1 <= resumes <= 30
    assert isinstance(report["ratio_gather_to_sync_wall"], float)
    assert isinstance(report["gather_targets_met"], bool)


@pytest.mark.redis
@pytest.mark.timeout(150)
def test_b2_cpu_quick_measures_both_bodies_on_both_stores() -> None:
    report = _run("b2_cpu.py", "--quick")
    assert report["benchmark"] == "B2 CPU"
    for store in ("memory", "redis"):
        side = report[store]
        assert isinstance(side, dict)
        assert side["sync_cpu_us_per_workflow"] > 0
        assert side["async_cpu_us_per_workflow"] > 0
        assert len(side["ratio_async_to_sync_cpu_per_round"]) == 2


@pytest.mark.postgres
def test_b4_quick_runs_the_wfcore_side_on_postgres(postgres_database: str) -> None:
    # (postgres_database: the server is reachable; the script makes a database of its own.)
    report = _run("b4_postgres.py", "--quick", env={"WFCORE_B4_POSTGRES_URL": SERVER_URL})
    assert report["benchmark"] == "B4"
    assert report["dbos"] == "skipped: --quick"
    runs = report["runs"]
    assert isinstance(runs, list)
    assert len(runs) == 1
    for mode in ("sync", "async"):
        assert runs[0][mode]["wfcore"]["step_ms_median"] > 0


@pytest.mark.timeout(150)
def test_b6_quick_measures_chains_continuations_and_a_big_store() -> None:
    report = _run("b6_long.py", "--quick", "--stores", "memory,sqlite")
    result = report["result"]
    assert isinstance(result, dict)
    for section in ("sequential", "continue_as_new"):
        for store in ("memory", "sqlite"):
            assert set(result[section][store]) == {"10", "100", "500"}
            numbers = result[section][store]["500"]
            assert set(numbers["last_resume_ms"]) == {"min", "median", "max"}
    assert set(result["replay_us"]) == {"random", "execute_task", "sleep", "wait_signal"}
    big = result["big_store"]
    assert big["stored_workflows"] == 500
    assert big["memory"]["history_10k"]["entries"] == 10_000


@pytest.mark.redis
@pytest.mark.timeout(150)
def test_b10_quick_compares_the_cluster_store_with_a_standalone_one() -> None:
    report = _run("b10_cluster.py", "--quick")
    assert report["benchmark"] == "b10_cluster"
    result = report["result"]
    assert isinstance(result, dict)
    assert set(result) == {"standalone", "cluster_replicas_1", "cluster_replicas_0"}
    for numbers in result.values():
        assert set(numbers["workflows_per_s"]) == {"min", "median", "max"}
        assert numbers["list_page_ms"]["median"] > 0


def test_sqlite_threads_quick_times_every_thread_count() -> None:
    report = _run("sqlite_threads.py", "--quick")
    result = report["result"]
    assert isinstance(result, dict)
    assert set(result["median_over_one_thread"]) == {"1", "2", "4", "8"}
    assert result["median_over_one_thread"]["1"] == 1.0
    assert isinstance(report["target_met"], bool)
