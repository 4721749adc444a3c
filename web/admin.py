"""Settings pages for admins: agents, teams, inboxes (docs/concepts/settings.md).

Each page is a table plus a side panel holding the add or edit form. Forms post with htmx;
a success answers the fresh panel plus the table out of band, a domain error answers the
panel again with the message and what was typed, status 422.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select
from starlette.datastructures import FormData
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Route

from inbox.accounts import (
    do_create_agent,
    do_create_inbox,
    do_create_team,
    do_create_token,
    do_deactivate_agent,
    do_end_sessions,
    do_reactivate_agent,
    do_revoke_token,
    do_update_agent,
    do_update_inbox,
    do_update_team,
    get_or_404,
    lock_inbox_config,
    team_ids_of,
    token_of,
    tokens_of,
)
from inbox.clock import utcnow
from inbox.errors import Conflict, Forbidden, HandoffError, InvalidInput
from inbox.inbox_members import check_agent_ids, member_ids_of, members_by_inbox, set_inbox_members
from inbox.models import Agent, Inbox, Membership, Role, Team

from .channel_forms import (
    FORMS,
    SECRET_NAMES,
    check_config,
    endpoints,
    form_for,
    menu_rows,
    menu_rows_typed,
    missing,
    secrets_set,
    shown_values,
    typed_values,
)
from .i18n import gettext
from .state import AgentContext, signed_in, state

Endpoint = Callable[[Request], Awaitable[Response]]
MIN_PASSWORD = 8
# Every channel is set up from this page; the provider channels' fields are in channel_forms.
CREATABLE_CHANNELS = ("webchat", "api", *(f.channel for f in FORMS))


@contextmanager
def admin_only(request: Request) -> Iterator[AgentContext]:
    """The signed-in admin; Unauthorized when signed out, Forbidden for everyone else."""
    with signed_in(request) as ctx:
        if not ctx.scope.is_admin:
            raise Forbidden(gettext("Only admins can change settings."))
        yield ctx


def admin_page(endpoint: Endpoint, heading: str | None = None) -> Endpoint:
    """A settings page that shows non-admins a page saying why, rather than a bare 403.
    `heading` (marked with N_) says who the page is for, when that is not admins only."""

    async def page(request: Request) -> Response:
        try:
            return await endpoint(request)
        except Forbidden as exc:
            if is_fragment(request):
                raise
            context = {"message": exc.message, "heading": gettext(heading) if heading else None}
            return state(request).templates.TemplateResponse(
                request, "settings/forbidden.html", context, status_code=403
            )

    return page


def is_fragment(request: Request) -> bool:
    """An htmx swap; a history restore after a cache miss wants the whole page."""
    return bool(request.headers.get("hx-request")) and not request.headers.get(
        "hx-history-restore-request"
    )


def commit(session: Session, taken: str) -> None:
    """Commit; a unique index refusing the change (say, two admins at once) is a Conflict."""
    try:
        session.commit()
    except IntegrityError as exc:
        session.rollback()
        raise Conflict(taken) from exc


@dataclass(frozen=True)
class Page:
    tab: str
    template: str
    # The panel an htmx form swaps first, then what a success also refreshes out of band.
    blocks: tuple[str, ...]
    context: Callable[[Session], dict[str, Any]]


def show(
    request: Request,
    ctx: AgentContext,
    page: Page,
    *,
    status: int = 200,
    push_url: str | None = None,
    **context: Any,
) -> Response:
    """The whole page, or for htmx its panel (plus, unless it failed, the rest out of band)."""
    templates = state(request).templates
    context = {**chrome(request, ctx, page.tab), **page.context(ctx.session), **context}
    headers = {"HX-Push-Url": push_url} if push_url else None
    if not is_fragment(request):
        return templates.TemplateResponse(
            request, page.template, context, status_code=status, headers=headers
        )
    return templates.TemplateResponse(
        request,
        page.template,
        {**context, "oob": True},
        status_code=status,
        headers=headers,
        block_names=list(page.blocks[:1] if status >= 400 else page.blocks),
    )


def failed(
    request: Request,
    ctx: AgentContext,
    page: Page,
    form: FormData,
    exc: HandoffError,
    **context: Any,
) -> Response:
    """The form again, with the message beside it and what was typed (never the password)."""
    ctx.session.rollback()
    field = exc.detail.get("field") if isinstance(exc.detail, dict) else None
    values: dict[str, Any] = {
        k: str(v) for k, v in form.items() if k != "password" and k not in SECRET_NAMES
    }
    for key in ("team_ids", "member_ids", "departments"):
        values[key] = [str(v) for v in form.getlist(key)]
    values["available"] = form.get("available") is not None
    return show(
        request,
        ctx,
        page,
        status=422,
        values=values,
        error=exc.message,
        error_field=field,
        **context,
    )


def public_base(request: Request) -> str:
    """Where customers and providers reach us: HANDOFF_PUBLIC_URL behind a proxy, else this host."""
    configured = state(request).settings.public_url
    return (configured or str(request.base_url)).rstrip("/")


def chrome(request: Request, ctx: AgentContext, tab: str) -> dict[str, Any]:
    base_url = public_base(request)
    smtp_port = state(request).settings.smtp_port
    return {
        "me": ctx.agent,
        "tab": tab,
        "embed_snippet": lambda inbox: embed_snippet(base_url, inbox),
        "api_endpoint": lambda inbox: f"{base_url}/api/v1/inboxes/{inbox.id}/messages",
        "api_example": lambda inbox: api_example(base_url, inbox),
        "endpoints": lambda inbox: endpoints(base_url, inbox, smtp_port),
        "channel_form": form_for,
        "missing": lambda spec, config: [gettext(label) for label in missing(spec, config)],
    }


def embed_snippet(base_url: str, inbox: Inbox) -> str:
    """What a customer pastes into their site to get the chat widget (CONTRACT.md)."""
    return f'<script src="{base_url}/widget/{inbox.widget_token}.js" async></script>'


def api_example(base_url: str, inbox: Inbox) -> str:
    body = (
        '{"contact": {"identifier": "user-42", "name": "Jane Doe"}, '
        '"content": "Hello!", "external_id": "msg-1"}'
    )
    return (
        f"curl -X POST {base_url}/api/v1/inboxes/{inbox.id}/messages \\\n"
        '  -H "Authorization: Bearer $HANDOFF_TOKEN" \\\n'
        '  -H "Content-Type: application/json" \\\n'
        f"  -d '{body}'"
    )


# Parsing: what the forms send, as the domain wants it.


def text(form: FormData, key: str) -> str:
    return str(form.get(key) or "").strip()


def required(form: FormData, key: str, message: str) -> str:
    value = text(form, key)
    if not value:
        raise InvalidInput(message, {"field": key})
    return value


def ids(form: FormData, key: str) -> list[int]:
    raw = [str(v).strip() for v in form.getlist(key) if str(v).strip()]
    if not all(v.isdigit() for v in raw):
        raise InvalidInput(f"{key} must be numbers", {"field": key})
    return [int(v) for v in raw]


def skills(form: FormData) -> list[str]:
    """Comma-separated, each once, in the order typed."""
    found = [s.strip() for s in text(form, "skills").split(",")]
    return list(dict.fromkeys(s for s in found if s))


def count(form: FormData, key: str, default: int) -> int:
    raw = text(form, key)
    if not raw:
        return default
    if not raw.isdigit():
        raise InvalidInput(gettext("Capacity must be a whole number"), {"field": key})
    return int(raw)


def password(form: FormData, *, needed: bool) -> str:
    value = str(form.get("password") or "")
    if not value and not needed:
        return ""
    if len(value) < MIN_PASSWORD:
        raise InvalidInput(
            gettext("The password needs at least %(n)d characters") % {"n": MIN_PASSWORD},
            {"field": "password"},
        )
    return value


def tier(form: FormData) -> int:
    raw = text(form, "tier")
    if raw not in ("0", "1", "2", "3"):
        raise InvalidInput("tier must be 0, 1, 2 or 3", {"field": "tier"})
    return int(raw)


def departments(session: Session, form: FormData) -> list[int]:
    """The teams ticked for the widget's question, each an existing team, in form order."""
    wanted = list(dict.fromkeys(ids(form, "departments")))
    known = set(session.exec(select(Team.id).where(col(Team.id).in_(wanted))).all())
    for team_id in wanted:
        if team_id not in known:
            raise InvalidInput(f"no team {team_id}", {"field": "departments"})
    return wanted


