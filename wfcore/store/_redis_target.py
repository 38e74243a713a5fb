"""Where a ``RedisStore`` connects: its URL parsed and checked, and how it is shown safely."""

from __future__ import annotations

import math
from dataclasses import dataclass
from urllib.parse import parse_qsl, unquote, urlencode, urlsplit

import redis
from redis.exceptions import (
    AuthenticationError,
    BusyLoadingError,
    ClusterCrossSlotError,
    ClusterDownError,
    MovedError,
    ReadOnlyError,
    TryAgainError,
)

from wfcore.errors import ConfigurationError, StoreError, StoreUnavailableError
from wfcore.store import mask_url

__all__ = [
    "CLUSTER_EXAMPLE",
    "EXAMPLE",
    "cluster_nodes",
    "Target",
    "parse_url",
    "positive_or_zero",
    "store_error",
]

EXAMPLE = "redis://[user:password@]host:6379/0?prefix=wfcore&timeout=5"
CLUSTER_EXAMPLE = "redis+cluster://[user:password@]host1:7000,host2:7001?prefix=wfcore"
_DEFAULT_PREFIX = "wfcore"
_DEFAULT_TIMEOUT = 5.0
# Errors that mean "the server cannot serve us right now" rather than "the request is wrong".
_UNAVAILABLE: tuple[type[Exception], ...] = (redis.ConnectionError, redis.TimeoutError)
_UNAVAILABLE += (ReadOnlyError, ClusterDownError, TryAgainError)


@dataclass(frozen=True, slots=True)
class Target:
    """A parsed store URL."""

    url: str  # the URL for redis-py, without our own query parameters
    where: str  # host:port/db or socket path: safe to show, never holds credentials
    secrets: tuple[str, ...]  # the password as written and decoded, to scrub from messages
    prefix: str
    timeout: float
    nodes: tuple[tuple[str, int], ...] = ()  # a cluster's seed nodes; () for one server
    replicas: int = 1  # on a cluster: replicas each write waits for (WAIT), 0 for none


def parse_url(url: str, prefix: str | None, timeout: float | None) -> Target:
    """The target of a store URL, with ``prefix`` and ``timeout`` overriding its query."""
    if not isinstance(url, str) or "://" not in url:
        raise ConfigurationError(
            f"Redis store URL {mask_url(str(url))!r} is not a URL; use e.g. {EXAMPLE}"
        )
    shown = mask_url(url)
    nodes: tuple[tuple[str, int], ...] = ()
    if url.split("://", 1)[0].lower() in ("redis+cluster", "rediss+cluster"):
        url, nodes = cluster_nodes(url, shown)
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as e:
        raise ConfigurationError(
            f"bad Redis store URL {shown!r}: {e}; use e.g. {EXAMPLE}"
        ) from None
    scheme = parts.scheme.lower()
    if scheme == "unix":
        if not parts.path:
            raise ConfigurationError(
                f"Redis store URL {shown!r} names no socket; use e.g. unix:///run/redis.sock"
            )
        where = parts.path
    elif scheme in ("redis", "rediss"):
        if not parts.hostname:
            raise ConfigurationError(f"Redis store URL {shown!r} names no host; use {EXAMPLE}")
        db = parts.path.strip("/") or "0"
        if not db.isdigit():
            raise ConfigurationError(
                f"Redis store URL {shown!r}: the path must be a database number, got {db!r}; "
                f"use e.g. {EXAMPLE}"
            )
        host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
        where = f"{host}:{port or 6379}/{db}"
        if nodes:
            if db != "0":
                raise ConfigurationError(
                    f"Redis store URL {shown!r}: a cluster has only database 0; remove "
                    f"/{db}, e.g. {CLUSTER_EXAMPLE}"
                )
            where = "cluster " + ",".join(f"{h}:{p}" for h, p in nodes)
    else:
        raise ConfigurationError(
            f"Redis store URL {shown!r} has scheme {scheme!r}; use redis://, rediss://, "
            f"unix:// or (Redis Cluster) redis+cluster://, e.g. {EXAMPLE}"
        )
    ours: dict[str, str] = {}
    rest: list[tuple[str, str]] = []
    for name, value in parse_qsl(parts.query, keep_blank_values=True):
        if name in ("prefix", "timeout", "replicas"):
            if name in ours:
                raise ConfigurationError(f"Redis store URL {shown!r} sets {name}= twice")
            ours[name] = value
        elif name == "decode_responses":
            raise ConfigurationError(
                f"Redis store URL {shown!r}: decode_responses is not supported (the store "
                "keeps bytes); remove it"
            )
        else:
            rest.append((name, value))
    if prefix is None:
        prefix = ours.get("prefix", _DEFAULT_PREFIX)
    if not isinstance(prefix, str) or not prefix or "{" in prefix or "}" in prefix:
        raise ConfigurationError(
            f"Redis key prefix {prefix!r} is invalid: it must be non-empty and hold no '{{' or "
            f"'}}' (those would bind every workflow to one cluster slot); use e.g. {EXAMPLE}"
        )
    if timeout is None:
        raw = ours.get("timeout")
        try:
            timeout = _DEFAULT_TIMEOUT if raw is None else float(raw)
        except ValueError:
            timeout = math.nan
    if not positive_or_zero(timeout) or timeout == 0:
        raise ConfigurationError(
            f"Redis store timeout must be a number of seconds > 0, got "
            f"{ours.get('timeout', timeout)!r}; use e.g. {EXAMPLE}"
        )
    # Rebuilt by hand: urlunsplit drops the "//" of a URL with no host (unix:///run/x.sock),
    # and redis-py then refuses the scheme.
    query = urlencode(rest)
    cleaned = f"{scheme}://{parts.netloc}{parts.path}" + (f"?{query}" if query else "")
    secrets = (parts.password, unquote(parts.password)) if parts.password else ()
    replicas = ours.get("replicas", "1")
    if not nodes and "replicas" in ours:
        raise ConfigurationError(
            f"Redis store URL {shown!r}: replicas= is for Redis Cluster URLs only; use e.g. "
            f"{CLUSTER_EXAMPLE}&replicas=1"
        )
    if not replicas.isdigit():
        raise ConfigurationError(
            f"Redis store URL {shown!r}: replicas must be a whole number >= 0 (replicas each "
            f"write waits for), got {replicas!r}; use e.g. {CLUSTER_EXAMPLE}&replicas=1"
        )
    return Target(cleaned, where, secrets, prefix, float(timeout), nodes, int(replicas))


