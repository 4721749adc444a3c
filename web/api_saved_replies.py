"""Saved replies in the JSON API (docs/api.md, docs/concepts/saved-replies.md), mounted under
/api/v1: `GET /saved-replies?q=` lists the ones the token's agent may use, as stored (the
placeholders are filled in only when an agent picks one in a conversation)."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import BaseRoute, Route

from inbox.models import SavedReply
from inbox.saved_replies import saved_replies_for

from .api_input import api_agent, query_limit
from .api_views import Json, iso, listing, ok


def saved_reply_json(reply: SavedReply) -> Json:
    return {
        "id": reply.id,
        "shortcut": reply.shortcut,
        "title": reply.title,
        "content": reply.content,
        "team_id": reply.team_id,
        "created_by_id": reply.created_by_id,
        "created_at": iso(reply.created_at),
        "updated_at": iso(reply.updated_at),
    }


async def list_saved_replies(request: Request) -> JSONResponse:
    """One page, best matches first; `q` narrows it, since relevance has no cursor."""
    limit = query_limit(request, 100)
    with api_agent(request) as ctx:
        replies = saved_replies_for(ctx.session, ctx.scope, request.query_params.get("q"), limit)
        return ok(listing([saved_reply_json(r) for r in replies], None))


routes: list[BaseRoute] = [Route("/saved-replies", list_saved_replies, methods=["GET"])]
