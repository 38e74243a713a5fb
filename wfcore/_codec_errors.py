"""How the codec carries exceptions: ``RemoteError`` and the text it keeps of an error."""

from __future__ import annotations

import builtins
from traceback import format_exception

__all__ = [
    "BUILTIN_EXCEPTIONS",
    "RemoteError",
    "message_of",
    "qualified_name",
    "traceback_text",
    "utf8_safe",
]

# Built once from the builtins namespace so decoding resolves exception names with a dict
# lookup: a name read from storage can never reach an import or an attribute walk.
BUILTIN_EXCEPTIONS: dict[str, type[Exception]] = {
    f"builtins.{name}": value
    for name, value in vars(builtins).items()
    if isinstance(value, type) and issubclass(value, Exception)
}


def qualified_name(cls: type) -> str:
    return f"{cls.__module__}.{cls.__qualname__}"


def traceback_text(exc: BaseException) -> str:
    carried = getattr(exc, "wfcore_traceback", None)
    if isinstance(carried, str):
        # Already decoded from storage: the original traceback is the one worth keeping.
        return carried
    if exc.__traceback__ is None:
        return ""
    try:
        return "".join(format_exception(exc))
    except Exception:
        return ""


def utf8_safe(text: str) -> str:
    return text.encode("utf-8", "backslashreplace").decode("utf-8")


def message_of(exc: BaseException) -> str:
    try:
        return str(exc)
    except Exception:
        return f"<unprintable {type(exc).__qualname__} object>"


class RemoteError(Exception):
    """An exception decoded from storage whose type is not registered here.

    Decoding never imports the module an exception came from, so an error of a type this
    codec cannot rebuild arrives as a ``RemoteError`` that keeps what was recorded.

    Attributes:
        type_name: ``"module.QualName"`` of the original exception type.
        message: ``str()`` of the original exception.
        traceback: Formatted traceback text of the original, or ``""`` if it had none.
        wfcore_traceback: Same as ``traceback``, set on every exception the codec decodes.
    """

    def __init__(self, type_name: str, message: str, traceback: str = "") -> None:
        super().__init__(type_name, message, traceback)
        self.type_name = type_name
        self.message = message
        self.traceback = traceback
        self.wfcore_traceback = traceback

    def __str__(self) -> str:
        return f"{self.type_name}: {self.message}"
