"""One Redis connection per thread, for the store's hot path.

redis-py's client takes a connection from its pool, checks it, records metrics and releases
it again for every command or pipeline. That bookkeeping costs more CPU than the round trip
itself. Here each thread keeps one connection (built by the same pool settings: URL, TLS,
auth, timeouts) and sends a batch of commands as one write, then reads one reply per command.
"""

from __future__ import annotations

import os
import threading
import weakref
from collections.abc import Sequence
from typing import Any

import redis
from redis.exceptions import ResponseError

_pack: Any
try:  # hiredis comes with redis[hiredis]; without it redis-py's own packer is used
    from hiredis import pack_command as _pack
except ImportError:  # pragma: no cover - exercised only without hiredis
    _pack = None

__all__ = ["ThreadLinks"]

# Bumped in a forked child, so that no thread there reuses a socket of its parent. Checking
# it costs an attribute read per round trip where os.getpid() cost a system call.
_forks = 0


def _forked() -> None:
    global _forks
    _forks += 1


os.register_at_fork(after_in_child=_forked)


class ThreadLinks:
    """Per-thread connections built from ``pool``'s settings; no retries, no pooling."""

    def __init__(self, pool: redis.ConnectionPool) -> None:
        self._pool = pool
        self._local = threading.local()
        self._lock = threading.Lock()
        # redis-py's connection methods are untyped: Any keeps mypy --strict quiet here only.
        self._open: weakref.WeakSet[Any] = weakref.WeakSet()

    def roundtrip(self, commands: Sequence[tuple[Any, ...]]) -> list[Any]:
        """Send ``commands`` in one write; their replies, an error reply as its exception.

        A connection or timeout error (or any interruption) drops the connection, so a reply
        left unread can never be taken for the next command's, and propagates.
        """
        conn = self._connection()
        try:
            if _pack is not None:  # every argument is already str, bytes, int or float
                packed: Any = [b"".join([_pack(command) for command in commands])]
            else:
                packed = conn.pack_commands(commands)
            conn.send_packed_command(packed, check_health=False)
            replies: list[Any] = []
            for _ in commands:
                try:
                    replies.append(conn.read_response())
                except ResponseError as error:  # this command's own error: the rest stand
                    replies.append(error)
            return replies
        except BaseException:
            conn.disconnect()
            raise

    def close(self) -> None:
        """Disconnect every thread's connection (a later roundtrip reconnects)."""
        with self._lock:
            connections = list(self._open)
        for conn in connections:
            conn.disconnect()

    def _connection(self) -> Any:
        conn: Any = getattr(self._local, "conn", None)
        if conn is None or self._local.forks != _forks:
            # New thread, or a forked child: never share a parent's socket.
            conn = self._pool.connection_class(**self._pool.connection_kwargs)
            self._local.conn, self._local.forks = conn, _forks
            with self._lock:
                self._open.add(conn)
        return conn
