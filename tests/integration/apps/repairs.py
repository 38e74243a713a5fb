"""Tasks of the repair tests: workflows with a bug the test "ships" and "fixes" by a marker
file in the ledger (so worker processes see the fix exactly when the test makes it)."""

from __future__ import annotations

from typing import Any

from tests.integration.apps.ledger import Ledger
from wfcore.errors import FatalError
from wfcore_dramatiq import App

__all__ = ["RepairTasks"]


class RepairTasks:
    """``repair_flow`` (three children and a charge step) and ``repair_bulk`` (one child)."""

    def __init__(self, app: App, ledger: Ledger) -> None:
        @app.task(max_retries=0)
        def repair_step(token: str, n: int) -> str:
            ledger.append(f"{token}-step{n}")
            if n == 3 and ledger.exists(f"{token}-bug"):
                raise ValueError("carrier code is None")  # the bug
            return f"step{n}"

        def charge(token: str) -> str:
            ledger.append(f"{token}-charge")
            if ledger.exists(f"{token}-charge-bug"):
                raise KeyError("card")
            return "charged"

        @app.task(max_retries=0)
        def repair_flow(token: str) -> dict[str, Any]:
            wf = repair_flow.wf
            first = wf.execute_task(repair_step, token, 1).result
            second = wf.execute_task(repair_step, token, 2).result
            paid = wf.deterministic("charge", charge, token)
            third = wf.execute_task(repair_step, token, 3).result
            return {"steps": [first, second, third], "paid": paid, "id": wf.uuid()}

        @app.task(max_retries=0)
        def repair_bulk(token: str, i: int) -> int:
            wf = repair_bulk.wf
            wf.execute_task(repair_step, token, 1)
            if ledger.exists(f"{token}-bug"):
                raise FatalError("shipped a bug")
            return i

        self.repair_step = repair_step
        self.repair_flow = repair_flow
        self.repair_bulk = repair_bulk
