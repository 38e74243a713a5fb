"""Redis-only behaviour of ``RedisStore``: round trips, key layout, URLs, auth, TTLs."""

from __future__ import annotations

import gc
import multiprocessing
import socket
import ssl
import struct
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from typing import Any, cast

import pytest
import redis
import trustme
from redis.crc import key_slot

from tests.store.records import invocation, workflow
from tests.support.redis_server import (
    RedisServer,
    free_port,
    running_redis,
    start_redis,
    stop_redis,
)
from tests.support.redis_traffic import Traffic, count_traffic
from wfcore._models import Batch, Finish, ParentOutcome, WorkflowStatus
from wfcore.errors import ConfigurationError, StoreError, StoreUnavailableError
from wfcore.store import open_store
from wfcore.store._redis_link import _plain
from wfcore.store.redis import RedisStore

pytestmark = pytest.mark.redis


@pytest.fixture
def wire() -> Iterator[Traffic]:
    """Counts every send and reply of every store connection in this process."""
    with count_traffic(Traffic()) as traffic:
        yield traffic


@pytest.fixture(scope="module")
def own_server() -> Iterator[RedisServer]:
    """A redis-server for the tests that count the scripts the server ran: INFO commandstats
    counts every client's calls, and the session's server also serves other tests' workers,
    whose sweeps run scripts at any time."""
    with running_redis() as server:
        yield server


@pytest.fixture
def own(own_server: RedisServer, prefix: str) -> Iterator[tuple[RedisStore, redis.Redis]]:
    """A store on ``own_server`` under this test's prefix, and a plain client there."""
    store, raw = (
        RedisStore(own_server.url(0), prefix=prefix),
        redis.Redis.from_url(own_server.url(0)),
    )
    try:
        yield store, raw
    finally:
        store.close()
        raw.close()


@pytest.fixture(scope="module")
def auth_server() -> Iterator[RedisServer]:
    """A second redis-server that wants the password ``s3cret``."""
    with running_redis(password="s3cret") as server:
        yield server


@pytest.fixture(scope="module")
def tls_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[RedisServer, str]]:
    """A redis-server speaking TLS only, with a certificate for 127.0.0.1 from a throwaway CA;
    yields the server and the CA certificate's path (what a client must trust)."""
    where = tmp_path_factory.mktemp("tls")
    ca = trustme.CA()
    issued = ca.issue_cert("127.0.0.1")
    cert, key, ca_cert = where / "cert.pem", where / "key.pem", where / "ca.pem"
    issued.cert_chain_pems[0].write_to_path(str(cert))
    issued.private_key_pem.write_to_path(str(key))
    ca.cert_pem.write_to_path(str(ca_cert))
    with running_redis(tls=(str(cert), str(key))) as server:
        yield server, str(ca_cert)


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A port that accepts connections (into the backlog) and never answers."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(8)
        yield int(listener.getsockname()[1])


def _evalsha_calls(client: redis.Redis) -> int:
    stats: dict[str, dict[str, int]] = client.info("commandstats")
    return stats.get("cmdstat_evalsha", {}).get("calls", 0)


def _keys(client: redis.Redis, prefix: str) -> list[str]:
    return sorted(k.decode() for k in client.scan_iter(match=f"{prefix}:*", count=1000))


def _finished(store: RedisStore, workflow_id: str = "wf-1") -> str:
    """A workflow with a child invocation, an outcome and data whose root then completed."""
    record, root = workflow(workflow_id)
    store.create_workflow(record, root)
    inv = root.invocation_id
    store.load(workflow_id, inv)
    child = invocation(workflow_id, "c1", parent_invocation_id=inv, parent_seq=0)
    store.commit(workflow_id, inv, Batch(0, [b"e0"], data={"k": b"v"}, children=[child]))
    store.record_outcome(workflow_id, inv, 0, b"done")
    store.commit(workflow_id, inv, Batch(1, finish=Finish(WorkflowStatus.COMPLETED, b"r")))
    return inv


# -- round trips -------------------------------------------------------------------------