def cluster_nodes(url: str, shown: str) -> tuple[str, tuple[tuple[str, int], ...]]:
    """A ``redis+cluster://`` URL as a plain one on its first node, and every seed node."""
    scheme, rest = url.split("://", 1)
    netloc, sep, tail = rest.partition("/")
    if not sep and "?" in netloc:
        netloc, tail = netloc.split("?", 1)
        tail = "?" + tail
    auth, _, hosts = netloc.rpartition("@")
    nodes: list[tuple[str, int]] = []
    for item in hosts.split(","):
        host, _, port = item.strip().rpartition(":")
        if not host or not port.isdigit():
            raise ConfigurationError(
                f"Redis Cluster URL {shown!r}: {item!r} is not host:port; use e.g. "
                f"{CLUSTER_EXAMPLE}"
            )
        nodes.append((host.strip("[]"), int(port)))
    first = f"{nodes[0][0]}:{nodes[0][1]}"
    plain = scheme.lower().removesuffix("+cluster")
    return f"{plain}://{auth + '@' if auth else ''}{first}/{tail}", tuple(nodes)


def positive_or_zero(value: object) -> bool:
    """Whether ``value`` is a finite real number >= 0 (bools excluded)."""
    return (
        isinstance(value, int | float)
        and not isinstance(value, bool)
        and math.isfinite(value)
        and value >= 0
    )


def store_error(target: Target, error: redis.RedisError) -> StoreError:
    """A Redis error as wfcore's: ``StoreUnavailableError`` with a hint when the server
    cannot serve now, else ``StoreError`` (it refused the command). Never shows the password.
    """
    shown = _scrub(target, error)
    if isinstance(error, MovedError | ClusterCrossSlotError) and not target.nodes:
        return StoreError(
            f"Redis at {target.where} is a Redis Cluster node (it answered: {shown}); "
            f"open a cluster with a redis+cluster:// URL naming its nodes, e.g. "
            f"{CLUSTER_EXAMPLE}"
        )
    if not isinstance(error, _UNAVAILABLE):
        return StoreError(f"Redis at {target.where} refused a wfcore command: {shown}")
    hint = "check that redis-server runs there and that host, port and TLS are right"
    if isinstance(error, AuthenticationError):
        hint = "check the user name and password in the store URL"
    elif isinstance(error, redis.TimeoutError):
        hint = f"no answer within {target.timeout:g} s; check that it is up and not "
        hint += "overloaded, or raise ?timeout= in the store URL"
    elif isinstance(error, BusyLoadingError):
        hint = "it is still loading its data set; retry shortly"
    elif isinstance(error, ReadOnlyError):
        hint = "it is a read-only replica; point the store URL at the primary"
    return StoreUnavailableError(f"Redis at {target.where} is unavailable ({shown}); {hint}")


def _scrub(target: Target, error: Exception) -> str:
    text = str(error) or type(error).__name__
    for secret in target.secrets:
        text = text.replace(secret, "***")
    return text
