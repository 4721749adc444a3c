"""Compensation (docs/concepts/rules.md#compensation): vouchers, fee waivers and refunds.

Each role may give up to its limit in the policy (`compensation_limits`); above it, a manager
(or an admin) within their own limit approves. Every offer is an internal note that shows the
customer's tier and lifetime value beside the amount, so whoever reads or approves it weighs
the customer's value; the audit log keeps the offers and approvals (no table of their own).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime

from sqlmodel import Session, col, select

from .access import audience_of, can_see_conversation, scope_for
from .audit import record
from .clock import utcnow
from .conversation_writes import _touch, notify
from .db import queue_event
from .errors import Conflict, Forbidden, InvalidInput, NotFound
from .events import message_created
from .models import (
    Agent,
    AuditEntry,
    Contact,
    Conversation,
    Delivery,
    Membership,
    Message,
    MessageKind,
    Role,
)
from .policy import Policy
from .policy_store import current_policy
from .priority import describe_value

KINDS = {"voucher": "a voucher", "fee_waiver": "a fee waiver", "refund": "a refund"}
APPROVERS = (Role.manager, Role.admin)
MAX_AMOUNT = 1_000_000_000.0
OFFERED, APPROVED = "compensation.offered", "compensation.approved"


@dataclass(frozen=True)
class Approval:
    """Whether `amount` is within the agent's own limit; if not, a manager must approve."""

    approved: bool
    amount: float
    limit: float
    role: str

    @property
    def needs_manager(self) -> bool:
        return not self.approved


@dataclass(frozen=True)
class Offer:
    """One offer, as the audit log tells it. Its id is the id of the note that records it."""

    id: int
    conversation_id: int
    kind: str
    amount: float
    offered_by_id: int | None
    status: str  # "approved" or "pending"
    approved_by_id: int | None = None


def limit_for(policy: Policy, role: str) -> float:
    """A role the policy does not list may give nothing without approval."""
    return float(policy.compensation_limits.get(role, 0.0))


def check_amount(amount: float) -> float:
    if (
        isinstance(amount, bool)
        or not isinstance(amount, int | float)
        or not math.isfinite(amount)
        or not 0 < amount <= MAX_AMOUNT
    ):
        raise InvalidInput("amount must be a positive number", {"field": "amount"})
    return round(float(amount), 2)


def check_compensation(policy: Policy, agent: Agent, amount: float) -> Approval:
    amount = check_amount(amount)
    limit = limit_for(policy, agent.role)
    return Approval(approved=amount <= limit, amount=amount, limit=limit, role=agent.role)


def do_offer_compensation(
    *,
    session: Session,
    conversation: Conversation,
    agent: Agent,
    kind: str,
    amount: float,
    now: datetime | None = None,
) -> Offer:
    """Record an offer as an internal note beside the customer's value. Above the agent's
    limit it waits for approval and the managers of the conversation's team are notified.
    Commits."""
    now = now or utcnow()
    if kind not in KINDS:
        raise InvalidInput("kind must be voucher, fee_waiver or refund", {"field": "kind"})
    approval = check_compensation(current_policy(session), agent, amount)
    contact = session.get(Contact, conversation.contact_id)
    value = describe_value(contact)
    what = f"{KINDS[kind]} of {approval.amount:,.2f}"
    if approval.approved:
        verdict = f"Within {agent.name}'s limit of {approval.limit:,.2f}."
    else:
        verdict = f"Above {agent.name}'s limit of {approval.limit:,.2f}: waiting for a manager."
    note = _note(session, conversation, agent, f"Offered {what}. Customer: {value}. {verdict}", now)
    assert note.id is not None and conversation.id is not None
    status = "approved" if approval.approved else "pending"
    record(
        session,
        OFFERED,
        actor=agent,
        conversation_id=conversation.id,
        details={
            "offer_id": note.id,
            "kind": kind,
            "amount": approval.amount,
            "limit": approval.limit,
            "status": status,
            "customer_tier": contact.customer_tier if contact else None,
            "lifetime_value": contact.lifetime_value if contact else None,
        },
    )
    if not approval.approved:
        for manager in approvers_for(session, conversation, approval.amount):
            assert manager.id is not None
            if manager.id != agent.id:
                notify(
                    session,
                    at=now,
                    agent_id=manager.id,
                    kind="approval",
                    text=f"{agent.name} offers {what} on conversation #{conversation.id} "
                    f"({value}): your approval is needed",
                    conversation_id=conversation.id,
                    message_id=note.id,
                )
    _touch(session, conversation, "note", now)
    session.commit()
    return Offer(note.id, conversation.id, kind, approval.amount, agent.id, status)


