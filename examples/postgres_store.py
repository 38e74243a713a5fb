# examples/postgres_store.py
import os

from wfcore import LocalRunner, current, open_store

# pip install 'wfcore[postgres]'; the tables are created (or migrated) in the schema on open.
url = os.environ.get(
    "WFCORE_EXAMPLE_POSTGRES_URL", "postgresql://postgres@127.0.0.1:5432/postgres?schema=wfcore"
)
store = open_store(f"{url}&max_size=4&timeout=5", retention=7 * 86400)
runner = LocalRunner(store)


@runner.task
def checkout(order: str) -> str:
    wf = current()
    reserved = wf.deterministic("reserve", lambda: f"reserved {order}")
    return wf.deterministic("charge", lambda: f"{reserved}, charged")


print(runner.run(checkout, "A-1"))  # reserved A-1, charged
store.close()
