"""What the SLA timer does when a moment comes (docs/concepts/sla.md#ladder).

`run_due(session, now)` runs every stage whose time has come, on every conversation whose
`next_timer_at` has passed: warnings and breaches (a notification to the assignee and the
team), ladder stages (alerts to the people the policy names, by Slack, email or SMS, and
optionally an escalation some tiers up), and asks the escalation module to bounce
escalations nobody accepted in time.

Exactly once: each stage first inserts its SlaStageRun row, unique per (conversation,
stage key), in the same transaction as its effects. A second process, a second call or a
restart that tries the same stage hits the unique key and skips it.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from . import escalation as escalations
from .audit import record
from .conversations import notify
from .errors import HandoffError
from .models import (
    Agent,
    Alert,
    Contact,
    Conversation,
    Escalation,
    EscalationStatus,
    Membership,
    SlaStageRun,
    Trigger,
)
from .notifiers.alerts import alert_people, announce_alerts
from .policy import Policy, Stage
from .sla import (
    RETRY,
    TARGETS,
    Moment,
    active_escalation,
    current_policy,
    due,
    fired_keys,
    ladder_stopped,
    moments,
    next_timer,
)

log = logging.getLogger("handoff.sla")

BATCH = 500
LABELS = {
    "first_response": "First response",
    "next_response": "Next response",
    "resolution": "Resolution",
}


def run_due(session: Session, now: datetime) -> list[str]:
    """Run every stage due at `now`; returns the keys of the stages that fired."""
    policy = current_policy(session)
    _bounce_due(session, now)
    fired: list[str] = []
    done: set[int] = set()
    while True:
        batch = session.exec(
            select(Conversation)
            .where(col(Conversation.next_timer_at) <= now)
            .order_by(col(Conversation.next_timer_at), col(Conversation.id))
            .limit(BATCH)
            .execution_options(populate_existing=True)  # as committed, not as last seen
        ).all()
        fresh = [c for c in batch if c.id is not None and c.id not in done]
        for conversation in fresh:
            assert conversation.id is not None
            fired += run_conversation(session, policy, conversation, now)
            done.add(conversation.id)
        if len(batch) < BATCH or not fresh:
            return fired


def run_conversation(
    session: Session, policy: Policy, conversation: Conversation, now: datetime
) -> list[str]:
    """Run one conversation's due stages, each in its own transaction, then store its next
    timer. The conversation was just read from the database."""
    assert conversation.id is not None
    conversation_id = conversation.id
    if conversation.next_timer_at is None or conversation.next_timer_at > now:
        return []  # another process got here first
    fired = fired_keys(session, conversation_id)
    due_now = sorted(
        (
            m
            for m in moments(
                session, policy, conversation, active_escalation(session, conversation)
            )
            if m.at <= now and m.key not in fired
        ),
        key=lambda m: m.at,
    )
    out: list[str] = []
    failed = scheduled = False
    for i, moment in enumerate(due_now):
        # The last stage stores the next timer in its own commit: one transaction fewer.
        last = i == len(due_now) - 1
        try:
            ran = _run_stage(session, policy, conversation_id, moment, now, fired if last else None)
        except Exception:
            session.rollback()
            log.exception("stage %s of conversation %s failed", moment.key, conversation_id)
            failed = True
            break
        fired.add(moment.key)  # ran here, or already elsewhere
        if ran:
            out.append(moment.key)
            scheduled = last
    if not scheduled:
        _store_next_timer(session, policy, conversation_id, now, fired, failed=failed)
        session.commit()
    return out


def _store_next_timer(
    session: Session,
    policy: Policy,
    conversation_id: int,
    now: datetime,
    fired: set[str],
    *,
    failed: bool = False,
) -> None:
    conversation = session.get(Conversation, conversation_id)
    if conversation is None:
        return
    at = next_timer(session, policy, conversation, now, after_run=True, fired=fired)
    if failed or (at is not None and at <= now):
        # Something could not be done just now: look again shortly, without spinning.
        at = now + RETRY if at is None or at <= now else min(at, now + RETRY)
    # A change committed meanwhile may have set an earlier timer (a new escalation's bounce):
    # keep it. An early timer costs one empty look; a lost one, a missed stage.
    stored = session.exec(
        select(Conversation.next_timer_at).where(Conversation.id == conversation_id)
    ).first()
    if stored is not None and stored > now and (at is None or stored < at):
        at = stored
    conversation.next_timer_at = at
    session.add(conversation)


def _claim(session: Session, run: SlaStageRun) -> bool:
    """Insert the stage's row; False when it already ran (here, elsewhere, before a restart)."""
    session.add(run)
    try:
        session.flush()
    except IntegrityError:
        session.rollback()
        return False
    return True


