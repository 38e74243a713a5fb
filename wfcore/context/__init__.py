"""The deterministic workflow context (``task.wf``), one module per concept.

Internal: the public names are re-exported by ``wfcore``. ``WorkflowContext``
(:mod:`.context`) is assembled from these layers, each a class over the one before:

- :mod:`.runtime`: what a context needs from its engine; the ``_Suspend``/``_Conflict`` signals.
- :mod:`.recording`: the run's state, identity, recording operations and committing them.
- :mod:`.cancellation`: delivering ``WorkflowCancelled`` (recorded, so replays repeat it).
- :mod:`.replaying`: matching operations against the history, divergences, ``wf.patched``.
- :mod:`.values`: ``random``, ``randint``, ``choice``, ``uuid``, ``utc_now``.
- :mod:`.timers`: ``sleep``, ``sleep_until``.
- :mod:`.steps`: ``deterministic``.
- :mod:`.data`: ``set_data``, ``get_data``.
- :mod:`.signals`: ``wait_signal``, ``poll_signal``, ``signal_workflow``.
- :mod:`.children`: ``start_task``, ``execute_task``, ``wait``, ``TaskHandle``.
- :mod:`.continuing`: ``continue_as_new``, ``run``.
- :mod:`.logger`: ``wf.logger``, quiet during replay.
"""

from __future__ import annotations

from wfcore.context.context import WorkflowContext
from wfcore.context.runtime import Runtime

__all__ = ["Runtime", "WorkflowContext"]
