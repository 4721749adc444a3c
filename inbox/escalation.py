"""Escalations (docs/concepts/escalation.md): raising a conversation to another team or tier.

An escalation is a record of its own: functional (to the team with the skill) or hierarchical
(a tier up); who or what triggered it, the reason and the brief; accepted by whom and when;
bounced, returned or resolved and when. Escalating moves the conversation, pins the brief,
mentions the target team in a note, tells the customer, and starts the acknowledge-or-bounce
clock: nobody in the target team accepting within `rules.acknowledge_minutes` sends it one
tier up on its own.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlmodel import Session, col, select

from . import lifecycle
from .access import audience_of, can_see_conversation, scope_for
from .audit import record
from .clock import utcnow
from .conversation_writes import _activity, _assign, _touch, add_message, notify
from .customer_updates import send_customer_update
from .db import queue_event
from .errors import Conflict, Forbidden, InvalidInput, NotFound
from .events import Audience, Event
from .models import (
    Agent,
    Alert,
    Conversation,
    Escalation,
    EscalationKind,
    EscalationStatus,
    Membership,
    Mention,
    Message,
    MessageKind,
    Priority,
    Role,
    Shortcut,
    Status,
    Team,
    Trigger,
)
from .notes import handle, parse_mentions
from .policy import Policy
from .policy_store import current_policy
from .shortcuts_store import check_brief, format_brief

TOP_TIER = 3


@dataclass(frozen=True)
class Target:
    team: Team
    tier: int
    kind: str


# Where to: functional (a team, or the team with a skill) or hierarchical (tiers up).


def _team_named(session: Session, name: str | None) -> Team | None:
    if not name:
        return None
    return session.exec(select(Team).where(Team.name == name)).first()


def _usable(team: Team | None, current: Team | None) -> bool:
    return team is not None and (current is None or team.id != current.id)


def hierarchical_target(
    session: Session, policy: Policy, conversation: Conversation, level: int
) -> Target:
    """The team at tier `level`: the matrix row for the conversation's current team or skill,
    else the first team of that tier in the policy, else the first team stored at that tier."""
    if level > TOP_TIER:
        raise InvalidInput(
            f"This conversation is already at L{conversation.tier}: there is no tier above "
            f"L{TOP_TIER} (management)",
            {"field": "tier"},
        )
    current = session.get(Team, conversation.team_id) if conversation.team_id else None
    for row in policy.matrix:
        matches = current is not None and (
            row.tiers.get(conversation.tier) == current.name
            or (row.skill is not None and row.skill in current.skills)
        )
        team = _team_named(session, row.tiers.get(level)) if matches else None
        if team is not None and _usable(team, current):
            return Target(team, level, EscalationKind.hierarchical)
    for tier in policy.tiers:
        if tier.level == level:
            for name in tier.teams:
                team = _team_named(session, name)
                if team is not None and _usable(team, current):
                    return Target(team, level, EscalationKind.hierarchical)
    stored = session.exec(
        select(Team).where(Team.tier == level).order_by(col(Team.name), col(Team.id))
    ).all()
    for team in stored:
        if _usable(team, current):
            return Target(team, level, EscalationKind.hierarchical)
    raise InvalidInput(f"No team at L{level} to escalate to", {"field": "tier"})


def skill_target(
    session: Session, policy: Policy, conversation: Conversation, skill: str, tier_up: int
) -> Target:
    """The team whose skills include `skill` (at the tier asked for, or the nearest at or
    above this one), else the matrix row for that skill or problem."""
    skill = skill.strip().lower()
    current = session.get(Team, conversation.team_id) if conversation.team_id else None
    level = conversation.tier + tier_up if tier_up else None
    teams = session.exec(select(Team).order_by(col(Team.tier), col(Team.name), col(Team.id))).all()
    for team in teams:
        at_level = team.tier == level if level is not None else team.tier >= conversation.tier
        if at_level and skill in [s.lower() for s in team.skills] and _usable(team, current):
            return Target(team, team.tier, EscalationKind.functional)
    for row in policy.matrix:
        if skill not in ((row.skill or "").lower(), row.problem.lower()):
            continue
        levels = [level] if level is not None else sorted(row.tiers)
        for at in levels:
            listed = _team_named(session, row.tiers.get(at))
            if listed is not None and _usable(listed, current) and at >= conversation.tier:
                return Target(listed, at, EscalationKind.functional)
    raise InvalidInput(f"No team takes {skill!r}: add the skill to a team", {"field": "skill"})


def resolve_target(
    session: Session,
    policy: Policy,
    conversation: Conversation,
    *,
    to_team: Team | None,
    tier_up: int,
    skill: str | None,
) -> Target:
    if tier_up < 0:
        raise InvalidInput("tier must be 1 or more tiers up", {"field": "tier"})
    if to_team is not None and (skill or tier_up):
        raise InvalidInput(
            "Escalate to a team, a skill or a tier up: only one", {"field": "target"}
        )
    if to_team is not None:
        target = Target(to_team, to_team.tier, EscalationKind.functional)
    elif skill:
        target = skill_target(session, policy, conversation, skill, tier_up)
    elif tier_up:
        target = hierarchical_target(session, policy, conversation, conversation.tier + tier_up)
    else:
        raise InvalidInput(
            "Say where to: a team, a skill, or a number of tiers up", {"field": "target"}
        )
    if target.team.id == conversation.team_id:
        raise InvalidInput(
            f"This conversation is already with {target.team.name}", {"field": "team_id"}
        )
    if target.tier > TOP_TIER:
        raise InvalidInput(f"There is no tier above L{TOP_TIER}", {"field": "tier"})
    return target


# Escalating


def do_escalate(
    *,
    session: Session,
    conversation: Conversation,
    actor: Agent | None,
    trigger: str,
    brief: dict[str, Any],
    to_team: Team | None = None,
    tier_up: int = 0,
    skill: str | None = None,
    reason: str = "",
    shortcut: Shortcut | None = None,
    now: datetime | None = None,
) -> Escalation:
    """Escalate in one transaction and commit: functional (to_team or skill) or hierarchical
    (tier_up). Writes the record, moves the conversation, pins the brief, mentions the target
    team in a note, tells the customer, starts the acknowledge-or-bounce clock."""
    now = now or utcnow()
    if trigger not in {t.value for t in Trigger}:
        raise InvalidInput(
            "trigger must be agent, rule, sla, bot or customer", {"field": "trigger"}
        )
    if conversation.status == Status.resolved:
        raise InvalidInput("This conversation is resolved: reopen it before escalating")
    if len(reason) > 500:
        raise InvalidInput("reason: at most 500 characters", {"field": "reason"})
    cleaned = check_brief(shortcut, brief)
    policy = current_policy(session)
    if shortcut is not None and not (to_team or tier_up or skill):
        to_team, tier_up, skill = _shortcut_target(session, shortcut)
    target = resolve_target(
        session, policy, conversation, to_team=to_team, tier_up=tier_up, skill=skill
    )
    try:
        escalation = _escalate(
            session,
            policy,
            conversation,
            target,
            actor=actor,
            trigger=trigger,
            brief=cleaned,
            reason=reason.strip(),
            shortcut=shortcut,
            now=now,
        )
        session.commit()
    except Exception:
        session.rollback()
        raise
    return escalation


def _shortcut_target(session: Session, shortcut: Shortcut) -> tuple[Team | None, int, str | None]:
    target = shortcut.target
    if "team_id" in target:
        team = session.get(Team, target["team_id"])
        if team is None:
            raise InvalidInput(
                f"The shortcut {shortcut.label!r} points at a team that no longer exists",
                {"field": "shortcut_id"},
            )
        return team, 0, None
    if "skill" in target:
        return None, 0, str(target["skill"])
    return None, int(target.get("tier_up", 1)), None


def _escalate(
    session: Session,
    policy: Policy,
    conversation: Conversation,
    target: Target,
    *,
    actor: Agent | None,
    trigger: str,
    brief: dict[str, Any],
    reason: str,
    shortcut: Shortcut | None,
    now: datetime,
    parent: Escalation | None = None,
) -> Escalation:
    """Everything an escalation does, inside the caller's transaction."""
    assert conversation.id is not None and target.team.id is not None
    previous = parent or (
        session.get(Escalation, conversation.escalation_id) if conversation.escalation_id else None
    )
    if previous is not None and previous.closed_at is None:
        previous.closed_at = now
        previous.bounce_due_at = None
        session.add(previous)
    from_team = session.get(Team, conversation.team_id) if conversation.team_id else None
    labels = list(brief.get("labels", []))
    actions = shortcut.actions if shortcut is not None and parent is None else {}
    if actions.get("label"):
        labels.append(actions["label"])
    escalation = Escalation(
        conversation_id=conversation.id,
        # A bot handing over to a human is a hierarchical escalation (L0 -> a person),
        # whichever team receives it.
        kind=EscalationKind.hierarchical if trigger == Trigger.bot else target.kind,
        trigger=trigger,
        reason=reason,
        brief={**brief, "labels": labels} if labels else dict(brief),
        shortcut_id=shortcut.id if shortcut else None,
        agent_id=actor.id if actor else None,
        from_team_id=conversation.team_id,
        to_team_id=target.team.id,
        from_tier=conversation.tier,
        to_tier=target.tier,
        created_at=now,
        bounce_due_at=now + timedelta(minutes=policy.rules.acknowledge_minutes),
        parent_id=previous.id if previous else None,
    )
    session.add(escalation)
    session.flush()
    assert escalation.id is not None
    conversation.escalation_id = escalation.id
    bounced_from = from_team if parent is not None else None
    # A shortcut's label is the reason; the activity line need not say it twice.
    said = "" if shortcut is not None and reason == shortcut.label else reason
    _move(session, conversation, target, actor=actor, reason=said, now=now, bounced=bounced_from)
    if parent is None:
        _pin_brief(session, conversation, actor, format_brief(shortcut, brief), now)
    _mention_team(session, conversation, actor, target.team, escalation, now, bounced_from)
    if actions.get("priority") and actions["priority"] != conversation.priority:
        _set_priority(session, conversation, actions["priority"], shortcut, now)
    if parent is None:
        send_customer_update(
            session,
            conversation,
            actions.get("customer_template") or "escalated",
            now,
            team=target.team.name,
        )
    _alerts(session, policy, conversation, escalation, target, shortcut if parent is None else None)
    record(
        session,
        "escalation.created",
        actor=actor,
        actor_kind=None if actor else trigger,
        conversation_id=conversation.id,
        details={
            "escalation_id": escalation.id,
            "kind": escalation.kind,
            "trigger": trigger,
            "from_team_id": escalation.from_team_id,
            "to_team_id": escalation.to_team_id,
            "to_tier": escalation.to_tier,
            "shortcut_id": escalation.shortcut_id,
            "parent_id": escalation.parent_id,
        },
    )
    lifecycle.changed(session, conversation, "escalated", now)
    queue_event(
        session,
        Event(
            "escalation.created",
            {
                "escalation_id": escalation.id,
                "conversation_id": conversation.id,
                "kind": escalation.kind,
                "to_team_id": escalation.to_team_id,
                "to_tier": escalation.to_tier,
            },
            Audience(conversation_id=conversation.id, team_id=target.team.id),
        ),
    )
    return escalation