def test_load_commit_and_record_outcome_are_one_send_and_one_script_each(
    own: tuple[RedisStore, redis.Redis], wire: Traffic
) -> None:
    # Given a store whose connection and scripts are warm
    store, raw = own
    record, root = workflow("wf-1")
    store.create_workflow(record, root)
    inv = root.invocation_id
    store.load("wf-1", inv)
    store.commit("wf-1", inv, Batch(0, [b"warm"], suspend=[0]))
    store.record_outcome("wf-1", inv, 0, b"warm")
    child = invocation("wf-1", "c1", parent_invocation_id=inv, parent_seq=1)
    store.commit("wf-1", inv, Batch(1, [b"start"], children=[child], suspend=[1]))
    store.load("wf-1", "c1")
    finish = Batch(0, finish=Finish(WorkflowStatus.COMPLETED, b"c"), parent=ParentOutcome(inv, 1))
    # (a load is one transaction: MULTI, the claim, four reads, EXEC; a finish also drops the
    # invocation from the active index, in the same send)
    operations: list[tuple[Callable[[], object], int]] = [
        (lambda: store.load("wf-1", inv), 7),
        (lambda: store.commit("wf-1", inv, Batch(2, [b"x" * 20])), 1),
        (lambda: store.record_outcome("wf-1", inv, 5, b"out"), 1),
        (lambda: store.commit("wf-1", "c1", finish), 2),
    ]
    for operation, replies in operations:
        before = _evalsha_calls(raw)
        wire.round_trips = wire.replies = 0
        # When one operation runs
        operation()
        # Then one send crossed the wire and the server ran one script
        assert (wire.round_trips, wire.replies) == (1, replies)
        assert _evalsha_calls(raw) - before == 1


def test_finishing_with_retention_is_one_round_trip(
    make: Callable[..., RedisStore], raw: redis.Redis, wire: Traffic
) -> None:
    # Given a loaded root invocation in a store with retention
    store = make(retention=60.0)
    record, root = workflow("wf-1")
    store.create_workflow(record, root)
    store.load("wf-1", root.invocation_id)
    wire.round_trips = wire.replies = 0
    # When the root finishes
    done = Batch(0, finish=Finish(WorkflowStatus.COMPLETED, b"r"))
    assert store.commit("wf-1", root.invocation_id, done).ok
    # Then the script and the expiry- and active-index updates went in one send
    assert (wire.round_trips, wire.replies) == (1, 3)


def test_scripts_survive_a_flushed_script_cache(
    make: Callable[..., RedisStore], raw: redis.Redis
) -> None:
    # Given a store that already ran its scripts, and a server that then forgot them
    store = make(retention=60.0)
    _finished(store, "wf-0")
    raw.script_flush()
    # When every scripted operation runs again, piped or not
    inv = _finished(store, "wf-1")
    # Then they all worked
    snap = store.load("wf-1", inv, claim=False)
    assert snap is not None
    assert snap.invocation.status is WorkflowStatus.COMPLETED
    assert snap.outcomes == {0: b"done"}
    assert store.purge_expired(time.time() + 120) == 2


def test_a_claim_after_a_flushed_script_cache_runs_once(
    make: Callable[..., RedisStore], raw: redis.Redis
) -> None:
    # Given a created workflow, and a server that then forgot the store's scripts
    store = make()
    record, root = workflow("wf-1")
    store.create_workflow(record, root)
    raw.script_flush()
    # When the first thing the store does is a claiming load (a script in a transaction)
    snap = store.load("wf-1", root.invocation_id)
    # Then it reloaded the script and claimed exactly once
    assert snap is not None
    assert snap.invocation.status is WorkflowStatus.RUNNING
    assert snap.invocation.attempts == 1
    assert raw.hget(f"{store._prefix}:{{wf-1}}:inv:{root.invocation_id}", "attempts") == b"1"


# -- key layout --------------------------------------------------------------------------


def test_every_workflow_key_carries_its_hash_tag(
    make: Callable[..., RedisStore], raw: redis.Redis, prefix: str
) -> None:
    # Given a workflow with every kind of state, and a child workflow
    store = make(retention=60.0)
    _finished(store, "wf-1")
    child, child_root = workflow("wf-2", parent="wf-1", root="wf-1")
    store.create_workflow(child, child_root)
    # When listing the keys under the prefix
    keys = _keys(raw, prefix)
    # Then each is an index or belongs to one workflow, whose keys all share one slot
    per_workflow = {wid: [k for k in keys if f"{{{wid}}}" in k] for wid in ("wf-1", "wf-2")}
    indexes = [k for k in keys if k.startswith(f"{prefix}:idx:")]
    assert sorted(indexes + per_workflow["wf-1"] + per_workflow["wf-2"]) == keys
    assert {k.split("}:", 1)[1] for k in per_workflow["wf-1"]} == {
        "wf",
        "invs",
        "data",
        "children",
        "inv:wf-1-root",
        "h:wf-1-root",
        "o:wf-1-root",
        "inv:c1",
    }
    for wid, own in per_workflow.items():
        assert len({key_slot(k.encode()) for k in own}) == 1, wid


