"""Counter rules (docs/concepts/rules.md): what the policy does on its own when counts pile up.

- reopened more than `rules.reopen_limit` times: escalate to `rules.reopen_team`;
- transferred more than `rules.transfer_limit` times (ping-pong): escalate a tier up and tell
  the escalation manager;
- an escalation open longer than `rules.max_escalation_age_days`: alert the escalation manager;
- a CSAT rating below `rules.csat_review_below`: open a review for the escalation manager.

Each rule fires once per conversation (or per escalation, per survey): a row in
`sla_stage_run` with a `rule:` key claims it, and its unique key wins any race between
processes. The reopen and ping-pong rules notice the count inside the caller's transaction
(lifecycle.changed) but escalate only after that transaction commits, in a session of their
own: `do_escalate` commits, and an escalation must never be half of a customer's message
that could still roll back.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import event
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session as OrmSession
from sqlmodel import Session, col, select

from .audit import record
from .clock import utcnow
from .conversation_writes import _activity, notify
from .db import _BUS
from .errors import HandoffError
from .escalation import do_escalate
from .models import (
    Agent,
    Alert,
    Conversation,
    CsatResponse,
    Escalation,
    EscalationStatus,
    SlaStageRun,
    Status,
    Team,
    Trigger,
)
from .policy import Policy
from .policy_store import current_policy

log = logging.getLogger("handoff.rules")

ESCALATION_MANAGER = "escalation_manager"
REOPEN = "rule:reopen"
PING_PONG = "rule:ping_pong"
STILL_OPEN = (EscalationStatus.open, EscalationStatus.accepted)

# session.info keys
_PENDING = "handoff_pending_rules"  # [RuleRun] to run once the transaction commits
_SEEN = "handoff_rules_seen"  # {(conversation id, rule key)} noticed in this transaction


@dataclass(frozen=True)
class RuleRun:
    """A rule that must fire for a conversation once the caller's transaction commits."""

    key: str
    conversation_id: int
    count: int
    now: datetime


def on_change(session: Session, conversation: Conversation, change: str, now: datetime) -> None:
    """The lifecycle hook: notice a counter over its limit; act after the commit."""
    # Every limit is at least 1, so nothing can fire below 2; most changes stop here.
    if conversation.id is None or max(conversation.reopen_count, conversation.transfer_count) < 2:
        return
    limits = current_policy(session).rules
    if (
        change in ("reopened", "status")
        and conversation.status != Status.resolved
        and conversation.reopen_count > limits.reopen_limit
    ):
        _schedule(session, RuleRun(REOPEN, conversation.id, conversation.reopen_count, now))
    if change in ("team", "escalated") and conversation.transfer_count > limits.transfer_limit:
        _schedule(session, RuleRun(PING_PONG, conversation.id, conversation.transfer_count, now))


def _schedule(session: Session, run: RuleRun) -> None:
    seen: set[tuple[int, str]] = session.info.setdefault(_SEEN, set())
    if (run.conversation_id, run.key) in seen or _fired(session, run.conversation_id, run.key):
        return
    seen.add((run.conversation_id, run.key))
    session.info.setdefault(_PENDING, []).append(run)


def _fired(session: Session, conversation_id: int, key: str) -> bool:
    return (
        session.exec(
            select(SlaStageRun.id).where(
                SlaStageRun.conversation_id == conversation_id, SlaStageRun.stage_key == key
            )
        ).first()
        is not None
    )


def _claim(
    session: Session, conversation_id: int, key: str, now: datetime, details: dict[str, object]
) -> bool:
    """Mark the rule as fired in the current transaction; False if it already has."""
    if _fired(session, conversation_id, key):
        return False
    session.add(
        SlaStageRun(
            conversation_id=conversation_id,
            stage_key=key,
            due_at=now,
            fired_at=now,
            details=details,
        )
    )
    try:
        session.flush()
    except IntegrityError:  # another process fired it a moment ago
        session.rollback()
        return False
    return True


# --- Running after the caller's commit


@event.listens_for(OrmSession, "after_commit")
def _run_after_commit(session: OrmSession) -> None:
    pending: list[RuleRun] = session.info.pop(_PENDING, [])
    session.info.pop(_SEEN, None)
    for run in pending:
        # A session of its own: the caller's has just committed and may not start work
        # inside this event. Events it queues reach the same bus.
        with Session(session.get_bind(), expire_on_commit=False) as own:
            own.info[_BUS] = session.info.get(_BUS)
            try:
                RUNNERS[run.key](own, run)
            except Exception:
                # The caller's change is committed and stays so; the rule may fire next time.
                log.exception("rule %s failed for conversation %s", run.key, run.conversation_id)
                own.rollback()


