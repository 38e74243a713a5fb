"""Start and stop a throwaway Redis Cluster for tests: six ``redis-server --cluster-enabled
yes`` on free ports (3 primaries, 3 replicas), joined by ``redis-cli --cluster create``."""

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

import redis

from tests.support.redis_server import free_port

__all__ = ["RedisCluster", "start_cluster", "stop_cluster"]

_PROCESSES: dict[int, subprocess.Popen[bytes]] = {}
NODE_TIMEOUT_MS = 1000  # how long a silent primary takes to be failed over (plus a vote)


@dataclass(frozen=True, slots=True)
class RedisCluster:
    """A cluster the tests started: its nodes' ports and pids."""

    ports: tuple[int, ...]
    pids: tuple[int, ...]
    workdir: str

    def url(self, **query: str) -> str:
        """A redis+cluster:// URL naming every node."""
        nodes = ",".join(f"127.0.0.1:{port}" for port in self.ports)
        tail = "&".join(f"{k}={v}" for k, v in query.items())
        return f"redis+cluster://{nodes}" + (f"/?{tail}" if tail else "")

    def primaries(self) -> list[tuple[int, int]]:
        """(port, pid) of every node that is a primary now."""
        found = []
        for port, pid in zip(self.ports, self.pids, strict=True):
            try:
                with redis.Redis(port=port, socket_timeout=1) as client:
                    if client.info("replication")["role"] == "master":
                        found.append((port, pid))
            except redis.RedisError:
                continue  # a node killed by the test
        return found

    def wait_ok(self, timeout: float = 30.0) -> None:
        """Until every live node reports cluster_state:ok with 3 primaries."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            states = []
            for port, pid in zip(self.ports, self.pids, strict=True):
                if pid not in _PROCESSES:
                    continue
                try:
                    with redis.Redis(port=port, socket_timeout=1) as client:
                        info = client.cluster("info")
                        states.append(info.get("cluster_state") == "ok")
                except redis.RedisError:
                    states.append(False)
            if states and all(states) and len(self.primaries()) >= 3:
                return
            time.sleep(0.1)
        raise RuntimeError(f"the test cluster did not become ready; see {self.workdir}")

    def kill(self, pid: int) -> None:
        """SIGKILL one node (a crash)."""
        proc = _PROCESSES.pop(pid)
        proc.kill()
        proc.wait()


def start_cluster() -> RedisCluster:
    """Six nodes on free ports, created as 3 primaries with a replica each; ready to use.

    A node that exits at start (a port, or its cluster bus port + 10000, taken in between by
    another process) makes a fresh attempt on other ports, up to three in all."""
    binary = shutil.which("redis-server")
    cli = shutil.which("redis-cli")
    if binary is None or cli is None:
        raise FileNotFoundError("redis-server and redis-cli are needed (apt-get install redis)")
    for attempt in range(3):
        try:
            return _start_once(binary, cli)
        except _NodeExited:
            if attempt == 2:
                raise
    raise AssertionError("unreachable")


class _NodeExited(RuntimeError):
    """A node's redis-server process ended before it answered."""


def _bindable(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def _start_once(binary: str, cli: str) -> RedisCluster:
    workdir = tempfile.mkdtemp(prefix="wfcore-cluster-")
    ports: list[int] = []
    while len(ports) < 6:
        port = free_port()
        bus = port + 10000  # the cluster bus
        if port not in ports and bus <= 65535 and _bindable(bus):
            ports.append(port)
    pids = []
    procs = []
    for port in ports:
        node = Path(workdir) / str(port)
        node.mkdir()
        args = [binary, "--port", str(port), "--bind", "127.0.0.1", "--cluster-enabled", "yes"]
        args += ["--cluster-config-file", str(node / "nodes.conf"), "--save", ""]
        args += ["--cluster-node-timeout", str(NODE_TIMEOUT_MS), "--appendonly", "no"]
        args += ["--dir", str(node), "--logfile", str(node / "redis.log")]
        proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        _PROCESSES[proc.pid] = proc
        pids.append(proc.pid)
        procs.append(proc)
    cluster = RedisCluster(tuple(ports), tuple(pids), workdir)
    try:
        for port, proc in zip(ports, procs, strict=True):
            _wait_answers(port, proc)
        create = [cli, "--cluster", "create", *(f"127.0.0.1:{p}" for p in ports)]
        create += ["--cluster-replicas", "1", "--cluster-yes"]
        subprocess.run(create, check=True, capture_output=True, timeout=60)
        cluster.wait_ok()
        _wait_replicas(cluster)
    except BaseException:
        stop_cluster(cluster)
        raise
    return cluster


def _wait_answers(port: int, proc: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise _NodeExited(f"cluster node on port {port} exited with {proc.returncode}")
        try:
            with redis.Redis(port=port, socket_timeout=0.5) as client:
                client.ping()
                return
        except redis.RedisError:
            time.sleep(0.05)
    raise RuntimeError(f"cluster node on port {port} did not answer within 30 s")


def _wait_replicas(cluster: RedisCluster, timeout: float = 20.0) -> None:
    """Until every node's slot map shows each range with a replica (so a failover has one
    to promote, and the store's writes wait for it)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        complete = True
        for port in cluster.ports:
            with redis.Redis(port=port, socket_timeout=1) as client:
                ranges = client.execute_command("CLUSTER SLOTS")
                complete &= len(ranges) == 3 and all(len(r) >= 4 for r in ranges)
        if complete:
            return
        time.sleep(0.1)
    raise RuntimeError(f"the test cluster's replicas did not show up; see {cluster.workdir}")


def stop_cluster(cluster: RedisCluster) -> None:
    """Stop every node by its pid and remove the directory."""
    for pid in cluster.pids:
        proc = _PROCESSES.pop(pid, None)
        if proc is None:
            continue
        try:
            os.kill(pid, signal.SIGTERM)
            proc.wait(timeout=5)
        except ProcessLookupError:
            pass
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    shutil.rmtree(cluster.workdir, ignore_errors=True)