def test_prefixes_isolate_stores_on_one_database(make: Callable[..., RedisStore]) -> None:
    # Given two stores on the same database under different prefixes
    first = make(prefix="first-" + uuid.uuid4().hex[:8])
    second = make(prefix="second-" + uuid.uuid4().hex[:8])
    # When each creates the same workflow id with its own type
    for store, kind in ((first, "order"), (second, "refund")):
        record, root = workflow("wf-1", workflow_type=kind)
        assert store.create_workflow(record, root)[1] is True
    # Then neither sees the other's
    got_first, got_second = first.get_workflow("wf-1"), second.get_workflow("wf-1")
    assert got_first is not None
    assert got_second is not None
    assert (got_first.workflow_type, got_second.workflow_type) == ("order", "refund")
    assert [w.workflow_type for w in first.list_workflows()] == ["order"]
    assert second.list_workflows(workflow_type="order") == []


def test_url_prefix_applies_and_explicit_prefix_wins(
    redis_url: str, raw: redis.Redis, prefix: str
) -> None:
    # Given one store named by the URL's prefix and one whose keyword overrides it
    by_url = RedisStore(f"{redis_url}?prefix={prefix}-url")
    by_kwarg = RedisStore(f"{redis_url}?prefix={prefix}-url", prefix=f"{prefix}-kw")
    try:
        # When each creates a workflow
        for store, wid in ((by_url, "a"), (by_kwarg, "b")):
            record, root = workflow(wid)
            store.create_workflow(record, root)
        # Then the keys land under the chosen prefixes
        url_keys, kwarg_keys = _keys(raw, f"{prefix}-url"), _keys(raw, f"{prefix}-kw")
        assert any("{a}" in k for k in url_keys)
        assert not any("{b}" in k for k in url_keys)
        assert any("{b}" in k for k in kwarg_keys)
        assert not any("{a}" in k for k in kwarg_keys)
    finally:
        by_url.close()
        by_kwarg.close()


def test_dangling_index_and_lineage_entries_are_skipped(
    make: Callable[..., RedisStore], raw: redis.Redis, prefix: str
) -> None:
    # Given a parent with one real child, plus ids left by a crash before their records
    store = make()
    parent, parent_root = workflow("parent", created_at=1000.0)
    store.create_workflow(parent, parent_root)
    child, child_root = workflow("child", parent="parent", root="parent", created_at=1001.0)
    store.create_workflow(child, child_root)
    raw.zadd(f"{prefix}:idx:all", {"ghost": 2000.0})
    raw.zadd(f"{prefix}:{{parent}}:children", {"ghost": 2000.0})
    # When listing
    listed = store.list_workflows()
    children = store.child_workflows("parent")
    # Then only workflows that exist are returned
    assert [w.workflow_id for w in listed] == ["child", "parent"]
    assert [w.workflow_id for w in children] == ["child"]


# -- retention ---------------------------------------------------------------------------


def test_retention_sets_ttls_on_every_key_of_a_finished_workflow(
    make: Callable[..., RedisStore], raw: redis.Redis, prefix: str
) -> None:
    # Given a running workflow in a store that keeps finished ones for 60 s
    store = make(retention=60.0)
    record, root = workflow("wf-1")
    store.create_workflow(record, root)
    running = [k for k in _keys(raw, prefix) if "{wf-1}" in k]
    assert {raw.pttl(k) for k in running} == {-1}
    # When it finishes
    _finished(make(retention=60.0), "wf-2")
    # Then each of its keys expires within the retention and the indexes never do
    own = [k for k in _keys(raw, prefix) if "{wf-2}" in k]
    assert len(own) == 7  # wf, invs, data, and inv/h/o of the root plus the child's inv
    for key in own:
        # The deadline is set from the client's clock: allow a little skew either way.
        assert 55_000 < raw.pttl(key) <= 61_000, key
    assert {raw.pttl(k) for k in _keys(raw, prefix) if ":idx:" in k} == {-1}
    assert {raw.pttl(k) for k in running} == {-1}


