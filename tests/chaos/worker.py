"""Entry point of the chaos suite's worker processes: ``dramatiq tests.chaos.worker:broker``.

Everything comes from the environment (see ``tests.chaos.harness.ChaosDeployment.env``):

- ``WFCORE_CHAOS_REDIS_URL``: the throwaway test redis-server (broker, store and book).
- ``WFCORE_CHAOS_NAMESPACE``: the RedisBroker namespace; ``WFCORE_CHAOS_PREFIX``: the
  RedisStore prefix; ``WFCORE_CHAOS_BOOK``: the prefix of the bookkeeping keys.
- ``WFCORE_CRASH_POINT``: optional, one of ``tests.chaos.crashing.CRASH_POINTS``.
"""

from __future__ import annotations

import os

from tests.chaos.harness import build_app

app, tasks = build_app(os.environ, armed=True)
broker = app.broker
