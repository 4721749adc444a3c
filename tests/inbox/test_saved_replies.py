"""Saved replies: who keeps them, who may use them, what the / menu finds first, and how the
placeholders are filled in (docs/concepts/saved-replies.md)."""

from __future__ import annotations

from typing import Any

import pytest
from sqlmodel import Session, col, select

from inbox.access import scope_for
from inbox.errors import Conflict, Forbidden, InvalidInput, NotFound
from inbox.models import AuditEntry, Contact, Conversation, SavedReply
from inbox.saved_replies import (
    do_create_saved_reply,
    do_delete_saved_reply,
    do_update_saved_reply,
    expand,
    get_saved_reply,
    saved_replies_for,
)
from tests.factories import World, build_world


@pytest.fixture
def w(session: Session) -> World:
    return build_world(session)


def make(session: Session, w: World, shortcut: str, **fields: Any) -> SavedReply:
    """A reply the admin saves; `team` a Team or None for everyone."""
    team = fields.pop("team", None)
    reply = do_create_saved_reply(
        session=session,
        actor=fields.pop("actor", w.admin),
        shortcut=shortcut,
        title=fields.pop("title", shortcut.replace("-", " ").capitalize()),
        content=fields.pop("content", f"The text of {shortcut}"),
        team_id=team.id if team else None,
    )
    session.commit()
    return reply


def audit(session: Session) -> list[tuple[str, int | None, dict[str, Any]]]:
    entries = session.exec(
        select(AuditEntry)
        .where(col(AuditEntry.action).startswith("saved_reply."))
        .order_by(col(AuditEntry.id))
    ).all()
    return [(e.action, e.actor_agent_id, e.details) for e in entries]


def shortcuts(session: Session, w: World, agent_name: str, q: str | None = None) -> list[str]:
    agent = getattr(w, agent_name)
    return [r.shortcut for r in saved_replies_for(session, scope_for(session, agent), q)]


# Keeping them


def test_create_update_and_delete_are_each_audited_with_the_agent(
    session: Session, w: World
) -> None:
    reply = make(session, w, "Refund-Policy", title=" Refund policy ", team=w.billing)
    assert (reply.shortcut, reply.title, reply.created_by_id) == (
        "refund-policy",
        "Refund policy",
        w.admin.id,
    )

    do_update_saved_reply(
        session=session,
        actor=w.admin,
        reply=reply,
        changes={"title": "Refunds", "content": "Within 30 days.", "shortcut": "refund-policy"},
    )
    session.commit()
    assert (reply.title, reply.content) == ("Refunds", "Within 30 days.")
    assert reply.updated_at >= reply.created_at

    do_delete_saved_reply(session=session, actor=w.admin, reply=reply)
    session.commit()
    assert session.exec(select(SavedReply)).all() == []
    assert audit(session) == [
        (
            "saved_reply.created",
            w.admin.id,
            {"saved_reply_id": reply.id, "shortcut": "refund-policy", "team_id": w.billing.id},
        ),
        (
            "saved_reply.updated",
            w.admin.id,
            {"saved_reply_id": reply.id, "fields": ["content", "title"]},
        ),
        (
            "saved_reply.deleted",
            w.admin.id,
            {"saved_reply_id": reply.id, "shortcut": "refund-policy", "team_id": w.billing.id},
        ),
    ]


def test_a_shortcut_is_used_once_per_team_and_once_among_the_shared(
    session: Session, w: World
) -> None:
    make(session, w, "hello")
    with pytest.raises(Conflict, match="already uses that shortcut"):
        make(session, w, "hello")
    session.rollback()

    make(session, w, "refund", team=w.billing)
    with pytest.raises(Conflict):
        make(session, w, "refund", team=w.billing)
    session.rollback()

    # The same shortcut in another team, or shared, is another reply.
    make(session, w, "refund", team=w.support)
    make(session, w, "refund")
    make(session, w, "hello", team=w.support)
    assert len(session.exec(select(SavedReply)).all()) == 5

    # Renaming onto a taken shortcut is refused too; keeping one's own is not.
    billing_refund = session.exec(
        select(SavedReply).where(SavedReply.team_id == w.billing.id)
    ).one()
    do_update_saved_reply(
        session=session, actor=w.admin, reply=billing_refund, changes={"shortcut": "refund"}
    )
    shared_hello = session.exec(
        select(SavedReply).where(SavedReply.shortcut == "hello", col(SavedReply.team_id).is_(None))
    ).one()
    with pytest.raises(Conflict):
        do_update_saved_reply(
            session=session, actor=w.admin, reply=shared_hello, changes={"shortcut": "refund"}
        )


