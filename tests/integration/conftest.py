"""Fixtures of the integration suite: broker-parametrised deployments and embedded Apps."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import dramatiq.broker
import pytest

from tests.integration.harness import deployment, postgres_deployment, redis_deployment
from wfcore_dramatiq import App

__all__ = ["deployment", "make_app", "no_global_broker", "postgres_deployment", "redis_deployment"]


@pytest.fixture
def no_global_broker(monkeypatch: pytest.MonkeyPatch) -> None:
    """A process whose Dramatiq global broker is not set yet; the test's Apps may set it (an
    App on a broker becomes the global broker) and the previous one is restored afterwards."""
    monkeypatch.setattr(dramatiq.broker, "global_broker", None)


@pytest.fixture
def make_app(tmp_path: Path) -> Iterator[Callable[..., App]]:
    """Embedded Apps (StubBroker, in-process worker threads) on temp SQLite stores.

    Tests that need in-process hooks (events, middlewares, barriers) declare their own tasks
    on a fresh App; every App made here is closed (its worker stopped) afterwards.
    """
    apps: list[App] = []

    def make(**options: Any) -> App:
        options.setdefault("store", f"sqlite:///{tmp_path / f'app{len(apps)}.sqlite3'}")
        app = App(**options)
        apps.append(app)
        return app

    try:
        yield make
    finally:
        for app in apps:
            app.close()
