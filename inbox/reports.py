"""The escalation log and its figures (docs/concepts/reports.md).

One read, a handful of grouped queries whatever the number of escalations: the log rows with
their conversations' whole escalation chains, the SLA stages and CSAT answers of those
conversations, names, and two aggregates for the headline figures. Everything else is
computed here in Python from what those queries bring back.
"""

from __future__ import annotations

import json
import statistics
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from sqlalchemy import ColumnElement, and_, case, exists, func, not_, or_
from sqlmodel import Session, col, select
from sqlmodel.sql.expression import SelectOfScalar

from .access import Scope, visible
from .clock import utcnow
from .errors import Forbidden, InvalidInput
from .models import (
    Agent,
    Conversation,
    CsatResponse,
    Escalation,
    Inbox,
    Role,
    SlaStageRun,
    Status,
    Team,
)

MAX_DAYS = 366
TIERS = (0, 1, 2, 3)
# SLA target stages are keyed `<target>.<cycle>.breach` (inbox/sla.py); ladder stages
# `ladder.<cycle>.<name>`, and a ladder stage someone named "breach" is not a target's breach.
BREACH_ENDINGS = (".breach", ":breach")
LADDER_PREFIX = "ladder."
TOTALS_BY = ("reason", "team", "tier", "agent", "channel")


@dataclass(frozen=True)
class EscalationRow:
    """One escalation as the log shows it."""

    id: int
    conversation_id: int
    kind: str
    reason: str
    trigger: str
    from_tier: int
    to_tier: int
    from_team: str | None
    to_team: str | None
    agent: str | None  # who escalated; None when a rule, the SLA, the bot or the customer did
    accepted_by: str | None
    channel: str
    brief: dict[str, Any]
    brief_text: str
    created_at: datetime
    accepted_at: datetime | None
    closed_at: datetime | None
    seconds_to_accept: float | None
    seconds_in_tier: dict[int, float]
    sla_stages: list[str]
    transfers: int
    reopens: int
    outcome: str
    csat_after: int | None


@dataclass(frozen=True)
class Total:
    """Escalations sharing one reason, team, tier, agent or channel."""

    key: str | int | None
    count: int
    accepted: int
    median_seconds_to_accept: float | None


@dataclass(frozen=True)
class DayCount:
    day: date
    count: int


@dataclass(frozen=True)
class Figures:
    """What a manager reads at a glance; each rate is None when its denominator is zero."""

    escalations: int
    conversations: int
    escalated_conversations: int
    escalation_rate: float | None
    accepted: int
    median_seconds_to_accept: float | None
    breached_conversations: int
    breach_rate: float | None
    csat_after_escalation: float | None
    csat_after_escalation_count: int
    csat_overall: float | None
    csat_overall_count: int


@dataclass(frozen=True)
class Report:
    start: date
    end: date  # inclusive
    figures: Figures
    per_day: list[DayCount]
    totals: dict[str, list[Total]]
    rows: list[EscalationRow]


def check_can_read_reports(scope: Scope) -> None:
    """Reports are for managers and admins; what they cover is still limited by `visible`."""
    if scope.role not in (Role.admin, Role.manager):
        raise Forbidden("Only managers and admins can read reports")


def check_window(start: date, end: date) -> None:
    if start > end:
        raise InvalidInput("from must be on or before to", {"field": "from"})
    if (end - start).days + 1 > MAX_DAYS:
        raise InvalidInput(f"a report covers at most {MAX_DAYS} days", {"field": "to"})


def window_bounds(start: date, end: date) -> tuple[datetime, datetime]:
    """Whole UTC days: [start 00:00, the day after end 00:00)."""
    return (
        datetime.combine(start, time.min, tzinfo=UTC),
        datetime.combine(end + timedelta(days=1), time.min, tzinfo=UTC),
    )