@pytest.mark.parametrize("team", ["billing", None])
def test_the_database_refuses_a_duplicate_the_check_did_not_see(
    session: Session, w: World, monkeypatch: pytest.MonkeyPatch, team: str | None
) -> None:
    """Two admins saving the same shortcut at once both pass the check; the unique indexes
    (the partial one for shared replies) stop the second, as a Conflict."""
    make(session, w, "refund", team=getattr(w, team) if team else None)
    monkeypatch.setattr("inbox.saved_replies._check_free", lambda *args: None)
    with pytest.raises(Conflict, match="already uses that shortcut"):
        make(session, w, "refund", team=getattr(w, team) if team else None)
    session.rollback()
    assert len(session.exec(select(SavedReply)).all()) == 1


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"shortcut": "refund policy"}, "shortcut"),
        ({"shortcut": "Ünïcode"}, "shortcut"),
        ({"shortcut": ""}, "shortcut"),
        ({"shortcut": "x" * 41}, "shortcut"),
        ({"title": "  "}, "title"),
        ({"title": "t" * 121}, "title"),
        ({"content": " \n "}, "content"),
        ({"content": "x" * 70_000}, "content"),
    ],
)
def test_bad_input_is_refused_naming_the_field(
    session: Session, w: World, changes: dict[str, str], field: str
) -> None:
    fields = {"shortcut": "ok", "title": "Fine", "content": "Fine", **changes}
    with pytest.raises(InvalidInput) as refused:
        do_create_saved_reply(
            session=session,
            actor=w.admin,
            shortcut=fields["shortcut"],
            title=fields["title"],
            content=fields["content"],
        )
    assert refused.value.detail == {"field": field}
    assert session.exec(select(SavedReply)).all() == []


def test_a_typed_slash_in_front_of_the_shortcut_is_dropped(session: Session, w: World) -> None:
    assert make(session, w, "/closing").shortcut == "closing"


def test_managers_keep_only_their_own_teams_replies(session: Session, w: World) -> None:
    # Maria manages Support L1.
    mine = make(session, w, "reset", team=w.support, actor=w.manager)
    assert mine.created_by_id == w.manager.id
    billing = make(session, w, "refund", team=w.billing)
    shared = make(session, w, "hello")

    with pytest.raises(Forbidden, match="shared with everyone"):
        make(session, w, "bye", actor=w.manager)
    with pytest.raises(Forbidden, match="their own teams"):
        make(session, w, "refund-2", team=w.billing, actor=w.manager)
    for reply in (billing, shared):
        with pytest.raises(Forbidden):
            do_update_saved_reply(
                session=session, actor=w.manager, reply=reply, changes={"title": "Mine now"}
            )
        with pytest.raises(Forbidden):
            do_delete_saved_reply(session=session, actor=w.manager, reply=reply)
    # Nor may she move her own reply to everyone, or to another team.
    for team_id in (None, w.billing.id):
        with pytest.raises(Forbidden):
            do_update_saved_reply(
                session=session, actor=w.manager, reply=mine, changes={"team_id": team_id}
            )
    session.rollback()
    do_delete_saved_reply(session=session, actor=w.manager, reply=mine)
    session.commit()
    assert {r.shortcut for r in session.exec(select(SavedReply)).all()} == {"refund", "hello"}


def test_agents_use_saved_replies_but_never_change_them(session: Session, w: World) -> None:
    reply = make(session, w, "reset", team=w.support)
    with pytest.raises(Forbidden, match="Only admins and managers"):
        make(session, w, "mine", team=w.support, actor=w.dana)
    with pytest.raises(Forbidden):
        do_update_saved_reply(session=session, actor=w.dana, reply=reply, changes={"title": "x"})
    with pytest.raises(Forbidden):
        do_delete_saved_reply(session=session, actor=w.dana, reply=reply)