def test_purge_cleans_indexes_of_workflows_redis_already_expired(
    make: Callable[..., RedisStore], raw: redis.Redis, prefix: str
) -> None:
    # Given a finished workflow whose retention is so short that Redis expired it
    store = make(retention=0.05)
    _finished(store, "wf-1")
    time.sleep(0.2)
    assert [k for k in _keys(raw, prefix) if "{wf-1}" in k] == []
    assert store.list_workflows() == []
    # When purging
    purged = store.purge_expired(time.time())
    # Then it counts that workflow once and no index mentions it any more, except the
    # never-run child's active-index entry, which the next recovery sweep drops
    # (and the marker saying the status indexes are complete, which stays)
    marker = f"{prefix}:idx:status:ready"
    assert purged == 1
    assert store.purge_expired(time.time()) == 0
    assert _keys(raw, prefix) == [f"{prefix}:idx:active", marker]
    assert store.recover_candidates(older_than=time.time(), now=time.time()) == []
    assert _keys(raw, prefix) == [marker]


# -- connection and configuration --------------------------------------------------------


def test_password_in_url_authenticates(auth_server: RedisServer) -> None:
    # Given the URL of a password-protected server, with its password
    store = RedisStore(auth_server.url(0))
    try:
        # When a workflow is written and read back
        record, root = workflow("wf-1")
        store.create_workflow(record, root)
        # Then it is there
        assert store.get_workflow("wf-1") == record
    finally:
        store.close()


@pytest.mark.parametrize("auth", [":wrong-pass@", "", "someone:s3cret@"])
def test_bad_credentials_are_unavailable_without_leaking_them(
    auth_server: RedisServer, auth: str
) -> None:
    # Given a URL with a wrong, a missing, or a misplaced password
    store = RedisStore(f"redis://{auth}127.0.0.1:{auth_server.port}/0")
    try:
        # When the store is used
        with pytest.raises(StoreUnavailableError) as caught:
            store.ping()
    finally:
        store.close()
    # Then the error names the server and what to check, and no password
    message = str(caught.value)
    assert f"127.0.0.1:{auth_server.port}" in message
    assert "password" in message
    assert "wrong-pass" not in message
    assert "s3cret" not in message


def test_unreachable_server_fails_fast() -> None:
    # Given a port nobody listens on and a short timeout
    port = free_port()
    store = RedisStore(f"redis://127.0.0.1:{port}/0?timeout=0.5")
    try:
        # When the store is used
        started = time.monotonic()
        with pytest.raises(StoreUnavailableError, match=f"127.0.0.1:{port}"):
            store.get_workflow("wf-1")
        # Then it gives up at once
        assert time.monotonic() - started < 2.0
    finally:
        store.close()


def test_a_connection_the_server_dropped_fails_one_call_then_reconnects(
    make: Callable[..., RedisStore], raw: redis.Redis
) -> None:
    # Given a store whose connection is open
    store = make()
    record, root = workflow("wf-1")
    store.create_workflow(record, root)
    # When the server drops every client connection but the observer's own
    raw.client_kill_filter(_type="normal", skipme=True)
    # Then the next call fails as unavailable (never hangs, never reads a stale reply)
    with pytest.raises(StoreUnavailableError, match="connection"):
        store.load("wf-1", root.invocation_id)
    # And the call after it reconnects and sees the store as it is: the failed claim never ran
    snap = store.load("wf-1", root.invocation_id, claim=False)
    assert snap is not None
    assert snap.invocation.attempts == 0


