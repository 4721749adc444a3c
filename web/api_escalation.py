"""Escalations and shortcuts in the JSON API (CONTRACT.md; docs/concepts/escalation.md,
docs/concepts/shortcuts.md), mounted under /api/v1.

- `POST /conversations/{id}/escalations`: `{"shortcut_id"}` or `{"team_id"}` or `{"tier"}`
  (the tier to reach) or `{"skill"}`, plus `{"brief": {...}}` and an optional `reason`; 201
  with the escalation, 422 without a brief that meets the shortcut's required fields.
- `GET /conversations/{id}/escalations`, `POST /escalations/{id}/accept`.
- `GET/POST /shortcuts`, `GET/PATCH /shortcuts/{id}`: everyone reads, admins write.
"""

from __future__ import annotations

from typing import Any

from sqlmodel import Session
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import BaseRoute, Route

from inbox.access import get_visible_conversation
from inbox.accounts import get_or_404
from inbox.errors import InvalidInput, NotFound
from inbox.escalation import do_accept, do_escalate, escalations_of
from inbox.models import Escalation, Shortcut, Team
from inbox.shortcuts_store import do_create_shortcut, do_update_shortcut, list_shortcuts

from .api_input import api_agent, json_body, path_id, require_admin
from .api_views import Json, escalation_json, iso, listing, ok

ESCALATE_FIELDS = {"shortcut_id", "team_id", "tier", "tier_up", "skill", "brief", "reason"}
SHORTCUT_FIELDS = {"label", "target", "brief_fields", "actions", "active", "position"}


def escalations_json(session: Session, conversation_id: int) -> list[Json]:
    """What `GET /conversations/{id}` lists under `escalations`, oldest first."""
    return [escalation_json(e) for e in escalations_of(session, conversation_id)]


def shortcut_json(shortcut: Shortcut, *, secrets: bool) -> Json:
    actions = dict(shortcut.actions)
    if not secrets and actions.get("webhook_secret"):
        actions["webhook_secret"] = None
    return {
        "id": shortcut.id,
        "label": shortcut.label,
        "target": shortcut.target,
        "brief_fields": shortcut.brief_fields,
        "actions": actions,
        "position": shortcut.position,
        "active": shortcut.active,
        "created_at": iso(shortcut.created_at),
    }


def _id(value: Any, field: str) -> int:
    if not isinstance(value, int) or isinstance(value, bool):
        raise InvalidInput(f"{field} must be an integer", {"field": field})
    return value


async def escalate(request: Request) -> JSONResponse:
    with api_agent(request) as ctx:
        conversation = get_visible_conversation(ctx.session, ctx.scope, path_id(request))
        fields = await json_body(request, ESCALATE_FIELDS)
        chosen = [
            key for key in ("shortcut_id", "team_id", "tier", "tier_up", "skill") if key in fields
        ]
        if not chosen:
            raise InvalidInput(
                "say where to: shortcut_id, team_id, tier or skill", {"field": "team_id"}
            )
        shortcut = team = None
        tier_up = 0
        if "shortcut_id" in fields:
            found = ctx.session.get(Shortcut, _id(fields.data["shortcut_id"], "shortcut_id"))
            if found is None or not found.active:
                raise InvalidInput("no such shortcut", {"field": "shortcut_id"})
            shortcut = found
        if "team_id" in fields:
            team = ctx.session.get(Team, _id(fields.data["team_id"], "team_id"))
            if team is None:
                raise InvalidInput("no such team", {"field": "team_id"})
        if "tier" in fields:
            tier = fields.integer("tier", minimum=0, maximum=3)
            assert tier is not None
            if tier <= conversation.tier:
                raise InvalidInput(
                    f"tier must be above the conversation's L{conversation.tier}",
                    {"field": "tier"},
                )
            tier_up = tier - conversation.tier
        if "tier_up" in fields:
            tier_up = fields.integer("tier_up", minimum=1, maximum=3) or 0
        escalation = do_escalate(
            session=ctx.session,
            conversation=conversation,
            actor=ctx.agent,
            trigger="agent",
            brief=fields.obj("brief") or {},
            to_team=team,
            tier_up=tier_up,
            skill=fields.text("skill", max_length=64),
            reason=fields.text("reason", max_length=500) or (shortcut.label if shortcut else ""),
            shortcut=shortcut,
        )
        return ok(escalation_json(escalation), 201)


async def list_escalations(request: Request) -> JSONResponse:
    with api_agent(request) as ctx:
        conversation = get_visible_conversation(ctx.session, ctx.scope, path_id(request))
        assert conversation.id is not None
        return ok(listing(escalations_json(ctx.session, conversation.id), None))


async def accept(request: Request) -> JSONResponse:
    with api_agent(request) as ctx:
        escalation = ctx.session.get(Escalation, path_id(request))
        if escalation is None:
            raise NotFound("No such escalation")
        # 404 alike for escalations of conversations this agent may not see.
        get_visible_conversation(ctx.session, ctx.scope, escalation.conversation_id)
        do_accept(session=ctx.session, escalation=escalation, agent=ctx.agent)
        return ok(escalation_json(escalation))


async def get_shortcuts(request: Request) -> JSONResponse:
    with api_agent(request) as ctx:
        items = [shortcut_json(s, secrets=ctx.scope.is_admin) for s in list_shortcuts(ctx.session)]
        return ok(listing(items, None))


async def get_shortcut(request: Request) -> JSONResponse:
    with api_agent(request) as ctx:
        shortcut = get_or_404(ctx.session, Shortcut, path_id(request), "shortcut")
        return ok(shortcut_json(shortcut, secrets=ctx.scope.is_admin))


async def create_shortcut(request: Request) -> JSONResponse:
    with api_agent(request) as ctx:
        require_admin(ctx, "define shortcuts")
        fields = await json_body(request, SHORTCUT_FIELDS - {"position"})
        data = fields.data
        if "label" not in data:
            raise InvalidInput("label is required", {"field": "label"})
        shortcut = do_create_shortcut(
            session=ctx.session,
            label=data["label"],
            target=data.get("target"),
            brief_fields=data.get("brief_fields"),
            actions=data.get("actions"),
            active=fields.boolean("active") is not False,
            actor=ctx.agent,
        )
        return ok(shortcut_json(shortcut, secrets=True), 201)


async def update_shortcut(request: Request) -> JSONResponse:
    with api_agent(request) as ctx:
        require_admin(ctx, "change shortcuts")
        shortcut = get_or_404(ctx.session, Shortcut, path_id(request), "shortcut")
        fields = await json_body(request, SHORTCUT_FIELDS)
        do_update_shortcut(
            session=ctx.session, shortcut=shortcut, changes=dict(fields.data), actor=ctx.agent
        )
        return ok(shortcut_json(shortcut, secrets=True))


routes: list[BaseRoute] = [
    Route("/conversations/{id:int}/escalations", escalate, methods=["POST"]),
    Route("/conversations/{id:int}/escalations", list_escalations, methods=["GET"]),
    Route("/escalations/{id:int}/accept", accept, methods=["POST"]),
    Route("/shortcuts", get_shortcuts, methods=["GET"]),
    Route("/shortcuts", create_shortcut, methods=["POST"]),
    Route("/shortcuts/{id:int}", get_shortcut, methods=["GET"]),
    Route("/shortcuts/{id:int}", update_shortcut, methods=["PATCH"]),
]
