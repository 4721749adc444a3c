"""Priority from the customer's value, the severity and the impact."""

from __future__ import annotations

import pytest
from sqlmodel import Session, col, select

from inbox.conversations import do_set_priority
from inbox.errors import InvalidInput
from inbox.models import AuditEntry, Contact, Message, MessageKind
from inbox.priority import do_set_severity, suggest_priority
from tests.factories import build_world, customer_writes


def customer(tier: str = "standard", lifetime_value: float = 0.0) -> Contact:
    return Contact(name="Ann", customer_tier=tier, lifetime_value=lifetime_value)


@pytest.mark.parametrize(
    ("tier", "value", "severity", "impact", "expected"),
    [
        ("standard", 0, "low", "user", "low"),
        ("standard", 0, "normal", "user", "normal"),
        ("gold", 0, "normal", "user", "normal"),
        ("vip", 0, "normal", "user", "high"),
        ("standard", 0, "normal", "company", "high"),
        ("standard", 0, "high", "user", "high"),
        ("gold", 0, "high", "team", "urgent"),
        ("vip", 0, "high", "user", "urgent"),
        ("standard", 0, "critical", "user", "high"),
        ("standard", 0, "critical", "team", "urgent"),
        ("standard", 0, "low", "company", "normal"),
        # Lifetime value counts like a tier when it says more than the tier does.
        ("standard", 12_000, "normal", "team", "high"),
        ("standard", 60_000, "normal", "user", "high"),
        ("vip", 100, "low", "user", "normal"),
    ],
)
def test_the_priority_table(
    tier: str, value: float, severity: str, impact: str, expected: str
) -> None:
    assert suggest_priority(customer(tier, value), severity, impact) == expected


def test_unknown_words_are_refused_by_name() -> None:
    with pytest.raises(InvalidInput) as bad:
        suggest_priority(customer(), "catastrophic", "user")
    assert bad.value.detail == {"field": "severity"}
    with pytest.raises(InvalidInput) as bad:
        suggest_priority(customer(), "high", "planet")
    assert bad.value.detail == {"field": "impact"}


def test_severity_raises_the_priority_for_a_valuable_customer(session: Session) -> None:
    w = build_world(session)
    got = customer_writes(session, w.webchat, "Checkout fails for all our staff", team=w.support)
    got.contact.customer_tier, got.contact.lifetime_value = "vip", 80_000.0
    session.add(got.contact)
    session.commit()
    conversation = do_set_severity(
        session=session, conversation=got.conversation, severity="high", impact="team", actor=w.dana
    )
    assert conversation.severity == "high" and conversation.priority == "urgent"
    activity = session.exec(
        select(Message.content)
        .where(Message.conversation_id == conversation.id, Message.kind == MessageKind.activity)
        .order_by(col(Message.id).desc())
    ).first()
    assert activity == (
        "Severity set to high (impact: team); priority raised from normal to urgent "
        "(VIP, lifetime value 80,000.00) by Dana Kowalski"
    )
    entry = session.exec(
        select(AuditEntry).where(AuditEntry.action == "conversation.severity")
    ).one()
    assert entry.actor_agent_id == w.dana.id
    assert entry.details["suggested"] == "urgent" and entry.details["raised"] is True


def test_severity_never_lowers_a_priority(session: Session) -> None:
    w = build_world(session)
    got = customer_writes(session, w.webchat, "A small typo on the invoice", team=w.support)
    do_set_priority(session=session, conversation=got.conversation, priority="high", actor=w.dana)
    conversation = do_set_severity(
        session=session, conversation=got.conversation, severity="low", impact="user", actor=None
    )
    assert conversation.severity == "low" and conversation.priority == "high"