def approvers_for(session: Session, conversation: Conversation, amount: float) -> list[Agent]:
    """Managers of the conversation's team whose limit covers the amount; else the admins
    (and any manager) whose limit does."""
    policy = current_policy(session)
    managers: list[Agent] = []
    if conversation.team_id is not None:
        managers = list(
            session.exec(
                select(Agent)
                .join(Membership, col(Membership.agent_id) == col(Agent.id))
                .where(
                    Membership.team_id == conversation.team_id,
                    Agent.role == Role.manager,
                    col(Agent.deactivated_at).is_(None),
                )
                .order_by(col(Agent.id))
            ).all()
        )
    able = [m for m in managers if amount <= limit_for(policy, m.role)]
    if able:
        return able
    everyone = session.exec(
        select(Agent)
        .where(col(Agent.role).in_(APPROVERS), col(Agent.deactivated_at).is_(None))
        .order_by(col(Agent.id))
    ).all()
    return [
        a
        for a in everyone
        if amount <= limit_for(policy, a.role)
        and can_see_conversation(scope_for(session, a), conversation)
    ]


def offers(session: Session, conversation_id: int) -> list[Offer]:
    """Every offer on the conversation, oldest first, with its approval if it has one."""
    entries = session.exec(
        select(AuditEntry)
        .where(
            AuditEntry.conversation_id == conversation_id,
            col(AuditEntry.action).in_((OFFERED, APPROVED)),
        )
        .order_by(col(AuditEntry.id))
    ).all()
    found: dict[int, Offer] = {}
    for entry in entries:
        details = entry.details
        offer_id = int(details["offer_id"])
        if entry.action == OFFERED:
            found[offer_id] = Offer(
                id=offer_id,
                conversation_id=conversation_id,
                kind=str(details["kind"]),
                amount=float(details["amount"]),
                offered_by_id=entry.actor_agent_id,
                status=str(details["status"]),
            )
        elif offer_id in found:
            offer = found[offer_id]
            found[offer_id] = Offer(
                offer.id,
                offer.conversation_id,
                offer.kind,
                offer.amount,
                offer.offered_by_id,
                "approved",
                entry.actor_agent_id,
            )
    return list(found.values())


def do_approve_compensation(
    *,
    session: Session,
    conversation: Conversation,
    offer_id: int,
    approver: Agent,
    now: datetime | None = None,
) -> Offer:
    """A manager or admin approves a pending offer within their own limit. Commits."""
    now = now or utcnow()
    assert conversation.id is not None and approver.id is not None
    offer = next((o for o in offers(session, conversation.id) if o.id == offer_id), None)
    if offer is None:
        raise NotFound("No such offer")
    if offer.status == "approved":
        raise Conflict("This offer is already approved")
    if approver.role not in APPROVERS or not can_see_conversation(
        scope_for(session, approver), conversation
    ):
        raise Forbidden("Only a manager or an admin who sees this conversation can approve")
    limit = limit_for(current_policy(session), approver.role)
    if offer.amount > limit:
        raise Forbidden(
            f"{offer.amount:,.2f} is above your own limit of {limit:,.2f}: ask an admin",
            {"limit": limit},
        )
    contact = session.get(Contact, conversation.contact_id)
    offered_by = session.get(Agent, offer.offered_by_id) if offer.offered_by_id else None
    what = f"{KINDS.get(offer.kind, offer.kind)} of {offer.amount:,.2f}"
    by = f" offered by {offered_by.name}" if offered_by else ""
    note = _note(
        session,
        conversation,
        approver,
        f"Approved {what}{by}. Customer: {describe_value(contact)}.",
        now,
    )
    record(
        session,
        APPROVED,
        actor=approver,
        conversation_id=conversation.id,
        details={"offer_id": offer.id, "amount": offer.amount, "note_id": note.id},
    )
    if (
        offered_by is not None
        and offered_by.id is not None
        and offered_by.id != approver.id
        and offered_by.deactivated_at is None  # left since: nobody would read the bell
    ):
        notify(
            session,
            at=now,
            agent_id=offered_by.id,
            kind="approval",
            text=f"{approver.name} approved {what} on conversation #{conversation.id}",
            conversation_id=conversation.id,
            message_id=note.id,
        )
    _touch(session, conversation, "note", now)
    session.commit()
    return Offer(
        offer.id,
        offer.conversation_id,
        offer.kind,
        offer.amount,
        offer.offered_by_id,
        "approved",
        approver.id,
    )


def _note(
    session: Session, conversation: Conversation, author: Agent, content: str, now: datetime
) -> Message:
    """An internal note written on the author's behalf (agents only; never the customer)."""
    assert conversation.id is not None
    note = Message(
        conversation_id=conversation.id,
        inbox_id=conversation.inbox_id,
        kind=MessageKind.note,
        sender_agent_id=author.id,
        content=content,
        delivery=Delivery.sent,
        created_at=now,
    )
    session.add(note)
    session.flush()
    assert note.id is not None
    queue_event(
        session,
        message_created(
            message_id=note.id,
            conversation_id=conversation.id,
            kind=note.kind,
            audience=audience_of(conversation),
        ),
    )
    return note