@pytest.mark.parametrize("over", ["tcp", "unix"])
def test_connections_block_with_the_timeout_in_the_kernel(
    redis_server: RedisServer, prefix: str, over: str
) -> None:
    # Given a store on TCP or on the server's Unix socket, with a 2.5 s timeout
    where = redis_server.url(0) if over == "tcp" else f"unix://{redis_server.socket_path}"
    store = RedisStore(f"{where}?timeout=2.5", prefix=prefix)
    try:
        # When it has run a round trip
        record, root = workflow("wf-1")
        store.create_workflow(record, root)
        snap = store.load("wf-1", root.invocation_id)
        assert snap is not None
        assert snap.invocation.attempts == 1
        # Then its socket is in blocking mode, with the timeout set in the kernel instead
        sock = store._links._local.link.sock
        assert sock.gettimeout() is None
        timeval = sock.getsockopt(socket.SOL_SOCKET, socket.SO_RCVTIMEO, 16)
        assert struct.unpack("ll", timeval) == (2, 500000)
    finally:
        store.close()


def test_a_thread_that_ends_closes_its_connection(make: Callable[..., RedisStore]) -> None:
    # Given a thread that used the store, with the garbage collector off
    store = make()
    sockets: list[socket.socket] = []

    def use() -> None:
        store.get_workflow("wf-1")
        sockets.append(store._links._local.link.sock)

    gc.disable()
    try:
        thread = threading.Thread(target=use)
        thread.start()
        thread.join()
        # Then its connection was closed when the thread ended, not left to the collector
        # (redis-py's connection sits in a reference cycle; collected later, it warns)
        assert sockets[0].fileno() == -1
    finally:
        gc.enable()


def test_only_standard_sockets_get_kernel_timeouts() -> None:
    # Given the standard socket class and a subclass, as gevent and eventlet install
    class Cooperative(socket.socket):
        pass

    plain, wrapped = socket.socket(), Cooperative()
    try:
        # Then only the standard one is put in blocking mode with a kernel timeout: a
        # cooperative socket waits in its event loop and would never time out
        assert _plain(plain)
        assert not _plain(wrapped)
    finally:
        plain.close()
        wrapped.close()


def test_tls_urls_work_and_keep_python_timeouts(
    tls_server: tuple[RedisServer, str], prefix: str
) -> None:
    # Given a store on a TLS-only server, trusting the CA that issued its certificate
    server, ca = tls_server
    store = RedisStore(f"{server.url(0)}?ssl_ca_certs={ca}&timeout=2.5", prefix=prefix)
    try:
        # When workflows are created, claimed, committed and read back
        record, root = workflow("wf-1")
        store.create_workflow(record, root)
        assert store.load("wf-1", root.invocation_id) is not None
        assert store.commit("wf-1", root.invocation_id, Batch(0, [b"e0"])).ok
        snap = store.load("wf-1", root.invocation_id, claim=False)
        # Then it all went over TLS, where the socket keeps Python's own timeout
        assert snap is not None
        assert snap.entries == [b"e0"]
        sock = store._links._local.link.sock
        assert isinstance(sock, ssl.SSLSocket)
        assert sock.gettimeout() == 2.5
    finally:
        store.close()


def test_a_tls_server_refuses_a_store_that_does_not_trust_it(
    tls_server: tuple[RedisServer, str], prefix: str
) -> None:
    # Given a store on the TLS server that does not trust the (throwaway) CA
    server, _ = tls_server
    store = RedisStore(server.url(0), prefix=prefix)
    try:
        # When it is used, Then it is unavailable with a TLS hint, never a hang
        with pytest.raises(StoreUnavailableError, match="certificate verify failed"):
            store.get_workflow("wf-1")
    finally:
        store.close()


def test_silent_server_times_out_and_explicit_timeout_wins(silent_port: int) -> None:
    # Given a server that accepts connections but never answers, and a URL asking for 30 s
    store = RedisStore(f"redis://127.0.0.1:{silent_port}/0?timeout=30", timeout=0.5)
    try:
        # When the store is used
        started = time.monotonic()
        with pytest.raises(StoreUnavailableError, match=r"0\.5 s"):
            store.ping()
        # Then the keyword's 0.5 s bounded the wait, not the URL's 30 s
        assert time.monotonic() - started < 2.0
    finally:
        store.close()


