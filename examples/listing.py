# examples/listing.py
from wfcore import LocalRunner, WorkflowStatus
from wfcore.errors import InvalidCursorError
from wfcore.store.listing import list_page

runner = LocalRunner()


@runner.task
def invoice(n: int) -> int:
    return n


for n in range(7):
    runner.start(invoice, n)
runner.run_until_idle()

# Pages of 3, newest first; each answer carries the cursor of the next page (None: the end).
seen, cursor = [], None
while True:
    page = list_page(runner.store, status=WorkflowStatus.COMPLETED, limit=3, cursor=cursor)
    seen += [w.workflow_id for w in page.workflows]
    if page.next_cursor is None:
        break
    cursor = page.next_cursor
assert len(seen) == len(set(seen)) == 7

# Filters: status, type and a creation time range (epoch seconds, after <= t < before).
first = runner.store.list_workflows(limit=1)[0]
kind = invoice.spec.name  # the registered name: "<module>.invoice" here
since = runner.store.list_workflows(created_after=first.created_at, workflow_type=kind)
assert since == [first]

# A cursor belongs to its filters: another query refuses it, saying what to do.
try:
    list_page(runner.store, status=WorkflowStatus.FAILED, cursor=cursor)
except InvalidCursorError as error:
    print(error)
