"""Plain Dramatiq actors as workflow children: accepting them in ``wf.start_task``, sending
their messages, and recording how they end.

A plain actor's child is recorded like any child (an invocation named after the actor, in
the parent's workflow). The message the engine sends for it goes to the App's relay actor,
which reads the child's record and sends the actor its message, with the arguments and the
child's identity in the ``wfcore`` option. When Dramatiq is done with that message
(``PlainActorOutcomes``, which runs after ``Retries`` decided), its return value, or its
permanent failure, is recorded in the parent exactly as a workflow task's outcome is: the
first writer wins and exactly one recorder wakes the parent.

At least once: a recording that fails (the store is down) leaves the child unfinished, and
the recovery sweep sends the actor's message again; so does a relay message delivered
twice. The actor may then run more than once; its outcome is recorded once.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

import dramatiq
from dramatiq.middleware import Middleware, Retries

from wfcore import Engine, InvocationRef, TaskSpec
from wfcore.errors import ConfigurationError
from wfcore_dramatiq._dispatch import RELAY_ACTOR, is_task_actor
from wfcore_dramatiq._middleware import OPTION

__all__ = ["PLAIN", "PlainActorOutcomes", "PlainActors"]

log = logging.getLogger("wfcore.dramatiq")

PLAIN = "plain_actor"
"""The key in the ``wfcore`` option that marks a plain actor's message as a child's."""


class PlainActors:
    """Resolves what ``wf.start_task`` is given, and relays plain actors' child messages."""

    def __init__(
        self,
        broker: dramatiq.Broker,
        engine: Callable[[], Engine],
        task_spec: Callable[[str], TaskSpec | None],
    ) -> None:
        self._broker = broker
        self._engine = engine
        self._task_spec = task_spec
        self._specs: dict[str, TaskSpec] = {}

        def wfcore_actor_relay(workflow_id: str, invocation_id: str) -> None:
            self.relay(workflow_id, invocation_id)

        dramatiq.actor(broker=broker, actor_name=RELAY_ACTOR)(wfcore_actor_relay)

    def resolve(self, task: object) -> TaskSpec:
        """The ``TaskSpec`` of a workflow task, or of a plain actor on the App's broker.

        Raises:
            ConfigurationError: anything else (a function, an actor on another broker).
        """
        spec = getattr(task, "spec", None)
        if isinstance(spec, TaskSpec):
            return spec
        if isinstance(task, TaskSpec):
            return task
        if not isinstance(task, dramatiq.Actor):
            name = getattr(task, "__qualname__", None) or type(task).__name__
            raise ConfigurationError(
                f"{name!r} is not a wfcore task nor a Dramatiq actor; declare it with "
                "@app.task (or @dramatiq.actor(broker=app.broker)) before passing it to "
                "execute_task/start_task"
            )
        name = task.actor_name
        if task.broker is not self._broker:
            raise ConfigurationError(
                f"actor {name!r} is declared on another broker than this App's; a workflow "
                "can run only actors of its App's broker as children: declare it with "
                "@dramatiq.actor(broker=app.broker)"
            )
        known = self._specs.get(name) or self._task_spec(name)
        if known is not None:
            return known  # the actor of a workflow task: that task
        if name == RELAY_ACTOR:
            raise ConfigurationError(f"{name!r} is wfcore's own actor, not a child to run")
        spec = self._specs[name] = TaskSpec(name, task.fn)
        return spec

    def relay(self, workflow_id: str, invocation_id: str) -> None:
        """Send the plain actor of a not yet finished child its message."""
        engine = self._engine()
        inv = engine.store.get_invocation(workflow_id, invocation_id)
        if inv is None or inv.status.finished:
            return  # gone (expired), or its outcome is recorded: a duplicate, nothing to run
        try:
            actor = self._broker.get_actor(inv.task_name)
        except dramatiq.errors.ActorNotFound as exc:
            raise ConfigurationError(
                f"no actor named {inv.task_name!r} in this worker; import the module that "
                f"declares it (child {invocation_id!r} of workflow {workflow_id!r})"
            ) from exc
        if is_task_actor(actor):
            engine.dispatcher.enqueue(inv.ref)  # not a plain actor (any more): run it as one
            return
        args, kwargs = engine.codec.decode(inv.args, what=f"arguments of {invocation_id!r}")
        # The sweep's clock restarts now: the actor's message is live from here on.
        engine.store.heartbeat([inv.ref], engine.clock())
        target = {"workflow_id": workflow_id, "invocation_id": invocation_id, PLAIN: True}
        message = actor.message_with_options(args=tuple(args), kwargs=kwargs, **{OPTION: target})
        self._broker.enqueue(message)


def plain_child(message: Any) -> InvocationRef | None:
    """The child a plain actor's message runs, or None for any other message."""
    data = message.options.get(OPTION)
    if not isinstance(data, dict) or data.get(PLAIN) is not True:
        return None
    return InvocationRef(data["workflow_id"], data["invocation_id"], message.actor_name)


class PlainActorOutcomes(Middleware):
    """Records how plain actors run as children end, once Dramatiq's ``Retries`` decided.

    Added before ``Retries`` in the broker's list, so its ``after_*`` hooks run after it
    (Dramatiq calls them in reverse order): a failed message then is ``message.failed``
    exactly when it is not retried. Without ``Retries`` every failure is final.
    """

    def __init__(self, engine: Callable[[], Engine], broker: dramatiq.Broker) -> None:
        self._engine = engine
        self._retried = any(isinstance(m, Retries) for m in broker.middleware)

    def before_process_message(self, broker: dramatiq.Broker, message: Any) -> None:
        """Mark the child alive while its actor runs (the recovery sweep leaves it)."""
        ref = plain_child(message)
        if ref is not None:
            self._engine().track(ref)

    def after_process_message(
        self,
        broker: dramatiq.Broker,
        message: Any,
        *,
        result: Any = None,
        exception: BaseException | None = None,
    ) -> None:
        """Record the actor's return value, or its failure when it is not retried."""
        ref = plain_child(message)
        if ref is None:
            return
        engine = self._engine()
        engine.untrack(ref)
        if exception is None:
            _record(lambda: engine.complete(ref, result), ref)
        elif message.failed or not self._retried:
            _record(lambda: engine.fail(ref, exception), ref)

    def after_skip_message(self, broker: dramatiq.Broker, message: Any) -> None:
        """A message skipped (and failed) by a middleware, e.g. ``AgeLimit``: a failure."""
        ref = plain_child(message)
        if ref is None:
            return
        engine = self._engine()
        engine.untrack(ref)
        if message.failed:
            error = RuntimeError(f"the message of actor {ref.task_name!r} was skipped and failed")
            _record(lambda: engine.fail(ref, error), ref)


def _record(write: Callable[[], bool], ref: InvocationRef) -> None:
    """Record an outcome; a failure is logged (Dramatiq would swallow it) and left to the
    recovery sweep, which sends the actor's message again."""
    try:
        write()
    except Exception:
        log.error(
            "recording the outcome of actor %r (child %s of workflow %s) failed; the "
            "recovery sweep will run it again",
            ref.task_name,
            ref.invocation_id,
            ref.workflow_id,
            exc_info=True,
        )
