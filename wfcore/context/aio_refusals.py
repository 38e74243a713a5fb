"""What the deterministic loop refuses in a workflow body, and the stand-in that refuses
every ``wf`` wait in a plain async task; each with what to do instead."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, NoReturn, Protocol

from wfcore.errors import ConfigurationError

__all__ = ["INSTEAD", "IO_METHODS", "refusal", "refuse_waits"]


class _Refusing(Protocol):
    def _refuse(self, what: str) -> NoReturn: ...


INSTEAD = (
    "Workflow bodies run on wfcore's deterministic event loop, so every replay schedules their "
    "tasks in the same order: do real I/O in `await wf.deterministic(name, async_fn, ...)` "
    "(recorded, run once on a real event loop) or in a child task (`await wf.execute_task(...)` "
    "of an async task without workflow=True, which runs on a real event loop)"
)

# Everything that would need a selector, a thread or a process.
IO_METHODS = (
    "run_in_executor",
    "set_default_executor",
    "getaddrinfo",
    "getnameinfo",
    "create_connection",
    "create_server",
    "sendfile",
    "start_tls",
    "create_unix_connection",
    "create_unix_server",
    "connect_accepted_socket",
    "create_datagram_endpoint",
    "connect_read_pipe",
    "connect_write_pipe",
    "subprocess_shell",
    "subprocess_exec",
    "add_reader",
    "remove_reader",
    "add_writer",
    "remove_writer",
    "sock_recv",
    "sock_recv_into",
    "sock_recvfrom",
    "sock_recvfrom_into",
    "sock_sendall",
    "sock_sendto",
    "sock_connect",
    "sock_accept",
    "sock_sendfile",
    "add_signal_handler",
    "remove_signal_handler",
    "call_soon_threadsafe",
    "run_until_complete",
    "run_forever",
)


def refusal(name: str) -> Callable[..., NoReturn]:
    """A loop method ``name`` that refuses (with the loop's ``_refuse``)."""

    def refuse(self: _Refusing, *args: Any, **kwargs: Any) -> NoReturn:
        what = "real I/O"
        if name == "call_soon_threadsafe":
            what = "threads"
        elif name.startswith("run_"):
            what = "a nested run of the loop"
        self._refuse(f"loop.{name}() ({what}) in a workflow body")

    refuse.__name__ = name
    return refuse


class _RefuseWaits:
    """Stands in for the loop in a plain async task (one on a real event loop): a ``wf`` wait
    there cannot suspend the task, so it is refused with what to do instead."""

    def __init__(self, task_name: str) -> None:
        self.task_name = task_name

    def __getattr__(self, name: str) -> Any:
        raise ConfigurationError(
            f"task {self.task_name!r} is a plain async task: it runs on a real event loop "
            "(for real I/O), where wf waits (execute_task, wait, sleep, wait_signal, "
            "deterministic) cannot be awaited. Declare it @app.task(workflow=True) (or "
            "force_new_workflow=True) to run it as a workflow body on wfcore's deterministic "
            "loop, and move its I/O into child tasks or wf.deterministic steps"
        )


def refuse_waits(task_name: str) -> Any:
    """The ``_aio`` of a plain async task's context: every wait is refused clearly."""
    return _RefuseWaits(task_name)
