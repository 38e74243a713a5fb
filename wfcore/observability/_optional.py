"""Importing an optional dependency, with an error naming the extra that installs it."""

from __future__ import annotations

import importlib
import importlib.util
from types import ModuleType

from wfcore.errors import ConfigurationError

__all__ = ["installed", "require"]


def installed(module: str, extra: str) -> None:
    """Check, without importing it, that ``module``'s package is installed.

    Raises:
        ConfigurationError: it is not; names ``pip install 'wfcore[extra]'``.
    """
    if importlib.util.find_spec(module.partition(".")[0]) is None:
        raise ConfigurationError(
            f"{module} is not installed; wfcore's {extra} support needs it: "
            f"pip install 'wfcore[{extra}]'"
        )


def require(module: str, extra: str) -> ModuleType:
    """Import ``module``, or raise the ``ConfigurationError`` of :func:`installed`."""
    installed(module, extra)
    return importlib.import_module(module)
