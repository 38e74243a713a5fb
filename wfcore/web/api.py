"""The JSON API under ``/api``: the same data as the CLI's ``--json`` (docs/operations.md).

Errors are ``{"error": message}`` with 400 (bad input), 401 (token), 403 (CSRF), 404 (no
such workflow), 409 (signal to a finished workflow) or 500.
"""

from __future__ import annotations

import json
from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from wfcore import _cli_render as render
from wfcore._export import export_history
from wfcore._inspect import workflow_values
from wfcore._models import WorkflowRecord
from wfcore.errors import ConfigurationError
from wfcore.web import views
from wfcore.web.site import Site

__all__ = ["cancel", "parse_payload", "routes", "send_signal"]


class _JSON(JSONResponse):
    def render(self, content: Any) -> bytes:
        return views.to_json(content).encode()


def _site(request: Request) -> Site:
    site: Site = request.app.state.site
    return site


def _record(request: Request) -> WorkflowRecord:
    return _site(request).reader.workflow(request.path_params["workflow_id"])


def cancel(site: Site, workflow_id: str) -> dict[str, Any]:
    """Cancel a workflow and its descendants, as ``wfcore cancel --json`` reports it."""
    return {"workflow_id": workflow_id, "cancelled": site.actor.cancel(workflow_id)}


def parse_payload(name: str, text: str) -> Any:
    """A signal payload typed as JSON text.

    Raises:
        ConfigurationError: ``text`` is not JSON.
    """
    try:
        return json.loads(text) if text.strip() else None
    except json.JSONDecodeError as exc:
        raise ConfigurationError(
            f"the payload of signal {name!r} is not JSON ({exc}): {text!r}; "
            """e.g. {"ok": true}, "text", 3 or null"""
        ) from None


def send_signal(
    site: Site, workflow_id: str, name: str, payload: Any, signal_id: str | None
) -> dict[str, Any]:
    """Send a signal, as ``wfcore signal --json`` reports it."""
    sent = site.actor.signal(workflow_id, name, payload, signal_id=signal_id)
    return {
        "workflow_id": workflow_id,
        "name": name,
        "duplicate": sent.duplicate,
        "delivered": sent.waiter is not None,
    }


def list_workflows(request: Request) -> Response:
    query = views.ListQuery.from_params(request.query_params)
    return _JSON(views.list_workflows(_site(request).reader, query).as_json())


def show(request: Request) -> Response:
    record = _record(request)
    return _JSON(render.show_data(record, workflow_values(_site(request).reader, record)))


def history(request: Request) -> Response:
    record = _record(request)
    return _JSON(render.history_data(_site(request).reader.history(record.workflow_id)))


def tree(request: Request) -> Response:
    return _JSON(render.tree_data(_site(request).store, _record(request)))


def data(request: Request) -> Response:
    record = _record(request)
    return _JSON(_site(request).reader.data(record.workflow_id))


def timeline(request: Request) -> Response:
    record = _record(request)
    reader = _site(request).reader
    return _JSON(
        views.timeline(
            reader.history(record.workflow_id),
            reader.store.list_invocations(record.workflow_id),
            finished=record.status.finished,
        )
    )


def export(request: Request) -> Response:
    record = _record(request)
    return Response(
        export_history(_site(request).store, record.workflow_id),
        media_type="application/octet-stream",
        headers={"Content-Disposition": f'attachment; filename="{record.workflow_id}.wfh"'},
    )


def cancel_endpoint(request: Request) -> Response:
    record = _record(request)
    return _JSON(cancel(_site(request), record.workflow_id))


async def signal_endpoint(request: Request) -> Response:
    workflow_id = request.path_params["workflow_id"]
    body = await request.body()
    try:
        message = json.loads(body)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise ConfigurationError(f"the request body is not JSON ({exc})") from None
    if not isinstance(message, dict) or not isinstance(message.get("name"), str):
        raise ConfigurationError(
            """the request body must be {"name": "...", "payload": <JSON>, "signal_id": ...}"""
        )
    signal_id = message.get("signal_id")
    if signal_id is not None and not isinstance(signal_id, str):
        raise ConfigurationError("signal_id must be a string or null")
    site = _site(request)
    result = await run_in_threadpool(
        send_signal, site, workflow_id, message["name"], message.get("payload"), signal_id
    )
    return _JSON(result)


_ONE = "/api/workflows/{workflow_id:path}"
routes = [
    Route("/api/workflows", list_workflows),
    Route(_ONE + "/history", history),
    Route(_ONE + "/tree", tree),
    Route(_ONE + "/data", data),
    Route(_ONE + "/timeline", timeline),
    Route(_ONE + "/export", export),
    Route(_ONE + "/cancel", cancel_endpoint, methods=["POST"]),
    Route(_ONE + "/signal", signal_endpoint, methods=["POST"]),
    Route(_ONE, show),
]
