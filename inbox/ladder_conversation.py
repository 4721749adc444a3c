"""One conversation's due stages, a stage a transaction (docs/concepts/sla.md#exactly-once).

The slower path of `ladder.run_due`: for conversations with an escalation, stages that
escalate (`do_escalate` commits on its own), and groups that failed together. Reads what a
stage needs one query at a time, where ladder.py's `_Effects` reads it for a whole group.
"""

from __future__ import annotations

import logging
from datetime import datetime

from sqlmodel import Session, col, select

from .ladder_stages import EscalationRefused, ladder_stage, skipped, tell_team, warning_too_late
from .ladder_writes import Writes, claim, store_next_timer
from .models import Agent, Contact, Conversation, Membership, SlaStageRun
from .policy import Policy, Stage
from .sla import Moment, active_escalation, fired_keys, ladder_stopped, moments

log = logging.getLogger("handoff.sla")


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
        store_next_timer(session, policy, conversation_id, now, fired, failed=failed)
        session.commit()
    return out


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
        if not claim(session, run):
            return False
        if moment.kind == "ladder":
            assert moment.stage is not None
            stage = moment.stage
            people = policy.people_for(stage.notify)
            emails = [p.email for p in people if p.email]
            writes = Writes()
            try:
                details = ladder_stage(
                    session,
                    policy,
                    conversation,
                    stage,
                    run.stage_key,
                    now,
                    who=_contact_name(session, conversation),
                    people=people,
                    agents=_agents_to_notify(session, conversation, stage, emails),
                    writes=writes,
                    run=run,
                    escalate=escalate,
                    refused=refused,
                )
            except EscalationRefused as exc:
                refused = str(exc)
                continue  # the stage still alerts and notifies, without the escalation
            writes.write(session)
        elif warning_too_late(moment, now):
            details = skipped(moment)
        else:
            writes = Writes()
            details = tell_team(
                session,
                conversation,
                moment,
                who=_contact_name(session, conversation),
                recipients=_team_and_assignee(session, conversation),
                writes=writes,
            )
            writes.write(session)
        run.details = details
        session.add(run)
        if then_schedule is not None:
            store_next_timer(session, policy, conversation_id, now, then_schedule | {run.stage_key})
        session.commit()
        return True
    return False


def _contact_name(session: Session, conversation: Conversation) -> str:
    contact = session.get(Contact, conversation.contact_id)
    return contact.name if contact and contact.name else "a customer"


def _team_and_assignee(session: Session, conversation: Conversation) -> list[int]:
    ids: set[int] = set()
    if conversation.assignee_id is not None:
        ids.add(conversation.assignee_id)
    if conversation.team_id is not None:
        ids.update(
            session.exec(
                select(Membership.agent_id)
                .join(Agent, col(Agent.id) == col(Membership.agent_id))
                .where(
                    Membership.team_id == conversation.team_id,
                    col(Agent.deactivated_at).is_(None),
                )
            ).all()
        )
    return sorted(ids)


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
            for i in session.exec(
                select(Agent.id).where(
                    col(Agent.email).in_(wanted), col(Agent.deactivated_at).is_(None)
                )
            ).all()
            if i is not None
        )
    return sorted(ids)
