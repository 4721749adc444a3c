"""`/webhooks/{channel}/{inbox_id}[/{subpath}]`: every provider's webhook, one thin route.

The adapter checks the signature and reads the payload; the intake stores it; the answer is
2xx only after the commit. A bad signature is 401, a wrong verify token 403, a malformed
body 400, a body over the adapter's limit 413, an event type Handoff does not handle 200 with
nothing stored.
"""

from __future__ import annotations

import logging

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from inbox.db import Database
from inbox.models import Inbox

from .base import BadSignature, Malformed, WebhookAdapter, WebhookRequest, WrongVerifyToken
from .intake import take_in
from .registry import webhook_adapter_for

log = logging.getLogger("handoff.webhooks")


def _problem(status: int, code: str, message: str) -> JSONResponse:
    return JSONResponse({"error": {"code": code, "message": message}}, status_code=status)


def _public_url(request: Request) -> str:
    """The URL as the provider called it: behind a proxy, HANDOFF_PUBLIC_URL says the host."""
    public: str | None = request.app.state.handoff.settings.public_url
    if not public:
        return str(request.url)
    query = f"?{request.url.query}" if request.url.query else ""
    return public.rstrip("/") + request.url.path + query


async def _read_body(request: Request, limit: int) -> bytes | None:
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        return None
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            return None
    return bytes(body)


async def webhook(request: Request) -> Response:
    channel = request.path_params["channel"]
    inbox_id = int(request.path_params["inbox_id"])
    adapter = webhook_adapter_for(channel)
    if adapter is None:
        return _problem(404, "not_found", f"No webhook for channel {channel!r}")
    db = request.app.state.handoff.db
    with db.session() as session:
        inbox = session.get(Inbox, inbox_id)
        if inbox is None or inbox.channel != channel:
            return _problem(404, "not_found", f"No active {channel} inbox {inbox_id}")
        session.expunge(inbox)
    body = await _read_body(request, adapter.max_body)
    if body is None:
        limit = adapter.max_body // (1024 * 1024)
        return _problem(413, "too_large", f"Body larger than {limit} MiB")
    hook = WebhookRequest(
        method=request.method,
        url=_public_url(request),
        subpath=request.path_params.get("subpath", "").strip("/"),
        headers={k.lower(): v for k, v in request.headers.items()},
        query=dict(request.query_params),
        body=body,
    )
    try:
        return await _handle(adapter, hook, inbox, db)
    except BadSignature as exc:
        log.warning("%s inbox %s: signature refused: %s", channel, inbox_id, exc)
        return _problem(401, "bad_signature", str(exc) or "Signature does not match")
    except WrongVerifyToken as exc:
        log.warning("%s inbox %s: verify token refused", channel, inbox_id)
        return _problem(403, "wrong_verify_token", str(exc) or "Verify token does not match")
    except Malformed as exc:
        log.warning("%s inbox %s: malformed body: %s", channel, inbox_id, exc)
        return _problem(400, "malformed", str(exc))


async def _handle(
    adapter: WebhookAdapter, hook: WebhookRequest, inbox: Inbox, db: Database
) -> Response:
    if hook.method == "GET":
        reply = adapter.handshake(hook, inbox)
        if reply is None:
            return _problem(405, "method_not_allowed", "This webhook takes POST only")
        return Response(reply.body, status_code=reply.status, media_type=reply.content_type)
    adapter.verify(hook, inbox)
    parsed = adapter.parse(hook, inbox)
    assert inbox.id is not None
    # The domain is synchronous; a big delivery must not hold up every websocket meanwhile.
    await run_in_threadpool(take_in, db, inbox.id, parsed)
    if parsed.reply is not None:
        reply = parsed.reply
        return Response(reply.body, status_code=reply.status, media_type=reply.content_type)
    return JSONResponse({"ok": True})


routes: list[BaseRoute] = [
    Route("/webhooks/{channel:str}/{inbox_id:int}", webhook, methods=["GET", "POST"]),
    Route(
        "/webhooks/{channel:str}/{inbox_id:int}/{subpath:path}", webhook, methods=["GET", "POST"]
    ),
]
