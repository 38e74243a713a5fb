"""Every Python code block in README.md and docs/ is an example file that runs."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BLOCK = re.compile(r"```python\n(.*?)```", re.S)
DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("**/*.md"))]


def _blocks() -> list[tuple[str, str]]:
    found = []
    for doc in DOCS:
        for block in BLOCK.findall(doc.read_text()):
            found.append((str(doc.relative_to(ROOT)), block))
    return found


@pytest.mark.parametrize(("doc", "block"), _blocks(), ids=lambda v: str(v)[:40])
def test_block_is_an_example_file(doc: str, block: str) -> None:
    # Each block names its file on its first line and is that file, word for word.
    first = block.splitlines()[0]
    assert first.startswith("# examples/"), f"{doc}: a python block must start with its file"
    path = ROOT / first[2:].strip()
    assert path.read_text() == block, f"{doc}: the block differs from {path.name}"


EXAMPLES = sorted((ROOT / "examples").glob("*.py"))


@pytest.mark.parametrize("example", EXAMPLES, ids=lambda p: p.name)
def test_example_runs(
    example: Path, tmp_path: Path, redis_url: str, request: pytest.FixtureRequest
) -> None:
    # Run in a fresh directory so the embedded default's SQLite file lands there.
    env = {**os.environ, "WFCORE_EXAMPLE_REDIS_URL": redis_url}
    if "WFCORE_EXAMPLE_POSTGRES_URL" in example.read_text():
        # A schema of this test's own in the session's PostgreSQL database.
        env["WFCORE_EXAMPLE_POSTGRES_URL"] = request.getfixturevalue("postgres_url")
    env.pop("WFCORE_STORE_URL", None)
    result = subprocess.run(
        [sys.executable, str(example)],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr[-3000:]
