"""The seed's real-world example 1: web scraping."""

# ruff: noqa: F401
from __future__ import annotations

from typing import Any

from wfcore.steps import Scope, Workflow
from wfcore_dramatiq import App


async def fetch_data(ctx: dict[str, Any]) -> str:
    # Use an HTTP library to fetch data from a website
    data = "fetched data"
    return data


async def process_data(ctx: dict[str, Any]) -> str:
    # Process the fetched data
    processed_data: str = ctx["fetch_data"] + " processed"
    return processed_data


async def store_in_db(ctx: dict[str, Any]) -> None:
    # Store the processed data in a database
    print(f"Stored: {ctx['process_data']}")


async def notify_someone(ctx: dict[str, Any]) -> None:
    # Notify someone about the update
    print("Notification sent!")


# Error handler
async def handle_error(ctx: dict[str, Any]) -> None:
    print(f"Error in step {ctx['normal_error']['step']}: {ctx['normal_error']['error']}")


def build(app: App | None = None) -> Workflow:
    wf = Workflow(ctx={}, app=app)

    wf.add_step(fetch_data)
    wf.add_step(process_data)
    wf.add_step(store_in_db)
    wf.add_step(notify_someone)
    wf.add_error_step(handle_error)
    return wf