@event.listens_for(OrmSession, "after_rollback")
def _drop_on_rollback(session: OrmSession) -> None:
    session.info.pop(_PENDING, None)
    session.info.pop(_SEEN, None)


def run_reopen_rule(session: Session, run: RuleRun) -> Escalation | None:
    """Reopened once too often: to the reopen team (customer satisfaction), else a tier up."""
    policy = current_policy(session)
    team = _team_named(session, policy.rules.reopen_team)
    return _fire(
        session,
        run.conversation_id,
        key=REOPEN,
        details={"reopen_count": run.count},
        reason=f"reopened {run.count} times",
        summary=f"The customer came back {run.count} times after this conversation was "
        f"resolved (the limit is {policy.rules.reopen_limit}).",
        to_team=team,
        tell=None,
        now=run.now,
    )


def run_ping_pong_rule(session: Session, run: RuleRun) -> Escalation | None:
    """Transferred too often: a tier up, and the escalation manager is told."""
    policy = current_policy(session)
    return _fire(
        session,
        run.conversation_id,
        key=PING_PONG,
        details={"transfers": run.count},
        reason=f"transferred {run.count} times",
        summary=f"This conversation moved between teams {run.count} times (the limit is "
        f"{policy.rules.transfer_limit}). Please take it to a resolution.",
        to_team=None,
        tell=f"Conversation #{run.conversation_id} was transferred {run.count} times "
        "(ping-pong): it goes up a tier",
        now=run.now,
    )


RUNNERS: dict[str, Callable[[Session, RuleRun], Escalation | None]] = {
    REOPEN: run_reopen_rule,
    PING_PONG: run_ping_pong_rule,
}


def _fire(
    session: Session,
    conversation_id: int,
    *,
    key: str,
    details: dict[str, object],
    reason: str,
    summary: str,
    to_team: Team | None,
    tell: str | None,
    now: datetime,
    review: bool = False,
) -> Escalation | None:
    """Claim the rule, tell the escalation managers, escalate (to `to_team`, else a tier up)
    and commit, all in one transaction. With nowhere to escalate to (already at the top, or
    already with that team), the claim, the notifications and an activity line saying so are
    committed instead: the rule has fired either way."""

    def claim() -> Conversation | None:
        conversation = session.get(Conversation, conversation_id)
        if conversation is None:
            return None
        if conversation.status == Status.resolved and not review:
            return None  # resolved again before the rule ran: nothing left to escalate
        if not _claim(session, conversation_id, key, now, details):
            return None
        for manager in escalation_managers(session, current_policy(session)) if tell else []:
            assert manager.id is not None
            notify(
                session,
                at=now,
                agent_id=manager.id,
                kind="escalation",
                text=tell or "",
                conversation_id=conversation_id,
            )
        if conversation.status == Status.resolved:
            # A review needs the conversation open; it is not a reopen by the customer.
            conversation.status = Status.open
            conversation.resolved_at = None
            session.add(conversation)
            _activity(session, conversation, f"Opened again for a review: {reason}", now)
        return conversation

    conversation = claim()
    if conversation is None:
        return None
    try:
        return do_escalate(
            session=session,
            conversation=conversation,
            actor=None,
            trigger=Trigger.rule,
            brief={"summary": summary},
            to_team=to_team if to_team is not None and to_team.id != conversation.team_id else None,
            tier_up=0 if to_team is not None and to_team.id != conversation.team_id else 1,
            reason=reason,
            now=now,
        )
    except HandoffError as exc:
        session.rollback()
        log.info("rule %s on conversation %s not escalated: %s", key, conversation_id, exc)
        conversation = claim()
        if conversation is None:
            return None
        _activity(session, conversation, f"Rule: {reason}. Not escalated: {exc.message}", now)
        record(
            session,
            "rule.fired",
            actor_kind="rule",
            conversation_id=conversation_id,
            details={"rule": key, "reason": reason, "escalated": False, "why": exc.message},
        )
        session.commit()
        return None


# --- The escalation manager


