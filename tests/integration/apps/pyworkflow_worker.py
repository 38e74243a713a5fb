"""Entry point of the PyWorkflow-style tests' real workers:
``dramatiq tests.integration.apps.pyworkflow_worker``.

Builds the same App and workflows as the test process (see ``pyworkflow_app``). With
``WFCORE_IT_LOG_FILE`` set it also runs the README's Observability example (JSON logs with
the run's context, appended to that file).
"""

from __future__ import annotations

import os

from tests.integration.apps.pyworkflow_app import build_pyworkflow_app
from wfcore import configure_logging

app, seeds = build_pyworkflow_app(os.environ)
broker = app.broker

if os.environ.get("WFCORE_IT_LOG_FILE"):
    # Configure logging
    configure_logging(
        level="INFO",
        log_file=os.environ["WFCORE_IT_LOG_FILE"],
        json_logs=True,  # JSON format for production
        show_context=True,  # Include run_id, step_id, etc.
    )
