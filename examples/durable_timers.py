# examples/durable_timers.py
from datetime import UTC, datetime, timedelta

from wfcore import LocalRunner, WorkflowCancelled, WorkflowCancelledError, WorkflowFailedError

runner = LocalRunner()  # its clock jumps to due timers: a day-long sleep takes no time here


@runner.task
def send_reminder(user: str) -> str:
    return f"reminded {user}"


@runner.task
def trial(user: str) -> str:
    wf = trial.wf
    wf.sleep("1d")  # suspends: no worker thread, process or CPU is held while it waits
    wf.execute_task(send_reminder, user)
    wf.sleep_until(wf.utc_now() + timedelta(days=6))  # aware datetimes only
    return "trial over"


assert runner.run(trial, "ada") == "trial over"


@runner.task(max_duration=3600)  # fails the workflow after an hour, even while it sleeps
def impatient() -> str:
    impatient.wf.sleep("2h")
    return "never"


try:
    runner.run(impatient)
except WorkflowFailedError as exc:
    print(exc.error_type)  # wfcore.errors.DeadlineExceededError


@runner.task
def subscription(user: str) -> str:
    wf = subscription.wf
    try:
        wf.sleep("30d")
        return "renewed"
    except WorkflowCancelled:
        wf.set_data("cancelled_at", wf.utc_now())  # cleanup may still use wf operations
        raise


workflow_id = runner.start(subscription, "ada")
runner.step()  # it runs and sleeps
assert runner.engine.cancel(workflow_id) is True  # persistent; reaches child workflows too
runner.run_until_idle()
try:
    runner.engine.result(workflow_id)
except WorkflowCancelledError:
    print("cancelled at", datetime.now(UTC).date())
assert runner.engine.cancel(workflow_id) is False  # already finished: nothing to cancel
