"""Fixtures of the acceptance suite: the seed scenarios run on every deployment."""

from __future__ import annotations

from tests.integration.harness import deployment, postgres_deployment, redis_deployment

__all__ = ["deployment", "postgres_deployment", "redis_deployment"]