def escalation_report(
    session: Session, scope: Scope, start: date, end: date, *, now: datetime | None = None
) -> Report:
    """Every escalation created in the window on a conversation `scope` may see, with figures.

    `now` ends the time in tier of escalations still under way.
    """
    check_window(start, end)
    now = now or utcnow()
    since, until = window_bounds(start, end)
    in_window = and_(col(Escalation.created_at) >= since, col(Escalation.created_at) < until)
    escalated = (
        select(Escalation.conversation_id)
        .join(Conversation, col(Conversation.id) == col(Escalation.conversation_id))
        .where(visible(scope), in_window)
    )
    # Whole chains, also their escalations outside the window: time in tier needs them.
    chain_rows = session.exec(
        select(Escalation, Conversation, Inbox.channel)
        .join(Conversation, col(Conversation.id) == col(Escalation.conversation_id))
        .join(Inbox, col(Inbox.id) == col(Conversation.inbox_id))
        .where(col(Escalation.conversation_id).in_(escalated))
        .order_by(col(Escalation.created_at), col(Escalation.id))
    ).all()
    stages = _stages(session, escalated)
    ratings = _ratings(session, escalated)
    teams = dict(session.exec(select(Team.id, Team.name)).all())
    agent_ids = {
        i for e, _, _ in chain_rows for i in (e.agent_id, e.accepted_by_id) if i is not None
    }
    agents = (
        dict(session.exec(select(Agent.id, Agent.name).where(col(Agent.id).in_(agent_ids))).all())
        if agent_ids
        else {}
    )

    chains: dict[int, list[Escalation]] = defaultdict(list)
    for e, _, _ in chain_rows:
        chains[e.conversation_id].append(e)
    rows: list[EscalationRow] = []
    for e, conversation, channel in chain_rows:
        if not since <= e.created_at < until:
            continue
        assert e.id is not None
        rows.append(
            EscalationRow(
                id=e.id,
                conversation_id=e.conversation_id,
                kind=e.kind,
                reason=e.reason,
                trigger=e.trigger,
                from_tier=e.from_tier,
                to_tier=e.to_tier,
                from_team=teams.get(e.from_team_id) if e.from_team_id else None,
                to_team=teams.get(e.to_team_id) if e.to_team_id else None,
                agent=agents.get(e.agent_id) if e.agent_id else None,
                accepted_by=agents.get(e.accepted_by_id) if e.accepted_by_id else None,
                channel=channel,
                brief=e.brief,
                brief_text=brief_text(e.brief),
                created_at=e.created_at,
                accepted_at=e.accepted_at,
                closed_at=e.closed_at,
                seconds_to_accept=seconds_to_accept(e),
                seconds_in_tier=seconds_in_tier(conversation, chains[e.conversation_id], e, now),
                sla_stages=stages.get(e.conversation_id, []),
                transfers=conversation.transfer_count,
                reopens=conversation.reopen_count,
                outcome=e.status,
                csat_after=_first_rating_after(ratings.get(e.conversation_id, []), e.created_at),
            )
        )
    return Report(
        start=start,
        end=end,
        figures=_figures(session, scope, since, until, rows),
        per_day=per_day(rows, start, end),
        totals=totals(rows),
        rows=rows,
    )


# --- Per escalation


def is_breach(stage_key: str) -> bool:
    """A stage run that records an SLA target's breach."""
    return stage_key.endswith(BREACH_ENDINGS) and not stage_key.startswith(LADDER_PREFIX)


def breach_key() -> ColumnElement[bool]:
    """`is_breach` as SQL."""
    key = col(SlaStageRun.stage_key)
    return and_(
        or_(*(key.like(f"%{ending}") for ending in BREACH_ENDINGS)),
        not_(key.like(f"{LADDER_PREFIX}%")),
    )


def brief_text(brief: dict[str, Any]) -> str:
    """The brief as `field: value` lines, in the order it was written."""
    lines = []
    for field, value in brief.items():
        text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
        lines.append(f"{field}: {text}")
    return "\n".join(lines)


def seconds_to_accept(escalation: Escalation) -> float | None:
    if escalation.accepted_at is None:
        return None
    return max(0.0, (escalation.accepted_at - escalation.created_at).total_seconds())


def stay_end(
    conversation: Conversation, escalation: Escalation, following: Escalation | None, now: datetime
) -> datetime:
    """When the conversation stopped being under `escalation`: the earliest of the next
    escalation, the escalation's close and the conversation's resolution; else `now`."""
    ends = [
        at
        for at in (
            following.created_at if following else None,
            escalation.closed_at,
            conversation.resolved_at if conversation.status == Status.resolved else None,
        )
        if at is not None and at >= escalation.created_at
    ]
    return min(ends) if ends else max(now, escalation.created_at)


def seconds_in_tier(
    conversation: Conversation, chain: list[Escalation], upto: Escalation, now: datetime
) -> dict[int, float]:
    """Seconds per tier from the conversation's start to the end of `upto`'s stay: before its
    first escalation at that escalation's from_tier, then under each escalation at its to_tier.
    `chain` is every escalation of the conversation, oldest first."""
    spent: dict[int, float] = defaultdict(float)
    first = chain[0]
    spent[first.from_tier] += max(0.0, (first.created_at - conversation.created_at).total_seconds())
    for i, e in enumerate(chain):
        following = chain[i + 1] if i + 1 < len(chain) else None
        end = stay_end(conversation, e, following, now)
        spent[e.to_tier] += max(0.0, (end - e.created_at).total_seconds())
        if e.id == upto.id:
            break
    return dict(sorted(spent.items()))


def _first_rating_after(answers: list[tuple[datetime, int]], at: datetime) -> int | None:
    return next((rating for answered_at, rating in answers if answered_at >= at), None)


def _stages(session: Session, conversations: SelectOfScalar[int]) -> dict[int, list[str]]:
    found: dict[int, list[str]] = defaultdict(list)
    for conversation_id, key in session.exec(
        select(SlaStageRun.conversation_id, SlaStageRun.stage_key)
        .where(col(SlaStageRun.conversation_id).in_(conversations))
        .order_by(col(SlaStageRun.fired_at), col(SlaStageRun.id))
    ).all():
        found[conversation_id].append(key)
    return found


