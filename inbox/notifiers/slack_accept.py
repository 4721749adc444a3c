"""The "Accept" button pressed in Slack (docs/concepts/sla.md#accept-from-slack): who pressed
it, in Handoff's terms, and the escalation accepted in their name.

The Slack user is matched to a Handoff agent through the policy's people (their `slack` id,
then their email). Someone Handoff does not know still accepts, as the target team's lead,
and the audit log keeps who in Slack it really was.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlmodel import Session, col, func, select

from ..audit import record
from ..clock import utcnow
from ..errors import NotFound
from ..escalation import do_accept
from ..models import Agent, Escalation, EscalationStatus, Membership, Role
from ..policy import Policy
from ..sla import current_policy


@dataclass
class SlackAcceptance:
    escalation: Escalation
    agent: Agent | None  # who holds it now
    accepted_now: bool  # False: someone had already accepted, or it was no longer open
    as_team_lead: bool = False


def agent_for_slack_user(session: Session, policy: Policy, slack_user_id: str) -> Agent | None:
    person = next((p for p in policy.people if p.slack and p.slack == slack_user_id), None)
    if person is None or not person.email:
        return None
    return session.exec(
        select(Agent).where(
            func.lower(Agent.email) == person.email.lower(), col(Agent.deactivated_at).is_(None)
        )
    ).first()


def stand_in_for(session: Session, escalation: Escalation) -> Agent | None:
    """The target team's lead; failing that a manager of the team, then an admin."""
    if escalation.to_team_id is not None:
        members = session.exec(
            select(Agent, Membership.is_lead)
            .join(Membership, col(Membership.agent_id) == col(Agent.id))
            .where(Membership.team_id == escalation.to_team_id, col(Agent.deactivated_at).is_(None))
            .order_by(col(Membership.is_lead).desc(), col(Agent.id))
        ).all()
        for agent, is_lead in members:
            if is_lead:
                return agent
        for agent, _ in members:
            if agent.role == Role.manager:
                return agent
    return session.exec(
        select(Agent)
        .where(Agent.role == Role.admin, col(Agent.deactivated_at).is_(None))
        .order_by(col(Agent.id))
    ).first()


def do_accept_from_slack(
    *,
    session: Session,
    escalation_id: int,
    slack_user_id: str,
    slack_user_name: str,
    now: datetime | None = None,
) -> SlackAcceptance:
    now = now or utcnow()
    escalation = session.get(Escalation, escalation_id)
    if escalation is None:
        raise NotFound("No such escalation")
    if escalation.status != EscalationStatus.open:
        holder = (
            session.get(Agent, escalation.accepted_by_id) if escalation.accepted_by_id else None
        )
        return SlackAcceptance(escalation, holder, accepted_now=False)
    policy = current_policy(session)
    agent = agent_for_slack_user(session, policy, slack_user_id)
    as_team_lead = agent is None
    if agent is None:
        agent = stand_in_for(session, escalation)
    if agent is None:
        raise NotFound("Nobody in Handoff can accept this escalation yet")
    # Written before do_accept, which commits it with the acceptance.
    record(
        session,
        "escalation.accepted_in_slack",
        actor=agent,
        conversation_id=escalation.conversation_id,
        details={
            "escalation_id": escalation.id,
            "slack_user_id": slack_user_id,
            "slack_user_name": slack_user_name,
            "as_team_lead": as_team_lead,
        },
    )
    accepted = do_accept(session=session, escalation=escalation, agent=agent, now=now)
    return SlackAcceptance(accepted, agent, accepted_now=True, as_team_lead=as_team_lead)
