# examples/dramatiq_interop.py
import dramatiq
from dramatiq.results import Results
from dramatiq.results.backends import StubBackend

from wfcore.errors import TaskFailedError
from wfcore_dramatiq import App

app = App(store="memory://")  # embedded: StubBroker + worker threads
app.broker.add_middleware(Results(backend=StubBackend()))  # before tasks that store results


@dramatiq.actor(broker=app.broker, max_retries=0)  # an actor the shop already has
def send_email(address: str) -> str:
    if not address.count("@"):
        raise ValueError(f"bad address {address!r}")
    return f"sent to {address}"


@app.task(store_results=True)
def invoice(order_id: str) -> str:
    wf = invoice.wf
    receipt = wf.execute_task(send_email, f"{order_id}@example.com")  # a plain actor as child
    try:
        wf.execute_task(send_email, "nobody")
    except TaskFailedError as exc:  # its permanent failure, as for any child
        wf.set_data("bounced", exc.error_message)
    return f"{order_id}: {receipt.result}"


@app.task(store_results=True)
def archive(line: str) -> str:
    return line.upper()


if __name__ == "__main__":
    # A group: each message starts a workflow; Results hold the workflows' final results.
    group = dramatiq.group([invoice.message("A-1"), invoice.message("A-2")], broker=app.broker)
    print(list(group.run().get_results(block=True, timeout=10_000)))
    # A pipeline: the next step gets the workflow's result when it finishes, not before.
    pipe = dramatiq.pipeline(
        [invoice.message("B-1"), archive.message_with_options()], broker=app.broker
    )
    print(pipe.run().get_result(block=True, timeout=10_000))
    app.close()