class _EscalationRefused(Exception):
    pass


def _run_stage(
    session: Session,
    policy: Policy,
    conversation_id: int,
    moment: Moment,
    now: datetime,
    then_schedule: set[str] | None = None,
) -> bool:
    """Run one stage in its own transaction; False when it had already run or the ladder
    stopped. With `then_schedule` (the keys run so far), also store the next timer."""
    refused: str | None = None
    for escalate in (True, False):
        conversation = session.get(Conversation, conversation_id)
        assert conversation is not None
        if moment.kind == "ladder" and ladder_stopped(
            active_escalation(session, conversation, fresh=True)
        ):
            return False  # accepted meanwhile
        run = SlaStageRun(
            conversation_id=conversation_id,
            stage_key=moment.key,
            due_at=moment.at,
            fired_at=now,
            details={"kind": moment.kind},
        )
        if not _claim(session, run):
            return False
        if moment.kind == "ladder":
            assert moment.stage is not None
            try:
                details = _ladder_stage(
                    session, policy, conversation, moment.stage, run, now, escalate, refused
                )
            except _EscalationRefused as exc:
                refused = str(exc)
                continue  # the stage still alerts and notifies, without the escalation
        elif moment.kind == "warning" and moment.due_at is not None and moment.due_at <= now:
            # The timer was down past the breach too: a late warning would only add noise.
            details = {"kind": "warning", "target": moment.target, "skipped": "breach came first"}
        else:
            details = _tell_team(session, conversation, moment)
        run.details = details
        session.add(run)
        if then_schedule is not None:
            _store_next_timer(
                session, policy, conversation_id, now, then_schedule | {run.stage_key}
            )
        session.commit()
        return True
    return False


def _contact_name(session: Session, conversation: Conversation) -> str:
    contact = session.get(Contact, conversation.contact_id)
    return contact.name if contact and contact.name else "a customer"


def _utc(at: datetime) -> str:
    return f"{at:%Y-%m-%d %H:%M} UTC"


def _tell_team(session: Session, conversation: Conversation, moment: Moment) -> dict[str, Any]:
    """A warning or a breach: a notification to the assignee and every member of the team."""
    assert conversation.id is not None and moment.target is not None
    label = LABELS[moment.target]
    who = _contact_name(session, conversation)
    if moment.kind == "warning":
        text = f"{label} due {_utc(moment.at if moment.due_at is None else moment.due_at)}"
    else:
        text = f"{label} overdue since {_utc(moment.at)}"
    text += f" on conversation #{conversation.id} ({who})"
    recipients = _team_and_assignee(session, conversation)
    for agent_id in recipients:
        notify(
            session,
            agent_id=agent_id,
            kind=f"sla_{moment.kind}",
            text=text,
            conversation_id=conversation.id,
        )
    record(
        session,
        f"sla.{moment.kind}",
        actor_kind="system",
        conversation_id=conversation.id,
        details={"target": moment.target, "due_at": (moment.due_at or moment.at).isoformat()},
    )
    return {
        "kind": moment.kind,
        "target": moment.target,
        "due_at": (moment.due_at or moment.at).isoformat(),
        "notified": recipients,
    }


def _team_and_assignee(session: Session, conversation: Conversation) -> list[int]:
    ids: set[int] = set()
    if conversation.assignee_id is not None:
        ids.add(conversation.assignee_id)
    if conversation.team_id is not None:
        ids.update(
            session.exec(
                select(Membership.agent_id).where(Membership.team_id == conversation.team_id)
            ).all()
        )
    return sorted(ids)


def _overdue(conversation: Conversation, now: datetime) -> list[str]:
    return [
        f"{LABELS[target]} overdue since {_utc(at)}"
        for target in TARGETS
        if (at := due(conversation, target)) is not None and at <= now
    ]


def _reason(conversation: Conversation, stage: Stage, now: datetime) -> str:
    if stage.after_hours is not None:
        first = f"Open for {stage.after_hours:g} h"
    elif stage.at == "warning":
        first = "An SLA target is close to its due time"
    else:
        first = "An SLA target was missed"
    return "; ".join([first, *_overdue(conversation, now)])


