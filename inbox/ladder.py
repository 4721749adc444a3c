"""What the SLA timer does when a moment comes (docs/concepts/sla.md#ladder).

`run_due(session, now)` runs every stage whose time has come, on every conversation whose
`next_timer_at` has passed: warnings and breaches (a notification to the assignee and the
team), ladder stages (alerts to the people the policy names, by Slack, email or SMS, and
optionally an escalation some tiers up), and asks the escalation module to bounce
escalations nobody accepted in time.

Exactly once: each stage first inserts its SlaStageRun row, unique per (conversation,
stage key), in the same transaction as its effects. A second process, a second call or a
restart that tries the same stage hits the unique key and skips it.

In bulk: a due minute can hold thousands of stages, so `run_due` runs them a group of
conversations at a time, one transaction a group (docs/performance.md#sla-timers): one
multi-row INSERT claims the group's stages (ON CONFLICT DO NOTHING: the unique key still
decides, and RETURNING says which rows are ours), batched reads fetch what the effects need,
and one flush writes them. The group commits whole or not at all, so a crash loses or doubles
nothing; a group that fails runs again conversation by conversation, a stage a transaction.
Conversations with an escalation, and stages that escalate, always take that slower path:
`do_escalate` commits on its own.

The pass lives here (`run_due`, `DuePass`) with the group path (`_run_batch`, `_Effects`);
the rest beside it: ladder_conversation.py (the slower path, a stage a transaction),
ladder_stages.py (what one moment does to one conversation), ladder_writes.py (the stage rows,
the batched alerts, notifications and audit entries, the next timers).
"""

from __future__ import annotations

import logging
from collections import defaultdict
from datetime import datetime
from typing import Any

from sqlmodel import Session, col, select

from . import escalation as escalations
from .ladder_conversation import run_conversation
from .ladder_stages import ladder_stage, skipped, tell_team, warning_too_late
from .ladder_writes import SET_DETAILS, Writes, claim_all, store_next_timers
from .models import (
    Agent,
    Contact,
    Conversation,
    Escalation,
    EscalationStatus,
    Membership,
    SlaStageRun,
)
from .sla import Moment, current_policy, moments

log = logging.getLogger("handoff.sla")

# Due conversations read at a time; each step runs GROUP of them in one transaction (about
# 15 ms of work: short enough for the timer loop to hand the event loop back often).
BATCH = 500
GROUP = 25


def run_due(session: Session, now: datetime) -> list[str]:
    """Run every stage due at `now`; returns the keys of the stages that fired."""
    due_pass = DuePass(session, now)
    while due_pass.step(session):
        pass
    return due_pass.fired


class DuePass:
    """One run over everything due at `now`, a group of conversations a step, so that the
    timer loop can hand the event loop back between steps (scheduler.py). Each step may use
    a new session: the pass keeps only ids and keys."""

    def __init__(self, session: Session, now: datetime) -> None:
        self.now = now
        self.policy = current_policy(session)
        self.fired: list[str] = []
        self._done: set[int] = set()
        self._agents_by_email: dict[str, int] | None = None
        _bounce_due(session, now)

    def step(self, session: Session, group: int = GROUP) -> bool:
        """Run one group's due stages; False once nothing is left."""
        due = session.exec(
            select(Conversation.id)
            .where(col(Conversation.next_timer_at) <= self.now)
            .order_by(col(Conversation.next_timer_at), col(Conversation.id))
            .limit(BATCH)
        ).all()
        # One already run in this pass whose timer is still due (a change made it so
        # meanwhile) waits for the next pass: the loop cannot spin on it.
        ids = [i for i in due if i is not None and i not in self._done][:group]
        if not ids:
            session.commit()  # ends the read (PostgreSQL holds it open otherwise)
            return False
        self.fired += _run_group(session, self, ids)
        self._done.update(ids)
        return True

    def agents_by_email(self, session: Session) -> dict[str, int]:
        """The policy's people who are Handoff agents (same email), read once a pass."""
        if self._agents_by_email is None:
            wanted = sorted({p.email.lower() for p in self.policy.people if p.email})
            found: dict[str, int] = {}
            if wanted:
                query = select(Agent.email, Agent.id).where(
                    col(Agent.email).in_(wanted), col(Agent.deactivated_at).is_(None)
                )
                found = {e.lower(): i for e, i in session.exec(query) if i is not None}
            self._agents_by_email = found
        return self._agents_by_email


def _run_group(session: Session, due_pass: DuePass, ids: list[int]) -> list[str]:
    """The group in one transaction; if that fails, each conversation on its own."""
    try:
        fired, alone = _run_batch(session, due_pass, ids)
        session.commit()
    except Exception:
        session.rollback()
        log.exception("SLA stages of %d conversations failed together; one by one now", len(ids))
        fired, alone = [], ids
    for conversation_id in alone:
        conversation = session.get(Conversation, conversation_id, populate_existing=True)
        if conversation is not None:
            fired += run_conversation(session, due_pass.policy, conversation, due_pass.now)
    return fired


