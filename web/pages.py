"""The agents' inbox: three panes, htmx fragments, one domain call per action."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlmodel import col, select
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from channels.registry import sends_files
from inbox import conversations as conv
from inbox import queries
from inbox.access import get_visible_conversation
from inbox.accounts import get_or_404
from inbox.clock import utcnow
from inbox.errors import Conflict, InvalidInput
from inbox.models import (
    Agent,
    Contact,
    ContactIdentity,
    Conversation,
    Inbox,
    Membership,
    Priority,
    Role,
    Status,
    Team,
)
from inbox.notes import do_add_note, handle

from . import uploads
from .i18n import available_locales
from .state import AgentContext, let_listeners_run, signed_in, state

VIEW_LABELS = {
    "mine": "Mine",
    "unassigned": "Unassigned",
    "teams": "My teams",
    "mentions": "Mentions",
    "all": "All",
}


def list_filter(request: Request) -> queries.ConversationFilter:
    p = request.query_params
    status = p.get("status") or None
    return queries.ConversationFilter(
        view=p.get("view") or "all", status=status, q=(p.get("q") or "").strip() or None
    )


def list_context(
    ctx: AgentContext, f: queries.ConversationFilter, cursor: str | None = None
) -> dict[str, Any]:
    page = queries.list_conversations(ctx.session, ctx.scope, f, cursor=cursor)
    unread = queries.unread_ids(ctx.session, ctx.scope.agent_id, page.items)
    return {
        "cards": queries.cards(ctx.session, page.items, unread),
        "next_cursor": page.next_cursor,
        "filter": f,
    }


def thread_context(ctx: AgentContext, conversation: Conversation) -> dict[str, Any]:
    session = ctx.session
    assert conversation.id is not None
    messages = queries.thread(session, conversation.id)
    agent_ids = {m.sender_agent_id for m in messages if m.sender_agent_id}
    senders = (
        {a.id: a for a in session.exec(select(Agent).where(col(Agent.id).in_(agent_ids))).all()}
        if agent_ids
        else {}
    )
    contact = session.get(Contact, conversation.contact_id)
    inbox = session.get(Inbox, conversation.inbox_id)
    identities = session.exec(
        select(ContactIdentity, Inbox)
        .join(Inbox)
        .where(ContactIdentity.contact_id == conversation.contact_id)
    ).all()
    history = queries.contact_history(
        session, ctx.scope, conversation.contact_id, exclude=conversation.id
    )
    teams = session.exec(select(Team).order_by(col(Team.tier), col(Team.name))).all()
    # A deactivated agent is offered to nobody, but still named while they hold it.
    assignable = [
        a
        for a in session.exec(select(Agent).order_by(col(Agent.name))).all()
        if a.deactivated_at is None or a.id == conversation.assignee_id
    ]
    if conversation.team_id is not None:
        members = set(
            session.exec(
                select(Membership.agent_id).where(Membership.team_id == conversation.team_id)
            ).all()
        )
        assignable = [a for a in assignable if a.id in members or a.id == conversation.assignee_id]
    card = queries.cards(session, [conversation])[0]
    return {
        "c": conversation,
        "card": card,
        "messages": messages,
        "senders": senders,
        "contact": contact,
        "inbox": inbox,
        "can_attach": inbox is not None and sends_files(inbox.channel),
        "identities": identities,
        "history": queries.cards(session, history),
        "teams": teams,
        "assignable": assignable,
        "statuses": [s.value for s in Status],
        "priorities": [p.value for p in Priority],
        "me": ctx.agent,
    }


def chrome_context(ctx: AgentContext) -> dict[str, Any]:
    return {
        "me": ctx.agent,
        "is_admin": ctx.agent.role == Role.admin,
        "bell_count": queries.unread_notification_count(ctx.session, ctx.scope.agent_id),
        "views": VIEW_LABELS,
        "locales": available_locales(),
    }


async def home(request: Request) -> Response:
    return RedirectResponse("/inbox", status_code=303)


async def inbox_page(request: Request, selected_id: int | None = None) -> Response:
    app = state(request)
    f = list_filter(request)
    with signed_in(request) as ctx:
        context = {**chrome_context(ctx), **list_context(ctx, f)}
        context["has_inboxes"] = ctx.session.exec(select(Inbox.id)).first() is not None
        if selected_id is not None:
            conversation = get_visible_conversation(ctx.session, ctx.scope, selected_id)
            context.update(thread_context(ctx, conversation))
            queries.mark_read(ctx.session, ctx.scope.agent_id, selected_id, utcnow())
        return app.templates.TemplateResponse(request, "inbox.html", context)


async def conversation_list(request: Request) -> Response:
    app = state(request)
    f = list_filter(request)
    cursor = request.query_params.get("cursor")
    with signed_in(request) as ctx:
        context = list_context(ctx, f, cursor)
        block = "list_rows" if cursor else "conversation_list"
        return app.templates.TemplateResponse(request, "inbox.html", context, block_name=block)


async def conversation_view(request: Request) -> Response:
    conversation_id = int(request.path_params["id"])
    if not request.headers.get("hx-request"):
        return await inbox_page(request, conversation_id)
    app = state(request)
    with signed_in(request) as ctx:
        conversation = get_visible_conversation(ctx.session, ctx.scope, conversation_id)
        context = thread_context(ctx, conversation)
        queries.mark_read(ctx.session, ctx.scope.agent_id, conversation_id, utcnow())
        return app.templates.TemplateResponse(
            request, "inbox.html", context, block_name="conversation_pane"
        )


def _version(form: FormData) -> int | None:
    raw = str(form.get("version", "")).strip()
    return int(raw) if raw.isdigit() else None


async def reply(request: Request) -> Response:
    app = state(request)
    form = await uploads.reply_form(request)
    with signed_in(request) as ctx:
        conversation = get_visible_conversation(
            ctx.session, ctx.scope, int(request.path_params["id"])
        )
        force = form.get("force") == "1"
        files = await uploads.files_of(form)
        uploads.check_channel_takes(ctx.session, conversation, files)
        try:
            message = conv.do_reply(
                session=ctx.session,
                conversation=conversation,
                agent=ctx.agent,
                content=str(form.get("content", "")),
                expected_version=None if force else _version(form),
                files=files,
            )
        except Conflict as exc:
            # With files, "Send anyway" sends the reply box again: they are still chosen there.
            context = {
                "message": exc.message,
                "content": form.get("content", ""),
                "c": conversation,
                "with_files": bool(files),
            }
            return app.templates.TemplateResponse(
                request,
                "inbox.html",
                context,
                block_name="collision",
                status_code=409,
                headers={"HX-Retarget": "#composer-alert", "HX-Reswap": "innerHTML"},
            )
        await let_listeners_run()
        return _posted(request, ctx, conversation, message)


async def note(request: Request) -> Response:
    form = await uploads.reply_form(request)
    with signed_in(request) as ctx:
        conversation = get_visible_conversation(
            ctx.session, ctx.scope, int(request.path_params["id"])
        )
        message = do_add_note(
            session=ctx.session,
            conversation=conversation,
            agent=ctx.agent,
            content=str(form.get("content", "")),
            files=await uploads.files_of(form),
        )
        return _posted(request, ctx, conversation, message)


def _posted(
    request: Request, ctx: AgentContext, conversation: Conversation, message: Any
) -> Response:
    """The new message for the thread; the version and controls (a reply may assign) out of
    band."""
    app = state(request)
    context = {**thread_context(ctx, conversation), "m": message, "oob": True}
    context["senders"] = {ctx.agent.id: ctx.agent}
    return app.templates.TemplateResponse(request, "inbox.html", context, block_name="posted")


async def controls(request: Request) -> Response:
    """The assign, team, priority and status controls, refreshed when someone else changes them."""
    app = state(request)
    with signed_in(request) as ctx:
        conversation = get_visible_conversation(
            ctx.session, ctx.scope, int(request.path_params["id"])
        )
        return app.templates.TemplateResponse(
            request, "inbox.html", thread_context(ctx, conversation), block_name="controls"
        )


async def _change(request: Request, apply: Any) -> Response:
    app = state(request)
    form = await request.form()
    with signed_in(request) as ctx:
        conversation = get_visible_conversation(
            ctx.session, ctx.scope, int(request.path_params["id"])
        )
        apply(ctx, conversation, form)
        if not queries_visible(ctx, conversation):
            return HTMLResponse(app.templates.get_template("_moved.html").render())
        return app.templates.TemplateResponse(
            request, "inbox.html", thread_context(ctx, conversation), block_name="conversation_pane"
        )


def queries_visible(ctx: AgentContext, conversation: Conversation) -> bool:
    from inbox.access import can_see_conversation

    return can_see_conversation(ctx.scope, conversation)


def _optional_id(form: FormData, key: str) -> int | None:
    raw = str(form.get(key, "")).strip()
    if not raw:
        return None
    if not raw.isdigit():
        raise InvalidInput(f"{key} must be a number")
    return int(raw)


async def assign(request: Request) -> Response:
    def apply(ctx: AgentContext, conversation: Conversation, form: FormData) -> None:
        assignee_id = _optional_id(form, "assignee_id")
        assignee = get_or_404(ctx.session, Agent, assignee_id, "agent") if assignee_id else None
        conv.do_assign(
            session=ctx.session, conversation=conversation, assignee=assignee, actor=ctx.agent
        )

    return await _change(request, apply)


async def change_team(request: Request) -> Response:
    def apply(ctx: AgentContext, conversation: Conversation, form: FormData) -> None:
        team_id = _optional_id(form, "team_id")
        team = get_or_404(ctx.session, Team, team_id, "team") if team_id else None
        conv.do_change_team(
            session=ctx.session, conversation=conversation, team=team, actor=ctx.agent
        )

    return await _change(request, apply)


def parse_snooze(form: FormData, now: datetime) -> datetime | None:
    raw = str(form.get("snooze_until", "")).strip()
    if not raw:
        return None
    presets = {"1h": 3600, "4h": 4 * 3600, "tomorrow": 24 * 3600, "week": 7 * 24 * 3600}
    if raw in presets:
        from datetime import timedelta

        return now + timedelta(seconds=presets[raw])
    try:
        value = datetime.fromisoformat(raw)
    except ValueError as exc:
        raise InvalidInput(
            "snooze_until is not a date and time", {"field": "snooze_until"}
        ) from exc
    return value if value.tzinfo else value.replace(tzinfo=UTC)


async def set_status(request: Request) -> Response:
    def apply(ctx: AgentContext, conversation: Conversation, form: FormData) -> None:
        conv.do_set_status(
            session=ctx.session,
            conversation=conversation,
            status=str(form.get("status", "")),
            actor=ctx.agent,
            snooze_until=parse_snooze(form, utcnow()),
        )

    return await _change(request, apply)


async def set_priority(request: Request) -> Response:
    def apply(ctx: AgentContext, conversation: Conversation, form: FormData) -> None:
        conv.do_set_priority(
            session=ctx.session,
            conversation=conversation,
            priority=str(form.get("priority", "")),
            actor=ctx.agent,
        )

    return await _change(request, apply)


async def mentionables(request: Request) -> Response:
    """Who can be @mentioned, for the note box's autocomplete."""
    q = (request.query_params.get("q") or "").lower()
    with signed_in(request) as ctx:
        agents = ctx.session.exec(
            select(Agent).where(col(Agent.deactivated_at).is_(None)).order_by(col(Agent.name))
        ).all()
        teams = ctx.session.exec(select(Team).order_by(col(Team.name))).all()
        options = [{"handle": handle(a.name), "name": a.name, "kind": "agent"} for a in agents] + [
            {"handle": handle(t.name), "name": t.name, "kind": "team"} for t in teams
        ]
    matches = [o for o in options if q in o["handle"].lower() or q in o["name"].lower()]
    return JSONResponse(matches[:8])