def _ratings(
    session: Session, conversations: SelectOfScalar[int]
) -> dict[int, list[tuple[datetime, int]]]:
    found: dict[int, list[tuple[datetime, int]]] = defaultdict(list)
    for conversation_id, answered_at, rating in session.exec(
        select(CsatResponse.conversation_id, CsatResponse.answered_at, CsatResponse.rating)
        .where(
            col(CsatResponse.conversation_id).in_(conversations),
            col(CsatResponse.rating).is_not(None),
            col(CsatResponse.answered_at).is_not(None),
        )
        .order_by(col(CsatResponse.answered_at), col(CsatResponse.id))
    ).all():
        assert answered_at is not None and rating is not None
        found[conversation_id].append((answered_at, rating))
    return found


# --- Over the window


def median_to_accept(rows: Iterable[EscalationRow]) -> float | None:
    waits = [r.seconds_to_accept for r in rows if r.seconds_to_accept is not None]
    return float(statistics.median(waits)) if waits else None


def rate(part: int, whole: int) -> float | None:
    return part / whole if whole else None


def per_day(rows: list[EscalationRow], start: date, end: date) -> list[DayCount]:
    """Every day of the window, days without escalations included (UTC days)."""
    counts: dict[date, int] = defaultdict(int)
    for row in rows:
        counts[row.created_at.astimezone(UTC).date()] += 1
    days = (end - start).days + 1
    return [DayCount(d, counts[d]) for d in (start + timedelta(days=n) for n in range(days))]


KEYS: dict[str, Callable[[EscalationRow], str | int | None]] = {
    "reason": lambda r: r.reason or None,
    "team": lambda r: r.to_team,
    "tier": lambda r: r.to_tier,
    "agent": lambda r: r.agent,
    "channel": lambda r: r.channel,
}


def totals(rows: list[EscalationRow]) -> dict[str, list[Total]]:
    """Per reason, target team, target tier, escalating agent and channel; most first."""
    result: dict[str, list[Total]] = {}
    for name in TOTALS_BY:
        groups: dict[str | int | None, list[EscalationRow]] = defaultdict(list)
        for row in rows:
            groups[KEYS[name](row)].append(row)
        result[name] = sorted(
            (
                Total(
                    key=key,
                    count=len(members),
                    accepted=sum(1 for r in members if r.accepted_at is not None),
                    median_seconds_to_accept=median_to_accept(members),
                )
                for key, members in groups.items()
            ),
            key=lambda t: (-t.count, t.key is None, str(t.key)),
        )
    return result


def _figures(
    session: Session, scope: Scope, since: datetime, until: datetime, rows: list[EscalationRow]
) -> Figures:
    created_in_window: list[ColumnElement[bool]] = [
        visible(scope),
        col(Conversation.created_at) >= since,
        col(Conversation.created_at) < until,
    ]
    was_escalated = exists().where(
        col(Escalation.conversation_id) == col(Conversation.id),
        col(Escalation.created_at) < until,
    )
    breached = exists().where(
        col(SlaStageRun.conversation_id) == col(Conversation.id),
        breach_key(),
        col(SlaStageRun.fired_at) < until,
    )
    conversations, escalated_count, breached_count = session.exec(
        select(
            func.count(),
            func.coalesce(func.sum(case((was_escalated, 1), else_=0)), 0),
            func.coalesce(func.sum(case((breached, 1), else_=0)), 0),
        )
        .select_from(Conversation)
        .where(*created_in_window)
    ).one()
    csat: dict[bool, tuple[float, int]] = {}
    for escalated_flag, average, count in session.exec(
        select(
            CsatResponse.escalated,
            func.avg(CsatResponse.rating),
            func.count(col(CsatResponse.rating)),
        )
        .join(Conversation, col(Conversation.id) == col(CsatResponse.conversation_id))
        .where(
            visible(scope),
            col(CsatResponse.rating).is_not(None),
            col(CsatResponse.answered_at) >= since,
            col(CsatResponse.answered_at) < until,
        )
        .group_by(col(CsatResponse.escalated))
    ).all():
        csat[bool(escalated_flag)] = (float(average), int(count))
    after_avg, after_n = csat.get(True, (0.0, 0))
    other_avg, other_n = csat.get(False, (0.0, 0))
    overall_n = after_n + other_n
    return Figures(
        escalations=len(rows),
        conversations=int(conversations),
        escalated_conversations=int(escalated_count),
        escalation_rate=rate(int(escalated_count), int(conversations)),
        accepted=sum(1 for r in rows if r.accepted_at is not None),
        median_seconds_to_accept=median_to_accept(rows),
        breached_conversations=int(breached_count),
        breach_rate=rate(int(breached_count), int(conversations)),
        csat_after_escalation=after_avg if after_n else None,
        csat_after_escalation_count=after_n,
        csat_overall=(after_avg * after_n + other_avg * other_n) / overall_n if overall_n else None,
        csat_overall_count=overall_n,
    )