def channel_config(
    session: Session, channel: str, form: FormData, stored: dict[str, Any] | None = None
) -> dict[str, Any]:
    """The config the form describes; on edit, `stored` keeps the secrets left blank."""
    if spec := form_for(channel):
        return check_config(session, spec, form, stored)
    if channel == "webchat":
        return {"departments": departments(session, form), "greeting": text(form, "greeting")}
    url = text(form, "webhook_url")
    if url and not url.startswith(("https://", "http://")):
        raise InvalidInput(
            gettext("The webhook URL must start with https://"), {"field": "webhook_url"}
        )
    return {"webhook_url": url}


def path_id(request: Request) -> int:
    return int(request.path_params["id"])


# What each page shows


def all_teams(session: Session) -> list[Team]:
    return list(session.exec(select(Team).order_by(col(Team.tier), col(Team.name))).all())


def all_agents(session: Session) -> list[Agent]:
    return list(session.exec(select(Agent).order_by(col(Agent.name))).all())


def active_agents(session: Session) -> list[Agent]:
    """Who can be made a member of something: deactivated agents are offered nowhere."""
    return [a for a in all_agents(session) if a.deactivated_at is None]


def agents_context(session: Session) -> dict[str, Any]:
    # Deactivated agents go to the bottom (a stable sort keeps each part by name): the list
    # is mostly for the people still working.
    agents = sorted(all_agents(session), key=lambda a: a.deactivated_at is not None)
    teams = all_teams(session)
    by_id = {t.id: t for t in teams}
    teams_of: dict[int | None, list[Team]] = {a.id: [] for a in agents}
    for m in session.exec(select(Membership)).all():
        teams_of.setdefault(m.agent_id, []).append(by_id[m.team_id])
    defaults = {"role": Role.agent, "capacity": "10", "available": True}
    return {
        "agents": agents,
        "teams": teams,
        "teams_of": teams_of,
        "values": defaults,
        # Called by the panel only when it shows an agent, so the list page queries nothing.
        "tokens_of": lambda agent: tokens_of(session, agent),
        "now": utcnow(),  # which tokens have expired
    }


