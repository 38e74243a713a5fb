"""Entry point of the steps tests' real workers: ``dramatiq tests.integration.apps.steps_worker``.

Builds the same App and ``wfcore.steps`` workflows as the test process, from the environment
(see ``tests.integration.apps.worker`` for the variables).
"""

from __future__ import annotations

import os

from tests.integration.apps.steps_flows import build_steps_app

app = build_steps_app(os.environ)
broker = app.broker
