# examples/schedules.py
from wfcore import LocalRunner, WorkflowStatus
from wfcore.schedules import send_command

runner = LocalRunner()  # on an App: app.schedule(...) with the same arguments


@runner.task
def nightly_report(region: str) -> str:
    return f"report for {region}"


# Stored as the workflow "schedule-reports"; declaring it again (every worker does, at
# import) returns the same schedule. Each fire time starts exactly one workflow.
schedule = runner.schedule(
    nightly_report,
    cron="0 2 * * *",  # 02:00 UTC every day (or every="10m")
    args=("eu",),
    schedule_id="reports",
    overlap="skip",  # no new run while the previous one still runs
    catchup_window="6h",  # after an outage, fire times up to 6 h old still run
)
runner.run_for(3 * 86400)  # three days on the runner's clock: three reports
reports = runner.store.list_workflows(workflow_type=nightly_report.spec.name)
assert len(reports) == 3
assert all(r.status is WorkflowStatus.COMPLETED for r in reports)

send_command(runner.engine, "reports", "pause")  # what `wfcore schedules pause reports` sends
runner.run_for(2 * 86400)
assert len(runner.store.list_workflows(workflow_type=nightly_report.spec.name)) == 3
send_command(runner.engine, "reports", "delete")
runner.run_for(1)
assert runner.engine.result(schedule) == "deleted"