@pytest.mark.parametrize(
    ("url", "problem"),
    [
        ("redis://127.0.0.1:6390/0?timeout=soon", "timeout"),
        ("redis://127.0.0.1:6390/0?timeout=0", "timeout"),
        ("redis://127.0.0.1:6390/0?timeout=-1", "timeout"),
        ("redis://127.0.0.1:6390/0?prefix=", "prefix"),
        ("redis://127.0.0.1:6390/0?prefix=a{b}", "prefix"),
        ("redis://127.0.0.1:6390/0?prefix=a&prefix=b", "prefix"),
        ("redis://127.0.0.1:6390/first", "database"),
        ("redis://127.0.0.1:notaport/0", "Port"),
        ("redis://:6390/0", "host"),
        ("redis://127.0.0.1:6390/0?no_such_option=1", "no_such_option"),
        ("redis://127.0.0.1:6390/0?decode_responses=true", "decode_responses"),
        ("http://127.0.0.1:6390/0", "scheme"),
    ],
)
def test_bad_urls_are_configuration_errors(url: str, problem: str) -> None:
    # When a store is built from a malformed URL
    with pytest.raises(ConfigurationError) as caught:
        RedisStore(url)
    # Then the error names the problem and shows a correct URL
    assert problem in str(caught.value)
    assert "redis://" in str(caught.value)


def test_bad_url_errors_hide_the_password() -> None:
    with pytest.raises(ConfigurationError) as caught:
        RedisStore("redis://user:hunter2@127.0.0.1:6390/zero")
    assert "hunter2" not in str(caught.value)
    assert "user:***@" in str(caught.value)


@pytest.mark.parametrize("bad", ["a{b", "b}", "{x}", ""])
def test_prefix_cannot_hold_braces_or_be_empty(redis_url: str, bad: str) -> None:
    with pytest.raises(ConfigurationError, match="prefix"):
        RedisStore(redis_url, prefix=bad)


def test_open_store_builds_a_redis_store(redis_url: str, prefix: str) -> None:
    store = open_store(f"{redis_url}?prefix={prefix}&timeout=2", retention=5.0)
    try:
        assert isinstance(store, RedisStore)
        store.ping()
    finally:
        store.close()


def test_server_side_errors_are_store_errors(
    make: Callable[..., RedisStore], raw: redis.Redis, prefix: str
) -> None:
    # Given a key of the workflow's layout holding the wrong type
    store = make()
    raw.set(f"{prefix}:{{wf-1}}:wf", b"not a hash")
    # When the store reads it directly and through a script
    with pytest.raises(StoreError) as direct:
        store.get_workflow("wf-1")
    with pytest.raises(StoreError) as scripted:
        store.load("wf-1", "wf-1-root")
    # Then both surface as wfcore errors (not unavailability) chained to the Redis error
    for caught in (direct, scripted):
        assert not isinstance(caught.value, StoreUnavailableError)
        assert isinstance(caught.value.__cause__, redis.ResponseError)
        assert "WRONGTYPE" in str(caught.value)


def test_a_load_refused_while_queueing_runs_nothing(prefix: str) -> None:
    # Given a workflow on a server of its own that then runs out of memory (writes refused)
    server = start_redis()
    store = RedisStore(server.url(0), prefix=prefix)
    admin = redis.Redis.from_url(server.url(0))
    try:
        record, root = workflow("wf-1")
        store.create_workflow(record, root)
        admin.config_set("maxmemory-policy", "noeviction")
        admin.config_set("maxmemory", 1)
        # When a claiming load is sent (its transaction is refused before EXEC)
        with pytest.raises(StoreError, match="maxmemory"):
            store.load("wf-1", root.invocation_id)
        # Then nothing of it ran: once memory is back, the invocation was never claimed
        admin.config_set("maxmemory", 0)
        snap = store.load("wf-1", root.invocation_id, claim=False)
        assert snap is not None
        assert (snap.invocation.status, snap.invocation.attempts) == (WorkflowStatus.PENDING, 0)
    finally:
        admin.close()
        store.close()
        stop_redis(server)


# -- the active index and recovery sweeps ------------------------------------------------


def _active(raw: redis.Redis, prefix: str) -> dict[str, float]:
    """The active index: "<workflow_id> <invocation_id>" -> score."""
    entries = cast(
        list[tuple[bytes, float]], raw.zrange(f"{prefix}:idx:active", 0, -1, withscores=True)
    )
    return {member.decode(): score for member, score in entries}


def _updated(store: RedisStore, workflow_id: str, invocation_id: str) -> float:
    record = store.get_invocation(workflow_id, invocation_id)
    assert record is not None
    return record.updated_at


