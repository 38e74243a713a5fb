"""The seed's dependency-injection example, made storable.

The seed puts the gateway *object* in ``ctx``; a durable ``ctx`` holds data (it is recorded
and crosses to worker processes), so here ``ctx`` names the gateway and the step looks the
implementation up, and the step is a module-level function (workers find steps by qualified
name) rather than a method. Interfaces and implementations are the seed's.
"""

from __future__ import annotations

import asyncio
from abc import ABC, abstractmethod
from typing import Any

from wfcore.steps import Workflow
from wfcore_dramatiq import App


class PaymentGateway(ABC):
    @abstractmethod
    async def charge(self, amount: int) -> str:
        pass

    @abstractmethod
    async def refund(self, amount: int) -> str:
        pass


class MockPaymentGateway(PaymentGateway):
    async def charge(self, amount: int) -> str:
        print(f"Mock charged {amount}")
        return "Mock Transaction ID: 123456"

    async def refund(self, amount: int) -> str:
        print(f"Mock refunded {amount}")
        return "Mock Refund ID: 654321"


class RealPaymentGateway(PaymentGateway):
    async def charge(self, amount: int) -> str:
        # Real charge logic here
        return "Real Transaction ID: 777"

    async def refund(self, amount: int) -> str:
        # Real refund logic here
        return "Real Refund ID: 888"


GATEWAYS: dict[str, PaymentGateway] = {
    "mock": MockPaymentGateway(),
    "real": RealPaymentGateway(),
}


async def charge_credit_card(ctx: dict[str, Any]) -> str:
    transaction_id = await GATEWAYS[ctx["payment_gateway"]].charge(100)
    print(f"Transaction ID: {transaction_id}")
    return transaction_id


class EcommerceWorkflow:
    def __init__(self, payment_gateway: str, app: App | None = None) -> None:
        self.wf = Workflow(ctx={"payment_gateway": payment_gateway, "order_id": "order_001"},
                           app=app)  # fmt: skip
        self.wf.add_step(charge_credit_card)

    def run(self) -> dict[str, Any]:
        return asyncio.run(self.wf.run())


def build(app: App | None = None) -> Workflow:
    return EcommerceWorkflow(payment_gateway="mock", app=app).wf
