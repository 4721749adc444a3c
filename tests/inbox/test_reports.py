"""The escalation report's figures, checked against values worked out by hand.

The data is written straight into the tables with chosen times: the report only reads them.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, date, datetime
from typing import Any

import pytest
from sqlalchemy import event
from sqlmodel import Session

from inbox.access import scope_for
from inbox.accounts import do_create_team
from inbox.db import Database
from inbox.errors import Forbidden, InvalidInput
from inbox.models import (
    Agent,
    Contact,
    Conversation,
    CsatResponse,
    Escalation,
    Inbox,
    SlaStageRun,
    Status,
    Team,
)
from inbox.reports import Report, check_can_read_reports, escalation_report
from tests.factories import World, build_world

START, END = date(2025, 3, 1), date(2025, 3, 7)
NOW = datetime(2025, 3, 8, tzinfo=UTC)
HOUR = 3600.0
DAY = 24 * HOUR


def at(day: int, hour: int = 0, minute: int = 0, second: int = 0, month: int = 3) -> datetime:
    return datetime(2025, month, day, hour, minute, second, tzinfo=UTC)


# --- Builders (also used by tests/web/test_reports.py)


def make_conversation(
    session: Session,
    inbox: Inbox,
    team: Team,
    created: datetime,
    *,
    transfers: int = 0,
    reopens: int = 0,
    resolved_at: datetime | None = None,
) -> Conversation:
    contact = Contact(name="Customer")
    session.add(contact)
    session.flush()
    assert contact.id is not None and inbox.id is not None
    conversation = Conversation(
        inbox_id=inbox.id,
        contact_id=contact.id,
        team_id=team.id,
        tier=team.tier,
        created_at=created,
        last_activity_at=created,
        transfer_count=transfers,
        reopen_count=reopens,
        status=Status.resolved if resolved_at else Status.open,
        resolved_at=resolved_at,
    )
    session.add(conversation)
    session.flush()
    return conversation


def make_escalation(
    session: Session,
    conversation: Conversation,
    created: datetime,
    source: Team,
    target: Team,
    *,
    kind: str = "functional",
    agent: Agent | None = None,
    trigger: str = "agent",
    reason: str = "",
    accepted: tuple[datetime, Agent] | None = None,
    closed: datetime | None = None,
    status: str | None = None,
    brief: dict[str, Any] | None = None,
    parent: Escalation | None = None,
) -> Escalation:
    assert conversation.id is not None
    escalation = Escalation(
        conversation_id=conversation.id,
        kind=kind,
        status=status or ("accepted" if accepted else "open"),
        trigger=trigger,
        reason=reason,
        brief=brief if brief is not None else {"summary": f"case {conversation.id}"},
        agent_id=agent.id if agent else None,
        from_team_id=source.id,
        to_team_id=target.id,
        from_tier=source.tier,
        to_tier=target.tier,
        created_at=created,
        accepted_by_id=accepted[1].id if accepted else None,
        accepted_at=accepted[0] if accepted else None,
        closed_at=closed,
        parent_id=parent.id if parent else None,
    )
    session.add(escalation)
    session.flush()
    return escalation


def stage(session: Session, conversation: Conversation, key: str, fired: datetime) -> None:
    assert conversation.id is not None
    session.add(
        SlaStageRun(conversation_id=conversation.id, stage_key=key, due_at=fired, fired_at=fired)
    )


def csat(
    session: Session,
    conversation: Conversation,
    rating: int | None,
    answered: datetime | None,
    *,
    escalated: bool,
) -> None:
    assert conversation.id is not None
    session.add(
        CsatResponse(
            conversation_id=conversation.id,
            token=f"t-{conversation.id}-{rating}-{answered}",
            rating=rating,
            answered_at=answered,
            escalated=escalated,
            requested_at=answered or NOW,
        )
    )


# --- The hand-worked week of 1-7 March 2025


@dataclass
class Week:
    world: World
    management: Team
    ids: dict[str, int]


def build_week(session: Session) -> Week:
    w = build_world(session)
    mgmt = do_create_team(session=session, name="Management", tier=3)
    support, billing = w.support, w.billing

    # c1: Support to Billing, accepted after 30 min, resolved at noon; rated 4 afterwards.
    c1 = make_conversation(session, w.webchat, billing, at(1, 9), resolved_at=at(1, 12))
    e1 = make_escalation(
        session, c1, at(1, 10), support, billing, agent=w.dana, reason="refund",
        accepted=(at(1, 10, 30), w.bob), closed=at(1, 12), status="resolved",
    )  # fmt: skip
    stage(session, c1, "first_response.1.warning", at(1, 9, 45))
    stage(session, c1, "ladder.1.breach", at(1, 9, 50))  # a ladder stage, not a breach
    csat(session, c1, 4, at(1, 13), escalated=True)

    # c2: the SLA escalates to Billing; nobody accepts, it bounces to Management at 09:30,
    # which accepts two hours later and still has it.
    c2 = make_conversation(session, w.api, mgmt, at(2, 8), transfers=2, reopens=1)
    e2 = make_escalation(
        session, c2, at(2, 9), support, billing, trigger="sla", reason="sla",
        closed=at(2, 9, 30), status="bounced",
    )  # fmt: skip
    e3 = make_escalation(
        session, c2, at(2, 9, 30), billing, mgmt, kind="hierarchical", trigger="rule",
        reason="not accepted in time", accepted=(at(2, 11, 30), w.manager), parent=e2,
    )  # fmt: skip
    stage(session, c2, "resolution.1.breach", at(2, 10))

    # c3: escalated two days after it came in, accepted in 10 min, handed back at 11:00.
    # Rated 5 before the escalation and 2 after it.
    c3 = make_conversation(session, w.webchat, support, at(3, 10))
    e4 = make_escalation(
        session, c3, at(5, 10), support, billing, agent=w.dana, reason="refund",
        accepted=(at(5, 10, 10), w.bob), closed=at(5, 11), status="returned",
    )  # fmt: skip
    csat(session, c3, 5, at(4, 9), escalated=False)
    csat(session, c3, 2, at(6, 9), escalated=True)

    # c4: never escalated, breached its first response, rated 5.
    c4 = make_conversation(session, w.webchat, support, at(4, 8))
    stage(session, c4, "first_response.1.breach", at(4, 9))
    csat(session, c4, 5, at(4, 10), escalated=False)
    csat(session, c4, None, None, escalated=False)  # asked, never answered

    # c5: from before the window; escalated and handed back on 28 February, escalated again
    # at the very first second of the window, still waiting.
    c5 = make_conversation(session, w.webchat, support, at(27, month=2))
    e5 = make_escalation(
        session, c5, at(28, month=2), support, billing, agent=w.dana,
        closed=at(28, 12, month=2), status="returned",
    )  # fmt: skip
    e6 = make_escalation(session, c5, at(1), support, billing, agent=w.dana)
    stage(session, c5, "first_response.1.breach", at(1, 1))

    # c6: the window's last second; its escalation and breach come just after the window.
    c6 = make_conversation(session, w.webchat, support, at(7, 23, 59, 59))
    e7 = make_escalation(session, c6, at(8), support, billing, agent=w.dana)
    stage(session, c6, "first_response.1.breach", at(8, 0, 30))
    csat(session, c6, 1, at(8), escalated=True)

    # c7: Billing raises it to Management; accepted in 5 minutes; resolved a day later.
    c7 = make_conversation(session, w.webchat, mgmt, at(3, 12), resolved_at=at(4, 13))
    e8 = make_escalation(
        session, c7, at(3, 13), billing, mgmt, kind="hierarchical", agent=w.bob,
        reason="legal threat", accepted=(at(3, 13, 5), w.manager),
    )  # fmt: skip
    session.commit()
    conversations = dict(c1=c1, c2=c2, c3=c3, c5=c5, c7=c7)
    escalations = dict(e1=e1, e2=e2, e3=e3, e4=e4, e5=e5, e6=e6, e7=e7, e8=e8)
    ids = {k: c.id for k, c in conversations.items() if c.id} | {
        k: e.id for k, e in escalations.items() if e.id
    }
    return Week(w, mgmt, ids)


def report_for(session: Session, agent: Agent) -> Report:
    return escalation_report(session, scope_for(session, agent), START, END, now=NOW)


# --- The tests


def test_every_headline_figure_matches_the_hand_count(session: Session) -> None:
    week = build_week(session)
    f = report_for(session, week.world.admin).figures
    # Created in the window: c1, c2, c3, c4, c6, c7 (c5 is from February).
    assert f.conversations == 6
    # Escalated before the window ended: c1, c2, c3, c7 (c6's comes a second too late).
    assert f.escalated_conversations == 4 and f.escalation_rate == pytest.approx(4 / 6)
    # e1, e2, e3, e4, e6, e8; accepted after 30 min, 2 h, 10 min and 5 min.
    assert f.escalations == 6 and f.accepted == 4
    assert f.median_seconds_to_accept == (10 * 60 + 30 * 60) / 2
    # c2 and c4 breached; c5's breach is not counted (created before), nor c6's (after).
    assert f.breached_conversations == 2 and f.breach_rate == pytest.approx(2 / 6)
    # Answered in the window: 4 and 2 after an escalation; 5 and 5 otherwise.
    assert f.csat_after_escalation == 3.0 and f.csat_after_escalation_count == 2
    assert f.csat_overall == 4.0 and f.csat_overall_count == 4


def test_each_row_has_its_times_stages_and_rating(session: Session) -> None:
    week = build_week(session)
    rows = {r.id: r for r in report_for(session, week.world.admin).rows}
    e = week.ids
    assert set(rows) == {e["e1"], e["e2"], e["e3"], e["e4"], e["e6"], e["e8"]}
    assert [r.id for r in report_for(session, week.world.admin).rows] == [
        e["e6"], e["e1"], e["e2"], e["e3"], e["e8"], e["e4"],
    ]  # fmt: skip

    e1 = rows[e["e1"]]
    assert (e1.kind, e1.reason, e1.trigger, e1.outcome) == (
        "functional",
        "refund",
        "agent",
        "resolved",
    )
    assert (e1.from_team, e1.to_team, e1.from_tier, e1.to_tier) == ("Support L1", "Billing", 1, 2)
    assert (e1.agent, e1.accepted_by, e1.channel) == ("Dana Kowalski", "Bob Stone", "webchat")
    assert e1.seconds_to_accept == 30 * 60
    assert e1.seconds_in_tier == {1: HOUR, 2: 2 * HOUR}  # 09:00-10:00, then until closed at 12
    assert e1.sla_stages == ["first_response.1.warning", "ladder.1.breach"]
    assert e1.csat_after == 4

    # The bounce chain: an hour in L1, half an hour waiting in L2, then L3 until now.
    e2, e3 = rows[e["e2"]], rows[e["e3"]]
    assert e2.seconds_to_accept is None and e2.outcome == "bounced" and e2.agent is None
    assert e2.seconds_in_tier == {1: HOUR, 2: HOUR / 2}
    assert e3.kind == "hierarchical" and e3.seconds_to_accept == 2 * HOUR
    assert e3.seconds_in_tier == {1: HOUR, 2: HOUR / 2, 3: 5 * DAY + 14.5 * HOUR}
    assert (e3.transfers, e3.reopens) == (2, 1)
    assert e2.sla_stages == e3.sla_stages == ["resolution.1.breach"]

    # Rated 5 before the escalation and 2 after: the rating after counts.
    e4 = rows[e["e4"]]
    assert e4.csat_after == 2 and e4.outcome == "returned"
    assert e4.seconds_in_tier == {1: 2 * DAY, 2: HOUR}

    # The chain starts before the window; the gap after the return is in no tier.
    e6 = rows[e["e6"]]
    assert e6.seconds_in_tier == {1: DAY, 2: 12 * HOUR + 7 * DAY}
    assert e6.seconds_to_accept is None and e6.outcome == "open"

    # Still "accepted", but the conversation was resolved: the stay ends there.
    assert rows[e["e8"]].seconds_in_tier == {2: HOUR, 3: DAY}


def test_days_and_totals(session: Session) -> None:
    week = build_week(session)
    report = report_for(session, week.world.admin)
    assert [(d.day.day, d.count) for d in report.per_day] == [
        (1, 2), (2, 2), (3, 1), (4, 0), (5, 1), (6, 0), (7, 0),
    ]  # fmt: skip
    table = {
        name: [(t.key, t.count, t.accepted) for t in rows] for name, rows in report.totals.items()
    }
    assert table["reason"] == [
        ("refund", 2, 2), ("legal threat", 1, 1), ("not accepted in time", 1, 1), ("sla", 1, 0),
        (None, 1, 0),
    ]  # fmt: skip
    assert table["team"] == [("Billing", 4, 2), ("Management", 2, 2)]
    assert table["tier"] == [(2, 4, 2), (3, 2, 2)]
    assert table["agent"] == [("Dana Kowalski", 3, 2), (None, 2, 1), ("Bob Stone", 1, 1)]
    assert table["channel"] == [("webchat", 4, 3), ("api", 2, 1)]
    refund = report.totals["reason"][0]
    assert refund.median_seconds_to_accept == (30 * 60 + 10 * 60) / 2


def test_a_window_of_one_day_holds_its_first_second_and_not_the_next_day(
    session: Session,
) -> None:
    week = build_week(session)
    scope = scope_for(session, week.world.admin)
    report = escalation_report(session, scope, date(2025, 3, 8), date(2025, 3, 8), now=NOW)
    assert [r.id for r in report.rows] == [week.ids["e7"]]
    assert [(d.day, d.count) for d in report.per_day] == [(date(2025, 3, 8), 1)]
    assert report.figures.conversations == 0 and report.figures.escalation_rate is None
    previous = escalation_report(session, scope, date(2025, 2, 28), date(2025, 2, 28), now=NOW)
    assert [r.id for r in previous.rows] == [week.ids["e5"]]


def test_an_agent_sees_only_the_escalations_of_conversations_they_may_see(
    session: Session,
) -> None:
    week = build_week(session)
    e = week.ids
    dana = report_for(session, week.world.dana)  # Support L1: c3, c4, c5, c6
    assert {r.id for r in dana.rows} == {e["e4"], e["e6"]}
    assert (dana.figures.conversations, dana.figures.escalated_conversations) == (3, 1)
    assert dana.figures.breached_conversations == 1
    assert (dana.figures.csat_after_escalation, dana.figures.csat_overall) == (2.0, 4.0)
    assert [t.key for t in dana.totals["agent"]] == ["Dana Kowalski"]
    bob = report_for(session, week.world.bob)  # Billing: c1 only
    assert [r.id for r in bob.rows] == [e["e1"]]
    # A manager of Support L1 reaches tier 1, not Management's tier 3 (c2, c7).
    maria = report_for(session, week.world.manager)
    assert {r.id for r in maria.rows} == {e["e4"], e["e6"]}


def test_reports_are_for_managers_and_admins(session: Session) -> None:
    w = build_world(session)
    check_can_read_reports(scope_for(session, w.admin))
    check_can_read_reports(scope_for(session, w.manager))
    with pytest.raises(Forbidden):
        check_can_read_reports(scope_for(session, w.dana))


def test_a_window_backwards_or_too_long_is_refused(session: Session) -> None:
    w = build_world(session)
    scope = scope_for(session, w.admin)
    with pytest.raises(InvalidInput) as backwards:
        escalation_report(session, scope, date(2025, 3, 2), date(2025, 3, 1))
    assert backwards.value.detail == {"field": "from"}
    with pytest.raises(InvalidInput) as too_long:
        escalation_report(session, scope, date(2024, 1, 1), date(2025, 1, 1))
    assert too_long.value.detail == {"field": "to"}


def test_brief_text_keeps_every_field_in_order(session: Session) -> None:
    w = build_world(session)
    c = make_conversation(session, w.webchat, w.support, at(2))
    make_escalation(
        session, c, at(2, 1), w.support, w.billing,
        brief={"problem": "Charged twice", "tried": "Refund form", "amounts": [10, 20]},
    )  # fmt: skip
    session.commit()
    (row,) = report_for(session, w.admin).rows
    assert row.brief_text == "problem: Charged twice\ntried: Refund form\namounts: [10, 20]"


@contextmanager
def counting_queries(db: Database) -> Iterator[list[str]]:
    statements: list[str] = []

    def count(*args: Any) -> None:
        statements.append(args[2])

    event.listen(db.engine, "before_cursor_execute", count)
    try:
        yield statements
    finally:
        event.remove(db.engine, "before_cursor_execute", count)


def build_many(session: Session, w: World, conversations: int) -> None:
    """Two escalations per conversation, with stages and ratings, all in March 2025."""
    for n in range(conversations):
        day = 1 + n % 7
        c = make_conversation(session, w.webchat, w.billing, at(day, 8))
        first = make_escalation(
            session, c, at(day, 9), w.support, w.billing, agent=w.dana, reason=f"r{n % 5}",
            accepted=(at(day, 9, n % 50), w.bob), closed=at(day, 10), status="bounced",
        )  # fmt: skip
        make_escalation(session, c, at(day, 10), w.billing, w.billing, agent=w.bob, parent=first)
        stage(session, c, "first_response.1.breach", at(day, 9))
        csat(session, c, 1 + n % 5, at(day, 11), escalated=True)
    session.commit()


def test_the_report_takes_a_few_queries_however_many_escalations(
    session: Session, db: Database
) -> None:
    w = build_world(session)
    build_many(session, w, 5)
    with db.session() as fresh, counting_queries(db) as few:
        small = escalation_report(fresh, scope_for(fresh, w.admin), START, END, now=NOW)
    build_many(session, w, 95)
    with db.session() as fresh, counting_queries(db) as many:
        large = escalation_report(fresh, scope_for(fresh, w.admin), START, END, now=NOW)
    assert (len(small.rows), len(large.rows)) == (10, 200)
    assert large.figures.breach_rate == 1.0 and large.figures.csat_after_escalation == 3.0
    assert len(many) == len(few) <= 10, many
