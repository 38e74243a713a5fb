"""Who may use the web view: the bind check, the token on every request, CSRF on POSTs.

- Bound to a loopback address, no token is needed; bound elsewhere, one is required.
- With a token, every request carries it: ``Authorization: Bearer T``, ``X-Wfcore-Token: T``
  or the ``wfcore_token`` cookie, which ``?token=T`` on any page sets (HttpOnly,
  SameSite=Strict) before redirecting to the same page without it.
- A POST is accepted only with the ``X-Wfcore-CSRF`` header (any value: a browser sends no
  custom header across sites without a CORS preflight, which this server never grants) or,
  for the pages' forms, a ``csrf`` field equal to this server's ``Site.csrf``; and never
  with an ``Origin`` that is not this server's own.
"""

from __future__ import annotations

import hmac
import ipaddress
from urllib.parse import urlencode, urlsplit

from starlette.middleware.base import BaseHTTPMiddleware, RequestResponseEndpoint
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, RedirectResponse, Response

from wfcore.errors import ConfigurationError

__all__ = ["COOKIE", "CSRF_HEADER", "Guard", "check_bind", "is_loopback", "same_secret"]

COOKIE = "wfcore_token"
CSRF_HEADER = "X-Wfcore-CSRF"


def is_loopback(host: str) -> bool:
    """True for ``localhost`` and loopback addresses (127.0.0.0/8, ::1)."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def check_bind(host: str, token: str | None) -> None:
    """Refuse to serve on a non-loopback ``host`` without a token.

    Raises:
        ConfigurationError: ``host`` is reachable from other machines and ``token`` is None.
    """
    if token is not None and not token.strip():
        raise ConfigurationError("the web view's --token is empty; pass a long random value")
    if token is None and not is_loopback(host):
        raise ConfigurationError(
            f"refusing to serve the web view on {host!r} without a token: anyone who can reach "
            "it could read and cancel workflows; pass --token (or set $WFCORE_WEB_TOKEN) to a "
            "long random value, or bind to 127.0.0.1"
        )


def same_secret(given: str | None, expected: str) -> bool:
    """Constant-time comparison of a secret sent with a request."""
    return given is not None and hmac.compare_digest(given.encode(), expected.encode())


def _given_token(request: Request) -> str | None:
    bearer = request.headers.get("authorization", "")
    if bearer.lower().startswith("bearer "):
        return bearer[7:].strip()
    return request.headers.get("x-wfcore-token") or request.cookies.get(COOKIE)


def _refuse(request: Request, status: int, message: str) -> Response:
    if request.url.path.startswith("/api/"):
        return JSONResponse({"error": message}, status_code=status)
    return PlainTextResponse(message, status_code=status)


class Guard(BaseHTTPMiddleware):
    """Checks the token (when the server has one) and the CSRF rules of every request."""

    async def dispatch(self, request: Request, call_next: RequestResponseEndpoint) -> Response:
        token: str | None = request.app.state.site.token
        if token is not None:
            offered = request.query_params.get("token")
            if offered is not None and request.method == "GET":
                if not same_secret(offered, token):
                    return _refuse(request, 401, "wrong token")
                params = [(k, v) for k, v in request.query_params.multi_items() if k != "token"]
                query = urlencode(params)
                target = request.url.path + (f"?{query}" if query else "")
                response: Response = RedirectResponse(target, status_code=303)
                response.set_cookie(COOKIE, token, httponly=True, samesite="strict")
                return response
            if not same_secret(_given_token(request), token):
                return _refuse(
                    request,
                    401,
                    "this wfcore web view needs its token: open it once with ?token=..., or "
                    "send 'Authorization: Bearer <token>'",
                )
        if request.method not in ("GET", "HEAD"):
            origin = request.headers.get("origin")
            if origin is not None and urlsplit(origin).netloc != request.headers.get("host"):
                return _refuse(request, 403, f"cross-site request from {origin!r} refused")
            if request.url.path.startswith("/api/") and not request.headers.get(CSRF_HEADER):
                return _refuse(
                    request, 403, f"a POST to the API needs the header '{CSRF_HEADER}: 1'"
                )
        return await call_next(request)
