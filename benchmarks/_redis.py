"""A throwaway ``redis-server`` for benchmarks: free port, temp dir, stopped by its pid."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

__all__ = ["BenchRedis", "redis_server", "redis_server_version"]


@dataclass(frozen=True, slots=True)
class BenchRedis:
    """A redis-server this process started: where it listens and its pid."""

    port: int
    pid: int
    workdir: str

    def url(self, db: int = 0) -> str:
        """A redis:// URL for this server."""
        return f"redis://127.0.0.1:{self.port}/{db}"


def _free_port() -> int:
    # Never 6379: the system Redis must not be touched.
    while True:
        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            port = int(sock.getsockname()[1])
        if port != 6379:
            return port


def _binary() -> str:
    binary = shutil.which("redis-server")
    if binary is None:
        raise FileNotFoundError("redis-server is not installed (apt-get install redis-server)")
    return binary


def redis_server_version() -> str:
    """``redis-server --version`` of the binary that :func:`redis_server` starts."""
    out = subprocess.run([_binary(), "--version"], capture_output=True, text=True, check=True)
    return out.stdout.strip()


@contextmanager
def redis_server() -> Iterator[BenchRedis]:
    """Start a redis-server (no persistence) on a free port; stop it by pid on exit."""
    workdir = tempfile.mkdtemp(prefix="wfcore-bench-redis-")
    port = _free_port()
    args = [_binary(), "--port", str(port), "--bind", "127.0.0.1", "--save", ""]
    args += ["--appendonly", "no", "--dir", workdir, "--logfile", str(Path(workdir) / "log")]
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 10
        while True:
            if proc.poll() is not None:
                raise RuntimeError(f"redis-server exited with {proc.returncode}; see {workdir}")
            try:
                with socket.create_connection(("127.0.0.1", port), timeout=0.2) as sock:
                    sock.sendall(b"PING\r\n")
                    if sock.recv(64).startswith(b"+PONG"):
                        break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise RuntimeError(f"redis-server on port {port} did not answer within 10 s")
            time.sleep(0.05)
        yield BenchRedis(port, proc.pid, workdir)
    finally:
        if proc.poll() is None:
            os.kill(proc.pid, signal.SIGTERM)
            try:
                proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                os.kill(proc.pid, signal.SIGKILL)
                proc.wait()
        shutil.rmtree(workdir, ignore_errors=True)