def test_recover_candidates_with_nothing_stale_is_one_round_trip(
    own: tuple[RedisStore, redis.Redis], wire: Traffic
) -> None:
    # Given fresh pending, running and suspended invocations, on a warm connection
    store, raw = own
    for wid in ("wf-1", "wf-2", "wf-3"):
        record, root = workflow(wid)
        store.create_workflow(record, root)
    store.load("wf-2", "wf-2-root")
    store.load("wf-3", "wf-3-root")
    store.commit("wf-3", "wf-3-root", Batch(0, [b"s"], suspend=[0]))
    store.ping()
    before = _evalsha_calls(raw)
    wire.round_trips = wire.replies = 0
    # When sweeping for invocations idle for a minute
    found = store.recover_candidates(older_than=time.time() - 60, now=time.time())
    # Then nothing was found with one command and no script
    assert found == []
    assert (wire.round_trips, wire.replies) == (1, 1)
    assert _evalsha_calls(raw) == before


def test_active_index_follows_invocations_until_they_finish(
    make: Callable[..., RedisStore], raw: redis.Redis, prefix: str
) -> None:
    # Given a created workflow: its root is indexed at its updated_at
    store = make()
    record, root = workflow("wf-1")
    store.create_workflow(record, root)
    inv = root.invocation_id
    assert _active(raw, prefix) == {f"wf-1 {inv}": root.updated_at}
    # When it is claimed, then starts a child and suspends on it
    store.load("wf-1", inv)
    claimed_at = _updated(store, "wf-1", inv)
    child = invocation("wf-1", "c1", parent_invocation_id=inv, parent_seq=0)
    store.commit("wf-1", inv, Batch(0, [b"start"], children=[child], suspend=[0]))
    # Then the claim and the suspension (which may have been refused) left its entry as a
    # lower bound; the child is indexed at its own updated_at
    assert _active(raw, prefix) == {f"wf-1 {inv}": root.updated_at, "wf-1 c1": child.updated_at}
    assert claimed_at <= _updated(store, "wf-1", inv)
    # When the child finishes and wakes the root, which then finishes too
    store.load("wf-1", "c1")
    store.commit("wf-1", "c1", Batch(0, finish=Finish(WorkflowStatus.COMPLETED, b"c")))
    assert store.record_outcome("wf-1", inv, 0, b"c").wake is True
    assert list(_active(raw, prefix)) == [f"wf-1 {inv}"]
    store.load("wf-1", inv)
    store.commit("wf-1", inv, Batch(1, finish=Finish(WorkflowStatus.COMPLETED, b"r")))
    # Then neither is indexed any more, even after a duplicate claim and a second start
    assert _active(raw, prefix) == {}
    store.load("wf-1", inv)
    assert store.create_workflow(*workflow("wf-1"))[1] is False
    assert _active(raw, prefix) == {}


def test_a_lost_finish_keeps_the_invocation_indexed(
    make: Callable[..., RedisStore], raw: redis.Redis, prefix: str
) -> None:
    # Given an invocation run twice at once, whose first run recorded seq 0
    store = make()
    record, root = workflow("wf-1")
    store.create_workflow(record, root)
    inv = root.invocation_id
    store.load("wf-1", inv)
    store.load("wf-1", inv)
    assert store.commit("wf-1", inv, Batch(0, [b"winner"])).ok
    # When the second run tries to finish at seq 0
    lost = store.commit("wf-1", inv, Batch(0, finish=Finish(WorkflowStatus.COMPLETED, b"r")))
    # Then it lost, and the still-running invocation keeps its entry, scored as it is
    assert lost.ok is False
    assert _active(raw, prefix) == {f"wf-1 {inv}": _updated(store, "wf-1", inv)}


def test_sweeps_rescore_entries_that_lag(
    make: Callable[..., RedisStore], raw: redis.Redis, prefix: str
) -> None:
    # Given a root created at c, then claimed and suspended later, at s: its entry still says c
    store = make()
    record, root = workflow("wf-1")
    store.create_workflow(record, root)
    inv = root.invocation_id
    created_at = _updated(store, "wf-1", inv)
    time.sleep(0.01)
    store.load("wf-1", inv)
    store.commit("wf-1", inv, Batch(0, [b"s"], suspend=[0]))
    suspended_at = _updated(store, "wf-1", inv)
    assert _active(raw, prefix) == {f"wf-1 {inv}": created_at}
    # When a sweep's bound falls between c and s
    found = store.recover_candidates(older_than=(created_at + suspended_at) / 2, now=time.time())
    # Then nothing is claimed and the entry now holds the real time
    assert found == []
    assert _active(raw, prefix) == {f"wf-1 {inv}": suspended_at}


