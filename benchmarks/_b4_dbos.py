"""B4's DBOS side: run in the benchmark's own virtualenv (``.venv-b4``, which has ``dbos``),
never the project's. Prints one JSON object: seconds per 3-step workflow, for each workflow.

Usage: ``.venv-b4/bin/python benchmarks/_b4_dbos.py URL WORKFLOWS WARMUP``
"""

from __future__ import annotations

import json
import sys
import time
import uuid
from typing import Any


def main(url: str, workflows: int, warmup: int) -> dict[str, Any]:
    from dbos import DBOS, DBOSConfig, SetWorkflowID  # only in .venv-b4

    config: DBOSConfig = {
        "name": "wfcore-b4",
        "system_database_url": url,
        "dbos_system_schema": "dbos_b4",
        "log_level": "WARNING",
    }
    DBOS(config=config)

    @DBOS.step()
    def step1(x: int) -> int:
        return x + 1

    @DBOS.step()
    def step2(x: int) -> int:
        return x * 2

    @DBOS.step()
    def step3(x: int) -> int:
        return x - 3

    @DBOS.workflow()
    def three_steps(x: int) -> int:
        return step3(step2(step1(x)))

    DBOS.launch()
    try:
        seconds = []
        for i in range(warmup + workflows):
            t0 = time.perf_counter()
            with SetWorkflowID(f"b4-{uuid.uuid4().hex}"):
                result = three_steps(i)
            elapsed = time.perf_counter() - t0
            if result != (i + 1) * 2 - 3:
                raise AssertionError(f"three_steps({i}) returned {result}")
            if i >= warmup:
                seconds.append(elapsed)
        import dbos

        return {
            "version": dbos.__version__ if hasattr(dbos, "__version__") else "?",
            "seconds": seconds,
        }
    finally:
        DBOS.destroy()


if __name__ == "__main__":
    print(json.dumps(main(sys.argv[1], int(sys.argv[2]), int(sys.argv[3]))))
