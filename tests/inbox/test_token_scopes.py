"""A token's agent and scope are remembered briefly, and forgotten as soon as access changes."""

from __future__ import annotations

import pytest
from sqlalchemy import delete
from sqlmodel import Session

from inbox.accounts import do_create_token, set_teams
from inbox.db import Database
from inbox.errors import Unauthorized
from inbox.inbox_members import set_inbox_members
from inbox.models import ApiToken
from inbox.token_scopes import TokenScopes
from tests.factories import build_world


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_a_membership_change_is_seen_by_the_next_request(db: Database) -> None:
    with db.session() as session:
        w = build_world(session)
        token = do_create_token(session=session, agent=w.dana)
        session.commit()
        dana_id, billing_id, api_id = w.dana.id, w.billing.id, w.api.id
        assert dana_id is not None and billing_id is not None
    scopes = TokenScopes(ttl=60)
    with db.session() as session:
        agent, scope = scopes.resolve(session, token)
        assert agent.id == dana_id and billing_id not in scope.team_ids
    with db.session() as session:
        agent, _ = scopes.resolve(session, token)
        set_teams(session, agent, [billing_id])
        session.commit()
    with db.session() as session:
        _, scope = scopes.resolve(session, token)
        assert scope.team_ids == frozenset({billing_id})
    with db.session() as session:
        inbox = session.get(type(w.api), api_id)
        assert inbox is not None
        set_inbox_members(session, inbox, [dana_id])
        session.commit()
    with db.session() as session:
        _, scope = scopes.resolve(session, token)
        assert api_id in scope.inbox_ids


def test_a_remembered_agent_belongs_to_the_request_session(db: Database) -> None:
    with db.session() as session:
        w = build_world(session)
        token = do_create_token(session=session, agent=w.dana)
        session.commit()
    scopes = TokenScopes(ttl=60)
    with db.session() as session:
        scopes.resolve(session, token)
    with db.session() as session:
        agent, _ = scopes.resolve(session, token)
        assert agent in session
        agent.available = False
        session.commit()
    with db.session() as session:
        agent, _ = scopes.resolve(session, token)
        assert agent.available is False


def test_entries_expire_and_unknown_tokens_are_refused(session: Session) -> None:
    w = build_world(session)
    token = do_create_token(session=session, agent=w.bob)
    session.commit()
    clock = Clock()
    scopes = TokenScopes(ttl=5, clock=clock)
    first = scopes.resolve(session, token)[1]
    clock.now += 4
    assert scopes.resolve(session, token)[1] is first
    clock.now += 2
    assert scopes.resolve(session, token)[1] is not first
    with pytest.raises(Unauthorized):
        scopes.resolve(session, "hnd_not-a-token")


def test_a_token_in_use_is_read_again_before_its_entry_expires(
    session: Session, db: Database
) -> None:
    w = build_world(session)
    token = do_create_token(session=session, agent=w.bob)
    session.commit()
    clock = Clock()
    scopes = TokenScopes(ttl=10, clock=clock)
    first = scopes.resolve(session, token)[1]
    clock.now += 4
    scopes.resolve(session, token)
    assert scopes.stale() == [], "younger than half its life: nothing to do"
    clock.now += 2
    assert scopes.resolve(session, token)[1] is first, "served from the entry meanwhile"
    assert scopes.stale() == [token]
    scopes.resolve(session, token)
    assert scopes.stale() == [], "listed once, while its refresh is under way"
    with db.session() as other:
        scopes.refresh(other, token)
    clock.now += 8  # 14 s after the first read, 8 after the refresh: still fresh
    assert scopes.resolve(session, token)[1] is not first


def test_a_token_revoked_before_its_refresh_is_refused(session: Session, db: Database) -> None:
    w = build_world(session)
    token = do_create_token(session=session, agent=w.bob)
    session.commit()
    clock = Clock()
    scopes = TokenScopes(ttl=10, clock=clock)
    scopes.resolve(session, token)
    clock.now += 6
    scopes.resolve(session, token)
    # Revoked by another process: this one's generation counter never hears of it.
    with db.engine.begin() as connection:
        connection.execute(delete(ApiToken))
    for stale in scopes.stale():
        with db.session() as other:
            scopes.refresh(other, stale)
    with pytest.raises(Unauthorized):
        scopes.resolve(session, token)
