"""The escalation policy in the browser (docs/concepts/escalation-policy.md).

`/settings/policy` lets admins read a summary and edit the whole document as YAML; `/matrix`
is the printable escalation matrix every agent is trained on. Both read the policy in force
through inbox/policy_store.py; the summary helpers below only arrange it for the templates.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlmodel import Session, col, select
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from inbox.errors import HandoffError
from inbox.models import Agent, PolicyDocument, Team
from inbox.policy import Calendar, Policy, Stage, Weekday
from inbox.policy_store import current_policy, do_save_policy, policy_from_yaml, policy_to_yaml

from .admin import Page, admin_only, admin_page, failed, show
from .i18n import gettext
from .state import signed_in, state

PRIORITIES = ("urgent", "high", "normal", "low")


def duration(minutes: float | None) -> str:
    """30 min, 2 h, 1 h 30 min: SLA targets as people say them."""
    if minutes is None:
        return "—"
    whole = round(minutes)
    hours, rest = divmod(whole, 60)
    if not hours:
        return gettext("%(n)d min") % {"n": rest}
    if not rest:
        return gettext("%(n)d h") % {"n": hours}
    return gettext("%(h)d h %(m)d min") % {"h": hours, "m": rest}


WEEK: tuple[Weekday, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")


def week(calendar: Calendar) -> list[tuple[str, str, list[tuple[str, str]]]]:
    """Business hours as people write them: days in a row with the same hours grouped,
    (first day, last day, periods), so Mon–Fri 09:00–17:00 rather than five lines."""
    runs: list[tuple[str, str, list[tuple[str, str]]]] = []
    previous: str | None = None
    for day in WEEK:
        periods = calendar.hours.get(day)
        if not periods:
            previous = None
            continue
        if runs and previous is not None and runs[-1][2] == periods:
            runs[-1] = (runs[-1][0], day, periods)
        else:
            runs.append((day, day, list(periods)))
        previous = day
    return runs


@dataclass(frozen=True)
class SavedBy:
    at: str
    by: str | None


def saved_by(session: Session) -> SavedBy | None:
    """When and by whom the policy in force was saved; None while the default applies."""
    row = session.exec(
        select(PolicyDocument.saved_at, Agent.name)
        .join(Agent, col(Agent.id) == col(PolicyDocument.saved_by_agent_id), isouter=True)
        .order_by(col(PolicyDocument.id).desc())
        .limit(1)
    ).first()
    if row is None:
        return None
    at, name = row
    return SavedBy(at.strftime("%Y-%m-%d %H:%M UTC"), name)


def recipients(policy: Policy, stage: Stage) -> list[str]:
    """Who a ladder stage tells, by name and role as the matrix prints them."""
    found: list[str] = []
    for who in stage.notify:
        if who == "assignee":
            found.append(gettext("the assignee"))
            continue
        people = policy.people_for([who])
        found += [f"{p.name} ({p.role.replace('_', ' ')})" for p in people]
    return list(dict.fromkeys(found))


def sla_grid(policy: Policy) -> dict[str, Any]:
    """Targets by priority (rows) and customer tier (columns), for every channel.

    Channel-specific policies do not fit one grid; the page lists them underneath.
    """
    general = [s for s in policy.sla if not s.channels]
    columns: list[str | None] = list(
        dict.fromkeys(tier for s in general for tier in s.customer_tiers)
    )
    columns.append(None)
    rows = [
        (
            priority,
            [next((s for s in general if s.matches(priority, "", tier)), None) for tier in columns],
        )
        for priority in PRIORITIES
    ]
    return {
        "columns": columns,
        "rows": rows,
        "by_channel": [s for s in policy.sla if s.channels],
    }


def summary(session: Session, policy: Policy) -> dict[str, Any]:
    """What both pages show: the policy, its readable parts, and which teams exist."""
    return {
        "policy": policy,
        "known_teams": set(session.exec(select(Team.name)).all()),
        "saved": saved_by(session),
        "duration": duration,
        "recipients": lambda stage: recipients(policy, stage),
        "week": week,
    }


def policy_context(session: Session) -> dict[str, Any]:
    policy = current_policy(session)
    return {**summary(session, policy), "yaml_text": policy_to_yaml(policy), "values": {}}


POLICY = Page("policy", "settings/policy.html", ("policy_editor", "policy_summary"), policy_context)


async def policy_page(request: Request) -> Response:
    with admin_only(request) as ctx:
        return show(request, ctx, POLICY)


async def save_policy(request: Request) -> Response:
    with admin_only(request) as ctx:
        form = await request.form()
        try:
            policy = policy_from_yaml(str(form.get("yaml") or ""))
            do_save_policy(session=ctx.session, policy=policy, actor=ctx.agent)
        except HandoffError as exc:
            problems = exc.detail.get("errors") if isinstance(exc.detail, dict) else None
            return failed(request, ctx, POLICY, form, exc, problems=problems or [])
        notice = gettext("Saved. The new policy is in force from now on.")
        return show(request, ctx, POLICY, notice=notice)


async def download_policy(request: Request) -> Response:
    with admin_only(request) as ctx:
        text = policy_to_yaml(current_policy(ctx.session))
    return Response(
        text,
        media_type="application/yaml; charset=utf-8",
        headers={"content-disposition": 'attachment; filename="handoff-policy.yaml"'},
    )


async def matrix_page(request: Request) -> Response:
    """The escalation matrix, for any signed-in agent: nothing secret is on it."""
    with signed_in(request) as ctx:
        policy = current_policy(ctx.session)
        levels = sorted(
            {t.level for t in policy.tiers if t.teams}
            | {level for row in policy.matrix for level in row.tiers}
        )
        context = {
            **summary(ctx.session, policy),
            "me": ctx.agent,
            "levels": levels,
            "tier_names": {t.level: t.name for t in policy.tiers},
            "grid": sla_grid(policy),
        }
        return state(request).templates.TemplateResponse(request, "matrix.html", context)


routes = [
    Route("/settings/policy", admin_page(policy_page)),
    Route("/settings/policy", save_policy, methods=["POST"]),
    Route("/settings/policy/download", admin_page(download_policy)),
    Route("/matrix", matrix_page),
]
