"""Build the App of a real-worker deployment from environment variables (see ``worker.py``)."""

from __future__ import annotations

from collections.abc import Mapping

import dramatiq
from dramatiq.brokers.redis import RedisBroker
from dramatiq.results import Results
from dramatiq.results.backends import RedisBackend

from tests.integration.apps.aio import Aio
from tests.integration.apps.interop import Interop
from tests.integration.apps.ledger import Ledger
from tests.integration.apps.scenarios import Scenarios
from tests.integration.apps.small import Small
from wfcore_dramatiq import App

__all__ = ["build_app", "make_broker"]


def make_broker(broker_url: str, namespace: str) -> dramatiq.Broker:
    """A RedisBroker (isolated by ``namespace``) or a RabbitmqBroker, from its URL."""
    if broker_url.startswith(("redis://", "rediss://")):
        return RedisBroker(url=broker_url, namespace=namespace)  # type: ignore[no-untyped-call]
    if broker_url.startswith(("amqp://", "amqps://")):
        # Only here: pika comes with the wfcore[rabbitmq] extra, the Redis suites need none.
        from dramatiq.brokers.rabbitmq import RabbitmqBroker

        return RabbitmqBroker(url=broker_url)
    raise ValueError(f"unsupported broker URL {broker_url!r}")


def build_app(env: Mapping[str, str]) -> tuple[App, Scenarios | Small | Interop | Aio]:
    """The App and its declared tasks, exactly as the test process builds them."""
    namespace = env.get("WFCORE_IT_NAMESPACE", "dramatiq")
    suite = env.get("WFCORE_IT_SUITE", "scenarios")
    if suite == "aio" and "WFCORE_IT_QUEUE" in env:  # on RabbitMQ (queues are global)
        rmq_app = App(
            broker=make_broker(env["WFCORE_IT_BROKER_URL"], namespace),
            store=env["WFCORE_IT_STORE_URL"],
        )
        ledger = Ledger(env["WFCORE_IT_LEDGER"])
        return rmq_app, Aio(rmq_app, ledger, env["WFCORE_IT_QUEUE"])
    if suite == "aio":
        # A SIGKILLed worker's messages come back after 2 s and sweeps run every 0.5 s for
        # invocations idle 1 s: its runs resume within seconds.
        fast_broker = RedisBroker(  # type: ignore[no-untyped-call]
            url=env["WFCORE_IT_BROKER_URL"],
            namespace=namespace,
            heartbeat_timeout=2000,
            maintenance_chance=1_000_000,
        )
        store = env["WFCORE_IT_STORE_URL"]
        aio_app = App(broker=fast_broker, store=store, recovery_interval=0.5, stale_after=1.0)
        return aio_app, Aio(aio_app, Ledger(env["WFCORE_IT_LEDGER"]))
    broker = make_broker(env["WFCORE_IT_BROKER_URL"], namespace)
    if suite == "interop":  # results on the same Redis, before tasks that store them
        backend = RedisBackend(url=env["WFCORE_IT_BROKER_URL"], namespace=namespace + "-results")
        broker.add_middleware(Results(backend=backend))  # type: ignore[no-untyped-call]
    app = App(broker=broker, store=env["WFCORE_IT_STORE_URL"])
    if suite == "small":
        return app, Small(app, env["WFCORE_IT_QUEUE"])
    if suite == "interop":
        return app, Interop(app)
    return app, Scenarios(app, Ledger(env["WFCORE_IT_LEDGER"]))
