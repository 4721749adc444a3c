"""Settings through the JSON API (docs/api.md#teams-agents-and-inboxes): teams, agents and
inboxes. Anyone with a token reads them; only admins create and change them, and only admins
see an inbox's `config`, which holds the channel's secrets."""

from __future__ import annotations

from typing import Any

from sqlmodel import col, select
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import BaseRoute, Route

from inbox.accounts import (
    do_create_agent,
    do_create_inbox,
    do_create_team,
    do_deactivate_agent,
    do_reactivate_agent,
    do_update_agent,
    do_update_inbox,
    do_update_team,
    get_or_404,
)
from inbox.errors import Conflict, InvalidInput
from inbox.inbox_members import check_agent_ids, set_inbox_members
from inbox.models import Agent, Inbox, Role, Team

from .api_input import (
    Fields,
    api_agent,
    json_body,
    path_id,
    query_limit,
    require_admin,
)
from .api_views import agents_json, id_page, inboxes_json, listing, ok, team_json

TEAM_FIELDS = {"name", "tier", "skills"}
AGENT_FIELDS = {"name", "role", "team_ids", "skills", "available", "capacity", "locale", "password"}
INBOX_FIELDS = {"name", "channel", "config"}


def changes(fields: Fields, readers: dict[str, Any]) -> dict[str, Any]:
    """The fields present in a PATCH body, each read with its typed reader."""
    return {key: read(key) for key, read in readers.items() if key in fields}


# Teams


async def list_teams(request: Request) -> JSONResponse:
    with api_agent(request) as ctx:
        teams, cursor = id_page(
            ctx.session,
            Team,
            limit=query_limit(request, 100),
            cursor=request.query_params.get("cursor"),
        )
        return ok(listing([team_json(t) for t in teams], cursor))


async def get_team(request: Request) -> JSONResponse:
    with api_agent(request) as ctx:
        return ok(team_json(get_or_404(ctx.session, Team, path_id(request), "team")))


def _team_readers(fields: Fields) -> dict[str, Any]:
    return {
        "name": lambda k: fields.required_text(k, max_length=200).strip(),
        "tier": lambda k: _present(fields.integer(k, maximum=3), k),
        "skills": lambda k: fields.strings(k) or [],
    }


async def create_team(request: Request) -> JSONResponse:
    with api_agent(request) as ctx:
        require_admin(ctx, "create teams")
        fields = await json_body(request, TEAM_FIELDS)
        tier = fields.integer("tier", maximum=3)
        team = do_create_team(
            session=ctx.session,
            name=fields.required_text("name", max_length=200),
            tier=1 if tier is None else tier,
            skills=fields.strings("skills") or [],
        )
        ctx.session.commit()
        return ok(team_json(team), 201)


async def update_team(request: Request) -> JSONResponse:
    with api_agent(request) as ctx:
        require_admin(ctx, "change teams")
        team = get_or_404(ctx.session, Team, path_id(request), "team")
        fields = await json_body(request, TEAM_FIELDS)
        wanted = changes(fields, _team_readers(fields))
        if (
            "name" in wanted
            and ctx.session.exec(
                select(Team.id).where(Team.name == wanted["name"], col(Team.id) != team.id)
            ).first()
        ):
            raise Conflict(f"a team named {wanted['name']} exists")
        do_update_team(session=ctx.session, team=team, changes=wanted)
        ctx.session.commit()
        return ok(team_json(team))


# Agents


async def list_agents(request: Request) -> JSONResponse:
    with api_agent(request) as ctx:
        agents, cursor = id_page(
            ctx.session,
            Agent,
            limit=query_limit(request, 100),
            cursor=request.query_params.get("cursor"),
        )
        return ok(listing(agents_json(ctx.session, agents), cursor))


async def get_agent(request: Request) -> JSONResponse:
    with api_agent(request) as ctx:
        agent = get_or_404(ctx.session, Agent, path_id(request), "agent")
        return ok(agents_json(ctx.session, [agent])[0])


def _agent_readers(fields: Fields) -> dict[str, Any]:
    return {
        "name": lambda k: fields.required_text(k, max_length=200).strip(),
        "role": lambda k: fields.choice(k, [r.value for r in Role]),
        "password": lambda k: fields.text(k, max_length=1000),
        "team_ids": lambda k: fields.ids(k) or [],
        "skills": lambda k: fields.strings(k) or [],
        "available": lambda k: _present(fields.boolean(k), k),
        "capacity": lambda k: _present(fields.integer(k, maximum=1000), k),
        "locale": lambda k: fields.required_text(k, max_length=16),
    }


def _present(value: Any, key: str) -> Any:
    if value is None:
        raise InvalidInput(f"{key} cannot be null", {"field": key})
    return value


