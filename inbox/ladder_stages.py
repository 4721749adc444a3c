"""What one SLA moment does to one conversation (docs/concepts/sla.md#the-ladder).

A warning or a breach notifies the assignee and the team (`tell_team`); a ladder stage alerts
the people the policy names and may escalate (`ladder_stage`). Both add their rows to a
`Writes` for the caller to write, in whichever transaction it runs them.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from sqlalchemy import update
from sqlmodel import Session, col

from . import escalation as escalations
from .errors import HandoffError
from .ladder_writes import Writes
from .models import Alert, Conversation, Escalation, EscalationStatus, SlaStageRun, Trigger
from .notifiers.alerts import alert_targets
from .policy import Person, Policy, Stage
from .sla import TARGETS, Moment, active_escalation, due

log = logging.getLogger("handoff.sla")

LABELS = {
    "first_response": "First response",
    "next_response": "Next response",
    "resolution": "Resolution",
}


class EscalationRefused(Exception):
    pass


def _utc(at: datetime) -> str:
    return f"{at:%Y-%m-%d %H:%M} UTC"


def warning_too_late(moment: Moment, now: datetime) -> bool:
    # The timer was down past the breach too: a late warning would only add noise.
    return moment.kind == "warning" and moment.due_at is not None and moment.due_at <= now


def skipped(moment: Moment) -> dict[str, Any]:
    return {"kind": "warning", "target": moment.target, "skipped": "breach came first"}


def tell_team(
    session: Session,
    conversation: Conversation,
    moment: Moment,
    *,
    who: str,
    recipients: list[int],
    writes: Writes,
) -> dict[str, Any]:
    """A warning or a breach: a notification to the assignee and every member of the team
    (`recipients`), added to `writes` for the caller to write with others."""
    assert conversation.id is not None and moment.target is not None
    label = LABELS[moment.target]
    if moment.kind == "warning":
        text = f"{label} due {_utc(moment.at if moment.due_at is None else moment.due_at)}"
    else:
        text = f"{label} overdue since {_utc(moment.at)}"
    text += f" on conversation #{conversation.id} ({who})"
    for agent_id in recipients:
        writes.notify(agent_id, f"sla_{moment.kind}", text, conversation.id)
    writes.record(
        f"sla.{moment.kind}",
        conversation.id,
        {"target": moment.target, "due_at": (moment.due_at or moment.at).isoformat()},
    )
    return {
        "kind": moment.kind,
        "target": moment.target,
        "due_at": (moment.due_at or moment.at).isoformat(),
        "notified": recipients,
    }


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


def ladder_stage(
    session: Session,
    policy: Policy,
    conversation: Conversation,
    stage: Stage,
    stage_key: str,
    now: datetime,
    *,
    who: str,
    people: list[Person],
    agents: list[int],
    writes: Writes,
    run: SlaStageRun | None = None,
    escalate: bool = False,
    refused: str | None = None,
) -> dict[str, Any]:
    """Alert the people the stage names, notify the Handoff agents among them (`agents`, added
    to `writes`), and escalate when the stage says so (given its `run`, which commits with the
    escalation): all in the stage's transaction."""
    assert conversation.id is not None
    current = active_escalation(session, conversation)
    waiting = current if current is not None and current.status == EscalationStatus.open else None
    summary = f"SLA ladder stage “{stage.name}”: {_reason(conversation, stage, now)}."
    lines = [
        f"{stage.name}: conversation #{conversation.id} ({who})",
        _reason(conversation, stage, now),
    ]
    if people:
        lines.append("For: " + ", ".join(f"{p.name} ({p.role.replace('_', ' ')})" for p in people))
    if waiting is not None and (brief := _brief_summary(waiting)):
        lines.append(f"Brief: {brief}")
    going_up = stage.escalate_tiers and escalate and run is not None
    if going_up:
        lines.append(f"Escalating {stage.escalate_tiers} tier(s) up.")
    text = "\n".join(lines)
    for agent_id in agents:
        writes.notify(agent_id, "sla_ladder", " ".join(lines[:2]), conversation.id)
    alerts = writes.alert(
        alert_targets(policy, people, stage.channels),
        text=text,
        conversation_id=conversation.id,
        escalation_id=waiting.id if waiting else None,
        stage_key=stage_key,
    )
    details: dict[str, Any] = {
        "kind": "ladder",
        "stage": stage.name,
        "notified": agents,
        "alerts": alerts,
    }
    if refused:
        details["escalation_refused"] = refused
    writes.record("sla.ladder", conversation.id, {k: v for k, v in details.items() if k != "kind"})
    if going_up:
        assert run is not None
        # do_escalate commits: what the stage wrote must be in that commit too.
        writes.write(session)
        run.details = details
        session.add(run)
        made = _escalate(session, conversation, stage, summary, now)
        details["escalation_id"] = made.id
        _point_alerts_at(session, alerts, made)
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
        raise EscalationRefused(message) from exc


def _point_alerts_at(
    session: Session, alerts: list[dict[str, Any]], escalation: Escalation
) -> None:
    """Each alert offers the escalation it made, so that "Accept" in Slack can take it."""
    if alerts:
        session.execute(
            update(Alert)
            .where(col(Alert.id).in_([a["id"] for a in alerts]))
            .values(escalation_id=escalation.id)
        )


def _brief_summary(escalation: Escalation) -> str:
    brief = escalation.brief or {}
    value = brief.get("summary") or next((v for v in brief.values() if isinstance(v, str)), "")
    return str(value)[:300]
