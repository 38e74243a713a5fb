"""A throwaway redis-server for benchmarks: the tests' helper, as a context manager."""

from __future__ import annotations

import shutil
import subprocess
from collections.abc import Iterator
from contextlib import contextmanager

from tests.support.redis_server import RedisServer, start_redis, stop_redis

__all__ = ["BenchRedis", "redis_server", "redis_server_version"]

BenchRedis = RedisServer


def redis_server_version() -> str:
    """``redis-server --version`` of the binary that :func:`redis_server` starts."""
    binary = shutil.which("redis-server")
    if binary is None:
        raise FileNotFoundError("redis-server is not installed (apt-get install redis-server)")
    out = subprocess.run([binary, "--version"], capture_output=True, text=True, check=True)
    return out.stdout.strip()


@contextmanager
def redis_server() -> Iterator[RedisServer]:
    """Start a redis-server (no persistence, never port 6379); stop it by pid on exit."""
    server = start_redis()
    try:
        yield server
    finally:
        stop_redis(server)
