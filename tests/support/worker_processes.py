"""Worker CLIs the tests started and have not stopped, so the session's end can signal them
all at once: each takes 2-3 s to shut down, and session fixtures are torn down one by one."""

from __future__ import annotations

import signal
import subprocess

__all__ = ["forget", "remember", "terminate_all"]

_RUNNING: dict[int, subprocess.Popen[bytes]] = {}


def remember(proc: subprocess.Popen[bytes]) -> None:
    _RUNNING[proc.pid] = proc


def forget(proc: subprocess.Popen[bytes]) -> bool:
    """Stop tracking ``proc``; whether ``terminate_all`` already sent it SIGTERM."""
    return _RUNNING.pop(proc.pid, None) is None


def terminate_all() -> None:
    """SIGTERM every remembered process still running, without waiting: their fixtures'
    ``stop()`` then waits for processes that shut down side by side."""
    for proc in list(_RUNNING.values()):
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
    _RUNNING.clear()
