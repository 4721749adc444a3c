"""Four weeks of past conversations for the demo (`handoff seed-demo`), so the escalation
report has something to show a manager on the first visit: escalations on most days, by
shortcut and by the SLA ladder, accepted quickly or left to bounce, SLA breaches, and the
customers' ratings with and without an escalation.

Replayed through the same domain calls as live traffic, in time order, with the SLA timers
run (`ladder.run_due`) before each step as the app's timer loop would have run them: the
breaches, bounces and ladder escalations are the engine's own, not written in. The choices
(who writes, about what, how fast each team answers, how the customer rates it) come from a
seeded random generator, so every demo database is the same.
"""

from __future__ import annotations

import heapq
import itertools
import random
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlmodel import Session, col, select

from .clock import as_utc
from .conversations import InboundMessage, do_receive_inbound, do_reply, do_set_status
from .csat import do_answer_survey, latest_survey
from .errors import HandoffError
from .escalation import do_accept, do_escalate
from .ladder import run_due
from .models import (
    Agent,
    Conversation,
    Escalation,
    EscalationStatus,
    Membership,
    Shortcut,
    Status,
    Team,
)
from .models import Inbox as InboxRow
from .notes import do_add_note
from .queries import mark_notifications_read

DAYS = 28
SEED = 2026


@dataclass(frozen=True)
class Topic:
    # Where the customer's choice in the widget sends it: the cases that need a specialist
    # arrive at L1, which escalates them (functionally, by shortcut) when it cannot help.
    team: str
    opening: str
    reply: str
    # The escalation shortcut an agent uses when this kind of case goes up, and its brief.
    shortcut: str | None = None
    brief: dict[str, str] = field(default_factory=dict)
    closing: str = "That should do it. Anything else, just write here."


TOPICS = [
    Topic(
        "Support L1",
        "I can't log in: the password reset email never arrives.",
        "Sorry about that! I've sent a new reset link; it comes from no-reply@handoff.test.",
    ),
    Topic(
        "Support L1",
        "How do I add a second user to our account?",
        "Under Settings, Team, press Invite and enter their email.",
    ),
    Topic(
        "Support L1",
        "I was charged twice for my subscription this month.",
        "I can see both charges. Let me get this to the billing specialists.",
        shortcut="Escalate to Billing",
        brief={
            "problem": "Two identical charges for the monthly plan",
            "tried": "Confirmed both charges in the payment provider",
            "impact": "Customer is out of pocket until refunded",
            "needed": "Refund of the duplicate charge",
        },
        closing="The duplicate charge is refunded; it shows on your card within five days.",
    ),
    Topic(
        "Billing",
        "Can I get an invoice with our VAT number on it?",
        "Of course, I've added the VAT number and re-issued the invoice.",
    ),
    Topic(
        "Support L1",
        "Your API returns 500 for POST /v2/orders since this morning.",
        "Thanks for the request id. I'm handing this to our API engineers now.",
        shortcut="Technical: API issue",
        brief={
            "problem": "POST /v2/orders answers 500 for this account",
            "endpoint": "POST /v2/orders, request id 7f3c-91ab",
            "tried": "Reproduced with the customer's payload; other accounts are fine",
        },
        closing="A fix is deployed and the failed orders were replayed. Sorry for the trouble!",
    ),
    Topic(
        "Technical",
        "Webhooks stopped arriving at our endpoint yesterday.",
        "Your endpoint answered 410 for a while, so deliveries paused. I've resumed them.",
    ),
    Topic(
        "Support L1",
        "This is the third time I'm writing about my cancelled order. I want a manager.",
        "I understand, and I'm sorry it has taken this long. I'm bringing in my manager.",
        shortcut="Up a tier",
        brief={
            "problem": "Order cancelled by mistake, customer wrote three times",
            "why": "Customer asks for a manager; a goodwill gesture needs approval",
            "promised": "A call back today",
        },
        closing="Your order is restored with free express shipping, and I've noted your account.",
    ),
]

# Most cases are answered and closed at the first level; these are the shares that go up.
ESCALATED_SHARE = 0.6  # of the cases whose topic has a shortcut
# A share of first replies comes late: the SLA timer breaches them.
LATE_SHARE = 0.12

# Past customers: first names with their language, and family names, paired so that no two
# cases share a customer (a customer writing again within two weeks would reopen, not start).
FIRST_NAMES = [
    ("Hannah", "de"),
    ("Jakub", "pl"),
    ("Sofia", "it"),
    ("Omar", "ar"),
    ("Emma", "nb"),
    ("Liam", "en"),
    ("Mei", "en"),
    ("Diego", "es"),
    ("Anna", "bg"),
    ("Yuki", "en"),
    ("Lucas", "fr"),
    ("Zofia", "pl"),
    ("Fatima", "ar"),
    ("Oliver", "en"),
    ("Nora", "nb"),
    ("Dmitri", "ru"),
]
FAMILY_NAMES = ["Schmidt", "Nowicki", "Rossi", "Saleh", "Larsen", "Brennan", "Chen", "Duarte"]