def _move(
    session: Session,
    conversation: Conversation,
    target: Target,
    *,
    actor: Agent | None,
    reason: str,
    now: datetime,
    bounced: Team | None,
) -> None:
    """Team, tier and transfer count as conversations.do_change_team moves them, without its
    commit: the first team is not a transfer, every change after it is."""
    before = audience_of(conversation)
    if conversation.team_id is not None:
        conversation.transfer_count += 1
    conversation.team_id = target.team.id
    conversation.tier = target.tier
    if conversation.assignee_id is not None:
        member = session.get(Membership, (conversation.assignee_id, target.team.id))
        if member is None:
            previous = session.get(Agent, conversation.assignee_id)
            conversation.assignee_id = None
            _activity(
                session,
                conversation,
                f"Unassigned {previous.name if previous else ''}: not in the new team",
                now,
            )
    where = f"{target.team.name} (L{target.tier})"
    if bounced is not None:
        text = f"Nobody in {bounced.name} accepted in time: escalated up to {where}"
    else:
        text = f"Escalated to {where}" + (f" by {actor.name}" if actor else "")
        text += f": {reason}" if reason else ""
    _activity(session, conversation, text, now)
    record(
        session,
        "conversation.team_changed",
        actor=actor,
        conversation_id=conversation.id,
        details={"team_id": target.team.id, "transfer_count": conversation.transfer_count},
    )
    _touch(session, conversation, "team", now, extra_audience=before)


