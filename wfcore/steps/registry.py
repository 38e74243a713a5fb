"""What an App knows of ``wfcore.steps``: the driver task and one task per step function.

Registered on the App when a ``Workflow`` bound to it gets a step (and again, idempotently,
when it runs), so a worker process that imports the module building the workflow knows
every step by name. Stored data only ever names a step; the name is looked up here, never
imported. Nothing here imports Dramatiq: the App is the user's (or the lazily created
default one, imported from ``wfcore_dramatiq`` only then).
"""

from __future__ import annotations

import threading
import weakref
from collections import OrderedDict
from typing import TYPE_CHECKING, Any

from wfcore.errors import ConfigurationError
from wfcore.steps.calling import run_in_child
from wfcore.steps.errors import StepFailedError, UnknownStepError
from wfcore.steps.model import Scope, StepFunction, StepSpec, split, task_name_of

if TYPE_CHECKING:
    from wfcore_dramatiq import App, DramatiqTask

__all__ = ["DRIVER_TASK", "StepTasks", "default_app", "tasks_of"]

DRIVER_TASK = "wfcore.steps.run"
"""The one task whose body walks a workflow's step list (see ``driver.py``)."""

Plan = dict[Scope, list[StepSpec]]
"""A run's steps by scope, in the order they were added."""
_PLANS_KEPT = 1024
"""How many runs' parsed step lists a registry keeps."""
_OPTIONS: dict[str, Any] = {"max_retries": 0}
# No Dramatiq retries of either: a step's retries are the driver's (recorded backoff
# sleeps between child attempts), and the driver's code is deterministic.


class StepTasks:
    """The driver and step tasks declared on one App."""

    def __init__(self, app: App) -> None:
        from wfcore.steps.driver import drive  # the driver's body; it needs this registry

        self.app = app
        self._lock = threading.Lock()
        self._functions: dict[str, StepFunction] = {}
        self._tasks: dict[str, DramatiqTask[..., Any]] = {}
        # The parsed and checked step list of recent runs, by workflow id: the driver replays
        # from the top at every resume, and its plan (an argument) never changes in a run.
        self._plans: OrderedDict[str, tuple[list[dict[str, Any]], Plan]] = OrderedDict()

        def run_steps(
            name: str, plan: list[dict[str, Any]], ctx: dict[str, Any], backoff: list[float]
        ) -> dict[str, Any]:
            return drive(self, plan, ctx, backoff)

        run_steps.__qualname__ = run_steps.__name__ = DRIVER_TASK
        self.driver: DramatiqTask[..., dict[str, Any]] = app.task(
            actor_name=DRIVER_TASK, throws=(StepFailedError,), **_OPTIONS
        )(run_steps)

    def register(self, func: StepFunction) -> str:
        """Declare ``func``'s task (once); its registered name.

        Raises:
            UnknownStepError: another function is registered under the same name.
        """
        name = task_name_of(func)
        with self._lock:
            known = self._functions.get(name)
            if known is not None:
                if known != func:
                    raise UnknownStepError(
                        f"another function is registered as step {name!r} on this App; "
                        "workers find steps by module and qualified name, so define each "
                        "step function once (at module level)"
                    )
                return name

            def run_step(ctx: dict[str, Any], step: str, timeout: float | None) -> list[Any]:
                return run_in_child(func, step, ctx, timeout)

            run_step.__qualname__ = run_step.__name__ = name
            self._tasks[name] = self.app.task(actor_name=name, **_OPTIONS)(run_step)
            self._functions[name] = func
        return name

    def plan(self, workflow_id: str, data: list[dict[str, Any]]) -> Plan:
        """The steps of run ``workflow_id`` (its driver's ``plan`` argument) by scope,
        parsed once.

        Raises:
            UnknownStepError: a step's function is not registered on this App.
        """
        with self._lock:
            kept = self._plans.get(workflow_id)
        if kept is not None and kept[0] == data:  # the same id could name a later run
            return kept[1]
        steps = [StepSpec.from_data(d) for d in data]
        for step in steps:  # an unknown step fails the run before anything runs
            for name in step.tasks:
                self.task(name)
        plan = split(steps)
        with self._lock:
            self._plans[workflow_id] = (data, plan)
            if len(self._plans) > _PLANS_KEPT:
                self._plans.popitem(last=False)
        return plan

    def task(self, name: str) -> DramatiqTask[..., Any]:
        """The task of step function ``name``.

        Raises:
            UnknownStepError: not registered on this App.
        """
        try:
            return self._tasks[name]
        except KeyError:
            raise UnknownStepError(
                f"no step function {name!r} is registered on this App: the worker must "
                "import the module that builds the Workflow (add_step registers each step "
                "function on the Workflow's App)"
            ) from None


# Keyed by the App object and gone with it: the registry is the App's, not the process's.
_REGISTRIES: weakref.WeakKeyDictionary[App, StepTasks] = weakref.WeakKeyDictionary()
_LOCK = threading.Lock()
_DEFAULT: list[App] = []


def tasks_of(app: App) -> StepTasks:
    """The App's step registry, created (with the driver task) on first use.

    Raises:
        ConfigurationError: ``app`` is not a ``wfcore_dramatiq.App``.
    """
    if not callable(getattr(app, "task", None)) or not hasattr(app, "engine"):
        raise ConfigurationError(
            f"Workflow(app=...) takes a wfcore_dramatiq.App, got {type(app).__name__}"
        )
    with _LOCK:
        registry = _REGISTRIES.get(app)
        if registry is None:
            registry = _REGISTRIES[app] = StepTasks(app)
        return registry


def default_app() -> App:
    """The process's shared embedded App, created on first use: ``App()`` (an in-process
    Dramatiq worker and the SQLite store of ``$WFCORE_STORE_URL`` or ``./wfcore.sqlite3``).
    ``Workflow`` objects without ``app=`` all run on it."""
    with _LOCK:
        if not _DEFAULT:
            from wfcore_dramatiq import App

            _DEFAULT.append(App())
        return _DEFAULT[0]