def test_sweeps_drop_entries_of_deleted_workflows(
    make: Callable[..., RedisStore], raw: redis.Redis, prefix: str
) -> None:
    # Given a stale invocation; a finished workflow expired by Redis (TTL) that left a
    # never-run child indexed; a workflow whose keys were deleted; and a dangling entry
    store = make(retention=0.05)
    old, old_root = workflow("wf-old", created_at=time.time() - 100)
    store.create_workflow(old, old_root)
    _finished(store, "wf-ttl")
    deleted, deleted_root = workflow("wf-deleted", created_at=time.time() - 100)
    store.create_workflow(deleted, deleted_root)
    raw.delete(*[k for k in _keys(raw, prefix) if "{wf-deleted}" in k])
    raw.zadd(f"{prefix}:idx:active", {"ghost ghost": 1.0})
    time.sleep(0.2)
    assert [k for k in _keys(raw, prefix) if "{wf-ttl}" in k] == []
    assert len(_active(raw, prefix)) == 4
    # When sweeping
    now = time.time()
    found = store.recover_candidates(older_than=now, now=now)
    # Then only the real one is claimed and the others' entries are gone
    assert [(r.workflow_id, r.invocation_id) for r in found] == [("wf-old", "wf-old-root")]
    assert _active(raw, prefix) == {"wf-old wf-old-root": now}


def test_purge_drops_the_entries_of_what_it_deletes(
    make: Callable[..., RedisStore], raw: redis.Redis, prefix: str
) -> None:
    # Given a finished workflow whose never-run child is still indexed
    store = make(retention=60.0)
    _finished(store, "wf-1")
    assert list(_active(raw, prefix)) == ["wf-1 c1"]
    # When its retention has passed and it is purged
    assert store.purge_expired(time.time() + 120) == 1
    # Then its entries went with it
    assert _active(raw, prefix) == {}


def test_each_outcome_of_a_big_join_costs_constant_work(
    make: Callable[..., RedisStore], raw: redis.Redis
) -> None:
    # Given an invocation suspended on 300 children
    store = make()
    record, root = workflow("wf-join")
    store.create_workflow(record, root)
    store.load("wf-join", root.invocation_id)
    store.commit("wf-join", root.invocation_id, Batch(0, suspend=list(range(300))))

    def hexists_calls() -> int:
        stats = raw.info("commandstats")
        return int(stats.get("cmdstat_hexists", {}).get("calls", 0))

    before = hexists_calls()
    # When every outcome arrives
    wakes = [store.record_outcome("wf-join", root.invocation_id, i, b"o").wake for i in range(300)]
    # Then exactly the last one wakes it, and no outcome re-scanned the awaited list
    assert wakes == [False] * 299 + [True]
    assert hexists_calls() - before == 0


def _read_in_child(store: RedisStore, workflow_id: str, out: Any) -> None:
    inherited = store._links._local.link  # the parent thread's connection, copied by fork
    record = store.get_workflow(workflow_id)
    fresh = store._links._local.link is not inherited
    out.put((None if record is None else record.workflow_id, fresh))


def test_a_forked_child_opens_its_own_connection(make: Callable[..., RedisStore]) -> None:
    # Given a store whose connection this process already uses
    store = make()
    store.create_workflow(*workflow("wf-fork"))
    assert store.get_workflow("wf-fork") is not None
    # When a forked child uses the same store object
    ctx = multiprocessing.get_context("fork")
    out = ctx.Queue()
    child = ctx.Process(target=_read_in_child, args=(store, "wf-fork", out))
    child.start()
    seen = out.get(timeout=10)
    child.join(timeout=10)
    # Then the child read through a connection of its own, and the parent's still works
    assert (seen, child.exitcode) == (("wf-fork", True), 0)
    for _ in range(3):
        record = store.get_workflow("wf-fork")
        assert record is not None
        assert record.workflow_id == "wf-fork"
