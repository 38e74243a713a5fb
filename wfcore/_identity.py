"""Identifiers: new workflow ids, ids derived from keys and positions, and PRNG seeds."""

from __future__ import annotations

import hashlib
import re
import secrets
import uuid

__all__ = [
    "child_invocation_id",
    "child_workflow_id",
    "fork_workflow_id",
    "is_derived_workflow_id",
    "is_run_invocation_id",
    "new_workflow_id",
    "new_workflow_seed",
    "operation_seed",
    "run_invocation_id",
    "run_of",
    "workflow_id_for_key",
]

_MAX_PATH_ID = 160
_SEED_BYTES = 32


def new_workflow_id() -> str:
    """A fresh random workflow id (128 bits)."""
    return uuid.uuid4().hex


def workflow_id_for_key(idempotency_key: str) -> str:
    """The workflow id an idempotency key maps to: the same key, the same workflow."""
    return "idem-" + hashlib.blake2b(idempotency_key.encode(), digest_size=16).hexdigest()


def child_invocation_id(parent_invocation_id: str, seq: int) -> str:
    """The id of the child started at ``seq`` of its parent: a pure function of the position.

    So a replay of the parent names the same child and can never create a second one.
    Ids stay readable (``<root>.3.0``) until they grow long, then they are hashed.
    """
    path = f"{parent_invocation_id}.{seq}"
    if len(path) <= _MAX_PATH_ID:
        return path
    return "h" + hashlib.blake2b(path.encode(), digest_size=16).hexdigest()


def child_workflow_id(child_invocation_id: str) -> str:
    """The id of the child workflow whose root invocation sits at ``child_invocation_id``."""
    return "wf" + hashlib.blake2b(child_invocation_id.encode(), digest_size=15).hexdigest()


def fork_workflow_id(workflow_id: str, fork_id: str) -> str:
    """The id of the fork of ``workflow_id`` requested under ``fork_id``: a repeated request
    names the same fork, so it creates nothing new."""
    key = f"{workflow_id}\x00{fork_id}".encode()
    return "fork-" + hashlib.blake2b(key, digest_size=16).hexdigest()


# Exactly the forms of workflow_id_for_key, child_workflow_id and fork_workflow_id: reserved
# for them, so an explicit workflow id can never take the id a key, a child position or a
# fork request will map to.
_DERIVED = re.compile(r"idem-[0-9a-f]{32}|wf[0-9a-f]{30}|fork-[0-9a-f]{32}")


def is_derived_workflow_id(workflow_id: str) -> bool:
    """True for an id of the form wfcore derives (from an idempotency key, for a child or a
    fork)."""
    return _DERIVED.fullmatch(workflow_id) is not None


def new_workflow_seed() -> bytes:
    """A workflow's secret PRNG seed (256 bits from :mod:`secrets`), recorded at creation."""
    return secrets.token_bytes(_SEED_BYTES)


def operation_seed(workflow_id: str, invocation_id: str, workflow_seed: bytes | None) -> bytes:
    """The 256-bit key of an invocation's PRNG: its workflow's secret seed and its place in
    the tree.

    Version 2 (``workflow_seed`` set, every workflow created since seeds exist): a keyed hash
    of the invocation id under the workflow's secret seed, so values cannot be predicted from
    ids or idempotency keys. Version 1 (``workflow_seed`` None: a workflow recorded before
    seeds existed): a hash of the ids alone, kept so those workflows draw exactly the values
    they drew before (a re-run after a crash repeats values its side effects may have used).

    A parent and its plain child have different invocation ids, so they never share values.
    """
    if workflow_seed is not None:
        # The seed keys nothing else, so no personalisation: this runs on a first draw.
        return hashlib.blake2b(invocation_id.encode(), key=workflow_seed, digest_size=32).digest()
    return hashlib.sha256(f"{workflow_id}\x00{invocation_id}".encode()).digest()


_RUN = re.compile(r"^(?P<first>.+)~run(?P<run>[0-9]+)$")


def run_of(invocation_id: str) -> tuple[str, int]:
    """(the first run's root invocation id, the run number) of a root invocation id."""
    match = _RUN.match(invocation_id)
    if match is None:
        return invocation_id, 1
    return match["first"], int(match["run"])


def is_run_invocation_id(identifier: str) -> bool:
    """True for an id of the form of a continued run's root invocation (``<first>~run<n>``),
    which :func:`run_of` reads as run ``n``: a workflow id of that form is refused."""
    return _RUN.match(identifier) is not None


def run_invocation_id(first_root: str, run: int) -> str:
    """The root invocation id of run ``run`` (2, 3, ...) of a workflow: ``<first>~run<n>``."""
    return f"{first_root}~run{run}"
