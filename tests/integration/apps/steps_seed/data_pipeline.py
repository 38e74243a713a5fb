"""The seed's real-world example 2: a data processing pipeline."""

# ruff: noqa: F401
from __future__ import annotations

from typing import Any

from wfcore.steps import Scope, Workflow
from wfcore_dramatiq import App


async def load_data(ctx: dict[str, Any]) -> str:
    # Load data from a source
    data = "raw data"
    return data


async def clean_data(ctx: dict[str, Any]) -> str:
    # Clean the loaded data
    cleaned_data: str = ctx["load_data"].replace("raw", "cleaned")
    return cleaned_data


async def transform_data(ctx: dict[str, Any]) -> str:
    # Transform the cleaned data
    transformed_data: str = ctx["clean_data"] + " transformed"
    return transformed_data


async def generate_report(ctx: dict[str, Any]) -> None:
    # Generate a report based on the transformed data
    print(f"Report for {ctx['transform_data']} generated!")


# Error handler
async def handle_error(ctx: dict[str, Any]) -> None:
    print(f"Error in step {ctx['normal_error']['step']}: {ctx['normal_error']['error']}")


def build(app: App | None = None) -> Workflow:
    wf = Workflow(ctx={}, app=app)

    wf.add_step(load_data)
    wf.add_step(clean_data)
    wf.add_step(transform_data)
    wf.add_step(generate_report)
    wf.add_error_step(handle_error)
    return wf
