"""Routing: which agent a new or escalated conversation goes to, and the team queue."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlmodel import Session, col, select

from inbox.accounts import do_create_agent, do_create_team, do_update_agent
from inbox.conversations import (
    InboundMessage,
    do_assign,
    do_change_team,
    do_receive_inbound,
    do_set_status,
)
from inbox.db import Database
from inbox.escalation import do_escalate
from inbox.models import Agent, Conversation, Message, MessageKind, Notification, Team
from inbox.policy import Policy
from inbox.policy_store import do_save_policy
from inbox.routing import do_drain_queue, on_agent_change, queue_position, queue_positions
from tests.factories import World, build_world

T0 = datetime(2025, 3, 3, 9, 0, tzinfo=UTC)


@dataclass
class Floor:
    world: World
    team: Team
    ivan: Agent
    ingrid: Agent
    lukasz: Agent


def floor(session: Session, method: str, **policy: Any) -> Floor:
    """build_world plus a Technical team of three, routed by `method`."""
    world = build_world(session)
    team = do_create_team(session=session, name="Technical", tier=2, skills=["technical"])
    do_create_team(session=session, name="Customer Satisfaction", tier=2)
    assert team.id is not None
    ivan, ingrid, lukasz = (
        do_create_agent(
            session=session,
            email=f"{name.split()[0].lower()}@example.com",
            name=name,
            team_ids=[team.id],
            skills=skills,
        )
        for name, skills in (
            ("Ivan Petrov", ["technical"]),
            ("Ingrid Berg", ["technical"]),
            ("Lukasz Wrobel", ["technical", "api"]),
        )
    )
    session.commit()
    save_policy(session, routing={"Technical": method, **policy.pop("routing", {})}, **policy)
    return Floor(world, team, ivan, ingrid, lukasz)


def save_policy(session: Session, **fields: Any) -> None:
    do_save_policy(session=session, policy=Policy.model_validate(fields), actor=None)


def arrives(
    session: Session, f: Floor, who: str, at: datetime, team: Team | None = None
) -> Conversation:
    """A customer writes in and picks the team (the widget's department question)."""
    chosen = team or f.team
    assert f.world.webchat.id is not None
    return do_receive_inbound(
        session=session,
        inbound=InboundMessage(
            inbox_id=f.world.webchat.id,
            identifier=who,
            name=who,
            content="My integration is broken",
            team_id=chosen.id,
        ),
        now=at,
    ).conversation


def lines(session: Session, conversation: Conversation) -> list[str]:
    return list(
        session.exec(
            select(Message.content)
            .where(Message.conversation_id == conversation.id, Message.kind == MessageKind.activity)
            .order_by(col(Message.id))
        ).all()
    )


def assignee(session: Session, conversation: Conversation) -> int | None:
    session.refresh(conversation)
    return conversation.assignee_id


def test_round_robin_is_fair_over_nine_conversations(session: Session) -> None:
    f = floor(session, "round_robin")
    got = [arrives(session, f, f"c{i}", T0 + timedelta(minutes=i)).assignee_id for i in range(9)]
    expected = [f.ivan.id, f.ingrid.id, f.lukasz.id] * 3
    assert got == expected
    assert Counter(got) == {f.ivan.id: 3, f.ingrid.id: 3, f.lukasz.id: 3}


def test_routing_says_who_and_how_and_tells_the_agent(session: Session) -> None:
    f = floor(session, "least_busy")
    conversation = arrives(session, f, "ann", T0)
    assert conversation.assignee_id == f.ivan.id
    assert "Routed to Ivan Petrov (least busy)" in lines(session, conversation)
    note = session.exec(select(Notification).where(Notification.agent_id == f.ivan.id)).one()
    assert note.kind == "assignment" and note.conversation_id == conversation.id
    assert "Technical" in note.text


def test_round_robin_continues_across_processes(db: Database) -> None:
    """Two workers (sessions) share no memory: the turn comes from the database."""
    with db.session() as setup:
        f = floor(setup, "round_robin")
    taken = []
    for i in range(6):
        with db.session() as worker:  # a fresh process, as far as routing can tell
            taken.append(arrives(worker, f, f"c{i}", T0 + timedelta(minutes=i)).assignee_id)
    assert taken == [f.ivan.id, f.ingrid.id, f.lukasz.id] * 2


def test_least_busy_takes_the_agent_with_fewest_open_conversations(session: Session) -> None:
    f = floor(session, "least_busy")
    mine = [arrives(session, f, f"c{i}", T0 + timedelta(minutes=i)) for i in range(3)]
    # Ivan holds two open, Ingrid one that waits on the customer (pending), Lukasz one open.
    do_assign(session=session, conversation=mine[1], assignee=f.ivan, actor=f.world.admin)
    do_set_status(session=session, conversation=mine[0], status="pending", actor=f.ivan)
    do_assign(session=session, conversation=mine[0], assignee=f.ingrid, actor=f.world.admin)
    assert {c.assignee_id for c in mine} == {f.ivan.id, f.ingrid.id, f.lukasz.id}
    later = arrives(session, f, "next", T0 + timedelta(hours=1))
    assert later.assignee_id == f.ingrid.id  # a pending conversation does not keep her busy


def test_least_idle_takes_the_agent_who_waited_longest(session: Session) -> None:
    f = floor(session, "least_idle")
    first = arrives(session, f, "a", T0)  # Ivan (nobody assigned yet: first in line)
    second = arrives(session, f, "b", T0 + timedelta(minutes=5))  # Ingrid
    assert (first.assignee_id, second.assignee_id) == (f.ivan.id, f.ingrid.id)
    # Lukasz gets one by hand later; Ivan has now waited longest.
    do_assign(
        session=session,
        conversation=first,
        assignee=f.lukasz,
        actor=f.world.admin,
        now=T0 + timedelta(minutes=10),
    )
    third = arrives(session, f, "c", T0 + timedelta(minutes=20))
    assert third.assignee_id == f.ivan.id
    assert "Routed to Ivan Petrov (least idle)" in lines(session, third)


def test_skills_routing_needs_the_matrix_skill(session: Session) -> None:
    f = floor(
        session,
        "skills",
        matrix=[{"problem": "api", "skill": "api", "tiers": {2: "Technical"}}],
    )
    # Lukasz is the only one who knows the API, even with more work than the others.
    first = arrives(session, f, "a", T0)
    second = arrives(session, f, "b", T0 + timedelta(minutes=1))
    assert first.assignee_id == second.assignee_id == f.lukasz.id
    assert "Routed to Lukasz Wrobel (skills: api)" in lines(session, first)
    do_update_agent(session=session, agent=f.lukasz, changes={"available": False})
    session.commit()
    third = arrives(session, f, "c", T0 + timedelta(minutes=2))
    assert third.assignee_id is None and queue_position(session, third) == 1
    assert "Waiting in the Technical queue: no one with the skill api is free" in lines(
        session, third
    )


def test_direct_routing_keeps_the_customers_choice_and_takes_turns(session: Session) -> None:
    f = floor(session, "round_robin", routing={"Billing": "direct"})
    bob2 = do_create_agent(
        session=session,
        email="bea@example.com",
        name="Bea Stone",
        team_ids=[f.world.billing.id or 0],
    )
    session.commit()
    first = arrives(session, f, "a", T0, team=f.world.billing)
    second = arrives(session, f, "b", T0 + timedelta(minutes=1), team=f.world.billing)
    assert first.team_id == second.team_id == f.world.billing.id
    assert [first.assignee_id, second.assignee_id] == [f.world.bob.id, bob2.id]
    assert "Routed to Bob Stone (direct, round robin)" in lines(session, first)


def test_unavailable_and_full_agents_are_skipped(session: Session) -> None:
    f = floor(session, "round_robin")
    do_update_agent(session=session, agent=f.ivan, changes={"available": False})
    do_update_agent(session=session, agent=f.ingrid, changes={"capacity": 1})
    session.commit()
    first = arrives(session, f, "a", T0)
    second = arrives(session, f, "b", T0 + timedelta(minutes=1))
    third = arrives(session, f, "c", T0 + timedelta(minutes=2))
    assert [first.assignee_id, second.assignee_id, third.assignee_id] == [
        f.ingrid.id,
        f.lukasz.id,
        f.lukasz.id,  # Ingrid is full (capacity 1), Ivan away
    ]


def test_a_team_the_policy_does_not_name_is_routed_by_hand(session: Session) -> None:
    f = floor(session, "round_robin")
    conversation = arrives(session, f, "a", T0, team=f.world.support)
    assert conversation.assignee_id is None and conversation.queued_at is None


def full_floor(session: Session) -> tuple[Floor, list[Conversation]]:
    """Three agents with room for one conversation each, and five arrivals."""
    f = floor(session, "round_robin")
    for agent in (f.ivan, f.ingrid, f.lukasz):
        do_update_agent(session=session, agent=agent, changes={"capacity": 1})
    session.commit()
    return f, [arrives(session, f, f"c{i}", T0 + timedelta(minutes=i)) for i in range(5)]


def test_when_nobody_is_free_conversations_wait_in_the_queue_in_order(session: Session) -> None:
    f, arrived = full_floor(session)
    assert [c.assignee_id for c in arrived[:3]] == [f.ivan.id, f.ingrid.id, f.lukasz.id]
    waiting = arrived[3:]
    assert [c.assignee_id for c in waiting] == [None, None]
    assert [c.queued_at for c in waiting] == [T0 + timedelta(minutes=3), T0 + timedelta(minutes=4)]
    assert [queue_position(session, c) for c in waiting] == [1, 2]
    assert queue_positions(session, arrived) == {waiting[0].id: 1, waiting[1].id: 2}
    assert queue_position(session, arrived[0]) == 0
    assert "Waiting in the Technical queue: no one is free" in lines(session, waiting[0])
    # The customer writing again keeps their place.
    do_receive_inbound(
        session=session,
        inbound=InboundMessage(
            inbox_id=f.world.webchat.id or 0, identifier="c3", content="Hello? Anyone?"
        ),
        now=T0 + timedelta(minutes=9),
    )
    assert [queue_position(session, c) for c in waiting] == [1, 2]


def test_freed_capacity_drains_the_queue_oldest_first(session: Session) -> None:
    f, arrived = full_floor(session)
    first_waiting, second_waiting = arrived[3:]
    # Ingrid resolves hers: the oldest waiting conversation is hers at once.
    do_set_status(
        session=session, conversation=arrived[1], status="resolved", actor=f.ingrid, now=T0
    )
    assert assignee(session, first_waiting) == f.ingrid.id
    assert first_waiting.queued_at is None
    assert queue_position(session, second_waiting) == 1
    assert any(line.startswith("Routed to Ingrid Berg") for line in lines(session, first_waiting))
    # Ivan hands his back (unassigned by hand): his room goes to the next in line, and the
    # conversation he let go is not pushed back onto anyone.
    do_assign(session=session, conversation=arrived[0], assignee=None, actor=f.ivan)
    assert assignee(session, second_waiting) == f.ivan.id
    assert assignee(session, arrived[0]) is None


def test_a_conversation_waiting_on_the_customer_frees_a_place(session: Session) -> None:
    f, arrived = full_floor(session)
    do_set_status(session=session, conversation=arrived[2], status="pending", actor=f.lukasz)
    assert assignee(session, arrived[3]) == f.lukasz.id


def test_an_agent_coming_back_takes_from_the_queue(session: Session) -> None:
    f, arrived = full_floor(session)
    do_update_agent(session=session, agent=f.ivan, changes={"capacity": 3})
    on_agent_change(session, f.ivan, T0 + timedelta(hours=1))
    session.commit()
    assert assignee(session, arrived[3]) == f.ivan.id
    assert assignee(session, arrived[4]) == f.ivan.id


def test_do_drain_queue_assigns_whoever_is_free(session: Session) -> None:
    f, arrived = full_floor(session)
    # Capacity raised somewhere routing does not hear of (a direct database edit, an import).
    f.lukasz.capacity = 2
    session.add(f.lukasz)
    session.commit()
    assert do_drain_queue(session=session, team=f.team, now=T0 + timedelta(hours=1)) == [
        arrived[3].id
    ]
    assert assignee(session, arrived[4]) is None and queue_position(session, arrived[4]) == 1


def test_taking_a_queued_conversation_by_hand_takes_it_out_of_the_queue(session: Session) -> None:
    f, arrived = full_floor(session)
    do_assign(session=session, conversation=arrived[4], assignee=f.ivan, actor=f.ivan)
    assert arrived[4].queued_at is None and queue_position(session, arrived[4]) == 0
    assert queue_position(session, arrived[3]) == 1


def test_a_conversation_moved_to_another_team_joins_its_queue_at_the_back(
    session: Session,
) -> None:
    f, arrived = full_floor(session)
    save_policy(session, routing={"Technical": "round_robin", "Billing": "least_busy"})
    do_update_agent(session=session, agent=f.world.bob, changes={"available": False})
    session.commit()
    billing_first = arrives(session, f, "b1", T0 + timedelta(minutes=10), team=f.world.billing)
    moved = arrived[3]  # waiting in Technical since T0 + 3 minutes
    do_change_team(
        session=session,
        conversation=moved,
        team=f.world.billing,
        actor=f.ivan,
        now=T0 + timedelta(minutes=20),
    )
    assert moved.queued_at == T0 + timedelta(minutes=20)
    assert [queue_position(session, c) for c in (billing_first, moved)] == [1, 2]
    assert queue_position(session, arrived[4]) == 1  # moved up in Technical
    assert "Waiting in the Billing queue: no one is free" in lines(session, moved)


def test_a_conversation_assigned_by_hand_is_never_rerouted(session: Session) -> None:
    f = floor(session, "round_robin", routing={"Billing": "least_busy"})
    conversation = arrives(session, f, "a", T0)
    assert conversation.assignee_id == f.ivan.id
    do_assign(session=session, conversation=conversation, assignee=f.lukasz, actor=f.world.admin)
    # Lukasz also works in Billing: moving there keeps him on it.
    do_update_agent(
        session=session,
        agent=f.lukasz,
        changes={"team_ids": [f.team.id or 0, f.world.billing.id or 0]},
    )
    session.commit()
    do_change_team(session=session, conversation=conversation, team=f.world.billing, actor=None)
    do_set_status(session=session, conversation=conversation, status="resolved", actor=None)
    do_receive_inbound(
        session=session,
        inbound=InboundMessage(inbox_id=f.world.webchat.id or 0, identifier="a", content="Again"),
        now=T0 + timedelta(days=1),
    )
    assert assignee(session, conversation) == f.lukasz.id
    assert [line for line in lines(session, conversation) if line.startswith("Routed")] == [
        "Routed to Ivan Petrov (round robin)"
    ]


def test_an_escalation_is_routed_once_in_the_target_team(session: Session) -> None:
    f = floor(session, "least_busy")
    conversation = arrives(session, f, "a", T0, team=f.world.support)
    do_escalate(
        session=session,
        conversation=conversation,
        actor=f.world.dana,
        trigger="agent",
        brief={"summary": "The API returns 500"},
        to_team=f.team,
        reason="needs a developer",
        now=T0 + timedelta(minutes=5),
    )
    # do_escalate moves the team and says "escalated": two changes, one routing.
    assert assignee(session, conversation) == f.ivan.id
    assert [line for line in lines(session, conversation) if line.startswith("Routed")] == [
        "Routed to Ivan Petrov (least busy)"
    ]
    notes = session.exec(
        select(Notification).where(
            Notification.agent_id == f.ivan.id, Notification.kind == "assignment"
        )
    ).all()
    assert len(notes) == 1