async def notifications(request: Request) -> Response:
    app = state(request)
    with signed_in(request) as ctx:
        items = queries.notifications(ctx.session, ctx.scope.agent_id)
        queries.mark_notifications_read(ctx.session, ctx.scope.agent_id, utcnow())
        return app.templates.TemplateResponse(
            request,
            "inbox.html",
            {"notifications": items, "bell_count": 0},
            block_name="notifications",
        )


async def bell(request: Request) -> Response:
    app = state(request)
    with signed_in(request) as ctx:
        return app.templates.TemplateResponse(
            request,
            "inbox.html",
            {"bell_count": queries.unread_notification_count(ctx.session, ctx.scope.agent_id)},
            block_name="bell",
        )


routes = [
    Route("/", home),
    Route("/inbox", inbox_page),
    Route("/inbox/list", conversation_list),
    Route("/conversations/{id:int}", conversation_view),
    Route("/conversations/{id:int}/controls", controls),
    Route("/conversations/{id:int}/reply", reply, methods=["POST"]),
    Route("/conversations/{id:int}/note", note, methods=["POST"]),
    Route("/conversations/{id:int}/assign", assign, methods=["POST"]),
    Route("/conversations/{id:int}/team", change_team, methods=["POST"]),
    Route("/conversations/{id:int}/status", set_status, methods=["POST"]),
    Route("/conversations/{id:int}/priority", set_priority, methods=["POST"]),
    Route("/mentionables", mentionables),
    Route("/notifications", notifications),
    Route("/bell", bell),
]
