# examples/observability.py
import io
import logging
import urllib.request

from opentelemetry.sdk.trace import TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

import wfcore.logging
from wfcore.observability.tracing import trace_id_for
from wfcore_dramatiq import App
from wfcore_dramatiq.observability import enable_metrics, enable_tracing

# Logs: records of wf.logger and the engine show which workflow they are about.
log_lines = io.StringIO()
handler = wfcore.logging.configure(logging.INFO, json=True, stream=log_lines)

app = App()
# Metrics on a port of their own (0: any free one); with Dramatiq's Prometheus middleware
# on the broker they are served by its exposition server instead.
port = enable_metrics(app, port=0)
# Traces: one span per run, one trace per workflow tree (here kept in memory).
spans = InMemorySpanExporter()
provider = TracerProvider()
provider.add_span_processor(SimpleSpanProcessor(spans))
enable_tracing(app, tracer_provider=provider)


@app.task
def pack(item: str) -> str:
    pack.wf.logger.info("packing %s", item)
    return item.upper()


@app.task
def ship(order: list[str]) -> list[str]:
    wf = ship.wf
    boxes = wf.wait(*[wf.start_task(pack, item) for item in order])
    return [box.result for box in boxes]


if __name__ == "__main__":
    handle = ship.send_with_options(args=(["mug", "lamp"],))
    print(handle.result(timeout=30))
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics") as response:
        metrics = response.read().decode()
    print([line for line in metrics.splitlines() if line.startswith("wfcore_workflows_")])
    trace_id = trace_id_for(handle.workflow_id)
    print(sorted(s.name for s in spans.get_finished_spans() if s.context.trace_id == trace_id))
    print(log_lines.getvalue().splitlines()[0])
    app.close()
    logging.getLogger().removeHandler(handler)