def teams_context(session: Session) -> dict[str, Any]:
    members = Counter(session.exec(select(Membership.team_id)).all())
    return {"teams": all_teams(session), "member_counts": members, "values": {"tier": "1"}}


def inboxes_context(session: Session) -> dict[str, Any]:
    return {
        "inboxes": session.exec(select(Inbox).order_by(col(Inbox.name))).all(),
        "agents": all_agents(session),
        "member_choices": active_agents(session),
        "teams": all_teams(session),
        "members_of": members_by_inbox(session),
        "values": {},
        "channel_forms": FORMS,
        "channel_values": {f.channel: shown_values(f, None) for f in FORMS},
        "menu_defaults": menu_rows([]),
    }


def inbox_context(session: Session) -> dict[str, Any]:
    return {"member_choices": active_agents(session), "teams": all_teams(session)}


AGENTS = Page("agents", "settings/agents.html", ("agent_panel", "agents_table"), agents_context)
TEAMS = Page("teams", "settings/teams.html", ("team_panel", "teams_table"), teams_context)
INBOXES = Page(
    "inboxes", "settings/inboxes.html", ("inbox_panel", "inboxes_table"), inboxes_context
)
INBOX = Page(
    "inboxes",
    "settings/inbox.html",
    ("inbox_form", "inbox_header", "inbox_details"),
    inbox_context,
)


async def settings_home(request: Request) -> Response:
    with admin_only(request):
        return RedirectResponse("/settings/agents", status_code=303)


# Agents


async def agents_page(request: Request) -> Response:
    with admin_only(request) as ctx:
        return show(request, ctx, AGENTS)


def agent_values(session: Session, agent: Agent) -> dict[str, Any]:
    """The edit form filled in with what is stored."""
    assert agent.id is not None
    return {
        "name": agent.name,
        "role": agent.role,
        "team_ids": [str(i) for i in team_ids_of(session, agent.id)],
        "skills": ", ".join(agent.skills),
        "capacity": str(agent.capacity),
        "available": agent.available,
    }


async def agent_page(request: Request) -> Response:
    with admin_only(request) as ctx:
        agent = get_or_404(ctx.session, Agent, path_id(request), "agent")
        values = agent_values(ctx.session, agent)
        return show(request, ctx, AGENTS, editing=agent, values=values)