def _ladder_stage(
    session: Session,
    policy: Policy,
    conversation: Conversation,
    stage: Stage,
    run: SlaStageRun,
    now: datetime,
    escalate: bool,
    refused: str | None,
) -> dict[str, Any]:
    """Alert the people the stage names, notify the Handoff agents among them, and escalate
    when the stage says so: all in the stage's transaction."""
    assert conversation.id is not None
    current = active_escalation(session, conversation)
    waiting = current if current is not None and current.status == EscalationStatus.open else None
    summary = f"SLA ladder stage “{stage.name}”: {_reason(conversation, stage, now)}."
    lines = [
        f"{stage.name}: conversation #{conversation.id} ({_contact_name(session, conversation)})",
        _reason(conversation, stage, now),
    ]
    people = policy.people_for(stage.notify)
    if people:
        lines.append("For: " + ", ".join(f"{p.name} ({p.role.replace('_', ' ')})" for p in people))
    if waiting is not None and (brief := _brief_summary(waiting)):
        lines.append(f"Brief: {brief}")
    going_up = stage.escalate_tiers and escalate
    if going_up:
        lines.append(f"Escalating {stage.escalate_tiers} tier(s) up.")
    text = "\n".join(lines)
    agents = _agents_to_notify(session, conversation, stage, [p.email for p in people if p.email])
    for agent_id in agents:
        notify(
            session,
            agent_id=agent_id,
            kind="sla_ladder",
            text=" ".join(lines[:2]),
            conversation_id=conversation.id,
        )
    alerts = alert_people(
        session,
        policy,
        people=people,
        channels=stage.channels,
        text=text,
        conversation_id=conversation.id,
        escalation_id=waiting.id if waiting else None,
        stage_key=run.stage_key,
        announce=False,
    )
    details: dict[str, Any] = {
        "kind": "ladder",
        "stage": stage.name,
        "notified": agents,
        "alerts": [{"id": a.id, "channel": a.channel, "target": a.target} for a in alerts],
    }
    if refused:
        details["escalation_refused"] = refused
    record(
        session,
        "sla.ladder",
        actor_kind="system",
        conversation_id=conversation.id,
        details={k: v for k, v in details.items() if k != "kind"},
    )
    if going_up:
        run.details = details
        session.add(run)
        made = _escalate(session, conversation, stage, summary, now)
        details["escalation_id"] = made.id
        _point_alerts_at(alerts, made)
    announce_alerts(session, alerts)
    return details


def _escalate(
    session: Session, conversation: Conversation, stage: Stage, summary: str, now: datetime
) -> Escalation:
    """do_escalate commits: the stage's row, alerts and notes commit with the escalation."""
    try:
        return escalations.do_escalate(
            session=session,
            conversation=conversation,
            actor=None,
            trigger=Trigger.sla,
            brief={"summary": summary},
            tier_up=stage.escalate_tiers,
            reason=f"SLA ladder: {stage.name}",
            now=now,
        )
    except HandoffError as exc:
        session.rollback()
        message = getattr(exc, "message", "") or str(exc) or type(exc).__name__
        log.warning("ladder stage %s could not escalate: %s", stage.name, message)
        raise _EscalationRefused(message) from exc


def _point_alerts_at(alerts: list[Alert], escalation: Escalation) -> None:
    for alert in alerts:
        alert.escalation_id = escalation.id


def _brief_summary(escalation: Escalation) -> str:
    brief = escalation.brief or {}
    value = brief.get("summary") or next((v for v in brief.values() if isinstance(v, str)), "")
    return str(value)[:300]


def _agents_to_notify(
    session: Session, conversation: Conversation, stage: Stage, emails: list[str]
) -> list[int]:
    """Handoff agents a stage names: the assignee, and people whose email is an agent's."""
    ids: set[int] = set()
    if "assignee" in stage.notify and conversation.assignee_id is not None:
        ids.add(conversation.assignee_id)
    if emails:
        wanted = [e.lower() for e in emails]
        ids.update(
            i
            for i in session.exec(select(Agent.id).where(col(Agent.email).in_(wanted))).all()
            if i is not None
        )
    return sorted(ids)


def _bounce_due(session: Session, now: datetime) -> None:
    """Ask the escalation module to bounce escalations nobody accepted in time."""
    waiting = session.exec(
        select(Escalation.id)
        .where(
            Escalation.status == EscalationStatus.open,
            col(Escalation.bounce_due_at) <= now,
        )
        .limit(1)
    ).first()
    if waiting is None:
        return
    try:
        escalations.do_bounce_due(session=session, now=now)
    except Exception:
        session.rollback()
        log.exception("bouncing escalations failed")
