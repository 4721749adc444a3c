"""The JSON API at /api/v1 (CONTRACT.md, docs/api.md), bearer-token authenticated.

Each route parses (web/api_input.py), calls one domain function and answers JSON
(web/api_views.py). Reads go through inbox/access.py, so a conversation an agent may not see
answers 404 exactly like one that does not exist. Teams, agents and inboxes are in
web/api_settings.py.
"""

from __future__ import annotations

from typing import TypeVar

from sqlmodel import SQLModel
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import BaseRoute, Route

from inbox import conversations as conv
from inbox import queries
from inbox.access import get_visible_conversation
from inbox.errors import Forbidden, InvalidInput
from inbox.models import Agent, Conversation, Message, Team
from inbox.notes import do_add_note

from . import api_settings, uploads
from .api_input import Fields, api_agent, json_body, path_id, query_bool, query_int, query_limit
from .api_views import Json, conversations_json, id_page, listing, messages_json, ok
from .state import AgentContext, let_listeners_run

M = TypeVar("M", bound=SQLModel)

# Conversations


def conversation_filter(request: Request) -> queries.ConversationFilter:
    p = request.query_params
    return queries.ConversationFilter(
        escalated=query_bool(request, "escalated"),
        breaching=query_bool(request, "breaching"),
        view=p.get("view") or "all",
        status=p.get("status") or None,
        team_id=query_int(request, "team_id"),
        assignee_id=query_int(request, "assignee_id"),
        inbox_id=query_int(request, "inbox_id"),
        tier=query_int(request, "tier"),
        q=(p.get("q") or "").strip() or None,
    )


async def list_conversations(request: Request) -> JSONResponse:
    with api_agent(request) as ctx:
        page = queries.list_conversations(
            ctx.session,
            ctx.scope,
            conversation_filter(request),
            limit=query_limit(request, 25),
            cursor=request.query_params.get("cursor") or None,
        )
        return ok(listing(conversations_json(ctx.session, page.items), page.next_cursor))


def _conversation(ctx: AgentContext, request: Request) -> Conversation:
    return get_visible_conversation(ctx.session, ctx.scope, path_id(request))


def _one(ctx: AgentContext, conversation: Conversation) -> Json:
    return conversations_json(ctx.session, [conversation])[0]


async def get_conversation(request: Request) -> JSONResponse:
    with api_agent(request) as ctx:
        return ok(_one(ctx, _conversation(ctx, request)))


async def list_messages(request: Request) -> JSONResponse:
    with api_agent(request) as ctx:
        conversation = _conversation(ctx, request)
        messages, cursor = id_page(
            ctx.session,
            Message,
            limit=query_limit(request, 100),
            cursor=request.query_params.get("cursor"),
            conversation_id=conversation.id,
        )
        return ok(listing(messages_json(ctx.session, conversation, messages), cursor))


async def post_message(request: Request) -> JSONResponse:
    with api_agent(request) as ctx:
        conversation = _conversation(ctx, request)
        fields = await json_body(
            request,
            {"content", "private", "version", "attachments"},
            limit=uploads.MAX_JSON_WITH_FILES,
        )
        files = uploads.files_in_json(fields)
        content = fields.text("content", max_length=conv.MAX_CONTENT) or ""
        if fields.boolean("private"):
            message = do_add_note(
                session=ctx.session,
                conversation=conversation,
                agent=ctx.agent,
                content=content,
                files=files,
            )
        else:
            uploads.check_channel_takes(ctx.session, conversation, files)
            message = conv.do_reply(
                session=ctx.session,
                conversation=conversation,
                agent=ctx.agent,
                content=content,
                expected_version=fields.integer("version"),
                files=files,
            )
        return ok(messages_json(ctx.session, conversation, [message])[0], 201)


async def set_status(request: Request) -> JSONResponse:
    with api_agent(request) as ctx:
        conversation = _conversation(ctx, request)
        fields = await json_body(request, {"status", "snooze_until"})
        conv.do_set_status(
            session=ctx.session,
            conversation=conversation,
            status=fields.required_text("status", max_length=16),
            snooze_until=fields.timestamp("snooze_until"),
            actor=ctx.agent,
        )
        return ok(_one(ctx, conversation))


