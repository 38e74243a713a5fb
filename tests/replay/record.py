"""Record golden histories: ``python -m tests.replay.record VARIANT NAME`` writes NAME.wfh.

Goldens are never edited: record a new file when the code changes, keep the old ones.
"""

from __future__ import annotations

import sys
from pathlib import Path

from tests.replay.workflows import VARIANTS, build
from wfcore import export_history

HERE = Path(__file__).parent / "histories"


def record(variant: str, name: str) -> Path:
    """Run the golden workflow with ``variant`` code and write its history file."""
    runner, order = build(variant)
    workflow_id = runner.start(order, "ORD-7", 120)
    runner.run_until_idle()
    path = HERE / f"{name}.wfh"
    path.write_bytes(export_history(runner.store, workflow_id))
    return path


if __name__ == "__main__":
    if len(sys.argv) != 3 or sys.argv[1] not in VARIANTS:
        sys.exit(f"usage: python -m tests.replay.record {{{','.join(VARIANTS)}}} NAME")
    print(record(sys.argv[1], sys.argv[2]))
