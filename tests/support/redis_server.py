"""Start and stop throwaway ``redis-server`` processes for tests (never the system one)."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

__all__ = ["RedisServer", "free_port", "start_redis", "stop_redis"]

# The Popen objects of servers started here, so they are reaped by their own wait().
_PROCESSES: dict[int, subprocess.Popen[bytes]] = {}


@dataclass(frozen=True, slots=True)
class RedisServer:
    """A redis-server the tests started: where it listens and how to stop it."""

    port: int
    pid: int
    password: str | None
    workdir: str

    @property
    def socket_path(self) -> str:
        """The Unix socket it also listens on."""
        return str(Path(self.workdir) / "redis.sock")

    def url(self, db: int = 0) -> str:
        """A redis:// URL for this server, with the password when one is set."""
        auth = f":{self.password}@" if self.password else ""
        return f"redis://{auth}127.0.0.1:{self.port}/{db}"


def free_port() -> int:
    """A TCP port nobody listens on right now (never 6379)."""
    while True:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = int(sock.getsockname()[1])
        if port != 6379:
            return port


def start_redis(*, password: str | None = None) -> RedisServer:
    """Start a redis-server on a free port in a temp dir and wait until it answers."""
    binary = shutil.which("redis-server")
    if binary is None:
        raise FileNotFoundError("redis-server is not installed (apt-get install redis-server)")
    workdir = tempfile.mkdtemp(prefix="wfcore-redis-")
    port = free_port()
    args = [binary, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly"]
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
            with socket.create_connection(("127.0.0.1", port), timeout=0.2) as sock:
                sock.sendall(b"PING\r\n")
                if sock.recv(64):
                    return RedisServer(port, proc.pid, password, workdir)
        except OSError:
            time.sleep(0.05)
    stop_redis(RedisServer(port, proc.pid, password, workdir))
    raise RuntimeError(f"redis-server on port {port} did not answer within 10 s")


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