def _referenced(ctx: AgentContext, fields: Fields, key: str, model: type[M]) -> M | None:
    """The row a body field names by id (None for null); a 422 naming the field if none."""
    id_ = fields.integer(key)
    row = ctx.session.get(model, id_) if id_ is not None else None
    if id_ is not None and row is None:
        raise InvalidInput(f"no {model.__name__.lower()} {id_}", {"field": key})
    return row


async def assign(request: Request) -> JSONResponse:
    with api_agent(request) as ctx:
        conversation = _conversation(ctx, request)
        fields = await json_body(request, {"assignee_id"})
        if "assignee_id" not in fields:
            raise InvalidInput(
                "assignee_id is required (null to unassign)", {"field": "assignee_id"}
            )
        assignee = _referenced(ctx, fields, "assignee_id", Agent)
        conv.do_assign(
            session=ctx.session, conversation=conversation, assignee=assignee, actor=ctx.agent
        )
        return ok(_one(ctx, conversation))


async def change_team(request: Request) -> JSONResponse:
    with api_agent(request) as ctx:
        conversation = _conversation(ctx, request)
        fields = await json_body(request, {"team_id"})
        if "team_id" not in fields:
            raise InvalidInput("team_id is required (null for no team)", {"field": "team_id"})
        team = _referenced(ctx, fields, "team_id", Team)
        conv.do_change_team(
            session=ctx.session, conversation=conversation, team=team, actor=ctx.agent
        )
        return ok(_one(ctx, conversation))


# The generic API channel


async def receive(request: Request) -> JSONResponse:
    """A customer's message from an integration; a repeated `external_id` is stored once."""
    with api_agent(request) as ctx:
        inbox_id = path_id(request)
        # The inbox itself is read by the domain, with the duplicate check: one query less
        # on the busiest route. An id nobody may post to is refused before either.
        if not (ctx.scope.is_admin or inbox_id in ctx.scope.inbox_ids):
            raise Forbidden("Only admins and members of this inbox can post to it")
        fields = await json_body(request, {"contact", "content", "external_id", "team_id"})
        contact = fields.nested("contact", {"identifier", "name", "email", "phone"}, required=True)
        assert contact is not None
        team = _referenced(ctx, fields, "team_id", Team)
        received = conv.do_receive_inbound(
            session=ctx.session,
            inbound=conv.InboundMessage(
                inbox_id=inbox_id,
                identifier=contact.required_text("identifier", max_length=320).strip(),
                name=(contact.text("name", max_length=200) or "").strip(),
                email=(contact.text("email", max_length=320) or "").strip().lower() or None,
                phone=(contact.text("phone", max_length=64) or "").strip() or None,
                content=fields.required_text("content", max_length=conv.MAX_CONTENT),
                # An empty id would make every message without one a "repeat" of the first.
                external_id=(fields.text("external_id", max_length=255) or "").strip() or None,
                team_id=team.id if team else None,
                expected_channel="api",
            ),
        )
        await let_listeners_run()
        body = {
            "message": messages_json(ctx.session, received.conversation, [received.message])[0],
            "conversation_id": received.conversation.id,
            "contact_id": received.contact.id,
        }
        return ok(body, 200 if received.duplicate else 201)


routes: list[BaseRoute] = [
    # First: every customer message through the API channel comes this way.
    Route("/inboxes/{id:int}/messages", receive, methods=["POST"]),
    *api_settings.routes,
    Route("/conversations", list_conversations, methods=["GET"]),
    Route("/conversations/{id:int}", get_conversation, methods=["GET"]),
    Route("/conversations/{id:int}/messages", list_messages, methods=["GET"]),
    Route("/conversations/{id:int}/messages", post_message, methods=["POST"]),
    Route("/conversations/{id:int}/status", set_status, methods=["POST"]),
    Route("/conversations/{id:int}/assign", assign, methods=["POST"]),
    Route("/conversations/{id:int}/team", change_team, methods=["POST"]),
]
