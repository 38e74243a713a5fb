"""``wfcore worker``: an embedded App's worker and recovery sweep in the foreground."""

from __future__ import annotations

import logging
import signal
import threading
from types import FrameType

from wfcore.errors import ConfigurationError
from wfcore_dramatiq._app import App
from wfcore_dramatiq._global_broker import describe

__all__ = ["serve"]

log = logging.getLogger("wfcore.worker")

_FORMAT = "[%(asctime)s] [PID %(process)d] [%(threadName)s] [%(name)s] [%(levelname)s] %(message)s"


def serve(app: object, target: str) -> int:
    """Run ``app``'s embedded worker until SIGINT or SIGTERM, then stop it and close the App.

    For SQLite (one-machine) deployments: the worker resumes due timers and, through its
    recovery sweep, the work of processes that exited, within the App's ``stale_after``.
    A second signal while stopping ends the process the default way.

    Args:
        app: what ``target`` names; must be an embedded ``App`` (no ``broker=``).
        target: ``MODULE:ATTRIBUTE``, for messages.

    Returns:
        The exit code (0 after a clean stop).

    Raises:
        ConfigurationError: ``app`` is not an App, or it runs on a broker of its own.
    """
    if not isinstance(app, App):
        raise ConfigurationError(f"{target!r} is not a wfcore_dramatiq App, got {app!r}")
    if not app.embedded:
        module = target.partition(":")[0]
        raise ConfigurationError(
            f"{target!r} runs on {describe(app.broker)}: start its workers the Dramatiq way, "
            f"`dramatiq {module}`; `wfcore worker` runs embedded Apps (App() without broker=)"
        )
    logging.basicConfig(level=logging.INFO, format=_FORMAT)  # the process's entry point
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()
        signal.signal(signum, signal.SIG_DFL)  # a second one does not wait for the stop

    previous = {sig: signal.signal(sig, on_signal) for sig in (signal.SIGINT, signal.SIGTERM)}
    try:
        app.start_worker()
        log.info(
            "wfcore worker for %s ready: tasks %s; stop with Ctrl-C or SIGTERM",
            target,
            ", ".join(sorted(app.broker.actors)) or "(none)",
        )
        while not stop.wait(0.5):
            pass
        log.info("stopping: waiting for running messages")
        app.close()
        log.info("stopped")
        return 0
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