COMMENTS = {
    5: ["Quick and friendly, thank you!", "Solved in minutes.", ""],
    4: ["Good help, took a little while.", ""],
    3: ["Fixed in the end, but I had to explain it twice.", ""],
    2: ["Nobody answered for hours."],
    1: ["I had to chase you three times."],
}


@dataclass
class _Case:
    """One past conversation as it is replayed."""

    topic: Topic
    customer: tuple[str, str]  # name, language
    conversation_id: int | None = None


Step = Callable[[Session, datetime], None]


def seed_history(session: Session, now: datetime) -> int:
    """Replay DAYS of past conversations ending a day before `now`; returns how many."""
    plan = _Plan(session, random.Random(SEED))
    start = (now - timedelta(days=DAYS)).replace(hour=0, minute=0, second=0, microsecond=0)
    for day in range(DAYS - 1):
        date = start + timedelta(days=day)
        weekend = date.weekday() >= 5
        for _ in range(plan.random.randint(0, 1) if weekend else plan.random.randint(3, 5)):
            opened = date + timedelta(hours=plan.random.uniform(7.5, 16.5))
            plan.add_case(opened)
    ended = plan.replay()
    # The agents read their notifications back then: the bell counts today's, not a month's.
    for agent_id in session.exec(select(Agent.id)).all():
        assert agent_id is not None
        mark_notifications_read(session, agent_id, ended)
    return len(plan.cases)


