"""Fixtures of the observability tests (the integration suite's embedded Apps)."""

from __future__ import annotations

from tests.integration.conftest import make_app, no_global_broker

__all__ = ["make_app", "no_global_broker"]
