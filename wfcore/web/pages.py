"""The HTML pages: the workflows list and one workflow, with its cancel and signal forms."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qsl, quote, urlencode

from jinja2 import Environment, PackageLoader, select_autoescape
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import Route

from wfcore import _cli_render as render
from wfcore._models import WorkflowStatus
from wfcore.errors import ConfigurationError, WfError
from wfcore.web import api, views
from wfcore.web.auth import same_secret
from wfcore.web.site import Site

__all__ = ["render_error", "routes"]


def _when(timestamp: float | None) -> str:
    if timestamp is None:
        return ""
    return datetime.fromtimestamp(timestamp, UTC).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]


def _value(value: Any, limit: int = 0) -> str:
    """A decoded value as the page shows it: JSON (models as their fields), or text."""
    try:
        text = json.dumps(value, default=render.plain, ensure_ascii=False)
    except (TypeError, ValueError):
        text = repr(value)
    return text if not limit or len(text) <= limit else text[: limit - 1] + "…"


_env = Environment(
    loader=PackageLoader("wfcore.web", "templates"),
    autoescape=select_autoescape(["html"]),
    trim_blocks=True,
    lstrip_blocks=True,
)
_env.filters["when"] = _when
_env.filters["value"] = _value
_env.filters["q"] = lambda text: quote(str(text), safe="")


def _page(request: Request, template: str, code: int = 200, **context: Any) -> HTMLResponse:
    site: Site = request.app.state.site
    html = _env.get_template(template).render(
        store_url=site.store_url, csrf=site.csrf, request=request, **context
    )
    return HTMLResponse(html, status_code=code)


def render_error(request: Request, status: int, message: str) -> HTMLResponse:
    """An error page (the app's handlers use it for every page request that fails)."""
    return _page(request, "error.html", status, status=status, message=message)


def workflows_page(request: Request) -> Response:
    params = request.query_params
    query = views.ListQuery.from_params(params)
    listing = views.list_workflows(request.app.state.site.reader, query)
    kept = {k: v for k, v in params.items() if k != "cursor" and v}
    next_url = None
    if listing.next_cursor is not None:
        next_url = "/?" + urlencode({**kept, "cursor": listing.next_cursor})
    return _page(
        request,
        "list.html",
        listing=listing,
        params=kept,
        statuses=[s.value for s in WorkflowStatus],
        next_url=next_url,
        first_url="/?" + urlencode(kept) if query.cursor else None,
        scan=views.SCAN,
        data_scan=views.DATA_SCAN,
    )


def workflow_page(request: Request, status: int = 200, **extra: Any) -> Response:
    site: Site = request.app.state.site
    record = site.reader.workflow(request.path_params["workflow_id"])
    return _page(
        request,
        "workflow.html",
        status,
        record=record,
        view=views.detail(site.reader, record),
        notice=request.query_params.get("notice"),
        **extra,
    )


async def _form(request: Request) -> dict[str, str]:
    # The forms post application/x-www-form-urlencoded: parsed here, without the
    # python-multipart package Starlette's request.form() needs.
    body = (await request.body()).decode("utf-8", "replace")
    fields = dict(parse_qsl(body, keep_blank_values=True))
    site: Site = request.app.state.site
    if not same_secret(fields.get("csrf"), site.csrf):
        raise _CSRFError
    return fields


class _CSRFError(Exception):
    pass


def _back(workflow_id: str, notice: str) -> Response:
    target = f"/workflows/{quote(workflow_id, safe='')}?{urlencode({'notice': notice})}"
    return RedirectResponse(target, status_code=303)


async def cancel_form(request: Request) -> Response:
    try:
        await _form(request)
    except _CSRFError:
        return render_error(request, 403, "the form's CSRF field is missing or stale; reload")
    workflow_id = request.path_params["workflow_id"]
    done = await run_in_threadpool(api.cancel, request.app.state.site, workflow_id)
    notice = "cancellation requested" if done["cancelled"] else "already finished"
    return _back(workflow_id, notice)


async def signal_form(request: Request) -> Response:
    try:
        fields = await _form(request)
    except _CSRFError:
        return render_error(request, 403, "the form's CSRF field is missing or stale; reload")
    workflow_id = request.path_params["workflow_id"]
    name = fields.get("name", "").strip()
    try:
        if not name:
            raise ConfigurationError("a signal needs a name")
        payload = api.parse_payload(name, fields.get("payload", ""))
        sent = await run_in_threadpool(
            api.send_signal, request.app.state.site, workflow_id, name, payload, None
        )
    except WfError as exc:
        return await run_in_threadpool(
            workflow_page, request, 400, signal_error=str(exc), signal_form=fields
        )
    notice = f"signal {name!r} " + ("delivered" if sent["delivered"] else "buffered")
    return _back(workflow_id, notice)


routes = [
    Route("/", workflows_page),
    Route("/workflows/{workflow_id:path}/cancel", cancel_form, methods=["POST"]),
    Route("/workflows/{workflow_id:path}/signal", signal_form, methods=["POST"]),
    Route("/workflows/{workflow_id:path}", workflow_page),
]