def past_customer(number: int) -> tuple[str, str]:
    """The `number`th case's customer: a different one for each of the first 128."""
    first, language = FIRST_NAMES[number % len(FIRST_NAMES)]
    family = FAMILY_NAMES[(number + number // len(FIRST_NAMES)) % len(FAMILY_NAMES)]
    return f"{first} {family}", language


class _Plan:
    """The steps of every case, replayed in time order."""

    def __init__(self, session: Session, rng: random.Random) -> None:
        self.session = session
        self.random = rng
        self.cases: list[_Case] = []
        self._steps: list[tuple[datetime, int, Step]] = []
        self._order = itertools.count()
        self.inbox = session.exec(select(InboxRow).where(InboxRow.channel == "webchat")).one()
        self.teams = {t.name: t for t in session.exec(select(Team)).all()}
        self.shortcuts = {s.label: s for s in session.exec(select(Shortcut)).all()}

    def at(self, when: datetime, step: Step) -> None:
        heapq.heappush(self._steps, (when, next(self._order), step))

    def replay(self) -> datetime:
        """Run every step in time order; the time of the last one."""
        when = datetime.min
        while self._steps:
            when, _, step = heapq.heappop(self._steps)
            run_due(self.session, when)
            step(self.session, when)
        return when

    def add_case(self, opened: datetime) -> None:
        rng = self.random
        case = _Case(rng.choice(TOPICS), past_customer(len(self.cases)))
        self.cases.append(case)
        late = rng.random() < LATE_SHARE
        first_reply = opened + (
            timedelta(hours=rng.uniform(4.5, 7)) if late else timedelta(minutes=rng.uniform(3, 40))
        )
        self.at(opened, lambda s, t: self._arrive(s, t, case))
        self.at(first_reply, lambda s, t: self._reply(s, t, case, case.topic.reply))
        done = first_reply + timedelta(minutes=rng.uniform(20, 240))
        bounced = False
        if case.topic.shortcut and rng.random() < ESCALATED_SHARE:
            escalated = first_reply + timedelta(minutes=rng.uniform(2, 10))
            # Most are taken inside the 30 minutes before an escalation bounces a tier up;
            # the rest are taken by the tier above, some time after the bounce.
            wait = rng.choice([4, 7, 9, 12, 15, 18, 25, 45, 70])
            bounced = wait > 30
            accepted = escalated + timedelta(minutes=wait + rng.uniform(0, 3))
            self.at(escalated, lambda s, t: self._escalate(s, t, case))
            self.at(accepted, lambda s, t: self._accept(s, t, case))
            done = accepted + timedelta(hours=rng.choice([1, 2, 3, 5, 8, 26]))
        self.at(done, lambda s, t: self._resolve(s, t, case))
        rating = self._rating(late or bounced, done - opened)
        if rating is not None:
            self.at(done + timedelta(minutes=rng.uniform(5, 180)), self._rate(case, rating))

    def _rating(self, kept_waiting: bool, took: timedelta) -> int | None:
        rng = self.random
        if rng.random() < 0.35:
            return None  # about a third of customers leave the survey unanswered
        if kept_waiting:
            return rng.choice([1, 2, 3, 3, 4])
        if took > timedelta(hours=24):
            return rng.choice([2, 3, 4])
        if took > timedelta(hours=4):
            return rng.choice([3, 4, 4, 5])
        return rng.choice([4, 5, 5, 5])

    # --- the steps ---

    def _arrive(self, session: Session, at: datetime, case: _Case) -> None:
        name, language = case.customer
        handle = name.lower().replace(" ", ".").replace("'", "")
        received = do_receive_inbound(
            session=session,
            inbound=InboundMessage(
                inbox_id=self.inbox.id or 0,
                identifier=f"{handle}@example.net",
                name=name,
                email=f"{handle}@example.net",
                content=case.topic.opening,
                team_id=self.teams[case.topic.team].id,
                language=language,
            ),
            now=at,
        )
        case.conversation_id = received.conversation.id

    def _conversation(self, session: Session, case: _Case) -> Conversation:
        conversation = session.get(Conversation, case.conversation_id)
        assert conversation is not None
        return conversation

    def _agent_of(self, session: Session, team_id: int | None) -> Agent:
        """One of the team's agents (its managers when it has none), else an admin."""
        if team_id is not None:
            members = session.exec(
                select(Agent)
                .join(Membership, col(Membership.agent_id) == col(Agent.id))
                .where(Membership.team_id == team_id, col(Agent.deactivated_at).is_(None))
                .order_by(col(Agent.id))
            ).all()
            agents = [m for m in members if m.role == "agent"] or list(members)
            if agents:
                return self.random.choice(agents)
        admin = session.exec(select(Agent).where(col(Agent.role) == "admin")).first()
        assert admin is not None, "the demo has an admin"
        return admin

    def _responder(self, session: Session, conversation: Conversation) -> Agent:
        if conversation.assignee_id is not None:
            assignee = session.get(Agent, conversation.assignee_id)
            if assignee is not None:
                return assignee
        return self._agent_of(session, conversation.team_id)

    def _reply(self, session: Session, at: datetime, case: _Case, text: str) -> None:
        conversation = self._conversation(session, case)
        if conversation.status == Status.resolved:
            return
        agent = self._responder(session, conversation)
        do_reply(session=session, conversation=conversation, agent=agent, content=text, now=at)

    def _escalate(self, session: Session, at: datetime, case: _Case) -> None:
        conversation = self._conversation(session, case)
        if conversation.status == Status.resolved or conversation.escalation_id is not None:
            return  # the SLA ladder took it up first
        shortcut = self.shortcuts.get(case.topic.shortcut or "")
        if shortcut is None:
            return
        try:
            do_escalate(
                session=session,
                conversation=conversation,
                actor=self._responder(session, conversation),
                trigger="agent",
                brief=dict(case.topic.brief),
                shortcut=shortcut,
                reason=shortcut.label,
                now=at,
            )
        except HandoffError:
            session.rollback()  # no team to take it (the demo's teams were changed): skip

    def _accept(self, session: Session, at: datetime, case: _Case) -> None:
        """Someone in the team that holds the conversation's escalation takes it, and writes
        a note for the team. One that bounced a moment ago is taken a while later."""
        conversation = self._conversation(session, case)
        if conversation.escalation_id is None:
            return
        escalation = session.get(Escalation, conversation.escalation_id)
        if escalation is None or escalation.status != EscalationStatus.open:
            return
        if at - as_utc(escalation.created_at) < timedelta(minutes=2):
            later = at + timedelta(minutes=self.random.uniform(8, 25))
            self.at(later, lambda s, t: self._accept(s, t, case))
            return
        agent = self._agent_of(session, escalation.to_team_id)
        do_accept(session=session, escalation=escalation, agent=agent, now=at)
        do_add_note(
            session=session,
            conversation=conversation,
            agent=agent,
            content="Taken: I'm on it.",
            now=at + timedelta(minutes=1),
        )

    def _resolve(self, session: Session, at: datetime, case: _Case) -> None:
        conversation = self._conversation(session, case)
        if conversation.status == Status.resolved:
            return
        self._reply(session, at, case, case.topic.closing)
        do_set_status(
            session=session,
            conversation=conversation,
            status="resolved",
            actor=self._responder(session, conversation),
            now=at + timedelta(minutes=1),
        )

    def _rate(self, case: _Case, rating: int) -> Step:
        def step(session: Session, at: datetime) -> None:
            assert case.conversation_id is not None
            survey = latest_survey(session, case.conversation_id)
            if survey is None or survey.answered_at is not None:
                return
            comment = self.random.choice(COMMENTS[rating])
            do_answer_survey(session=session, survey=survey, rating=rating, comment=comment, now=at)
            if rating < 3:
                # The rating opened a review for the L3 team (rules.csat_review_below): the
                # manager takes it inside the half hour and closes it with a call.
                review = at + timedelta(minutes=self.random.uniform(10, 28))
                self.at(review, lambda s, t: self._review(s, t, case))

        return step

    def _review(self, session: Session, at: datetime, case: _Case) -> None:
        """The manager takes the review, calls the customer, and closes it."""
        self._accept(session, at, case)
        later = at + timedelta(minutes=self.random.uniform(30, 60))
        self.at(later, lambda s, t: self._close_review(s, t, case))

    def _close_review(self, session: Session, at: datetime, case: _Case) -> None:
        conversation = self._conversation(session, case)
        if conversation.status == Status.resolved:
            return
        responder = self._responder(session, conversation)
        do_add_note(
            session=session,
            conversation=conversation,
            agent=responder,
            content="Called the customer and apologised; offered a month free.",
            now=at,
        )
        do_set_status(
            session=session,
            conversation=conversation,
            status="resolved",
            actor=responder,
            now=at + timedelta(minutes=1),
        )