async def create_agent(request: Request) -> Response:
    with admin_only(request) as ctx:
        form = await request.form()
        try:
            agent = do_create_agent(
                session=ctx.session,
                name=required(form, "name", gettext("Enter the agent's name")),
                email=text(form, "email"),
                role=text(form, "role") or Role.agent,
                password=password(form, needed=True),
                team_ids=ids(form, "team_ids"),
                skills=skills(form),
                capacity=count(form, "capacity", 10),
            )
            commit(ctx.session, gettext("That email is already taken"))
        except HandoffError as exc:
            return failed(request, ctx, AGENTS, form, exc)
        notice = gettext("%(name)s was added and can sign in with the password you set.")
        return show(request, ctx, AGENTS, notice=notice % {"name": agent.name})


async def update_agent(request: Request) -> Response:
    with admin_only(request) as ctx:
        agent = get_or_404(ctx.session, Agent, path_id(request), "agent")
        form = await request.form()
        try:
            role = text(form, "role") or agent.role
            if agent.id == ctx.agent.id and role != Role.admin:
                # Demoting yourself would lock you out of this page halfway through.
                raise InvalidInput(
                    gettext("You cannot take away your own admin role; ask another admin."),
                    {"field": "role"},
                )
            changes: dict[str, Any] = {
                "name": required(form, "name", gettext("Enter the agent's name")),
                "role": role,
                "team_ids": ids(form, "team_ids"),
                "skills": skills(form),
                "available": form.get("available") is not None,
                "capacity": count(form, "capacity", agent.capacity),
            }
            if new_password := password(form, needed=False):
                changes["password"] = new_password
            do_update_agent(session=ctx.session, agent=agent, changes=changes)
            commit(ctx.session, gettext("That email is already taken"))
        except HandoffError as exc:
            return failed(request, ctx, AGENTS, form, exc, editing=agent)
        notice = gettext("Saved changes to %(name)s.") % {"name": agent.name}
        return show(request, ctx, AGENTS, notice=notice, push_url="/settings/agents")


AgentAction = Callable[[AgentContext, Agent], str]


async def agent_action(request: Request, act: AgentAction) -> Response:
    """A button on an agent's panel: `act` does it and says what was done; the panel comes
    back with that notice, or, refused, as stored with the reason."""
    with admin_only(request) as ctx:
        agent = get_or_404(ctx.session, Agent, path_id(request), "agent")
        try:
            notice = act(ctx, agent)
            ctx.session.commit()
        except HandoffError as exc:
            return refused(request, ctx, agent, exc)
        values = agent_values(ctx.session, agent)
        return show(request, ctx, AGENTS, editing=agent, values=values, notice=notice)


async def deactivate_agent(request: Request) -> Response:
    def deactivate(ctx: AgentContext, agent: Agent) -> str:
        do_deactivate_agent(session=ctx.session, agent=agent, actor=ctx.agent)
        return gettext(
            "%(name)s was deactivated: they are signed out, their API tokens are deleted "
            "and their open conversations go back to their teams."
        ) % {"name": agent.name}

    return await agent_action(request, deactivate)


async def reactivate_agent(request: Request) -> Response:
    def reactivate(ctx: AgentContext, agent: Agent) -> str:
        do_reactivate_agent(session=ctx.session, agent=agent, actor=ctx.agent)
        return gettext(
            "%(name)s can sign in again with their password. They take no new conversations "
            "until they turn Available on."
        ) % {"name": agent.name}

    return await agent_action(request, reactivate)


async def sign_out_agent(request: Request) -> Response:
    """Every browser session of theirs ends (a lost laptop); `handoff sign-out` does the same."""

    def sign_out(ctx: AgentContext, agent: Agent) -> str:
        do_end_sessions(session=ctx.session, agent=agent)
        return gettext("%(name)s was signed out of every browser.") % {"name": agent.name}

    return await agent_action(request, sign_out)


async def create_token(request: Request) -> Response:
    """A new API token for the agent, shown in their panel this once."""
    with admin_only(request) as ctx:
        agent = get_or_404(ctx.session, Agent, path_id(request), "agent")
        form = await request.form()
        try:
            token = do_create_token(
                session=ctx.session,
                agent=agent,
                label=text(form, "label"),
                actor=ctx.agent,
                expires_at=_token_expiry(text(form, "expires_in_days")),
            )
            ctx.session.commit()
        except HandoffError as exc:
            return refused(request, ctx, agent, exc)
        values = agent_values(ctx.session, agent)
        response = show(request, ctx, AGENTS, editing=agent, values=values, new_token=token)
        # The only copy of the raw token: no cache or back button may keep it.
        response.headers["Cache-Control"] = "no-store"
        return response


