"""The Redis example works exactly as docs/dramatiq.md shows it: its commands, run verbatim."""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from tests.integration.harness import ROOT, WorkerProcess, delete_redis_keys

pytestmark = pytest.mark.redis

DOC = ROOT / "docs" / "dramatiq.md"
BIN = Path(sys.executable).parent


def _documented(prefix: str) -> list[str]:
    """The first command in a ```bash block of the doc that starts with ``prefix``."""
    for block in re.findall(r"```bash\n(.*?)```", DOC.read_text(), re.S):
        for line in block.splitlines():
            if line.startswith(prefix):
                return shlex.split(line, comments=True)
    raise AssertionError(f"docs/dramatiq.md shows no `{prefix} ...` command")


def test_the_documented_worker_and_client_commands_complete_a_workflow(
    redis_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given the documented worker command (two worker processes) and client command, with
    # only the Redis URL set, as the docs say (the example's own namespace)
    worker_command = _documented("dramatiq examples.redis_app")
    client_command = _documented("wfcore run examples.redis_app")
    processes = int(worker_command[worker_command.index("--processes") + 1])
    assert processes == 2
    monkeypatch.delenv("WFCORE_EXAMPLE_NAMESPACE", raising=False)
    env = {"WFCORE_EXAMPLE_REDIS_URL": redis_url}
    worker = WorkerProcess(
        env, tmp_path / "worker.log", command=worker_command[1:], processes=processes
    )
    worker.start()
    try:
        # When the client command runs in another process
        client = subprocess.run(
            [str(BIN / client_command[0]), *client_command[1:]],
            cwd=ROOT, env={**os.environ, **env}, capture_output=True, text=True, timeout=60,
        )  # fmt: skip
    finally:
        worker.stop()
        delete_redis_keys(redis_url, "wfcore-example")

    # Then the workers ran its workflow and the client printed the result
    assert client.returncode == 0, client.stderr[-3000:] + worker.log()[-3000:]
    assert "completed: {'order_id': 'ORD-7', 'payment': 'PAY-ORD-7-" in client.stdout
