"""The escalation letter in the inbox (docs/concepts/escalation-letter.md): "Write escalation
letter" GETs the draft into the panel above the thread; the agent edits it and Send POSTs it
back, which sends it to the customer (the pane refreshes) or, when it is empty, shows the form
again, status 422, having sent nothing.
"""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from inbox.access import get_visible_conversation
from inbox.clock import utcnow
from inbox.errors import InvalidInput
from inbox.letter import do_send_letter, draft_letter
from inbox.models import Conversation

from .pages import thread_context
from .state import AgentContext, signed_in, state


def _conversation(ctx: AgentContext, request: Request) -> Conversation:
    return get_visible_conversation(ctx.session, ctx.scope, int(request.path_params["id"]))


def _form(
    request: Request, conversation: Conversation, text: str, error: str = "", status: int = 200
) -> Response:
    return state(request).templates.TemplateResponse(
        request,
        "escalation/letter.html",
        {"c": conversation, "text": text, "error": error},
        block_name="letter_form",
        status_code=status,
    )


async def letter_form(request: Request) -> Response:
    with signed_in(request) as ctx:
        conversation = _conversation(ctx, request)
        return _form(
            request, conversation, draft_letter(ctx.session, conversation, ctx.agent, utcnow())
        )


async def send_letter(request: Request) -> Response:
    text = str((await request.form()).get("text", ""))
    with signed_in(request) as ctx:
        conversation = _conversation(ctx, request)
        try:
            do_send_letter(
                session=ctx.session, conversation=conversation, agent=ctx.agent, text=text, now=None
            )
        except InvalidInput as exc:
            ctx.session.rollback()
            return _form(request, conversation, text, exc.message, 422)
        # The whole pane again: the letter shows in the thread, the panel closes.
        return state(request).templates.TemplateResponse(
            request,
            "inbox.html",
            thread_context(ctx, conversation),
            block_name="conversation_pane",
            headers={"HX-Retarget": "#conversation", "HX-Reswap": "innerHTML"},
        )


routes = [
    Route("/conversations/{id:int}/letter", letter_form),
    Route("/conversations/{id:int}/letter", send_letter, methods=["POST"]),
]
