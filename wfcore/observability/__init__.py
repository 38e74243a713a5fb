"""Observability: log formatting (:mod:`.logging`), Prometheus metrics (:mod:`.metrics`,
extra ``wfcore[metrics]``) and OpenTelemetry tracing (:mod:`.tracing`, extra
``wfcore[otel]``).

Importing this package imports neither prometheus_client nor OpenTelemetry; their modules
do, and raise a ``ConfigurationError`` naming the extra when it is not installed.
"""

from __future__ import annotations