def escalation_managers(session: Session, policy: Policy) -> list[Agent]:
    """Agents whose email matches a person with the role escalation_manager in the policy."""
    emails = {
        p.email.strip().lower()
        for p in policy.people
        if p.role == ESCALATION_MANAGER and p.email is not None
    }
    if not emails:
        return []
    return list(
        session.exec(
            select(Agent)
            .where(col(Agent.email).in_(emails), col(Agent.deactivated_at).is_(None))
            .order_by(col(Agent.id))
        )
    )


def review_team(session: Session, policy: Policy) -> Team | None:
    """Where reviews go: the first team of tier L3 (management) in the policy."""
    for tier in policy.tiers:
        if tier.level == 3:
            for name in tier.teams:
                if (team := _team_named(session, name)) is not None:
                    return team
    return None


def _team_named(session: Session, name: str) -> Team | None:
    return session.exec(select(Team).where(Team.name == name)).first()


# --- Escalations that grow old


def do_check_escalation_age(*, session: Session, now: datetime | None = None) -> list[int]:
    """Alert the escalation manager about every escalation still open after
    `rules.max_escalation_age_days`, once each; commit. Returns the escalation ids alerted.

    Cheap enough to run from the timer loop every few minutes."""
    now = now or utcnow()
    policy = current_policy(session)
    cutoff = now - timedelta(days=policy.rules.max_escalation_age_days)
    old = session.exec(
        select(Escalation)
        .where(
            col(Escalation.status).in_(STILL_OPEN),
            col(Escalation.closed_at).is_(None),
            col(Escalation.created_at) <= cutoff,
        )
        .order_by(col(Escalation.created_at), col(Escalation.id))
    ).all()
    alerted: list[int] = []
    for escalation in old:
        assert escalation.id is not None
        key = f"rule:age:{escalation.id}"
        if not _claim(session, escalation.conversation_id, key, now, {"escalation": escalation.id}):
            continue
        days = (now - escalation.created_at).days
        _age_alerts(session, policy, escalation, days, now)
        try:
            session.commit()
        except IntegrityError:  # another process alerted it first
            session.rollback()
            continue
        alerted.append(escalation.id)
    return alerted


def _age_alerts(
    session: Session, policy: Policy, escalation: Escalation, days: int, now: datetime
) -> None:
    text = (
        f"Escalation #{escalation.id} on conversation #{escalation.conversation_id} has been "
        f"open {days} days (the limit is {policy.rules.max_escalation_age_days})"
    )
    targets = [
        p.slack for p in policy.people if p.role == ESCALATION_MANAGER and p.slack is not None
    ]
    if not targets and policy.notifiers.slack.channel:
        targets = [policy.notifiers.slack.channel]
    for target in targets:
        session.add(
            Alert(
                conversation_id=escalation.conversation_id,
                escalation_id=escalation.id,
                stage_key=f"rule:age:{escalation.id}",
                channel="slack",
                target=target,
                text=text,
                status="pending",
            )
        )
    for manager in escalation_managers(session, policy):
        assert manager.id is not None
        notify(
            session,
            at=now,
            agent_id=manager.id,
            kind="escalation",
            text=text,
            conversation_id=escalation.conversation_id,
        )
    record(
        session,
        "rule.fired",
        actor_kind="rule",
        conversation_id=escalation.conversation_id,
        details={"rule": "escalation_age", "escalation_id": escalation.id, "days": days},
    )


# --- A low CSAT rating


def do_csat_review(
    *, session: Session, csat_response: CsatResponse, now: datetime | None = None
) -> Escalation | None:
    """A rating below `rules.csat_review_below` opens a review: a rule escalation to the L3
    team, and a notification to the escalation manager. Once per survey; commits.

    Call it after the rating is committed. A resolved conversation is opened again for the
    review (without counting a reopen: the customer did not come back)."""
    now = now or utcnow()
    policy = current_policy(session)
    rating = csat_response.rating
    if rating is None or rating >= policy.rules.csat_review_below or csat_response.id is None:
        return None
    team = review_team(session, policy)
    comment = f': "{csat_response.comment}"' if csat_response.comment else "."
    return _fire(
        session,
        csat_response.conversation_id,
        key=f"rule:csat:{csat_response.id}",
        details={"rating": rating, "csat_id": csat_response.id},
        reason=f"CSAT {rating}",
        summary=f"The customer rated this conversation {rating}/5{comment}",
        to_team=team,
        tell=f"The customer rated conversation #{csat_response.conversation_id} {rating}/5: "
        "a review is open for you",
        now=now,
        review=True,
    )