# The choices the token form offers, in days; empty is "never".
TOKEN_LIFETIMES = frozenset({30, 90, 365})


def _token_expiry(days: str) -> datetime | None:
    if not days:
        return None
    if not days.isdigit() or int(days) not in TOKEN_LIFETIMES:
        raise InvalidInput(gettext("Pick when the token expires"), {"field": "expires_in_days"})
    return utcnow() + timedelta(days=int(days))


async def revoke_token(request: Request) -> Response:
    with admin_only(request) as ctx:
        agent = get_or_404(ctx.session, Agent, path_id(request), "agent")
        token = token_of(ctx.session, agent, int(request.path_params["token_id"]))
        label = token.label or gettext("(no label)")
        do_revoke_token(session=ctx.session, token=token, actor=ctx.agent)
        ctx.session.commit()
        notice = gettext("The API token %(label)s was revoked: requests with it are refused.")
        values = agent_values(ctx.session, agent)
        return show(
            request, ctx, AGENTS, editing=agent, values=values, notice=notice % {"label": label}
        )


def refused(request: Request, ctx: AgentContext, agent: Agent, exc: HandoffError) -> Response:
    """A button's action refused: the agent's panel again, as stored, with the reason."""
    ctx.session.rollback()
    values = agent_values(ctx.session, agent)
    return show(request, ctx, AGENTS, status=422, editing=agent, values=values, error=exc.message)


# Teams


async def teams_page(request: Request) -> Response:
    with admin_only(request) as ctx:
        return show(request, ctx, TEAMS)


async def team_page(request: Request) -> Response:
    with admin_only(request) as ctx:
        team = get_or_404(ctx.session, Team, path_id(request), "team")
        values = {"name": team.name, "tier": str(team.tier), "skills": ", ".join(team.skills)}
        return show(request, ctx, TEAMS, editing=team, values=values)


async def create_team(request: Request) -> Response:
    with admin_only(request) as ctx:
        form = await request.form()
        try:
            team = do_create_team(
                session=ctx.session,
                name=required(form, "name", gettext("Enter the team's name")),
                tier=tier(form),
                skills=skills(form),
            )
            commit(ctx.session, gettext("A team with that name exists"))
        except HandoffError as exc:
            return failed(request, ctx, TEAMS, form, exc)
        notice = gettext("Team %(name)s was added. Put agents in it from the Agents tab.")
        return show(request, ctx, TEAMS, notice=notice % {"name": team.name})


async def update_team(request: Request) -> Response:
    with admin_only(request) as ctx:
        team = get_or_404(ctx.session, Team, path_id(request), "team")
        form = await request.form()
        try:
            changes = {
                "name": required(form, "name", gettext("Enter the team's name")),
                "tier": tier(form),
                "skills": skills(form),
            }
            do_update_team(session=ctx.session, team=team, changes=changes)
            # Renaming onto another team's name is refused by the unique index, here.
            commit(ctx.session, gettext("A team with that name exists"))
        except HandoffError as exc:
            return failed(request, ctx, TEAMS, form, exc, editing=team)
        notice = gettext("Saved changes to %(name)s.") % {"name": team.name}
        return show(request, ctx, TEAMS, notice=notice, push_url="/settings/teams")


# Inboxes


async def inboxes_page(request: Request) -> Response:
    """The list and the add form; `?channel=slack` opens the form on that channel."""
    with admin_only(request) as ctx:
        wanted = request.query_params.get("channel")
        chosen = wanted if wanted in CREATABLE_CHANNELS else None
        return show(request, ctx, INBOXES, form_channel=chosen)


async def create_inbox(request: Request) -> Response:
    with admin_only(request) as ctx:
        form = await request.form()
        channel = text(form, "channel")
        try:
            if channel not in CREATABLE_CHANNELS:
                raise InvalidInput(gettext("Pick a channel for the inbox."), {"field": "channel"})
            inbox = do_create_inbox(
                session=ctx.session,
                name=required(form, "name", gettext("Give the inbox a name")),
                channel=channel,
                config=channel_config(ctx.session, channel, form),
                member_ids=check_agent_ids(ctx.session, ids(form, "member_ids")),
            )
            commit(ctx.session, gettext("That inbox could not be saved; try again"))
        except HandoffError as exc:
            return failed(request, ctx, INBOXES, form, exc, form_channel=channel, **typed(form))
        return show(request, ctx, INBOXES, created=inbox)


