"""Entry point of real worker processes: ``dramatiq tests.integration.apps.worker:broker``.

Everything comes from the environment so the worker and the test process build the same App:

- ``WFCORE_IT_BROKER_URL``: ``redis://...`` (a ``RedisBroker``) or ``amqp://...`` (RabbitMQ).
- ``WFCORE_IT_NAMESPACE``: the RedisBroker key namespace (isolates a test run).
- ``WFCORE_IT_STORE_URL``: the state store (e.g. ``redis://...?prefix=...``).
- ``WFCORE_IT_LEDGER``: the directory of the side-effect ledger.
- ``WFCORE_IT_SUITE``: ``scenarios`` (every scenario task), ``small`` (two tasks) or ``interop``
  (Results on Redis, task messages and plain actors) or ``aio`` (async tasks).
- ``WFCORE_IT_QUEUE``: the queue of the ``small`` suite's tasks, and of the ``aio`` suite's
  on RabbitMQ.
"""

from __future__ import annotations

import os

from tests.integration.apps.deploy import build_app

app, tasks = build_app(os.environ)
broker = app.broker
