"""``wfcore.logging``: formatters that show the workflow fields of log records.

See :mod:`wfcore.observability.logging`.
"""

from __future__ import annotations

from wfcore.observability.logging import (
    FIELDS,
    JsonFormatter,
    WorkflowFormatter,
    configure,
    install,
)

__all__ = ["FIELDS", "JsonFormatter", "WorkflowFormatter", "configure", "install"]
