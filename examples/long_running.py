# examples/long_running.py
from wfcore import LocalRunner

runner = LocalRunner()


@runner.task
def fetch_page(page: int) -> list[int]:
    return [page * 10 + i for i in range(3)] if page < 7 else []


@runner.task
def crawl(page: int, seen: int) -> dict[str, int]:
    wf = crawl.wf
    for _ in range(3):  # a bounded batch of work per run
        items = wf.execute_task(fetch_page, page).result
        if not items:
            return {"pages": page, "items": seen, "runs": wf.run}
        seen += len(items)
        page += 1
    wf.set_data("progress", {"page": page, "items": seen})  # data is kept across runs
    # End this run; run wf.run + 1 starts with these arguments and an empty history.
    wf.continue_as_new(page, seen)


workflow_id = runner.start(crawl, 0, 0)
runner.run_until_idle()
assert runner.engine.result(workflow_id) == {"pages": 7, "items": 21, "runs": 3}
assert runner.engine.get_data(workflow_id, "progress") == {"page": 6, "items": 18}
continued = [e for e in runner.engine.history(workflow_id) if e.kind == "workflow_continued_as_new"]
print([e.value["run"] for e in continued])  # [2, 3]