def typed(form: FormData) -> dict[str, Any]:
    """A provider channel's fields as typed, to show again beside an error (no secrets)."""
    spec = form_for(text(form, "channel"))
    if spec is None:
        return {}
    return {
        "typed": typed_values(spec, form),
        "menu": menu_rows(menu_rows_typed(form), blank=1),
    }


def inbox_values(session: Session, inbox: Inbox) -> dict[str, Any]:
    assert inbox.id is not None
    if spec := form_for(inbox.channel):
        return {
            "name": inbox.name,
            "member_ids": [str(i) for i in member_ids_of(session, inbox.id)],
            **shown_values(spec, inbox.config),
        }
    return {
        "name": inbox.name,
        "greeting": str(inbox.config.get("greeting") or ""),
        "webhook_url": str(inbox.config.get("webhook_url") or ""),
        "departments": [str(i) for i in inbox.config.get("departments") or []],
        "member_ids": [str(i) for i in member_ids_of(session, inbox.id)],
    }


def inbox_extras(inbox: Inbox) -> dict[str, Any]:
    """What a provider channel's page adds: which secrets are stored, the voice menu rows."""
    spec = form_for(inbox.channel)
    if spec is None:
        return {}
    return {
        "secrets": secrets_set(spec, inbox.config),
        "menu": menu_rows(inbox.config.get("menu") or []),
    }


async def inbox_page(request: Request) -> Response:
    with admin_only(request) as ctx:
        inbox = get_or_404(ctx.session, Inbox, path_id(request), "inbox")
        values = inbox_values(ctx.session, inbox)
        return show(request, ctx, INBOX, inbox=inbox, values=values, **inbox_extras(inbox))


async def update_inbox(request: Request) -> Response:
    with admin_only(request) as ctx:
        inbox = get_or_404(ctx.session, Inbox, path_id(request), "inbox")
        form = await request.form()
        try:
            # The secrets left blank are kept from the config as stored now.
            lock_inbox_config(ctx.session, inbox)
            name = required(form, "name", gettext("Give the inbox a name"))
            changes: dict[str, Any] = {"name": name}
            if inbox.channel in CREATABLE_CHANNELS:
                changes["config"] = channel_config(
                    ctx.session, inbox.channel, form, dict(inbox.config)
                )
            do_update_inbox(session=ctx.session, inbox=inbox, changes=changes)
            set_inbox_members(ctx.session, inbox, ids(form, "member_ids"))
            commit(ctx.session, gettext("That inbox could not be saved; try again"))
        except HandoffError as exc:
            ctx.session.rollback()  # before reading which secrets are stored
            extras = inbox_extras(inbox)
            if "menu" in extras:
                extras["menu"] = menu_rows(menu_rows_typed(form), blank=1)
            return failed(request, ctx, INBOX, form, exc, inbox=inbox, **extras)
        values = inbox_values(ctx.session, inbox)
        return show(
            request,
            ctx,
            INBOX,
            inbox=inbox,
            values=values,
            notice=gettext("Saved."),
            **inbox_extras(inbox),
        )


routes = [
    Route("/settings", admin_page(settings_home)),
    Route("/settings/agents", admin_page(agents_page)),
    Route("/settings/agents", create_agent, methods=["POST"]),
    Route("/settings/agents/{id:int}", admin_page(agent_page)),
    Route("/settings/agents/{id:int}", update_agent, methods=["POST"]),
    Route("/settings/agents/{id:int}/deactivate", deactivate_agent, methods=["POST"]),
    Route("/settings/agents/{id:int}/reactivate", reactivate_agent, methods=["POST"]),
    Route("/settings/agents/{id:int}/sign-out", sign_out_agent, methods=["POST"]),
    Route("/settings/agents/{id:int}/tokens", create_token, methods=["POST"]),
    Route("/settings/agents/{id:int}/tokens/{token_id:int}/revoke", revoke_token, methods=["POST"]),
    Route("/settings/teams", admin_page(teams_page)),
    Route("/settings/teams", create_team, methods=["POST"]),
    Route("/settings/teams/{id:int}", admin_page(team_page)),
    Route("/settings/teams/{id:int}", update_team, methods=["POST"]),
    Route("/settings/inboxes", admin_page(inboxes_page)),
    Route("/settings/inboxes", create_inbox, methods=["POST"]),
    Route("/settings/inboxes/{id:int}", admin_page(inbox_page)),
    Route("/settings/inboxes/{id:int}", update_inbox, methods=["POST"]),
]
