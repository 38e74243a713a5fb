"""The web view's Starlette application and the server behind ``wfcore web``."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from starlette.applications import Starlette
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Mount
from starlette.staticfiles import StaticFiles

from wfcore._inspect import inspecting_engine
from wfcore.engine import Engine
from wfcore.errors import (
    ConfigurationError,
    EncodeError,
    WfError,
    WorkflowNotFoundError,
    WorkflowNotRunningError,
)
from wfcore.store import StateStore, mask_url, open_store
from wfcore.web import api, pages
from wfcore.web.auth import Guard, check_bind
from wfcore.web.site import Site

__all__ = ["DEFAULT_HOST", "DEFAULT_PORT", "create_app", "serve"]

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8233
_STATIC = Path(__file__).with_name("static")


def create_app(
    store: StateStore,
    *,
    app: Engine | None = None,
    store_url: str = "",
    token: str | None = None,
) -> Starlette:
    """The web view over ``store``.

    Args:
        store: the store to show and act on.
        app: the engine of the App (or runner) whose registered types decode values and
            whose queue wakes cancelled or signalled invocations at once.
        store_url: shown in the page header, with its password masked.
        token: when set, required on every request (see :mod:`wfcore.web.auth`).
    """
    reader = inspecting_engine(store, app)
    actor = app if app is not None and app.store is store else reader
    site = Site(reader=reader, actor=actor, store_url=mask_url(store_url), token=token)
    web = Starlette(
        routes=[*api.routes, *pages.routes, Mount("/static", StaticFiles(directory=_STATIC))],
        middleware=[Middleware(Guard)],
        exception_handlers={WfError: _error},
    )
    web.state.site = site
    return web


_STATUS: list[tuple[type[WfError], int]] = [
    (WorkflowNotFoundError, 404),
    (WorkflowNotRunningError, 409),
    (ConfigurationError, 400),
    (EncodeError, 400),
]


async def _error(request: Request, exc: Exception) -> Response:
    status = next((code for kind, code in _STATUS if isinstance(exc, kind)), 500)
    if request.url.path.startswith("/api/"):
        return JSONResponse({"error": str(exc)}, status_code=status)
    return pages.render_error(request, status, str(exc))


def serve(
    store_url: str | None,
    *,
    app: Engine | None = None,
    host: str = DEFAULT_HOST,
    port: int = DEFAULT_PORT,
    token: str | None = None,
) -> int:
    """Serve the web view until interrupted (``wfcore web``).

    Raises:
        ConfigurationError: a non-loopback ``host`` without ``token``, or a bad store URL.
        StoreUnavailableError: the store cannot be reached.
    """
    try:
        import uvicorn
    except ImportError:  # pragma: no cover - exercised without the extra
        raise ConfigurationError(
            "the web view needs the 'web' extra (uvicorn is not installed): "
            "pip install 'wfcore[web]'"
        ) from None
    token = token if token is not None else os.environ.get("WFCORE_WEB_TOKEN")
    check_bind(host, token)
    if store_url:
        store = open_store(store_url)
    elif app is not None:
        store, store_url = app.store, "(the App's store)"
    else:
        raise ConfigurationError("wfcore web needs --store URL (or --app)")
    store.ping()
    web = create_app(store, app=app, store_url=store_url, token=token)
    shown = f"[{host}]" if ":" in host else host
    print(
        f"wfcore web: {mask_url(store_url)} on http://{shown}:{port}/",
        file=sys.stderr,
        flush=True,
    )
    try:
        uvicorn.run(web, host=host, port=port, log_level="warning")
    finally:
        if app is None or store is not app.store:
            store.close()
    return 0
