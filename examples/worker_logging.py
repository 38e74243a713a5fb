# examples/worker_logging.py
# Put this in the module your `dramatiq` command imports (`dramatiq myapp`).
import logging

import wfcore.logging

# In each worker process the dramatiq CLI has already configured the root logger (a handler
# writing to its log pipe, which --log-file or stderr receives) before importing this
# module: give that handler wfcore's formatter. json=True writes one JSON object per line.
wfcore.logging.install(json=False)

if __name__ == "__main__":  # run directly: a line as a worker would write it
    logging.basicConfig(format="[%(asctime)s] [PID %(process)d] %(message)s")
    wfcore.logging.install()
    logging.getLogger("wfcore.task.ship").warning(
        "carrier slow", extra={"workflow_id": "o-1", "invocation_id": "o-1", "seq": 2}
    )