def _pin_brief(
    session: Session, conversation: Conversation, actor: Agent | None, text: str, now: datetime
) -> Message:
    """The brief as a note pinned at the top of the thread; it replaces an older pin."""
    for old in session.exec(
        select(Message).where(
            Message.conversation_id == conversation.id, col(Message.pinned).is_(True)
        )
    ).all():
        old.pinned = False
        session.add(old)
    return _note(session, conversation, actor, text or "(no brief)", now, pinned=True)


def _note(
    session: Session,
    conversation: Conversation,
    actor: Agent | None,
    content: str,
    now: datetime,
    *,
    pinned: bool = False,
) -> Message:
    return add_message(
        session,
        conversation,
        kind=MessageKind.note,
        content=content,
        now=now,
        sender_agent_id=actor.id if actor else None,
        pinned=pinned,
    )


def _mention_team(
    session: Session,
    conversation: Conversation,
    actor: Agent | None,
    team: Team,
    escalation: Escalation,
    now: datetime,
    bounced: Team | None,
) -> Message:
    """A note that @mentions the target team; each member who may see it is notified once.

    The same reading of mentions as inbox.notes.do_add_note, without its commit.
    """
    who = actor.name if actor else "Handoff"
    if bounced is not None:
        text = (
            f"@{handle(team.name)} nobody in {bounced.name} accepted this escalation in time, "
            "so it moved up to you. The brief is pinned at the top."
        )
    else:
        text = f"@{handle(team.name)} {who} escalated this conversation to you"
        text += f" ({escalation.reason})." if escalation.reason else "."
        text += " The brief is pinned at the top."
    note = _note(session, conversation, actor, text, now)
    assert conversation.id is not None and note.id is not None
    mentioned = parse_mentions(session, text)
    targets: dict[int, int | None] = dict.fromkeys(mentioned.agent_ids)
    for team_id in sorted(mentioned.team_ids):
        for member_id in session.exec(
            select(Membership.agent_id).where(Membership.team_id == team_id)
        ).all():
            targets.setdefault(member_id, team_id)
    for agent_id, via_team in sorted(targets.items()):
        agent = session.get(Agent, agent_id)
        if (
            agent is None
            or agent.deactivated_at is not None
            or not can_see_conversation(scope_for(session, agent), conversation)
        ):
            continue
        session.add(
            Mention(
                message_id=note.id,
                conversation_id=conversation.id,
                agent_id=agent_id,
                team_id=via_team,
                created_at=now,
            )
        )
        if actor is None or agent_id != actor.id:
            notify(
                session,
                at=now,
                agent_id=agent_id,
                kind="mention",
                text=f"{who} escalated conversation #{conversation.id} to {team.name}"
                + (f": {escalation.reason}" if escalation.reason else ""),
                conversation_id=conversation.id,
                message_id=note.id,
            )
    return note