# Using them


def test_each_agent_gets_the_shared_replies_and_their_teams_only(
    session: Session, w: World
) -> None:
    make(session, w, "hello")
    make(session, w, "reset", team=w.support)
    refund = make(session, w, "refund", team=w.billing)

    assert shortcuts(session, w, "dana") == ["hello", "reset"]  # Support L1
    assert shortcuts(session, w, "bob") == ["hello", "refund"]  # Billing
    assert shortcuts(session, w, "manager") == ["hello", "reset"]
    assert shortcuts(session, w, "admin") == ["hello", "refund", "reset"]
    # Not by asking for it either, nor by its id.
    assert shortcuts(session, w, "dana", q="refund") == []
    assert refund.id is not None
    with pytest.raises(NotFound):
        get_saved_reply(session, scope_for(session, w.dana), refund.id)


def test_shortcut_prefix_matches_come_first_then_title_or_text_in_any_case(
    session: Session, w: World
) -> None:
    make(session, w, "apology", title="Sorry for the delay", content="We are REFUNDING you.")
    make(session, w, "refund-policy", title="Refund policy")
    make(session, w, "zwrot", title="Zwrot pieniędzy (REFUND)", content="Pieniądze wracają.")
    make(session, w, "shipping", title="Where is my parcel", content="Tracking link inside.")
    make(session, w, "refund", team=w.support, title="Refund for Support")

    assert shortcuts(session, w, "dana", "ref") == ["refund", "refund-policy", "apology", "zwrot"]
    assert shortcuts(session, w, "dana", "/REF") == ["refund", "refund-policy", "apology", "zwrot"]
    assert shortcuts(session, w, "dana", "PIENIĄDZE") == ["zwrot"]  # not only ASCII folds
    assert shortcuts(session, w, "dana", "nothing like it") == []
    assert len(saved_replies_for(session, scope_for(session, w.dana), limit=2)) == 2


def test_a_teams_reply_comes_before_the_shared_one_with_the_same_shortcut(
    session: Session, w: World
) -> None:
    make(session, w, "refund", title="Shared")
    make(session, w, "refund", title="Support's own", team=w.support)
    found = saved_replies_for(session, scope_for(session, w.dana), "refund")
    assert [r.title for r in found] == ["Support's own", "Shared"]


# Placeholders


def a_conversation(**contact: Any) -> tuple[Contact, Conversation]:
    return Contact(**contact), Conversation(id=42, inbox_id=1, contact_id=1)


def test_every_placeholder_is_filled_in(w: World) -> None:
    contact, conversation = a_conversation(name="Olivia Bennett", email="olivia@example.org")
    text = (
        "Hi {{contact.first_name}} ({{contact.name}}, {{ contact.email }}), "
        "{{agent.first_name}} here ({{agent.name}}) about #{{  conversation.id  }}."
    )
    assert expand(text, contact=contact, agent=w.dana, conversation=conversation) == (
        "Hi Olivia (Olivia Bennett, olivia@example.org), Dana here (Dana Kowalski) about #42."
    )


def test_unknown_placeholders_stay_as_typed_and_missing_values_are_empty(w: World) -> None:
    contact, conversation = a_conversation(name="", email=None)
    text = "Dear {{contact.first_name}}<{{contact.email}}> {{contact.phone}} {{agent.nam}} {{x}}"
    assert expand(text, contact=contact, agent=w.dana, conversation=conversation) == (
        "Dear <> {{contact.phone}} {{agent.nam}} {{x}}"
    )


def test_a_value_that_looks_like_a_placeholder_is_not_filled_in_again(w: World) -> None:
    contact, conversation = a_conversation(name="{{agent.name}} {{contact.email}}", email="e@x.org")
    text = "Hello {{contact.name}}, from {{agent.name}}"
    assert expand(text, contact=contact, agent=w.dana, conversation=conversation) == (
        "Hello {{agent.name}} {{contact.email}}, from Dana Kowalski"
    )
