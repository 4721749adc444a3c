"""One error tree, translated once at the edge: JSON for the API, HTML for pages."""

from __future__ import annotations

import logging

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response

from inbox.errors import HandoffError, Unauthorized

from .state import state

log = logging.getLogger("handoff.web")


def wants_json(request: Request) -> bool:
    return request.url.path.startswith(("/api/", "/webhooks/")) or (
        "application/json" in request.headers.get("accept", "")
        and "text/html" not in request.headers.get("accept", "")
    )


def error_response(
    request: Request, status: int, code: str, message: str, detail: object = None
) -> Response:
    if status >= 500:
        log.error("%s %s -> %s: %s", request.method, request.url.path, status, message)
    else:
        log.info("%s %s -> %s: %s", request.method, request.url.path, status, message)
    if wants_json(request):
        return JSONResponse({"error": message, "code": code, "detail": detail}, status_code=status)
    if status == 401 and request.method == "GET" and not request.headers.get("hx-request"):
        return RedirectResponse(f"/login?next={request.url.path}", status_code=303)
    if request.headers.get("hx-request"):
        if status == 401:
            return Response(status_code=200, headers={"HX-Redirect": "/login"})
        html = state(request).templates.get_template("_error.html").render(message=message)
        return HTMLResponse(html, status_code=status)
    page = (
        state(request).templates.get_template("error.html").render(message=message, status=status)
    )
    return HTMLResponse(page, status_code=status)


async def handoff_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HandoffError)
    if isinstance(exc, Unauthorized) and not wants_json(request):
        return error_response(request, 401, exc.code, exc.message)
    return error_response(request, exc.status_code, exc.code, exc.message, exc.detail)


async def http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    return error_response(request, exc.status_code, "http", str(exc.detail))


async def server_error(request: Request, exc: Exception) -> Response:
    log.exception("unhandled error on %s %s", request.method, request.url.path)
    return error_response(request, 500, "server_error", "Something went wrong on our side")
