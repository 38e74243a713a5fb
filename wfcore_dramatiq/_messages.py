"""Raw messages of workflow tasks (``task.message()`` in a group or pipeline): the result
Dramatiq's Results and Pipelines middleware see is the workflow's, given when it finishes.

A raw message starts workflow ``msg-<message id>`` and returns at once, long before the
workflow is done. So that ``message.get_result()`` and the next pipeline step get the
workflow's result, the message's reply (its id, queue and actor; whether to store results
and for how long; the pipeline's next message) is written into the workflow's data, and the
message itself is made to store no result and pipe nothing. Whoever processes the message
that finishes the root (or a redelivery of it) reads the reply and gives the outcome:
``store_result``/``store_exception`` under the original message's key, and the next message
sent with the result appended. If the root had already finished when the reply was
written, the raw message gives it itself (the reply stays written all the same, so a
resumed workflow gives its new outcome when it ends). At least once, like Dramatiq's own:
a crash between finishing and giving leaves the message unacked, and its redelivery gives
it.
"""

from __future__ import annotations

from typing import Any

import dramatiq
from dramatiq.middleware import Pipelines
from dramatiq.results import Results

from wfcore import Engine, InvocationRef, Outcome, WorkflowStatus
from wfcore.engine import outcome_value
from wfcore.errors import WfError

__all__ = ["REPLY_KEY", "Replies", "awaits_reply", "raw_workflow_id"]

REPLY_KEY = "wfcore.dramatiq.reply"
"""The workflow data key holding a raw message's reply."""

_PREFIX = "msg-"


def raw_workflow_id(message_id: str) -> str:
    """The workflow a raw message with this id starts (a redelivery finds the same one)."""
    return _PREFIX + message_id


def awaits_reply(ref: InvocationRef) -> bool:
    """Whether ``ref`` may be the root of a workflow a raw message started, whose reply is
    given after its end."""
    return ref.invocation_id == ref.workflow_id and ref.workflow_id.startswith(_PREFIX)


class Replies:
    """Defers a raw message's result to the end of its workflow, and gives it then."""

    def __init__(self, broker: dramatiq.Broker, engine: Engine) -> None:
        self._broker = broker
        self._engine = engine

    def defer(self, message: Any, workflow_id: str) -> None:
        """Called by the actor of a raw message that started (or found) ``workflow_id``."""
        reply = self._reply_of(message)
        if reply is None:
            return
        engine = self._engine
        root = InvocationRef(workflow_id, workflow_id, message.actor_name)
        encoded = engine.codec.encode(reply, what="the reply of a raw message")
        if not engine.attach(root, REPLY_KEY, encoded):
            outcome = engine.outcome(workflow_id)
            if outcome is not None:
                self._give(reply, workflow_id, outcome)
        # Only now (a failed write above retries the message with its options intact):
        # Results and Pipelines must not act on this message's own return value.
        message.options["store_results"] = False
        message.options.pop("pipe_target", None)

    def finished(self, ref: InvocationRef) -> None:
        """After a message that ran (or found finished) ``ref``: give the reply its
        workflow's raw message waits for, if ``ref`` is that workflow's root."""
        if not awaits_reply(ref):
            return
        workflow_id = ref.workflow_id
        engine = self._engine
        raw = engine.store.read_data(workflow_id, REPLY_KEY)
        if raw is None:
            return
        outcome = engine.outcome(workflow_id)
        if outcome is not None:
            self._give(engine.codec.decode(raw, what=REPLY_KEY), workflow_id, outcome)

    def _reply_of(self, message: Any) -> dict[str, Any] | None:
        """What the raw message's result is for: None when nothing waits for it."""
        broker = self._broker
        options = message.options
        store, ttl = False, None
        results = _find(broker, Results)
        if results is not None:
            actor_options = broker.get_actor(message.actor_name).options
            store = options.get("store_results", actor_options.get("store_results"))
            store = results.store_results if store is None else store
            ttl = options.get("result_ttl", actor_options.get("result_ttl", results.result_ttl))
        pipe = options.get("pipe_target") if _find(broker, Pipelines) is not None else None
        if not store and pipe is None:
            return None
        return {
            "message_id": message.message_id,
            "queue_name": message.queue_name,
            "actor_name": message.actor_name,
            "store_results": bool(store),
            "result_ttl": ttl,
            "pipe_target": None if pipe is None else dramatiq.Message(**pipe).encode(),
        }

    def _give(self, reply: dict[str, Any], workflow_id: str, outcome: Outcome) -> None:
        """Store the workflow's outcome as the raw message's result; pipe it on."""
        broker = self._broker
        message: dramatiq.Message[Any] = dramatiq.Message(
            queue_name=reply["queue_name"],
            actor_name=reply["actor_name"],
            args=(),
            kwargs={},
            options={},
            message_id=reply["message_id"],
        )
        completed = outcome.status is WorkflowStatus.COMPLETED
        if reply["store_results"]:
            backend = broker.get_results_backend()
            if completed:
                backend.store_result(message, outcome.value, reply["result_ttl"])
            else:
                try:
                    outcome_value(workflow_id, outcome)
                except WfError as error:  # WorkflowFailedError or WorkflowCancelledError
                    backend.store_exception(message, error, reply["result_ttl"])
        if completed and reply["pipe_target"] is not None:
            # As Pipelines does: the result is the next message's last argument.
            following = dramatiq.Message.decode(reply["pipe_target"])
            actor = broker.get_actor(reply["actor_name"])
            if not (following.options.get("pipe_ignore") or actor.options.get("pipe_ignore")):
                following = following.copy(args=(*following.args, outcome.value))
            broker.enqueue(following, delay=following.options.get("delay"))


def _find(broker: dramatiq.Broker, kind: type[Any]) -> Any:
    """The broker's first middleware of ``kind`` (the one ``get_results_backend`` uses)."""
    return next((m for m in broker.middleware if isinstance(m, kind)), None)
