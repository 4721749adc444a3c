"""Saved replies in the browser (docs/concepts/saved-replies.md): the settings page where
admins and managers keep them, and what the reply box's / menu asks for.

The page works like the other settings pages (web/admin.py): a table and a side panel; a save
answers the panel plus the table out of band, a refusal the panel again with the reason.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlmodel import Session
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from inbox.access import can_manage_saved_reply, get_visible_conversation, manages_saved_replies
from inbox.accounts import get_or_404
from inbox.errors import Forbidden, HandoffError, InvalidInput
from inbox.models import Contact, SavedReply
from inbox.saved_replies import (
    TAKEN,
    do_create_saved_reply,
    do_delete_saved_reply,
    do_update_saved_reply,
    expand,
    get_saved_reply,
    saved_replies_for,
)

from . import admin
from .i18n import N_, gettext
from .state import AgentContext, signed_in

HEADING = N_("Saved replies are kept by admins and managers")


@contextmanager
def managers_only(request: Request) -> Iterator[AgentContext]:
    """The signed-in admin or manager; Forbidden for agents, who only use saved replies."""
    with signed_in(request) as ctx:
        if not manages_saved_replies(ctx.scope):
            raise Forbidden(
                gettext("You can use saved replies: type / and a few letters in the reply box.")
            )
        yield ctx


def listing(ctx: AgentContext) -> dict[str, Any]:
    """What the table and the form need: a manager sees what they may use, and edits and
    picks only their own teams."""
    teams = admin.all_teams(ctx.session)
    scope = ctx.scope
    return {
        "replies": saved_replies_for(ctx.session, scope, limit=None),
        "team_names": {t.id: t.name for t in teams},
        "team_choices": [t for t in teams if can_manage_saved_reply(scope, t.id)],
        "may_share": can_manage_saved_reply(scope, None),
        "manages": lambda reply: can_manage_saved_reply(scope, reply.team_id),
    }


def blank(session: Session) -> dict[str, Any]:
    return {"values": {}}


PAGE = admin.Page(
    "saved-replies",
    "settings/saved_replies.html",
    ("saved_reply_panel", "saved_replies_table"),
    blank,
)


def show(request: Request, ctx: AgentContext, **context: Any) -> Response:
    return admin.show(request, ctx, PAGE, **listing(ctx), **context)


def fields(form: FormData) -> dict[str, Any]:
    raw = admin.text(form, "team_id")
    if raw and not raw.isdigit():
        raise InvalidInput(gettext("Pick a team, or Everyone."), {"field": "team_id"})
    return {
        "shortcut": admin.text(form, "shortcut"),
        "title": admin.text(form, "title"),
        "content": str(form.get("content") or ""),
        "team_id": int(raw) if raw else None,
    }


def failed(
    request: Request, ctx: AgentContext, form: FormData, exc: HandoffError, **context: Any
) -> Response:
    """The form again with the reason, in the agent's language (the domain marks its
    messages with N_)."""
    ctx.session.rollback()  # before listing anything: the failed flush left nothing usable
    translated = type(exc)(gettext(exc.message), exc.detail)
    return admin.failed(request, ctx, PAGE, form, translated, **listing(ctx), **context)


def reply_values(reply: SavedReply) -> dict[str, Any]:
    return {
        "shortcut": reply.shortcut,
        "title": reply.title,
        "content": reply.content,
        "team_id": str(reply.team_id or ""),
    }


async def replies_page(request: Request) -> Response:
    with managers_only(request) as ctx:
        return show(request, ctx)


async def reply_page(request: Request) -> Response:
    with managers_only(request) as ctx:
        reply = get_saved_reply(ctx.session, ctx.scope, admin.path_id(request))
        if not can_manage_saved_reply(ctx.scope, reply.team_id):
            raise Forbidden(gettext("Only admins change the saved replies shared with everyone."))
        return show(request, ctx, editing=reply, values=reply_values(reply))


async def create_reply(request: Request) -> Response:
    with managers_only(request) as ctx:
        form = await request.form()
        try:
            reply = do_create_saved_reply(session=ctx.session, actor=ctx.agent, **fields(form))
            admin.commit(ctx.session, gettext(TAKEN))
        except HandoffError as exc:
            return failed(request, ctx, form, exc)
        notice = gettext("Saved. Agents insert it by typing /%(shortcut)s in the reply box.")
        return show(request, ctx, notice=notice % {"shortcut": reply.shortcut})


async def update_reply(request: Request) -> Response:
    with managers_only(request) as ctx:
        reply = get_saved_reply(ctx.session, ctx.scope, admin.path_id(request))
        form = await request.form()
        try:
            do_update_saved_reply(
                session=ctx.session, actor=ctx.agent, reply=reply, changes=fields(form)
            )
            admin.commit(ctx.session, gettext(TAKEN))
        except HandoffError as exc:
            return failed(request, ctx, form, exc, editing=reply)
        notice = gettext("Saved changes to /%(shortcut)s.") % {"shortcut": reply.shortcut}
        return show(request, ctx, notice=notice, push_url="/settings/saved-replies")


async def delete_reply(request: Request) -> Response:
    with managers_only(request) as ctx:
        reply = get_saved_reply(ctx.session, ctx.scope, admin.path_id(request))
        shortcut = reply.shortcut
        do_delete_saved_reply(session=ctx.session, actor=ctx.agent, reply=reply)
        ctx.session.commit()
        notice = gettext("Deleted /%(shortcut)s.") % {"shortcut": shortcut}
        return show(request, ctx, notice=notice, push_url="/settings/saved-replies")


async def conversation_saved_replies(request: Request) -> Response:
    """The reply box's / menu: the replies this agent may use that match `?q=`, each filled
    in for this conversation and this agent. 404 for a conversation they may not see."""
    with signed_in(request) as ctx:
        conversation = get_visible_conversation(ctx.session, ctx.scope, admin.path_id(request))
        contact = get_or_404(ctx.session, Contact, conversation.contact_id, "contact")
        replies = saved_replies_for(ctx.session, ctx.scope, request.query_params.get("q"))
        return JSONResponse(
            [
                {
                    "id": r.id,
                    "shortcut": r.shortcut,
                    "title": r.title,
                    "text": expand(
                        r.content, contact=contact, agent=ctx.agent, conversation=conversation
                    ),
                }
                for r in replies
            ]
        )


routes = [
    Route("/settings/saved-replies", admin.admin_page(replies_page, HEADING)),
    Route("/settings/saved-replies", create_reply, methods=["POST"]),
    Route("/settings/saved-replies/{id:int}", admin.admin_page(reply_page, HEADING)),
    Route("/settings/saved-replies/{id:int}", update_reply, methods=["POST"]),
    Route("/settings/saved-replies/{id:int}/delete", delete_reply, methods=["POST"]),
    Route("/conversations/{id:int}/saved-replies", conversation_saved_replies),
]
