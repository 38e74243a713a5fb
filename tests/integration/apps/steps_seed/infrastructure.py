"""The seed's real-world example 3: infrastructure management."""

# ruff: noqa: F401
from __future__ import annotations

from typing import Any

from wfcore.steps import Scope, Workflow
from wfcore_dramatiq import App


async def create_vm(ctx: dict[str, Any]) -> str:
    # Create a virtual machine
    vm_id = "vm123"
    return vm_id


async def configure_vm(ctx: dict[str, Any]) -> None:
    # Configure the virtual machine
    print(f"Configured VM with ID: {ctx['create_vm']}")


async def deploy_app(ctx: dict[str, Any]) -> None:
    # Deploy an application on the VM
    print(f"Deployed app on VM with ID: {ctx['create_vm']}")


async def monitor_status(ctx: dict[str, Any]) -> None:
    # Monitor the status of the deployed app
    print("Monitoring app status...")


# Error handler
async def handle_error(ctx: dict[str, Any]) -> None:
    print(f"Error in step {ctx['normal_error']['step']}: {ctx['normal_error']['error']}")


def build(app: App | None = None) -> Workflow:
    wf = Workflow(ctx={}, app=app)

    wf.add_step(create_vm)
    wf.add_step(configure_vm)
    wf.add_step(deploy_app)
    wf.add_step(monitor_status)
    wf.add_error_step(handle_error)
    return wf