def _set_priority(
    session: Session,
    conversation: Conversation,
    priority: str,
    shortcut: Shortcut | None,
    now: datetime,
) -> None:
    if priority not in {p.value for p in Priority}:
        return
    conversation.priority = priority
    by = f" by the shortcut “{shortcut.label}”" if shortcut else ""
    _activity(session, conversation, f"Priority set to {priority}{by}", now)
    record(
        session,
        "conversation.priority",
        actor_kind="system",
        conversation_id=conversation.id,
        details={"priority": priority, "shortcut_id": shortcut.id if shortcut else None},
    )
    lifecycle.changed(session, conversation, "priority", now)


def _alerts(
    session: Session,
    policy: Policy,
    conversation: Conversation,
    escalation: Escalation,
    target: Target,
    shortcut: Shortcut | None,
) -> None:
    """Slack alerts wait as pending rows that the notifier sends; an outgoing webhook waits
    as a pending row that shortcuts/webhooks.py POSTs after the commit."""
    actions = shortcut.actions if shortcut else {}
    text = f"Conversation #{conversation.id} escalated to {target.team.name} (L{target.tier})" + (
        f": {escalation.reason}" if escalation.reason else ""
    )
    channel = actions.get("slack_channel") or policy.notifiers.slack.channel
    if channel:
        session.add(
            Alert(
                conversation_id=conversation.id,
                escalation_id=escalation.id,
                stage_key="escalation",
                channel="slack",
                target=channel,
                text=text,
                created_at=escalation.created_at,
            )
        )
    if actions.get("webhook_url"):
        session.add(
            Alert(
                conversation_id=conversation.id,
                escalation_id=escalation.id,
                stage_key="escalation",
                channel="webhook",
                target=actions["webhook_url"],
                text=json.dumps(webhook_payload(escalation, target.team)),
                created_at=escalation.created_at,
            )
        )


