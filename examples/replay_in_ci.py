# examples/replay_in_ci.py
import tempfile
from pathlib import Path
from typing import Any

from wfcore import LocalRunner, Task, export_history
from wfcore.testing import assert_replays, replay_histories


def shop(version: str) -> tuple[LocalRunner, Task[..., Any]]:
    """The shop's workflow code in one version: "v1", "v2" (guarded change), "v2-unguarded"."""
    runner = LocalRunner()

    @runner.task(name="shop.charge")
    def charge(amount: int) -> str:
        return f"PAY-{amount}-{charge.wf.uuid()[:8]}"

    @runner.task(name="shop.order")
    def order(amount: int) -> str:
        wf = order.wf
        if version == "v2" and wf.patched("add-fee"):  # old histories skip the new step
            amount += wf.deterministic("fee", lambda: 5)
        if version == "v2-unguarded":
            amount += wf.deterministic("fee", lambda: 5)
        return str(wf.execute_task(charge, amount).result)

    return runner, order


# 1. In production (v1 running): export histories of real workflows and commit them.
v1, order = shop("v1")
workflow_id = v1.start(order, 100)
v1.run_until_idle()
histories = Path(tempfile.mkdtemp())
(histories / "order-100.wfh").write_bytes(export_history(v1.store, workflow_id))

# 2. In CI: replay every committed history against the new code.
v2, _ = shop("v2")
assert_replays(v2, histories)  # passes: the change is guarded by wf.patched

# 3. The same change without the guard is caught, and the first divergence is named.
v2_unguarded, _ = shop("v2-unguarded")
[(path, result)] = replay_histories(v2_unguarded, histories)
assert result.divergence is not None
print(result.divergence.message)
