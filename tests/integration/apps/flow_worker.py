"""Entry point of the flow tests' real workers: ``dramatiq tests.integration.apps.flow_worker``.

Builds the same App and flow workflows as the test process, from the environment (see
``tests.integration.apps.worker`` for the variables).
"""

from __future__ import annotations

import os

from tests.integration.apps.flows import build_flow_app

app, seeds, crash = build_flow_app(os.environ)
broker = app.broker