def webhook_payload(escalation: Escalation, team: Team) -> dict[str, Any]:
    return {
        "event": "escalation.created",
        "escalation": {
            "id": escalation.id,
            "conversation_id": escalation.conversation_id,
            "kind": escalation.kind,
            "trigger": escalation.trigger,
            "reason": escalation.reason,
            "brief": escalation.brief,
            "from_team_id": escalation.from_team_id,
            "to_team": {"id": team.id, "name": team.name},
            "from_tier": escalation.from_tier,
            "to_tier": escalation.to_tier,
            "created_at": escalation.created_at.isoformat(),
        },
    }


# Accepting


def can_accept(session: Session, escalation: Escalation, agent: Agent) -> bool:
    """Members of the target team accept; so do admins and managers."""
    if agent.role in (Role.admin, Role.manager):
        return True
    return (
        escalation.to_team_id is not None
        and agent.id is not None
        and session.get(Membership, (agent.id, escalation.to_team_id)) is not None
    )


def do_accept(
    *, session: Session, escalation: Escalation, agent: Agent, now: datetime | None = None
) -> Escalation:
    """Someone in the target team takes the escalation: stops the bounce clock and the ladder,
    assigns them, tells the customer a specialist has it. Commits."""
    now = now or utcnow()
    conversation = session.get(Conversation, escalation.conversation_id)
    if conversation is None or not can_see_conversation(scope_for(session, agent), conversation):
        raise NotFound("No such escalation")
    team = session.get(Team, escalation.to_team_id) if escalation.to_team_id else None
    if not can_accept(session, escalation, agent):
        raise Forbidden(f"Only members of {team.name if team else 'the target team'} can accept")
    if escalation.status == EscalationStatus.accepted:
        taker = session.get(Agent, escalation.accepted_by_id) if escalation.accepted_by_id else None
        raise Conflict(f"{taker.name if taker else 'Someone'} already accepted this escalation")
    if escalation.status != EscalationStatus.open or escalation.closed_at is not None:
        raise Conflict("This escalation is closed: there is nothing to accept")
    escalation.status = EscalationStatus.accepted
    escalation.accepted_by_id = agent.id
    escalation.accepted_at = now
    escalation.bounce_due_at = None
    session.add(escalation)
    _activity(
        session,
        conversation,
        f"{agent.name} accepted the escalation" + (f" for {team.name}" if team else ""),
        now,
    )
    if conversation.assignee_id != agent.id:
        _assign(session, conversation, agent, actor=agent, now=now)
    first_name = (agent.name.split() or [agent.name])[0]
    send_customer_update(
        session, conversation, "accepted", now, agent=first_name, team=team.name if team else ""
    )
    record(
        session,
        "escalation.accepted",
        actor=agent,
        conversation_id=conversation.id,
        details={"escalation_id": escalation.id},
    )
    _touch(session, conversation, "assignee", now)
    lifecycle.changed(session, conversation, "accepted", now)
    assert conversation.id is not None
    queue_event(
        session,
        Event(
            "escalation.accepted",
            {
                "escalation_id": escalation.id,
                "conversation_id": conversation.id,
                "agent_id": agent.id,
            },
            audience_of(conversation),
        ),
    )
    session.commit()
    return escalation


# Acknowledge-or-bounce


