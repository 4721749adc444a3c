"""The escalation letter: drafted from the policy's template in the customer's language, with
what was tried from the briefs (and nothing else internal), sent as the agent edited it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from sqlmodel import Session, col, select

from inbox import queries
from inbox.errors import InvalidInput
from inbox.escalation import do_escalate
from inbox.letter import do_send_letter, draft_letter
from inbox.models import AuditEntry, Contact, Conversation, Message
from inbox.policy import CustomerUpdates, Policy, Rules
from inbox.policy_store import do_save_policy
from tests.factories import World, build_world, customer_writes

T0 = datetime(2025, 3, 4, 10, 0, tzinfo=UTC)
BRIEF = {
    "summary": "Charged twice; INTERNAL: customer is rude, watch out",
    "tried": "We refunded the second charge and checked your card details.",
}


def escalated(session: Session, language: str | None = None) -> tuple[World, Conversation]:
    w = build_world(session)
    c = customer_writes(session, w.webchat, "I was charged twice", team=w.support).conversation
    contact = session.get(Contact, c.contact_id)
    assert contact is not None
    contact.name, contact.language = "Olivia Bennett", language
    session.add(contact)
    c.resolution_due_at = T0 + timedelta(hours=8)
    session.add(c)
    session.commit()
    do_escalate(
        session=session,
        conversation=c,
        actor=w.dana,
        trigger="agent",
        brief=BRIEF,
        to_team=w.billing,
        now=T0,
    )
    return w, c


def test_the_draft_apologises_says_what_was_done_when_and_who(session: Session) -> None:
    w, c = escalated(session)
    text = draft_letter(session, c, w.bob, T0)
    assert text.startswith("Dear Olivia Bennett,")
    assert "We are sorry for the trouble" in text
    assert "our Billing team" in text
    assert "What we have done so far: We refunded the second charge and checked your card" in text
    assert "Mar 4, 2025, 6:00" in text  # the resolution target
    assert "Until then Bob Stone is your contact" in text
    assert "INTERNAL" not in text and "rude" not in text


def test_the_draft_is_in_the_customers_language(session: Session) -> None:
    w, c = escalated(session, language="pl")
    text = draft_letter(session, c, w.bob, T0)
    assert text.startswith("Dzień dobry, Olivia Bennett,")
    assert "bardzo przepraszamy" in text
    assert "Co zrobiliśmy do tej pory: We refunded the second charge" in text
    assert "4 mar 2025" in text


def test_arabic_and_an_unknown_language_falls_back_to_english(session: Session) -> None:
    w, c = escalated(session, language="ar")
    assert draft_letter(session, c, w.bob, T0).startswith("عزيزنا Olivia Bennett")
    contact = session.get(Contact, c.contact_id)
    assert contact is not None
    contact.language = "pt_BR"
    session.add(contact)
    session.commit()
    assert draft_letter(session, c, w.bob, T0).startswith("Dear Olivia Bennett,")


def test_a_policy_template_with_its_own_placeholders(session: Session) -> None:
    w, c = escalated(session)
    templates = {
        "letter": {
            "en": "Sorry, {contact}. Done: …. Next news by {eta}. {agent}, {team} ({{team}})"
        }
    }
    do_save_policy(
        session=session,
        policy=Policy(
            rules=Rules(reopen_team="Billing"),
            customer_updates=CustomerUpdates(templates=templates),
        ),
        actor=None,
    )
    text = draft_letter(session, c, w.bob, T0)
    assert text == (
        "Sorry, Olivia Bennett. Done: We refunded the second charge and checked your card "
        "details.. Next news by Mar 4, 2025, 6:00\u202fPM UTC. Bob Stone, Billing ({team})"
    )


def test_nothing_tried_leaves_the_gap_for_the_agent(session: Session) -> None:
    w = build_world(session)
    c = customer_writes(session, w.webchat, "Help", team=w.support).conversation
    text = draft_letter(session, c, w.dana, T0)
    assert "What we have done so far: …" in text


def test_the_edited_letter_goes_out_like_a_reply(session: Session) -> None:
    w, c = escalated(session)
    draft = draft_letter(session, c, w.bob, T0)
    edited = draft.replace("Kind regards", "Warm regards") + "\nPS: a voucher is on its way."
    sent = do_send_letter(session=session, conversation=c, agent=w.bob, text=edited, now=T0)
    assert (sent.kind, sent.delivery, sent.automatic) == ("outgoing", "pending", False)
    assert sent.sender_agent_id == w.bob.id
    assert c.id is not None
    seen = [m.content for m in queries.thread(session, c.id, customer_view=True)]
    assert seen[-1] == edited.strip()
    assert "INTERNAL" not in "\n".join(seen)
    entry = session.exec(select(AuditEntry).where(AuditEntry.action == "letter.sent")).one()
    assert (entry.actor_agent_id, entry.details) == (w.bob.id, {"message_id": sent.id})


def test_an_empty_letter_is_refused_and_nothing_is_sent(session: Session) -> None:
    w, c = escalated(session)
    before = session.exec(select(Message.id).where(col(Message.kind) == "outgoing")).all()
    with pytest.raises(InvalidInput, match="empty"):
        do_send_letter(session=session, conversation=c, agent=w.bob, text="  \n ", now=T0)
    session.rollback()
    after = session.exec(select(Message.id).where(col(Message.kind) == "outgoing")).all()
    assert after == before
