"""A message's own actions: send a failed one again; download a customer's attachment."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Route

from inbox.access import get_visible_conversation
from inbox.errors import NotFound
from inbox.models import Agent, Attachment, Message
from inbox.outbox import do_retry_delivery

from .downloads import download_headers
from .state import signed_in, state


async def retry(request: Request) -> Response:
    app = state(request)
    with signed_in(request) as ctx:
        conversation = get_visible_conversation(
            ctx.session, ctx.scope, int(request.path_params["id"])
        )
        message = ctx.session.get(Message, int(request.path_params["message_id"]))
        if message is None or message.conversation_id != conversation.id:
            raise NotFound("No such message in this conversation")
        do_retry_delivery(session=ctx.session, message=message, actor=ctx.agent)
        senders: dict[int | None, Agent] = {}
        if message.sender_agent_id is not None:
            sender = ctx.session.get(Agent, message.sender_agent_id)
            if sender is not None:
                senders[sender.id] = sender
        return app.templates.TemplateResponse(
            request, "inbox.html", {"m": message, "senders": senders}, block_name="message"
        )


async def download(request: Request) -> Response:
    """Always as a download, never shown in our origin: a customer's file could be HTML."""
    with signed_in(request) as ctx:
        attachment = ctx.session.get(Attachment, int(request.path_params["id"]))
        message = ctx.session.get(Message, attachment.message_id) if attachment else None
        if attachment is None or message is None:
            raise NotFound("No such attachment")
        get_visible_conversation(ctx.session, ctx.scope, message.conversation_id)
        filename = attachment.filename or "attachment"
        return Response(
            attachment.data,
            media_type="application/octet-stream",
            headers=download_headers(filename),
        )


routes: list[BaseRoute] = [
    Route("/conversations/{id:int}/messages/{message_id:int}/retry", retry, methods=["POST"]),
    Route("/attachments/{id:int}", download),
]
