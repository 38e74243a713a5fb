"""The engine: start workflows and run one invocation against a store to its outcome.

Internal: the public names are re-exported by ``wfcore``. ``Engine`` (:mod:`.engine`) is
assembled from these parts, each a class over :class:`.base.EngineBase`:

- :mod:`.base`: configuration, the registered tasks, the runs in progress.
- :mod:`.start`: ``start`` (ids checked or derived from idempotency keys).
- :mod:`.run`: ``run``, one invocation replayed to its outcome; ``RunResult``/``RunStatus``.
- :mod:`.outcomes`: telling parents, ``fail`` from outside a run, reading outcomes.
- :mod:`.cancel`: ``cancel`` down a workflow tree.
- :mod:`.heartbeats`: ``heartbeat``, and the thread that calls it while runs are going on.
- :mod:`.recovery`: ``hold``, ``recover`` (the sweep).
- :mod:`.repair`, :mod:`.forks`, :mod:`.bulk`: ``resume``, ``fork`` and both in bulk, each
  checked by :mod:`.prefix` against the current code before it writes.
- :mod:`.signals`: ``signal``, ``data``, ``get_data`` (for clients).
- :mod:`.continuing`: committing ``wf.continue_as_new``.

``HistoryCache`` (:mod:`wfcore._history_cache`) is the per-process cache of histories that
makes resumes incremental (``Engine(..., history_cache=HistoryCache(...))``).
"""

from __future__ import annotations

from wfcore._history_cache import HistoryCache
from wfcore.engine.bulk import Repaired
from wfcore.engine.engine import Engine
from wfcore.engine.outcomes import outcome_value
from wfcore.engine.run import RunResult, RunStatus

__all__ = ["Engine", "HistoryCache", "Repaired", "RunResult", "RunStatus", "outcome_value"]
