"""One Redis connection per thread, for the store's hot path.

redis-py's client takes a connection from its pool, checks it, records metrics and releases
it again for every command or pipeline; its connection then reads each reply through several
layers. That bookkeeping costs more CPU than the round trip itself. Here each thread keeps one
connection, which redis-py opens (URL, TLS, auth, the RESP2/RESP3 handshake, from the pool's
settings). The store then talks on its socket directly: a batch of commands goes out as one
write, packed by hiredis, and a hiredis reader parses the replies.

On Linux a plain TCP or Unix socket is switched to blocking mode with the same timeout set in
the kernel (``SO_RCVTIMEO``/``SO_SNDTIMEO``): a receive is then one system call that releases
the GIL once, where Python's own timeout mode polls first (two calls, two GIL hand-offs). TLS
sockets and cooperative ones (gevent, eventlet) keep Python's timeout mode.
"""

from __future__ import annotations

import contextlib
import errno
import os
import socket
import struct
import sys
import threading
import weakref
from collections.abc import Sequence
from typing import Any

import hiredis
import redis
from redis._parsers.base import BaseParser
from redis.exceptions import InvalidResponse

__all__ = ["ThreadLinks"]

# Bumped in a forked child, so that no thread there reuses a socket of its parent. Checking
# it costs an attribute read per round trip where os.getpid() cost a system call.
_forks = 0


def _forked() -> None:
    global _forks
    _forks += 1


os.register_at_fork(after_in_child=_forked)

_MORE = object()  # the reader's "no complete reply yet" (False is a RESP3 value)
_PUSH: Any = getattr(hiredis, "PushNotification", ())  # out-of-band RESP3 pushes: skipped
_READ_SIZE = 65536
_KERNEL_TIMEOUTS = sys.platform.startswith("linux")


def _plain(sock: object) -> bool:
    """Whether ``sock`` is the standard library's own socket class: not TLS, and not a
    cooperative one (gevent, eventlet), which waits in its event loop and would ignore a
    kernel timeout once put in blocking mode."""
    cls = type(sock)
    return cls.__module__ == "socket" and cls.__qualname__ == "socket"


class _Link:
    """One thread's connection: redis-py's connection object, its socket and our reader."""

    __slots__ = ("__weakref__", "buffer", "closed", "conn", "forks", "reader", "sock", "timeout")

    def __init__(self, conn: Any) -> None:
        conn.connect()  # redis-py: socket, TLS, AUTH, HELLO/SELECT
        self.conn = conn
        self.sock: socket.socket = conn._sock
        self.timeout: float | None = conn.socket_timeout
        self.reader = hiredis.Reader(
            protocolError=InvalidResponse,
            replyError=BaseParser.parse_error,  # error replies become values, as redis-py's
            notEnoughData=_MORE,
        )
        # hiredis reads any buffer (its stub says bytes); a reused bytearray saves a copy.
        self.buffer: Any = bytearray(_READ_SIZE)
        self.forks = _forks
        self.closed = False
        if _KERNEL_TIMEOUTS and _plain(self.sock) and self.timeout:
            seconds = int(self.timeout)
            timeval = struct.pack("ll", seconds, int((self.timeout - seconds) * 1e6))
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, timeval)
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDTIMEO, timeval)
            self.sock.settimeout(None)

    def __del__(self) -> None:
        # When its thread ends: close the socket now, not whenever the garbage collector gets
        # to redis-py's connection (part of a reference cycle), which would warn about it.
        with contextlib.suppress(Exception):  # nothing to report to during collection
            self.conn.disconnect()

    def send(self, data: bytes) -> None:
        """Write one packed batch of commands."""
        self.sock.sendall(data)

    def read(self, count: int) -> list[Any]:
        """The next ``count`` replies; an error reply as its redis-py exception, not raised."""
        reader, buffer, gets = self.reader, self.buffer, self.reader.gets
        replies: list[Any] = []
        while len(replies) < count:
            reply = gets()
            if reply is _MORE:
                n = self.sock.recv_into(buffer)
                if not n:
                    raise redis.ConnectionError("the server closed the connection")
                reader.feed(buffer, 0, n)
            elif not isinstance(reply, _PUSH):
                replies.append(reply)
        return replies

    def failed(self, error: BaseException) -> BaseException:
        """``error`` as the redis-py exception the store translates."""
        if isinstance(error, redis.RedisError):
            return error
        if isinstance(error, socket.timeout) or (
            isinstance(error, OSError) and error.errno in (errno.EAGAIN, errno.EWOULDBLOCK)
        ):
            return redis.TimeoutError(f"no reply within {self.timeout} s")
        if isinstance(error, OSError):
            return redis.ConnectionError(f"connection lost: {error}")
        return error


class ThreadLinks:
    """Per-thread connections built from ``pool``'s settings; no retries, no pooling."""

    def __init__(self, pool: redis.ConnectionPool) -> None:
        self._pool = pool
        self._local = threading.local()
        self._lock = threading.Lock()
        self._open: weakref.WeakSet[_Link] = weakref.WeakSet()

    def roundtrip(self, commands: Sequence[tuple[Any, ...]]) -> list[Any]:
        """Send ``commands`` in one write; their replies, an error reply as its exception.

        A connection or timeout error (or any interruption) drops the connection, so a reply
        left unread can never be taken for the next command's, and propagates as redis-py's
        ``ConnectionError`` or ``TimeoutError``.
        """
        link = self._link()
        try:
            # Every argument is already str, bytes, int or float.
            link.send(b"".join([hiredis.pack_command(command) for command in commands]))
            return link.read(len(commands))
        except BaseException as error:
            self._drop(link)
            failure = link.failed(error)
            if failure is error:
                raise
            raise failure from error

    def connect(self) -> None:
        """Open this thread's connection now if it has none (raises redis-py's
        ``ConnectionError`` or ``TimeoutError``, having sent nothing, if it cannot)."""
        self._link()

    def close(self) -> None:
        """Disconnect every thread's connection (a later roundtrip reconnects)."""
        with self._lock:
            links = list(self._open)
        for link in links:
            self._drop(link)

    def _link(self) -> _Link:
        link: _Link | None = getattr(self._local, "link", None)
        if link is None or link.closed or link.forks != _forks:
            # New thread, closed link, or a forked child: never share a parent's socket.
            link = _Link(self._pool.connection_class(**self._pool.connection_kwargs))
            self._local.link = link
            with self._lock:
                self._open.add(link)
        return link

    @staticmethod
    def _drop(link: _Link) -> None:
        link.closed = True
        link.conn.disconnect()
