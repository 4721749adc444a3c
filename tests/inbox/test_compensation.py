"""Compensation: each role's limit, the customer's value beside the offer, manager approval."""

from __future__ import annotations

import pytest
from sqlmodel import Session, col, select

from inbox.compensation import (
    check_compensation,
    do_approve_compensation,
    do_offer_compensation,
    offers,
)
from inbox.errors import Conflict, Forbidden, InvalidInput
from inbox.models import Conversation, Message, MessageKind, Notification
from inbox.policy_store import current_policy
from tests.factories import World, build_world, customer_writes


def gold_customer(session: Session) -> tuple[World, Conversation]:
    w = build_world(session)
    got = customer_writes(session, w.webchat, "You charged me twice", team=w.support)
    got.contact.customer_tier, got.contact.lifetime_value = "gold", 12_500.0
    session.add(got.contact)
    session.commit()
    return w, got.conversation


def notes(session: Session, conversation: Conversation) -> list[str]:
    return list(
        session.exec(
            select(Message.content)
            .where(Message.conversation_id == conversation.id, Message.kind == MessageKind.note)
            .order_by(col(Message.id))
        ).all()
    )


def approvals_for(session: Session, agent_id: int | None) -> list[str]:
    return list(
        session.exec(
            select(Notification.text).where(
                Notification.agent_id == agent_id, Notification.kind == "approval"
            )
        ).all()
    )


def test_each_role_has_its_own_limit(session: Session) -> None:
    w = build_world(session)
    policy = current_policy(session)
    assert check_compensation(policy, w.dana, 50).approved
    assert check_compensation(policy, w.dana, 50.01).needs_manager
    assert check_compensation(policy, w.manager, 500).approved
    assert not check_compensation(policy, w.manager, 800).approved
    assert check_compensation(policy, w.admin, 800).approved
    with pytest.raises(InvalidInput):
        check_compensation(policy, w.dana, -5)


def test_an_offer_within_the_limit_shows_the_customers_value(session: Session) -> None:
    w, conversation = gold_customer(session)
    offer = do_offer_compensation(
        session=session, conversation=conversation, agent=w.dana, kind="voucher", amount=40
    )
    assert offer.status == "approved" and offer.amount == 40.0
    assert notes(session, conversation) == [
        "Offered a voucher of 40.00. Customer: Gold, lifetime value 12,500.00. "
        "Within Dana Kowalski's limit of 50.00."
    ]
    assert approvals_for(session, w.manager.id) == []


def test_above_the_limit_a_manager_of_the_team_approves(session: Session) -> None:
    w, conversation = gold_customer(session)
    offer = do_offer_compensation(
        session=session, conversation=conversation, agent=w.dana, kind="fee_waiver", amount=300
    )
    assert offer.status == "pending"
    assert "waiting for a manager" in notes(session, conversation)[-1]
    assert approvals_for(session, w.manager.id) == [
        f"Dana Kowalski offers a fee waiver of 300.00 on conversation #{conversation.id} "
        "(Gold, lifetime value 12,500.00): your approval is needed"
    ]
    with pytest.raises(Forbidden):
        do_approve_compensation(
            session=session, conversation=conversation, offer_id=offer.id, approver=w.dana
        )
    approved = do_approve_compensation(
        session=session, conversation=conversation, offer_id=offer.id, approver=w.manager
    )
    assert approved.status == "approved" and approved.approved_by_id == w.manager.id
    assert [o.status for o in offers(session, conversation.id or 0)] == ["approved"]
    assert notes(session, conversation)[-1] == (
        "Approved a fee waiver of 300.00 offered by Dana Kowalski. "
        "Customer: Gold, lifetime value 12,500.00."
    )
    assert approvals_for(session, w.dana.id) == [
        f"Maria Lopez approved a fee waiver of 300.00 on conversation #{conversation.id}"
    ]
    with pytest.raises(Conflict):
        do_approve_compensation(
            session=session, conversation=conversation, offer_id=offer.id, approver=w.admin
        )


def test_above_a_managers_own_limit_an_admin_approves(session: Session) -> None:
    w, conversation = gold_customer(session)
    offer = do_offer_compensation(
        session=session, conversation=conversation, agent=w.dana, kind="refund", amount=800
    )
    # Maria's 500 does not cover it: the admins are asked instead.
    assert approvals_for(session, w.manager.id) == []
    assert len(approvals_for(session, w.admin.id)) == 1
    with pytest.raises(Forbidden) as refused:
        do_approve_compensation(
            session=session, conversation=conversation, offer_id=offer.id, approver=w.manager
        )
    assert "above your own limit of 500.00" in refused.value.message
    done = do_approve_compensation(
        session=session, conversation=conversation, offer_id=offer.id, approver=w.admin
    )
    assert done.status == "approved"


def test_unknown_kinds_and_offers_are_refused(session: Session) -> None:
    w, conversation = gold_customer(session)
    with pytest.raises(InvalidInput):
        do_offer_compensation(
            session=session, conversation=conversation, agent=w.dana, kind="cash", amount=10
        )
    with pytest.raises(InvalidInput):
        do_offer_compensation(
            session=session, conversation=conversation, agent=w.dana, kind="voucher", amount=0
        )
    assert notes(session, conversation) == []
