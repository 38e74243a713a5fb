"""The web view (``wfcore web``): pages and a JSON API over a store; needs ``wfcore[web]``.

``create_app(store, ...)`` builds the Starlette application (to mount in your own server or
test with Starlette's ``TestClient``); ``serve(store_url, ...)`` runs it with uvicorn.
"""

from __future__ import annotations

from wfcore.errors import ConfigurationError

try:
    import jinja2  # noqa: F401
    import starlette  # noqa: F401
except ImportError as _missing:  # pragma: no cover - exercised without the extra
    raise ConfigurationError(
        f"the web view needs the 'web' extra ({_missing.name} is not installed): "
        "pip install 'wfcore[web]'"
    ) from None

from wfcore.web.app import DEFAULT_HOST, DEFAULT_PORT, create_app, serve

__all__ = ["DEFAULT_HOST", "DEFAULT_PORT", "create_app", "serve"]
