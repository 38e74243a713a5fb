"""The web view's state: the store it reads, the engines it reads and acts with."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from dataclasses import dataclass, field

from wfcore.engine import Engine
from wfcore.store import StateStore

__all__ = ["Site"]


@dataclass(frozen=True)
class Site:
    """What every request of one web view shares.

    Attributes:
        reader: decodes values (the App's registered types, unknown models shown as such).
        actor: cancels and signals: the App's engine when ``--app`` was given (suspended
            invocations are woken at once), else ``reader`` (the workers' sweep wakes them).
        store_url: the store's URL with its password masked, for display.
        token: required on every request when set.
    """

    reader: Engine
    actor: Engine
    store_url: str
    token: str | None = None
    secret: bytes = field(default_factory=lambda: secrets.token_bytes(32), repr=False)

    @property
    def store(self) -> StateStore:
        return self.reader.store

    @property
    def csrf(self) -> str:
        """The value the pages' forms carry in their ``csrf`` field."""
        return hmac.new(self.secret, b"wfcore-web-csrf", hashlib.sha256).hexdigest()