def do_bounce_due(*, session: Session, now: datetime | None = None) -> list[Escalation]:
    """Every open escalation nobody accepted by its `bounce_due_at` goes one tier up on its
    own, once: the old record becomes `bounced`, the new one names it as parent. Commits."""
    now = now or utcnow()
    due = session.exec(
        select(Escalation)
        .where(
            Escalation.status == EscalationStatus.open,
            col(Escalation.closed_at).is_(None),
            col(Escalation.bounce_due_at) <= now,
        )
        .order_by(col(Escalation.bounce_due_at), col(Escalation.id))
        .with_for_update(skip_locked=True)
    ).all()
    policy = current_policy(session)
    bounced: list[Escalation] = []
    for old in due:
        new = _bounce(session, policy, old, now)
        if new is not None:
            bounced.append(new)
    # One commit for the sweep: the rows stay locked until every bounce is written, so a
    # second process cannot bounce the same escalation again.
    session.commit()
    return bounced


def _bounce(session: Session, policy: Policy, old: Escalation, now: datetime) -> Escalation | None:
    conversation = session.get(Conversation, old.conversation_id)
    old.bounce_due_at = None
    session.add(old)
    if (
        conversation is None
        or conversation.escalation_id != old.id
        or conversation.status == Status.resolved
    ):
        return None
    team = session.get(Team, old.to_team_id) if old.to_team_id else None
    minutes = policy.rules.acknowledge_minutes
    try:
        target = hierarchical_target(session, policy, conversation, old.to_tier + 1)
    except InvalidInput:
        _activity(
            session,
            conversation,
            f"Nobody in {team.name if team else 'the team'} accepted the escalation within "
            f"{minutes} minutes, and there is no higher tier to send it to",
            now,
        )
        return None
    old.status = EscalationStatus.bounced
    old.closed_at = now
    return _escalate(
        session,
        policy,
        conversation,
        target,
        actor=None,
        trigger=Trigger.rule,
        brief=dict(old.brief),
        reason=f"Not accepted within {minutes} minutes",
        shortcut=session.get(Shortcut, old.shortcut_id) if old.shortcut_id else None,
        now=now,
        parent=old,
    )


def next_bounce_due(session: Session) -> datetime | None:
    """When the timer must next call do_bounce_due."""
    return session.exec(
        select(Escalation.bounce_due_at)
        .where(
            Escalation.status == EscalationStatus.open,
            col(Escalation.bounce_due_at).is_not(None),
        )
        .order_by(col(Escalation.bounce_due_at))
    ).first()


# Closing


def close_escalation(
    session: Session, conversation: Conversation, now: datetime
) -> Escalation | None:
    """The conversation was resolved: its escalation is resolved too, and the customer hears
    so. Inside the caller's transaction (inbox/lifecycle.py calls it on status changes)."""
    if conversation.escalation_id is None:
        return None
    escalation = session.get(Escalation, conversation.escalation_id)
    conversation.escalation_id = None
    session.add(conversation)
    if escalation is None or escalation.closed_at is not None:
        return None
    escalation.status = EscalationStatus.resolved
    escalation.closed_at = now
    escalation.bounce_due_at = None
    session.add(escalation)
    team = session.get(Team, escalation.to_team_id) if escalation.to_team_id else None
    send_customer_update(session, conversation, "resolved", now, team=team.name if team else "")
    record(
        session,
        "escalation.resolved",
        actor_kind="system",
        conversation_id=conversation.id,
        details={"escalation_id": escalation.id},
    )
    return escalation


def do_close_escalation(
    *, session: Session, conversation: Conversation, now: datetime | None = None
) -> Escalation | None:
    escalation = close_escalation(session, conversation, now or utcnow())
    session.commit()
    return escalation


def escalations_of(session: Session, conversation_id: int) -> list[Escalation]:
    return list(
        session.exec(
            select(Escalation)
            .where(Escalation.conversation_id == conversation_id)
            .order_by(col(Escalation.id))
        ).all()
    )


def open_escalation(session: Session, conversation: Conversation) -> Escalation | None:
    if conversation.escalation_id is None:
        return None
    return session.get(Escalation, conversation.escalation_id)
