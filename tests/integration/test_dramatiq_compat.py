"""Start-up self-checks: a supported Dramatiq, and a RedisBroker storing messages as wfcore does.

``RedisOutbox`` writes the broker's keys from the store's Lua scripts, so an App refuses to
start when the installed Dramatiq is outside the tested versions or its RedisBroker would
not find those messages.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable

import dramatiq
import pytest
from dramatiq.brokers.redis import RedisBroker

from tests.integration.harness import delete_redis_keys, with_query
from wfcore.errors import ConfigurationError
from wfcore_dramatiq import App
from wfcore_dramatiq._compat import SUPPORTED_DRAMATIQ

MakeApp = Callable[..., App]

pytestmark = pytest.mark.usefixtures("no_global_broker")


def test_the_supported_range_is_the_required_one() -> None:
    # The installed Dramatiq is one the checks accept (else every App would be refused)
    assert SUPPORTED_DRAMATIQ == ">=2.0,<3"
    assert dramatiq.__version__.split(".")[0] == "2"


@pytest.mark.parametrize("version", ["1.17.1", "3.0.0", "not-a-version"])
def test_an_unsupported_dramatiq_is_refused_when_an_app_is_created(
    version: str, make_app: MakeApp, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a Dramatiq outside the tested versions
    monkeypatch.setattr(dramatiq, "__version__", version)

    # When an App is created
    # Then it fails loudly, naming the installed and the supported versions
    with pytest.raises(ConfigurationError, match=f"dramatiq {version} is installed") as caught:
        make_app()
    assert SUPPORTED_DRAMATIQ in str(caught.value)


def _changed_broker(url: str, namespace: str, old: str, new: str) -> RedisBroker:
    """A RedisBroker whose dispatch script has ``new`` in the place of ``old``."""
    broker = RedisBroker(url=url, namespace=namespace)  # type: ignore[no-untyped-call]
    script = broker.scripts["dispatch"].script
    source = script.decode() if isinstance(script, bytes) else str(script)
    assert old in source
    broker.scripts["dispatch"] = broker.client.register_script(source.replace(old, new))
    return broker


@pytest.mark.redis
@pytest.mark.parametrize(
    ("old", "new"),
    [
        # messages appended another way
        (
            'redis.call("rpush", queue_full_name, message_id)',
            'redis.call("lpush", queue_full_name, message_id)',
        ),
        # deliveries acknowledged in other keys than a commit's receipt names
        ('":__acks__." .. worker_id', '":__unacked__." .. worker_id'),
    ],
)
def test_a_redis_broker_with_another_key_layout_is_refused(
    redis_url: str, old: str, new: str
) -> None:
    # Given a RedisBroker on the store's database whose messages are stored otherwise
    run = uuid.uuid4().hex[:12]
    namespace, store = f"wfcore-it-compat-{run}", with_query(redis_url, prefix=f"compat-{run}")
    broker = _changed_broker(redis_url, namespace, old, new)
    try:
        # When an App would write that broker's messages with its commits
        # Then it refuses to start, naming the versions and the way out
        with pytest.raises(ConfigurationError, match="enqueue_in_commit=False") as caught:
            App(broker=broker, store=store)
        assert f"dramatiq {dramatiq.__version__}" in str(caught.value)
        assert SUPPORTED_DRAMATIQ in str(caught.value)

        # And without writing them (every message through broker.enqueue) it starts
        App(broker=broker, store=store, enqueue_in_commit=False).close()
    finally:
        broker.close()
        delete_redis_keys(redis_url, namespace, f"compat-{run}")


@pytest.mark.redis
def test_the_installed_redis_broker_passes_the_layout_check(redis_url: str) -> None:
    # Given the installed RedisBroker, unchanged, on the store's database
    run = uuid.uuid4().hex[:12]
    broker = RedisBroker(url=redis_url, namespace=f"wfcore-it-compat-{run}")  # type: ignore[no-untyped-call]
    try:
        # When an App writes its messages with its commits
        app = App(broker=broker, store=with_query(redis_url, prefix=f"compat-{run}"))
        # Then it starts, with the commit-written messages on
        assert app.engine._outbox is not None
        app.close()
    finally:
        broker.close()
        delete_redis_keys(redis_url, f"wfcore-it-compat-{run}", f"compat-{run}")