async def create_agent(request: Request) -> JSONResponse:
    with api_agent(request) as ctx:
        require_admin(ctx, "create agents")
        fields = await json_body(request, AGENT_FIELDS | {"email"})
        email = fields.required_text("email", max_length=320)
        given = changes(fields, _agent_readers(fields))
        if "name" not in given:
            raise InvalidInput("name is required", {"field": "name"})
        agent = do_create_agent(session=ctx.session, email=email, **given)
        ctx.session.commit()
        return ok(agents_json(ctx.session, [agent])[0], 201)


async def update_agent(request: Request) -> JSONResponse:
    with api_agent(request) as ctx:
        require_admin(ctx, "change agents")
        agent = get_or_404(ctx.session, Agent, path_id(request), "agent")
        fields = await json_body(request, AGENT_FIELDS | {"email", "active"})
        if "email" in fields and fields.text("email") != agent.email:
            raise InvalidInput("email cannot be changed", {"field": "email"})
        wanted = changes(fields, _agent_readers(fields))
        active = _present(fields.boolean("active"), "active") if "active" in fields else None
        # Reactivate before the other changes (they may turn availability on), deactivate
        # after them (it turns availability off, whatever they said).
        if active is True:
            do_reactivate_agent(session=ctx.session, agent=agent, actor=ctx.agent)
        if wanted or active is None:
            do_update_agent(session=ctx.session, agent=agent, changes=wanted)
        if active is False:
            do_deactivate_agent(session=ctx.session, agent=agent, actor=ctx.agent)
        ctx.session.commit()
        return ok(agents_json(ctx.session, [agent])[0])


# Inboxes


async def list_inboxes(request: Request) -> JSONResponse:
    with api_agent(request) as ctx:
        inboxes, cursor = id_page(
            ctx.session,
            Inbox,
            limit=query_limit(request, 100),
            cursor=request.query_params.get("cursor"),
        )
        items = inboxes_json(ctx.session, inboxes, with_config=ctx.scope.is_admin)
        return ok(listing(items, cursor))


async def get_inbox(request: Request) -> JSONResponse:
    with api_agent(request) as ctx:
        inbox = get_or_404(ctx.session, Inbox, path_id(request), "inbox")
        return ok(inboxes_json(ctx.session, [inbox], with_config=ctx.scope.is_admin)[0])


async def create_inbox(request: Request) -> JSONResponse:
    with api_agent(request) as ctx:
        require_admin(ctx, "create inboxes")
        fields = await json_body(request, INBOX_FIELDS | {"member_ids"})
        member_ids = check_agent_ids(ctx.session, fields.ids("member_ids") or [])
        inbox = do_create_inbox(
            session=ctx.session,
            name=fields.required_text("name", max_length=200),
            channel=fields.required_text("channel", max_length=16),
            config=fields.obj("config") or {},
            member_ids=member_ids,
        )
        ctx.session.commit()
        return ok(inboxes_json(ctx.session, [inbox], with_config=True)[0], 201)


async def update_inbox(request: Request) -> JSONResponse:
    with api_agent(request) as ctx:
        require_admin(ctx, "change inboxes")
        inbox = get_or_404(ctx.session, Inbox, path_id(request), "inbox")
        fields = await json_body(request, INBOX_FIELDS | {"member_ids"})
        if "channel" in fields and fields.text("channel") != inbox.channel:
            raise InvalidInput(
                "channel cannot be changed; create a new inbox instead", {"field": "channel"}
            )
        wanted = changes(
            fields,
            {
                "name": lambda k: fields.required_text(k, max_length=200).strip(),
                "config": lambda k: fields.obj(k, required=True),
            },
        )
        if wanted:
            do_update_inbox(session=ctx.session, inbox=inbox, changes=wanted)
        if "member_ids" in fields:
            set_inbox_members(ctx.session, inbox, fields.ids("member_ids") or [])
        ctx.session.commit()
        return ok(inboxes_json(ctx.session, [inbox], with_config=True)[0])


routes: list[BaseRoute] = [
    Route("/teams", list_teams, methods=["GET"]),
    Route("/teams", create_team, methods=["POST"]),
    Route("/teams/{id:int}", get_team, methods=["GET"]),
    Route("/teams/{id:int}", update_team, methods=["PATCH"]),
    Route("/agents", list_agents, methods=["GET"]),
    Route("/agents", create_agent, methods=["POST"]),
    Route("/agents/{id:int}", get_agent, methods=["GET"]),
    Route("/agents/{id:int}", update_agent, methods=["PATCH"]),
    Route("/inboxes", list_inboxes, methods=["GET"]),
    Route("/inboxes", create_inbox, methods=["POST"]),
    Route("/inboxes/{id:int}", get_inbox, methods=["GET"]),
    Route("/inboxes/{id:int}", update_inbox, methods=["PATCH"]),
]
