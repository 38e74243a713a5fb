"""Start and stop throwaway ``redis-server`` processes for tests (never the system one)."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import ssl
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

__all__ = ["RedisServer", "free_port", "running_redis", "start_redis", "stop_redis"]

# The Popen objects of servers started here, so they are reaped by their own wait().
_PROCESSES: dict[int, subprocess.Popen[bytes]] = {}


@dataclass(frozen=True, slots=True)
class RedisServer:
    """A redis-server the tests started: where it listens and how to stop it."""

    port: int
    pid: int
    password: str | None
    workdir: str
    tls: bool = False

    @property
    def socket_path(self) -> str:
        """The Unix socket it also listens on."""
        return str(Path(self.workdir) / "redis.sock")

    def url(self, db: int = 0) -> str:
        """A redis:// (rediss:// for TLS) URL for this server, with the password if set."""
        auth = f":{self.password}@" if self.password else ""
        scheme = "rediss" if self.tls else "redis"
        return f"{scheme}://{auth}127.0.0.1:{self.port}/{db}"


def free_port() -> int:
    """A TCP port nobody listens on right now (never 6379)."""
    while True:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = int(sock.getsockname()[1])
        if port != 6379:
            return port


def start_redis(*, password: str | None = None, tls: tuple[str, str] | None = None) -> RedisServer:
    """Start a redis-server on a free port in a temp dir and wait until it answers.

    ``tls`` = (certificate file, key file): the port then speaks TLS only.
    """
    binary = shutil.which("redis-server")
    if binary is None:
        raise FileNotFoundError("redis-server is not installed (apt-get install redis-server)")
    workdir = tempfile.mkdtemp(prefix="wfcore-redis-")
    port = free_port()
    listen = ["--port", str(port)]
    if tls is not None:
        listen = ["--port", "0", "--tls-port", str(port), "--tls-auth-clients", "no"]
        listen += ["--tls-cert-file", tls[0], "--tls-key-file", tls[1]]
    args = [binary, *listen, "--bind", "127.0.0.1", "--save", "", "--appendonly"]
    args += ["no", "--dir", workdir, "--logfile", str(Path(workdir) / "redis.log")]
    args += ["--unixsocket", str(Path(workdir) / "redis.sock"), "--unixsocketperm", "700"]
    if password:
        args += ["--requirepass", password]
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _PROCESSES[proc.pid] = proc
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"redis-server exited with {proc.returncode}; see {workdir}")
        try:
            if _answers(port, tls is not None):
                return RedisServer(port, proc.pid, password, workdir, tls is not None)
        except OSError:
            time.sleep(0.05)
    stop_redis(RedisServer(port, proc.pid, password, workdir, tls is not None))
    raise RuntimeError(f"redis-server on port {port} did not answer within 10 s")


def _answers(port: int, tls: bool) -> bool:
    with socket.create_connection(("127.0.0.1", port), timeout=0.2) as raw:
        if not tls:
            raw.sendall(b"PING\r\n")
            return bool(raw.recv(64))
        # The readiness probe only: it does not check the test certificate.
        context = ssl.create_default_context()
        context.check_hostname, context.verify_mode = False, ssl.CERT_NONE
        with context.wrap_socket(raw) as sock:
            sock.sendall(b"PING\r\n")
            return bool(sock.recv(64))


def stop_redis(server: RedisServer) -> None:
    """Stop the server by its pid and remove its directory."""
    proc = _PROCESSES.pop(server.pid, None)
    try:
        os.kill(server.pid, signal.SIGTERM)
        if proc is not None:
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
    except ProcessLookupError:
        pass
    shutil.rmtree(server.workdir, ignore_errors=True)


@contextmanager
def running_redis(
    *, password: str | None = None, tls: tuple[str, str] | None = None
) -> Iterator[RedisServer]:
    """A server started by ``start_redis`` for the ``with`` block, stopped by its pid after."""
    server = start_redis(password=password, tls=tls)
    try:
        yield server
    finally:
        stop_redis(server)
