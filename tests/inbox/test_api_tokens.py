"""An agent's API tokens: listing, revoking one, and who may have them
(docs/concepts/security.md)."""

from __future__ import annotations

from datetime import timedelta

import pytest
import time_machine
from sqlmodel import Session, col, select

from inbox.accounts import (
    agent_for_token,
    do_create_token,
    do_deactivate_agent,
    do_revoke_token,
    token_of,
    tokens_of,
)
from inbox.clock import utcnow
from inbox.errors import InvalidInput, NotFound, Unauthorized
from inbox.models import ApiToken, AuditEntry
from inbox.token_scopes import TokenScopes
from tests.factories import World, build_world
from tests.inbox.test_token_scopes import Clock


@pytest.fixture
def w(session: Session) -> World:
    return build_world(session)


def token_row(session: Session, label: str) -> ApiToken:
    row = session.exec(select(ApiToken).where(ApiToken.label == label)).one()
    return row


def test_tokens_are_listed_newest_first_and_only_the_agents_own(session: Session, w: World) -> None:
    for label in ("old", "newest", "middle"):
        do_create_token(session=session, agent=w.dana, label=label)
    do_create_token(session=session, agent=w.bob, label="bob's")
    # Created in one go the stamps nearly tie; set them so newest-first is not insertion order.
    now = utcnow()
    for label, age in (("old", 3), ("newest", 1), ("middle", 2)):
        token_row(session, label).created_at = now - timedelta(days=age)
    session.commit()

    assert [t.label for t in tokens_of(session, w.dana)] == ["newest", "middle", "old"]
    assert [t.label for t in tokens_of(session, w.bob)] == ["bob's"]


def test_revoking_one_token_leaves_the_others_working_and_is_audited(
    session: Session, w: World
) -> None:
    zapier = do_create_token(session=session, agent=w.dana, label="Zapier")
    laptop = do_create_token(session=session, agent=w.dana, label="laptop")
    session.commit()
    row = token_row(session, "Zapier")
    token_id = row.id

    do_revoke_token(session=session, token=row, actor=w.admin)
    session.commit()

    with pytest.raises(Unauthorized):
        agent_for_token(session, zapier)
    assert agent_for_token(session, laptop).id == w.dana.id
    assert [t.label for t in tokens_of(session, w.dana)] == ["laptop"]
    entry = session.exec(
        select(AuditEntry)
        .where(AuditEntry.action == "token.revoked")
        .order_by(col(AuditEntry.id).desc())
    ).first()
    assert entry is not None
    assert entry.actor_agent_id == w.admin.id
    assert entry.details == {"agent_id": w.dana.id, "token_id": token_id, "label": "Zapier"}


def test_creating_a_token_names_the_admin_who_made_it(session: Session, w: World) -> None:
    do_create_token(session=session, agent=w.dana, label="Zapier", actor=w.admin)
    session.commit()
    entry = session.exec(select(AuditEntry).where(AuditEntry.action == "token.created")).one()
    assert entry.actor_agent_id == w.admin.id
    assert entry.details["agent_id"] == w.dana.id
    assert entry.details["label"] == "Zapier"
    assert entry.details["token_id"] == token_row(session, "Zapier").id


def test_a_deactivated_agent_cannot_get_a_token(session: Session, w: World) -> None:
    do_deactivate_agent(session=session, agent=w.dana, actor=w.admin)
    with pytest.raises(InvalidInput, match="deactivated"):
        do_create_token(session=session, agent=w.dana, label="sneaky", actor=w.admin)
    session.rollback()
    assert tokens_of(session, w.dana) == []


def test_a_label_longer_than_its_column_is_refused(session: Session, w: World) -> None:
    with pytest.raises(InvalidInput):
        do_create_token(session=session, agent=w.dana, label="x" * 201)


def test_another_agents_token_is_not_found_through_this_agent(session: Session, w: World) -> None:
    do_create_token(session=session, agent=w.bob, label="bob's")
    session.commit()
    bobs = token_row(session, "bob's")
    assert bobs.id is not None
    assert token_of(session, w.bob, bobs.id) is bobs
    with pytest.raises(NotFound):
        token_of(session, w.dana, bobs.id)


def test_a_token_works_until_it_expires_and_then_says_so(session: Session, w: World) -> None:
    soon = do_create_token(
        session=session, agent=w.dana, label="trial", expires_at=utcnow() + timedelta(days=30)
    )
    session.commit()
    assert agent_for_token(session, soon).id == w.dana.id
    later = utcnow() + timedelta(days=30, seconds=1)
    with time_machine.travel(later), pytest.raises(Unauthorized) as refused:
        agent_for_token(session, soon)
    assert refused.value.message == "API token expired"
    entry = session.exec(select(AuditEntry).where(AuditEntry.action == "token.created")).one()
    assert entry.details["expires_at"] == token_row(session, "trial").expires_at.isoformat()  # type: ignore[union-attr]


def test_an_expiry_in_the_past_is_refused(session: Session, w: World) -> None:
    with pytest.raises(InvalidInput):
        do_create_token(session=session, agent=w.dana, expires_at=utcnow() - timedelta(seconds=1))


def test_a_remembered_token_is_not_remembered_past_its_expiry(session: Session, w: World) -> None:
    clock = Clock()
    scopes = TokenScopes(ttl=60, clock=clock)
    token = do_create_token(
        session=session, agent=w.dana, expires_at=utcnow() + timedelta(seconds=10)
    )
    session.commit()
    scopes.resolve(session, token)
    # Well within the cache's minute, but past the token's own ten seconds.
    clock.now += 11
    with time_machine.travel(utcnow() + timedelta(seconds=11)), pytest.raises(Unauthorized):
        scopes.resolve(session, token)
