"""A signup workflow whose step and leaf tasks have side effects: they "send mail".

Each side effect appends a line to the outbox file named by ``$WFCORE_TEST_OUTBOX``, so a test
(or a ``wfcore replay`` subprocess) can count them. Replay verification must repeat none:
``tests/replay/test_side_effects.py`` proves it for every entry point. ``runner`` is what
``wfcore replay --app tests.replay.mailer:runner`` loads.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

from wfcore import LocalRunner, current

__all__ = ["OUTBOX", "build_runner", "declare", "runner", "sent"]

OUTBOX = "WFCORE_TEST_OUTBOX"

# register(task name, force_new_workflow) -> the decorator declaring a task under that name.
Register = Callable[[str, bool], Callable[[Callable[..., Any]], Any]]


def _send(line: str) -> None:
    """The side effect: one line appended to the outbox file."""
    with open(os.environ[OUTBOX], "a", encoding="utf-8") as outbox:
        outbox.write(line + "\n")


def sent() -> list[str]:
    """Every line sent so far, in order."""
    path = Path(os.environ[OUTBOX])
    return path.read_text(encoding="utf-8").splitlines() if path.exists() else []


def declare(register: Register) -> Any:
    """Declare the mail tasks with ``register``; returns the entry task, ``mail.signup``."""

    @register("mail.welcome", False)
    def send_welcome(address: str) -> str:
        _send(f"welcome {address}")  # a plain child: records no wf operation
        return f"welcomed {address}"

    @register("mail.archive", True)
    def archive(address: str) -> str:
        _send(f"archive {address}")  # the root of a child workflow: no wf operation either
        return f"archived {address}"

    def issue_token(address: str) -> str:
        _send(f"token {address}")
        return f"token-for-{address}"

    @register("mail.signup", False)
    def signup(address: str) -> list[str]:
        wf = current()
        token = wf.deterministic("token", issue_token, address)
        wf.sleep(0.01)
        welcomed = wf.execute_task(send_welcome, address).result
        archived = wf.execute_task(archive, address).result
        wf.logger.info("signed up %s", address)
        return [token, welcomed, archived]

    return signup


def build_runner() -> tuple[LocalRunner, Any]:
    """A runner with the mail tasks, and its ``mail.signup`` task."""
    local = LocalRunner()
    signup = declare(lambda name, new: local.task(name=name, force_new_workflow=new))
    return local, signup


runner, _ = build_runner()
