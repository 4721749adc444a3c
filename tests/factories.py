"""Small builders for tests: a company with two teams, agents in each, and inboxes."""

from __future__ import annotations

from dataclasses import dataclass

from sqlmodel import Session

from inbox.accounts import do_create_agent, do_create_inbox, do_create_team
from inbox.conversations import InboundMessage, Received, do_receive_inbound
from inbox.models import Agent, Inbox, PolicyDocument, Team
from inbox.policy import Policy
from inbox.policy_store import as_data, default_policy

PASSWORD = "pw-123456"


@dataclass
class World:
    support: Team
    billing: Team
    admin: Agent
    manager: Agent
    dana: Agent  # Support L1
    bob: Agent  # Billing
    webchat: Inbox
    api: Inbox


def world_policy() -> Policy:
    """The built-in policy, except that teams hand out nothing automatically: tests of
    routing set their own."""
    policy = default_policy()
    policy.routing = {}
    return policy


def build_world(session: Session) -> World:
    support = do_create_team(session=session, name="Support L1", tier=1, skills=["general"])
    billing = do_create_team(session=session, name="Billing", tier=2, skills=["billing"])
    assert support.id and billing.id
    admin = do_create_agent(
        session=session,
        email="admin@example.com",
        name="Ada Admin",
        role="admin",
        password=PASSWORD,
    )
    manager = do_create_agent(
        session=session,
        email="maria@example.com",
        name="Maria Lopez",
        role="manager",
        password=PASSWORD,
        team_ids=[support.id],
    )
    dana = do_create_agent(
        session=session,
        email="dana@example.com",
        name="Dana Kowalski",
        password=PASSWORD,
        team_ids=[support.id],
    )
    bob = do_create_agent(
        session=session,
        email="bob@example.com",
        name="Bob Stone",
        password=PASSWORD,
        team_ids=[billing.id],
    )
    webchat = do_create_inbox(
        session=session,
        name="Website",
        channel="webchat",
        config={"departments": [support.id, billing.id]},
    )
    api = do_create_inbox(session=session, name="Partner API", channel="api", config={})
    session.add(PolicyDocument(document=as_data(world_policy())))
    session.commit()
    return World(support, billing, admin, manager, dana, bob, webchat, api)


def customer_writes(
    session: Session,
    inbox: Inbox,
    text: str = "Hello, I need help",
    *,
    who: str = "cust-1",
    team: Team | None = None,
    external_id: str | None = None,
) -> Received:
    assert inbox.id is not None
    return do_receive_inbound(
        session=session,
        inbound=InboundMessage(
            inbox_id=inbox.id,
            identifier=who,
            name=f"Customer {who}",
            email=f"{who}@example.org",
            content=text,
            team_id=team.id if team else None,
            external_id=external_id,
        ),
    )