def _run_batch(session: Session, due_pass: DuePass, ids: list[int]) -> tuple[list[str], list[int]]:
    """Claim and run the group's stages without committing. Returns the keys that fired and
    the conversations left for `run_conversation` (an escalation is involved)."""
    now, policy = due_pass.now, due_pass.policy
    found = session.exec(
        select(Conversation)
        .where(col(Conversation.id).in_(ids))
        .execution_options(populate_existing=True)  # as committed, not as last seen
    ).all()
    by_id = {c.id: c for c in found}
    fired_before: dict[int, set[str]] = defaultdict(set)
    for conversation_id, key in session.exec(
        select(SlaStageRun.conversation_id, SlaStageRun.stage_key).where(
            col(SlaStageRun.conversation_id).in_(ids)
        )
    ):
        fired_before[conversation_id].add(key)
    alone: list[int] = []
    plans: list[tuple[Conversation, list[Moment]]] = []
    for conversation_id in ids:
        conversation = by_id.get(conversation_id)
        if conversation is None or conversation.next_timer_at is None:
            continue
        if conversation.next_timer_at > now:
            continue  # another process got here first
        if conversation.escalation_id is not None:
            alone.append(conversation_id)
            continue
        due_now = sorted(
            (
                m
                for m in moments(session, policy, conversation, None)
                if m.at <= now and m.key not in fired_before[conversation_id]
            ),
            key=lambda m: m.at,
        )
        if any(m.stage is not None and m.stage.escalate_tiers for m in due_now):
            alone.append(conversation_id)
            continue
        plans.append((conversation, due_now))
    claimed = claim_all(
        session,
        [
            {
                "conversation_id": c.id,
                "stage_key": m.key,
                "due_at": m.at,
                "fired_at": now,
                "details": {"kind": m.kind},
            }
            for c, due_now in plans
            for m in due_now
        ],
    )
    effects = _Effects(session, due_pass, [c for c, _ in plans])
    out: list[str] = []
    details: list[dict[str, Any]] = []
    for conversation, due_now in plans:
        for moment in due_now:
            run_id = claimed.get((conversation.id or 0, moment.key))
            if run_id is None:
                continue  # it ran elsewhere
            details.append({"run_id": run_id, "details": effects.run(conversation, moment)})
            out.append(moment.key)
    effects.finish()
    if details:
        session.execute(SET_DETAILS, details)
    store_next_timers(
        session,
        policy,
        [(c, fired_before[c.id] | {m.key for m in due_now}) for c, due_now in plans if c.id],
        now,
    )
    return out, alone


class _Effects:
    """What a group's warnings, breaches and ladder stages write, read and added in bulk."""

    def __init__(
        self, session: Session, due_pass: DuePass, conversations: list[Conversation]
    ) -> None:
        self.session = session
        self.due_pass = due_pass
        self.writes = Writes()
        contact_ids = {c.contact_id for c in conversations}
        self.names = {
            i: n
            for i, n in session.exec(
                select(Contact.id, Contact.name).where(col(Contact.id).in_(contact_ids))
            )
            if i is not None and n
        }
        team_ids = {c.team_id for c in conversations if c.team_id is not None}
        self.members: dict[int, list[int]] = defaultdict(list)
        for team_id, agent_id in session.exec(
            select(Membership.team_id, Membership.agent_id)
            .join(Agent, col(Agent.id) == col(Membership.agent_id))
            .where(col(Membership.team_id).in_(team_ids), col(Agent.deactivated_at).is_(None))
        ):
            self.members[team_id].append(agent_id)

    def run(self, conversation: Conversation, moment: Moment) -> dict[str, Any]:
        now = self.due_pass.now
        who = self.names.get(conversation.contact_id, "a customer")
        if moment.kind == "ladder":
            assert moment.stage is not None
            stage = moment.stage
            by_email = self.due_pass.agents_by_email(self.session)
            people = self.due_pass.policy.people_for(stage.notify)
            agents = {
                by_email[p.email.lower()] for p in people if p.email and p.email.lower() in by_email
            }
            if "assignee" in stage.notify and conversation.assignee_id is not None:
                agents.add(conversation.assignee_id)
            return ladder_stage(
                self.session,
                self.due_pass.policy,
                conversation,
                stage,
                moment.key,
                now,
                who=who,
                people=people,
                agents=sorted(agents),
                writes=self.writes,
            )
        if warning_too_late(moment, now):
            return skipped(moment)
        recipients = set(self.members.get(conversation.team_id or 0, []))
        if conversation.assignee_id is not None:
            recipients.add(conversation.assignee_id)
        return tell_team(
            self.session,
            conversation,
            moment,
            who=who,
            recipients=sorted(recipients),
            writes=self.writes,
        )

    def finish(self) -> None:
        self.writes.write(self.session)


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
