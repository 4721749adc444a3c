"""A day of a demo company at an accelerated clock (docs/concepts/escalation.md).

Tuesday 11 March 2025; Warsaw is UTC+1, so business hours (09:00-17:00) are 08:00-16:00 UTC.
The clock steps five minutes at a time from 06:00 UTC to 06:20 the next morning; at each step
the scripted events of that moment happen, then every timer runs, as the scheduler would.
Then the escalation log, the ladder's stage runs, the alerts and the customer's status updates
are checked against what the built-in policy says. All times below are UTC.

    06:00  ann (API) writes to Support L1; nobody ever answers
    08:30  cleo (webchat) writes; Dana answers at 08:40 and resolves; cleo comes back at
           09:00, 09:30, 10:00 and 10:30: the fourth reopen goes to Customer Satisfaction
    09:00  dirk (API) is sent Billing, Technical, Support L1, Billing: the fourth transfer
           goes up to Management (ping-pong); Maria accepts at 09:50, resolves at 11:00
    09:15  gus (webchat) is answered and resolved at once, and rates 5
    10:00  vera, a VIP, writes; the conversation is urgent; nobody answers until 10:40
    10:45  Cora (Customer Satisfaction) accepts cleo's escalation; resolves at 15:30
    11:00  eli (webchat) writes; Dana answers, then escalates with a shortcut at 11:30; nobody
           in Billing accepts, so at 12:00 it bounces up to Management; Maria accepts at 13:00
    14:00  fay (API) is answered and resolved; she rates it 2 at 14:30: a review for
           Management; Maria accepts at 14:50, resolves at 15:10
    next day 06:00  ann's conversation has been open 24 hours: the manager's stage
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from itertools import pairwise

from sqlmodel import Session, col, select

from inbox import ladder
from inbox.access import scope_for
from inbox.accounts import do_create_agent, do_create_inbox, do_create_team
from inbox.calendar import in_business_hours
from inbox.conversations import (
    InboundMessage,
    do_change_team,
    do_receive_inbound,
    do_reply,
    do_set_priority,
    do_set_status,
)
from inbox.csat import do_answer_survey, latest_survey
from inbox.customer_updates import do_periodic_updates
from inbox.escalation import do_accept, do_bounce_due, do_escalate
from inbox.models import (
    Agent,
    Alert,
    Contact,
    Conversation,
    CustomerUpdate,
    Escalation,
    Inbox,
    Notification,
    SlaStageRun,
    Team,
)
from inbox.policy import Policy
from inbox.policy_store import default_policy, do_save_policy
from inbox.reports import EscalationRow, escalation_report
from inbox.rules import do_check_escalation_age
from inbox.shortcuts_store import do_create_shortcut

START = datetime(2025, 3, 11, 6, 0, tzinfo=UTC)
END = datetime(2025, 3, 12, 6, 20, tzinfo=UTC)
STEP = timedelta(minutes=5)


def at(hhmm: str, *, next_day: bool = False) -> datetime:
    hours, minutes = (int(part) for part in hhmm.split(":"))
    return START.replace(hour=hours, minute=minutes) + timedelta(days=1 if next_day else 0)


@dataclass
class Company:
    session: Session
    teams: dict[str, Team]
    agents: dict[str, Agent]
    webchat: Inbox
    api: Inbox
    conversations: dict[str, int] = field(default_factory=dict)

    def conversation(self, who: str) -> Conversation:
        found = self.session.get(Conversation, self.conversations[who], populate_existing=True)
        assert found is not None
        return found

    def writes(self, who: str, inbox: Inbox, now: datetime, team: str | None = None) -> None:
        assert inbox.id is not None
        received = do_receive_inbound(
            session=self.session,
            inbound=InboundMessage(
                inbox_id=inbox.id,
                identifier=who,
                name=who.capitalize(),
                content=f"{who.capitalize()} here, something is wrong",
                team_id=self.teams[team].id if team else None,
                language="en",
            ),
            now=now,
        )
        assert received.conversation.id is not None
        self.conversations[who] = received.conversation.id

    def replies(self, agent: str, who: str, now: datetime) -> None:
        do_reply(
            session=self.session,
            conversation=self.conversation(who),
            agent=self.agents[agent],
            content="Thank you, we are on it.",
            now=now,
        )

    def resolves(self, agent: str, who: str, now: datetime) -> None:
        do_set_status(
            session=self.session,
            conversation=self.conversation(who),
            status="resolved",
            actor=self.agents[agent],
            now=now,
        )

    def moves(self, agent: str, who: str, team: str, now: datetime) -> None:
        do_change_team(
            session=self.session,
            conversation=self.conversation(who),
            team=self.teams[team],
            actor=self.agents[agent],
            now=now,
        )

    def accepts(self, agent: str, who: str, now: datetime) -> None:
        conversation = self.conversation(who)
        escalation = self.session.get(Escalation, conversation.escalation_id)
        assert escalation is not None
        do_accept(session=self.session, escalation=escalation, agent=self.agents[agent], now=now)

    def rates(self, who: str, rating: int, now: datetime) -> None:
        survey = latest_survey(self.session, self.conversations[who])
        assert survey is not None
        do_answer_survey(session=self.session, survey=survey, rating=rating, now=now)

    def urgent_vip(self, who: str, now: datetime) -> None:
        conversation = self.conversation(who)
        contact = self.session.get(Contact, conversation.contact_id)
        assert contact is not None
        contact.customer_tier = "vip"
        self.session.add(contact)
        self.session.commit()
        do_set_priority(
            session=self.session,
            conversation=conversation,
            priority="urgent",
            actor=self.agents["kasia"],
            now=now,
        )

    def escalates_with_shortcut(self, agent: str, who: str, now: datetime) -> None:
        shortcut = do_create_shortcut(
            session=self.session,
            label="Escalate to Billing",
            target={"team_id": self.teams["Billing"].id},
            brief_fields=[{"name": "problem", "label": "Problem", "required": True}],
        )
        do_escalate(
            session=self.session,
            conversation=self.conversation(who),
            actor=self.agents[agent],
            trigger="agent",
            brief={"problem": "Charged twice for March"},
            shortcut=shortcut,
            reason=shortcut.label,
            now=now,
        )


def timeline(c: Company) -> list[tuple[datetime, Callable[[datetime], None]]]:
    """The scripted events of the day, in order."""
    return [
        (at("06:00"), lambda t: c.writes("ann", c.api, t, team="Support L1")),
        (at("08:30"), lambda t: c.writes("cleo", c.webchat, t, team="Support L1")),
        (at("08:40"), lambda t: c.replies("dana", "cleo", t)),
        (at("08:45"), lambda t: c.resolves("dana", "cleo", t)),
        (at("09:00"), lambda t: c.writes("cleo", c.webchat, t)),  # reopen 1
        (at("09:00"), lambda t: c.writes("dirk", c.api, t, team="Support L1")),
        (at("09:10"), lambda t: c.moves("dana", "dirk", "Billing", t)),
        (at("09:10"), lambda t: c.resolves("dana", "cleo", t)),
        (at("09:15"), lambda t: c.writes("gus", c.webchat, t, team="Support L1")),
        (at("09:20"), lambda t: c.moves("bob", "dirk", "Technical", t)),
        (at("09:20"), lambda t: c.replies("dana", "gus", t)),
        (at("09:25"), lambda t: c.resolves("dana", "gus", t)),
        (at("09:30"), lambda t: c.moves("tom", "dirk", "Support L1", t)),
        (at("09:30"), lambda t: c.writes("cleo", c.webchat, t)),  # reopen 2
        (at("09:35"), lambda t: c.rates("gus", 5, t)),
        (at("09:40"), lambda t: c.moves("dana", "dirk", "Billing", t)),  # transfer 4
        (at("09:40"), lambda t: c.resolves("dana", "cleo", t)),
        (at("09:50"), lambda t: c.accepts("maria", "dirk", t)),
        (at("10:00"), lambda t: c.writes("cleo", c.webchat, t)),  # reopen 3
        (at("10:00"), lambda t: c.writes("vera", c.webchat, t, team="Support L1")),
        (at("10:00"), lambda t: c.urgent_vip("vera", t)),
        (at("10:10"), lambda t: c.resolves("dana", "cleo", t)),
        (at("10:30"), lambda t: c.writes("cleo", c.webchat, t)),  # reopen 4
        (at("10:40"), lambda t: c.replies("dana", "vera", t)),
        (at("10:45"), lambda t: c.accepts("cora", "cleo", t)),
        (at("11:00"), lambda t: c.resolves("maria", "dirk", t)),
        (at("11:00"), lambda t: c.writes("eli", c.webchat, t, team="Support L1")),
        (at("11:05"), lambda t: c.replies("dana", "eli", t)),
        (at("11:30"), lambda t: c.resolves("dana", "vera", t)),
        (at("11:30"), lambda t: c.escalates_with_shortcut("dana", "eli", t)),
        (at("13:00"), lambda t: c.accepts("maria", "eli", t)),
        (at("13:30"), lambda t: c.resolves("maria", "eli", t)),
        (at("14:00"), lambda t: c.writes("fay", c.api, t, team="Support L1")),
        (at("14:05"), lambda t: c.replies("dana", "fay", t)),
        (at("14:10"), lambda t: c.resolves("dana", "fay", t)),
        (at("14:30"), lambda t: c.rates("fay", 2, t)),
        (at("14:50"), lambda t: c.accepts("maria", "fay", t)),
        (at("15:10"), lambda t: c.resolves("maria", "fay", t)),
        (at("15:30"), lambda t: c.resolves("cora", "cleo", t)),
    ]


def test_a_day_of_the_demo_company(session: Session) -> None:
    company = build_company(session)
    policy = scenario_policy()
    do_save_policy(session=session, policy=policy, actor=company.agents["admin"], now=START)
    play_the_day(company)

    escalations = escalation_log(company)
    assert escalations == [
        # who, kind, trigger, from team (tier), to team (tier), status
        ("dirk", "hierarchical", "rule", "Billing", 2, "Management", 3, "resolved"),
        ("cleo", "functional", "rule", "Support L1", 1, "Customer Satisfaction", 2, "resolved"),
        ("eli", "functional", "agent", "Support L1", 1, "Billing", 2, "bounced"),
        ("eli", "hierarchical", "rule", "Billing", 2, "Management", 3, "resolved"),
        ("fay", "functional", "rule", "Support L1", 1, "Management", 3, "resolved"),
        ("ann", "hierarchical", "sla", "Support L1", 1, "Billing", 2, "open"),
    ]
    check_escalation_details(company, policy)
    check_stage_runs(company, policy)
    check_alerts(company)
    check_customer_updates(company, policy)
    check_accepted_ladders_stopped(company)


# --- building the company and playing the day


def build_company(session: Session) -> Company:
    teams = {
        name: do_create_team(session=session, name=name, tier=tier, skills=skills)
        for name, tier, skills in [
            ("Support L1", 1, ["general"]),
            ("Billing", 2, ["billing", "refunds"]),
            ("Technical", 2, ["technical"]),
            ("Customer Satisfaction", 2, ["retention"]),
            ("Management", 3, []),
        ]
    }
    people = [
        ("admin", "admin@example.com", "Ada Admin", "admin", []),
        ("kasia", "kasia.nowak@example.com", "Kasia Nowak", "agent", ["Support L1"]),
        ("dana", "dana@example.com", "Dana Kowalski", "agent", ["Support L1"]),
        ("bob", "bob@example.com", "Bob Stone", "agent", ["Billing"]),
        ("tom", "tom@example.com", "Tom Berg", "agent", ["Technical"]),
        ("cora", "cora@example.com", "Cora Lind", "agent", ["Customer Satisfaction"]),
        ("maria", "maria.lopez@example.com", "Maria Lopez", "manager", ["Management"]),
        ("ewa", "ewa.wisniewska@example.com", "Ewa Wiśniewska", "agent", ["Management"]),
    ]
    agents: dict[str, Agent] = {}
    for key, email, name, role, member_of in people:
        agents[key] = do_create_agent(
            session=session,
            email=email,
            name=name,
            role=role,
            password="pw-123456",
            team_ids=[t.id for n, t in teams.items() if n in member_of and t.id is not None],
        )
    webchat = do_create_inbox(session=session, name="Website", channel="webchat", config={})
    api = do_create_inbox(session=session, name="Partner API", channel="api", config={})
    return Company(session, teams, agents, webchat, api)


def scenario_policy() -> Policy:
    """The built-in policy, except that nobody is handed conversations automatically: the
    script says who does what."""
    policy = default_policy()
    policy.routing = {}
    return policy


def play_the_day(company: Company) -> None:
    events = timeline(company)
    assert all(when.minute % 5 == 0 for when, _ in events), "events happen on a step"
    now = START
    while now <= END:
        for when, event in events:
            if when == now:
                event(now)
        run_timers(company.session, now)
        now += STEP


def run_timers(session: Session, now: datetime) -> None:
    ladder.run_due(session, now)
    do_bounce_due(session=session, now=now)
    do_periodic_updates(session=session, now=now)
    do_check_escalation_age(session=session, now=now)


# --- what the policy says should have happened


def who_of(company: Company, conversation_id: int) -> str:
    return next(w for w, i in company.conversations.items() if i == conversation_id)


def report_rows(company: Company) -> list[EscalationRow]:
    scope = scope_for(company.session, company.agents["admin"])
    report = escalation_report(
        company.session, scope, date(2025, 3, 11), date(2025, 3, 12), now=END
    )
    return sorted(report.rows, key=lambda r: (r.created_at, r.id))


def escalation_log(
    company: Company,
) -> list[tuple[str, str, str, str | None, int, str | None, int, str]]:
    rows = report_rows(company)
    statuses = {
        e.id: e.status
        for e in company.session.exec(select(Escalation).execution_options(populate_existing=True))
    }
    return [
        (
            who_of(company, r.conversation_id),
            r.kind,
            r.trigger,
            r.from_team,
            r.from_tier,
            r.to_team,
            r.to_tier,
            statuses[r.id],
        )
        for r in rows
    ]


def check_escalation_details(company: Company, policy: Policy) -> None:
    rows = {
        (who_of(company, r.conversation_id), r.trigger, r.to_team): r for r in report_rows(company)
    }
    pingpong = rows["dirk", "rule", "Management"]
    assert pingpong.reason == "transferred 4 times"
    assert (pingpong.accepted_by, pingpong.accepted_at) == ("Maria Lopez", at("09:50"))
    reopened = rows["cleo", "rule", "Customer Satisfaction"]
    assert reopened.reason == f"reopened {policy.rules.reopen_limit + 1} times"
    assert reopened.created_at == at("10:30")
    assert (reopened.accepted_by, reopened.accepted_at) == ("Cora Lind", at("10:45"))
    shortcut = rows["eli", "agent", "Billing"]
    assert shortcut.agent == "Dana Kowalski" and shortcut.accepted_at is None
    assert shortcut.brief["problem"] == "Charged twice for March"
    bounced = rows["eli", "rule", "Management"]
    acknowledge = timedelta(minutes=policy.rules.acknowledge_minutes)
    assert bounced.created_at == shortcut.created_at + acknowledge == at("12:00")
    assert bounced.reason == f"Not accepted within {policy.rules.acknowledge_minutes} minutes"
    assert bounced.brief["problem"] == "Charged twice for March"
    review = rows["fay", "rule", "Management"]
    assert review.reason == "CSAT 2" and review.created_at == at("14:30")
    ladder_escalation = rows["ann", "sla", "Billing"]
    assert ladder_escalation.created_at == at("06:00") + timedelta(hours=24)
    assert ladder_escalation.reason == "SLA ladder: Open 24 hours"
    # The escalation manager hears of the ping-pong and of the review.
    told = company.session.exec(
        select(Notification.conversation_id).where(
            Notification.agent_id == company.agents["ewa"].id,
            Notification.kind == "escalation",
        )
    ).all()
    assert sorted(who_of(company, i) for i in told if i) == ["dirk", "fay"]


def normalized(stage_key: str) -> str:
    """`ladder.<cycle ms>.SLA breach` -> `ladder.SLA breach`; `rule:csat:<id>` -> `rule:csat`."""
    return re.sub(r"[.:]\d+", "", stage_key)


def expected_stages(policy: Policy) -> dict[str, dict[str, datetime]]:
    """Each stage's due time, from the policy's targets and its business hours."""
    default = next(s for s in policy.sla if s.name == "Default")
    vip = next(s for s in policy.sla if s.name == "Urgent, VIP or gold")
    assert default.calendar == "Business hours" and vip.calendar is None
    # ann writes at 06:00 UTC, before opening: the clock starts at 09:00 Warsaw (08:00 UTC).
    opening = at("08:00")
    first = timedelta(minutes=default.targets.first_response or 0)
    ann_due = opening + first
    ann_warn = opening + first * default.warn_at
    # vera's target counts wall-clock time from 10:00.
    vip_first = timedelta(minutes=vip.targets.first_response or 0)
    vera_due = at("10:00") + vip_first
    vera_warn = at("10:00") + vip_first * vip.warn_at
    open_24 = next(s for s in policy.ladder if s.name == "Open 24 hours")
    assert open_24.after_hours is not None
    return {
        "ann": {
            "first_response.warning": ann_warn,
            "ladder.SLA warning": ann_warn,
            "first_response.breach": ann_due,
            "ladder.SLA breach": ann_due,
            "ladder.Open 24 hours": at("06:00") + timedelta(hours=open_24.after_hours),
        },
        "vera": {
            "first_response.warning": vera_warn,
            "ladder.SLA warning": vera_warn,
            "first_response.breach": vera_due,
            "ladder.SLA breach": vera_due,
        },
        "cleo": {"rule:reopen": at("10:30")},
        "dirk": {"rule:ping_pong": at("09:40")},
        "fay": {"rule:csat": at("14:30")},
    }


def check_stage_runs(company: Company, policy: Policy) -> None:
    runs = company.session.exec(select(SlaStageRun).order_by(col(SlaStageRun.id))).all()
    fired: dict[str, dict[str, datetime]] = {}
    for run in runs:
        stages = fired.setdefault(who_of(company, run.conversation_id), {})
        key = normalized(run.stage_key)
        assert key not in stages, f"{key} fired twice"
        stages[key] = aware(run.fired_at)
    expected = expected_stages(policy)
    assert {w: sorted(s) for w, s in fired.items()} == {w: sorted(s) for w, s in expected.items()}
    for who, stages in expected.items():
        for key, due_at in stages.items():
            assert due_at <= fired[who][key] < due_at + STEP, (who, key, fired[who][key], due_at)


def check_alerts(company: Company) -> None:
    alerts = company.session.exec(select(Alert).order_by(col(Alert.id))).all()
    seen = sorted(
        (who_of(company, a.conversation_id or 0), normalized(a.stage_key), a.channel, a.target)
        for a in alerts
    )
    slack = "#escalations"
    assert seen == sorted(
        [
            ("ann", "ladder.SLA warning", "slack", slack),
            ("ann", "ladder.SLA breach", "slack", slack),
            ("ann", "ladder.Open 24 hours", "slack", slack),
            ("ann", "ladder.Open 24 hours", "sms", "+48600100300"),
            ("ann", "ladder.Open 24 hours", "email", "maria.lopez@example.com"),
            ("ann", "escalation", "slack", slack),
            ("vera", "ladder.SLA warning", "slack", slack),
            ("vera", "ladder.SLA breach", "slack", slack),
            ("cleo", "escalation", "slack", slack),
            ("dirk", "escalation", "slack", slack),
            ("eli", "escalation", "slack", slack),
            ("eli", "escalation", "slack", slack),
            ("fay", "escalation", "slack", slack),
        ]
    )
    for alert in alerts:
        if alert.stage_key.endswith(("SLA warning", "SLA breach")):
            assert "Kasia Nowak (team lead)" in alert.text
        elif alert.stage_key.endswith("Open 24 hours"):
            assert "Maria Lopez (manager)" in alert.text


def check_customer_updates(company: Company, policy: Policy) -> None:
    updates = company.session.exec(
        select(CustomerUpdate).order_by(col(CustomerUpdate.sent_at), col(CustomerUpdate.id))
    ).all()
    sent: dict[str, list[tuple[str, datetime]]] = {}
    for update in updates:
        if update.kind == "csat":
            continue  # the survey answers the resolution itself: not a throttled status update
        sent.setdefault(who_of(company, update.conversation_id), []).append(
            (update.kind, aware(update.sent_at))
        )
    assert sent == {
        # Maria accepted ten minutes after the escalation: within min_gap, so not told again.
        "dirk": [("escalated", at("09:40")), ("resolved", at("11:00"))],
        "cleo": [
            ("escalated", at("10:30")),
            ("accepted", at("10:45")),
            ("periodic", at("10:45") + timedelta(minutes=policy.customer_updates.cadence_minutes)),
            ("resolved", at("15:30")),
        ],
        "eli": [("escalated", at("11:30")), ("accepted", at("13:00")), ("resolved", at("13:30"))],
        "fay": [("escalated", at("14:30")), ("accepted", at("14:50")), ("resolved", at("15:10"))],
        "ann": [("escalated", at("06:00", next_day=True))],
    }
    calendar = policy.calendar(policy.customer_updates.calendar or "")
    assert calendar is not None
    gap = timedelta(minutes=policy.customer_updates.min_gap_minutes)
    for kinds in sent.values():
        for (_, before), (_, after) in pairwise(kinds):
            assert after - before >= gap
        assert all(in_business_hours(calendar, t) for kind, t in kinds if kind == "periodic")


def check_accepted_ladders_stopped(company: Company) -> None:
    """After an escalation is accepted, no ladder stage and no bounce touched it."""
    for escalation in company.session.exec(select(Escalation)):
        if escalation.accepted_at is None:
            continue
        accepted = aware(escalation.accepted_at)
        later = company.session.exec(
            select(SlaStageRun).where(
                SlaStageRun.conversation_id == escalation.conversation_id,
                col(SlaStageRun.stage_key).startswith("ladder."),
            )
        ).all()
        assert [r.stage_key for r in later if aware(r.fired_at) > accepted] == []
        children = company.session.exec(
            select(Escalation).where(Escalation.parent_id == escalation.id)
        ).all()
        assert children == []


def aware(value: datetime) -> datetime:
    # SQLite hands back naive datetimes; every stored time is UTC.
    return value if value.tzinfo else value.replace(tzinfo=UTC)
