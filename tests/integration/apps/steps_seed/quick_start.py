"""The seed's Quick Start."""

# ruff: noqa: F401
from __future__ import annotations

from typing import Any

from wfcore.steps import Scope, Workflow
from wfcore_dramatiq import App


# Define your steps
async def step1(ctx: dict[str, Any]) -> None:
    # Your code here
    pass


async def error_step(ctx: dict[str, Any]) -> None:
    # Your code here
    pass


def build(app: App | None = None) -> Workflow:
    # Create a workflow with a context
    wf = Workflow(ctx={"initial_data": "data_value"}, app=app)

    # Add steps to the workflow
    wf.add_step(step1)
    wf.add_error_step(error_step)
    return wf
