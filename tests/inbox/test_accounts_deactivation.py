"""Deactivating an agent who left, and taking them back (docs/concepts/teams-and-agents.md)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import update
from sqlmodel import Session, col, select

from inbox.accounts import (
    authenticate,
    do_create_agent,
    do_create_token,
    do_deactivate_agent,
    do_reactivate_agent,
    do_update_agent,
)
from inbox.conversations import do_assign, do_set_status
from inbox.db import Database
from inbox.errors import Conflict, InvalidInput, Unauthorized
from inbox.ladder import run_due
from inbox.models import (
    Agent,
    ApiToken,
    AuditEntry,
    Conversation,
    Mention,
    Message,
    MessageKind,
    Notification,
    Status,
)
from inbox.notes import do_add_note, parse_mentions
from inbox.token_scopes import TokenScopes
from tests.factories import PASSWORD, World, build_world, customer_writes
from tests.inbox.sla_support import notified, use_policy, warsaw, writes
from tests.inbox.test_routing import T0, arrives, floor
from tests.inbox.test_token_scopes import Clock


def dana_holding_two(session: Session, w: World) -> tuple[Conversation, Conversation]:
    """Dana holds an open conversation and a resolved one."""
    open_one = customer_writes(session, w.webchat, team=w.support, who="a").conversation
    resolved = customer_writes(session, w.webchat, team=w.support, who="b").conversation
    do_assign(session=session, conversation=open_one, assignee=w.dana, actor=w.manager)
    do_assign(session=session, conversation=resolved, assignee=w.dana, actor=w.manager)
    do_set_status(session=session, conversation=resolved, status=Status.resolved, actor=w.dana)
    return open_one, resolved


def actions(session: Session) -> list[str]:
    return list(session.exec(select(AuditEntry.action).order_by(col(AuditEntry.id))).all())


def test_deactivating_signs_out_revokes_tokens_and_unassigns_open_work(session: Session) -> None:
    w = build_world(session)
    open_one, resolved = dana_holding_two(session, w)
    do_create_token(session=session, agent=w.dana, label="laptop")
    session.commit()
    epoch = w.dana.session_epoch

    do_deactivate_agent(session=session, agent=w.dana, actor=w.admin)

    session.expire_all()
    dana = session.get(Agent, w.dana.id)
    assert dana is not None and dana.deactivated_at is not None
    assert dana.available is False
    assert dana.session_epoch == epoch + 1, "their browser sessions end"
    assert session.exec(select(ApiToken).where(ApiToken.agent_id == dana.id)).all() == []
    assert session.get(Conversation, open_one.id).assignee_id is None  # type: ignore[union-attr]
    # A resolved conversation keeps its history: who handled it stays on it.
    assert session.get(Conversation, resolved.id).assignee_id == dana.id  # type: ignore[union-attr]
    activity = session.exec(
        select(Message.content).where(
            Message.conversation_id == open_one.id, Message.kind == MessageKind.activity
        )
    ).all()
    assert "Unassigned by Ada Admin" in activity
    entry = session.exec(select(AuditEntry).where(AuditEntry.action == "agent.deactivated")).one()
    assert entry.actor_agent_id == w.admin.id
    assert entry.details["agent_id"] == dana.id
    assert entry.details["unassigned"] == [open_one.id]
    assert entry.details["tokens_revoked"] == 1
    assert {"sessions.ended", "token.revoked"} <= set(actions(session))


def test_a_deactivated_agent_cannot_sign_in_and_fails_like_a_wrong_password(
    session: Session,
) -> None:
    w = build_world(session)
    do_deactivate_agent(session=session, agent=w.dana, actor=w.admin)
    with pytest.raises(Unauthorized) as deactivated:
        authenticate(session, "dana@example.com", PASSWORD)
    with pytest.raises(Unauthorized) as wrong:
        authenticate(session, "bob@example.com", "not-the-password")
    assert deactivated.value.message == wrong.value.message


def test_reactivating_lets_them_sign_in_with_their_password_but_not_take_work(
    session: Session,
) -> None:
    w = build_world(session)
    do_deactivate_agent(session=session, agent=w.dana, actor=w.admin)
    do_reactivate_agent(session=session, agent=w.dana, actor=w.admin)
    session.commit()
    assert authenticate(session, "dana@example.com", PASSWORD).id == w.dana.id
    assert w.dana.deactivated_at is None
    assert w.dana.available is False, "availability stays off until they turn it on"
    reactivated = session.exec(
        select(AuditEntry).where(AuditEntry.action == "agent.reactivated")
    ).one()
    assert reactivated.actor_agent_id == w.admin.id


def test_a_deactivated_agent_cannot_be_made_available(session: Session) -> None:
    w = build_world(session)
    do_deactivate_agent(session=session, agent=w.dana, actor=w.admin)
    with pytest.raises(InvalidInput):
        do_update_agent(session=session, agent=w.dana, changes={"available": True})


def test_nobody_deactivates_themselves(session: Session) -> None:
    w = build_world(session)
    with pytest.raises(InvalidInput, match="yourself"):
        do_deactivate_agent(session=session, agent=w.admin, actor=w.admin)
    session.rollback()
    assert session.get(Agent, w.admin.id).deactivated_at is None  # type: ignore[union-attr]


def test_the_last_active_admin_cannot_be_deactivated(session: Session) -> None:
    w = build_world(session)
    with pytest.raises(Conflict, match="last active admin"):
        do_deactivate_agent(session=session, agent=w.admin, actor=w.manager)
    second = do_create_agent(
        session=session, email="root@example.com", name="Rae Root", role="admin"
    )
    session.commit()
    do_deactivate_agent(session=session, agent=w.admin, actor=second)
    assert w.admin.deactivated_at is not None
    # Ada is gone now: Rae is the last active admin, whoever asks.
    with pytest.raises(Conflict):
        do_deactivate_agent(session=session, agent=second, actor=w.manager)


def test_a_deactivated_agent_is_never_routed_work(session: Session) -> None:
    f = floor(session, "round_robin")
    do_deactivate_agent(session=session, agent=f.ivan, actor=f.world.admin)
    # Even marked available by a stray write, a deactivated agent takes nothing.
    session.exec(update(Agent).where(col(Agent.id) == f.ivan.id).values(available=True))
    session.commit()
    session.expire_all()
    taken = [
        arrives(session, f, who, T0 + timedelta(minutes=i)).assignee_id
        for i, who in enumerate("abcd")
    ]
    assert f.ivan.id not in taken
    assert set(taken) == {f.ingrid.id, f.lukasz.id}


def test_the_conversations_they_held_go_to_a_teammate_through_routing(session: Session) -> None:
    f = floor(session, "round_robin")
    held = arrives(session, f, "a", T0)
    assert held.assignee_id == f.ivan.id, "round robin starts with Ivan"
    do_deactivate_agent(session=session, agent=f.ivan, actor=f.world.admin, now=T0)
    session.expire_all()
    taken = session.get(Conversation, held.id)
    assert taken is not None and taken.assignee_id in {f.ingrid.id, f.lukasz.id}


def test_a_deactivated_agent_is_not_mentioned_by_name_or_through_their_team(
    session: Session,
) -> None:
    w = build_world(session)
    c = customer_writes(session, w.webchat, team=w.support).conversation
    do_deactivate_agent(session=session, agent=w.dana, actor=w.admin)
    do_add_note(
        session=session,
        conversation=c,
        agent=w.manager,
        content="@DanaKowalski and @SupportL1, have a look",
    )
    assert session.exec(select(Notification).where(Notification.agent_id == w.dana.id)).all() == []
    assert session.exec(select(Mention).where(Mention.agent_id == w.dana.id)).all() == []
    assert w.dana.id not in parse_mentions(session, "@dana").agent_ids


def test_a_deactivated_agents_first_name_belongs_to_the_one_still_here(session: Session) -> None:
    w = build_world(session)
    gone, here = (
        do_create_agent(session=session, email=email, name=name)
        for email, name in (("lr@example.com", "Lena Ross"), ("lp@example.com", "Lena Park"))
    )
    session.commit()
    assert parse_mentions(session, "@Lena").agent_ids == frozenset(), "two Lenas: ambiguous"
    do_deactivate_agent(session=session, agent=gone, actor=w.admin)
    assert parse_mentions(session, "@Lena").agent_ids == frozenset({here.id})


def test_a_remembered_token_stops_working_when_its_agent_is_deactivated(
    session: Session, db: Database
) -> None:
    w = build_world(session)
    token = do_create_token(session=session, agent=w.dana)
    session.commit()
    scopes = TokenScopes(ttl=60)
    with db.session() as request:
        assert scopes.resolve(request, token)[0].id == w.dana.id
    do_deactivate_agent(session=session, agent=w.dana, actor=w.admin)
    with db.session() as request, pytest.raises(Unauthorized):
        scopes.resolve(request, token)


def test_a_token_deactivated_by_another_process_is_refused_after_its_refresh(
    session: Session, db: Database
) -> None:
    w = build_world(session)
    token = do_create_token(session=session, agent=w.bob)
    session.commit()
    clock = Clock()
    scopes = TokenScopes(ttl=10, clock=clock)
    scopes.resolve(session, token)
    clock.now += 6
    scopes.resolve(session, token)
    # Another process deactivated Bob but left his token row: this process's generation
    # counter never hears of it, so only the refresh can notice.
    with db.engine.begin() as connection:
        connection.execute(update(Agent).where(col(Agent.id) == w.bob.id).values(deactivated_at=T0))
    for stale in scopes.stale():
        with db.session() as other:
            scopes.refresh(other, stale)
    with db.session() as request, pytest.raises(Unauthorized):
        scopes.resolve(request, token)


def test_the_last_active_admin_cannot_be_made_a_manager_either(session: Session) -> None:
    w = build_world(session)
    with pytest.raises(Conflict):
        do_update_agent(session=session, agent=w.admin, changes={"role": "manager"})
    second = do_create_agent(
        session=session, email="rae@example.com", name="Rae Admin", role="admin"
    )
    session.commit()
    do_update_agent(session=session, agent=w.admin, changes={"role": "manager"})
    assert w.admin.role == "manager", "with another admin left, the role can go"
    with pytest.raises(Conflict):
        do_update_agent(session=session, agent=second, changes={"role": "agent"})


def test_a_resolved_conversation_they_held_goes_to_a_teammate_when_the_customer_writes_again(
    session: Session,
) -> None:
    f = floor(session, "round_robin")
    held = arrives(session, f, "a", T0)
    assert held.assignee_id == f.ivan.id
    do_set_status(session=session, conversation=held, status=Status.resolved, actor=f.ivan, now=T0)
    do_deactivate_agent(session=session, agent=f.ivan, actor=f.world.admin, now=T0)
    session.expire_all()
    resolved = session.get(Conversation, held.id)
    assert resolved is not None and resolved.assignee_id == f.ivan.id, "history keeps Ivan"

    again = arrives(session, f, "a", T0 + timedelta(hours=1))

    assert again.id == held.id and again.status == Status.open and again.reopen_count == 1
    assert again.assignee_id in {f.ingrid.id, f.lukasz.id}, "nobody would answer it otherwise"


def test_reopened_by_an_agent_it_no_longer_waits_for_someone_who_left(session: Session) -> None:
    w = build_world(session)
    _, resolved = dana_holding_two(session, w)
    do_deactivate_agent(session=session, agent=w.dana, actor=w.admin)
    do_set_status(session=session, conversation=resolved, status=Status.open, actor=w.manager)
    session.expire_all()
    reopened = session.get(Conversation, resolved.id)
    assert reopened is not None and reopened.assignee_id is None


def test_sla_warnings_and_ladder_bells_skip_agents_who_left(session: Session) -> None:
    w = build_world(session)
    lead = {"name": "Dana", "role": "team_lead", "email": w.dana.email}
    stage = {"name": "Lead at breach", "at": "breach", "notify": ["team_lead"], "channels": []}
    use_policy(session, people=[lead], ladder=[stage])
    monday = warsaw(2026, 11, 16, 9, 0)
    writes(session, w.webchat, monday, team=w.support)
    do_deactivate_agent(session=session, agent=w.dana, actor=w.admin)

    warning = run_due(session, monday + timedelta(minutes=45))
    breach = run_due(session, monday + timedelta(hours=1))

    assert warning and any(k.endswith("Lead at breach") for k in breach)
    warned = {agent for agent, _ in notified(session, "sla_warning")}
    assert w.manager.id in warned and w.dana.id not in warned
    assert w.dana.id not in {agent for agent, _ in notified(session, "sla_breach")}
    assert notified(session, "sla_ladder") == [], "the lead named by email has left"
