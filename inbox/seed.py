"""A demo company (`handoff seed-demo`): teams L1 to L3, agents, three inboxes, two dozen
conversations in several states and languages, a few saved replies, and four weeks of past
conversations for the escalation report (demo_history.py), built through the same domain
calls a real inbox goes through."""

from __future__ import annotations

from datetime import timedelta

from rich.console import Console
from rich.progress import track
from sqlmodel import Session

from .accounts import do_create_agent, do_create_inbox, do_create_team
from .clock import utcnow
from .conversations import (
    InboundMessage,
    do_assign,
    do_change_team,
    do_receive_inbound,
    do_reply,
    do_set_priority,
    do_set_status,
)
from .demo_history import seed_history
from .models import Agent, Contact, Team
from .notes import do_add_note
from .saved_replies import do_create_saved_reply
from .shortcuts_store import seed_shortcuts

PASSWORD = "handoff-demo"
DEMO_MAIL_ADDRESS = "support@handoff.test"
DEMO_LOGINS = [
    ("admin@handoff.test", "admin"),
    ("maria@handoff.test", "manager"),
    ("dana@handoff.test", "agent"),
    ("lukasz@handoff.test", "agent"),
    ("ivan@handoff.test", "agent"),
    ("layla@handoff.test", "agent"),
    ("ingrid@handoff.test", "agent"),
]

# (name, email, tier, value, language, [messages], team, state)
CUSTOMERS: list[tuple[str, str, str, float, str, list[str], str, str]] = [
    (
        "Olivia Bennett",
        "olivia@northwind.example",
        "gold",
        18400,
        "en",
        ["I was charged twice for the March invoice (INV-2291). Can you refund one of them?"],
        "Billing",
        "open",
    ),
    (
        "Piotr Zieliński",
        "piotr@kwiatki.example",
        "standard",
        320,
        "pl",
        ["Dzień dobry, nie mogę zalogować się do panelu od wczoraj. Reset hasła nie przychodzi."],
        "Support L1",
        "open",
    ),
    (
        "Georgi Petrov",
        "georgi@sofiatech.example",
        "vip",
        52000,
        "bg",
        [
            "Здравейте, API-то връща 502 при всяко второ извикване от тази сутрин.",
            "Това блокира продукцията ни, моля за спешен отговор.",
        ],
        "Technical",
        "open",
    ),
    (
        "Anastasia Volkova",
        "anastasia@volga.example",
        "standard",
        150,
        "ru",
        ["Добрый день! Как изменить адрес доставки в уже оформленном заказе?"],
        "Support L1",
        "pending",
    ),
    (
        "Omar Haddad",
        "omar@souq.example",
        "gold",
        9100,
        "ar",
        ["مرحبا، لم أستلم رمز التحقق عبر الرسائل القصيرة. هل يمكنكم المساعدة؟"],
        "Support L1",
        "open",
    ),
    (
        "Sigrid Nilsen",
        "sigrid@fjord.example",
        "standard",
        610,
        "nb",
        ["Hei! Fakturaen min viser feil MVA-sats. Kan dere sende en ny?"],
        "Billing",
        "open",
    ),
    (
        "Jamal Carter",
        "jamal@brightlabs.example",
        "standard",
        75,
        "en",
        ["Your export to CSV cuts off at 10,000 rows. Is that a limit?"],
        "Technical",
        "snoozed",
    ),
    (
        "Emily Zhang",
        "emily@lotus.example",
        "gold",
        14200,
        "en",
        ["We need SSO for our whole team before renewing. Is SAML supported?"],
        "",
        "open",
    ),
    (
        "Lucas Moreau",
        "lucas@atelier.example",
        "standard",
        40,
        "en",
        ["The app crashes when I upload a photo larger than 20 MB."],
        "Technical",
        "resolved",
    ),
    (
        "Hanna Kowalska",
        "hanna@pracownia.example",
        "standard",
        220,
        "pl",
        ["Czy mogę dostać fakturę VAT na firmę zamiast na osobę prywatną?"],
        "Billing",
        "resolved",
    ),
    (
        "Noah Fischer",
        "noah@alpen.example",
        "vip",
        88000,
        "en",
        [
            "Third time writing about this: our webhooks stopped firing after the update.",
            "If this is not fixed today we will have to escalate to our account manager.",
        ],
        "Technical",
        "open",
    ),
    (
        "Aisha Rahman",
        "aisha@crescent.example",
        "standard",
        510,
        "en",
        ["How do I add a second admin to our workspace?"],
        "Support L1",
        "open",
    ),
    (
        "Mateo García",
        "mateo@sol.example",
        "standard",
        95,
        "en",
        ["I'd like to cancel my subscription and get a refund for this month."],
        "Billing",
        "open",
    ),
    (
        "Yuki Tanaka",
        "yuki@sakura.example",
        "gold",
        12000,
        "en",
        ["Can you confirm whether our data is stored in the EU region?"],
        "",
        "open",
    ),
    (
        "Ingeborg Dahl",
        "ingeborg@nord.example",
        "standard",
        130,
        "nb",
        ["Appen viser ikke varsler på Android 15. Noen tips?"],
        "Technical",
        "pending",
    ),
    (
        "Dmitri Sokolov",
        "dmitri@ural.example",
        "standard",
        60,
        "ru",
        ["Пришлите, пожалуйста, счёт за прошлый месяц в PDF."],
        "Billing",
        "resolved",
    ),
    (
        "Sara Lindqvist",
        "sara@lund.example",
        "standard",
        300,
        "en",
        ["Password reset link expired before I could click it."],
        "Support L1",
        "resolved",
    ),
    (
        "Karim Mansour",
        "karim@nile.example",
        "standard",
        45,
        "ar",
        ["أريد تغيير البريد الإلكتروني المرتبط بحسابي."],
        "Support L1",
        "open",
    ),
    (
        "Chloe Dubois",
        "chloe@maison.example",
        "gold",
        21000,
        "en",
        ["Our invoices should go to accounts@maison.example from now on."],
        "Billing",
        "pending",
    ),
    (
        "Ben Okafor",
        "ben@lagoscode.example",
        "standard",
        180,
        "en",
        ["Is there a rate limit on the public API? We're seeing 429s."],
        "Technical",
        "open",
    ),
    (
        "Elena Popescu",
        "elena@carpati.example",
        "standard",
        90,
        "en",
        ["Thanks for the quick help yesterday! All working now."],
        "Support L1",
        "resolved",
    ),
    (
        "Tomasz Nowak",
        "tomasz@budowa.example",
        "vip",
        41000,
        "pl",
        ["Potrzebujemy pilnie zmiany limitu użytkowników z 50 na 120."],
        "Management",
        "open",
    ),
    (
        "Rachel Adams",
        "rachel@quill.example",
        "standard",
        260,
        "en",
        ["The product you shipped arrived damaged. I want a replacement, not store credit."],
        "Customer Satisfaction",
        "open",
    ),
    (
        "Nikola Ivanov",
        "nikola@varna.example",
        "standard",
        140,
        "bg",
        ["Как да сменя езика на интерфейса?"],
        "Support L1",
        "open",
    ),
]


def seed_demo(session: Session, console: Console | None = None) -> None:
    now = utcnow()
    teams = {
        name: do_create_team(session=session, name=name, tier=tier, skills=skills)
        for name, tier, skills in [
            ("Support L1", 1, ["general"]),
            ("Billing", 2, ["billing", "payments", "refunds"]),
            ("Technical", 2, ["technical", "api", "integrations"]),
            ("Customer Satisfaction", 2, ["retention", "compensation"]),
            ("Management", 3, ["management"]),
        ]
    }

    def tid(name: str) -> int:
        team_id = teams[name].id
        assert team_id is not None
        return team_id

    people = [
        ("admin@handoff.test", "Alex Admin", "admin", [], [], "en"),
        (
            "maria@handoff.test",
            "Maria Lopez",
            "manager",
            ["Management", "Support L1"],
            ["management"],
            "en",
        ),
        (
            "dana@handoff.test",
            "Dana Kowalski",
            "agent",
            ["Support L1", "Billing"],
            ["general", "billing"],
            "en",
        ),
        ("lukasz@handoff.test", "Łukasz Wróbel", "agent", ["Support L1"], ["general"], "pl"),
        ("ivan@handoff.test", "Ivan Georgiev", "agent", ["Technical"], ["technical", "api"], "bg"),
        (
            "layla@handoff.test",
            "Layla Nasser",
            "agent",
            ["Billing", "Customer Satisfaction"],
            ["billing", "retention"],
            "ar",
        ),
        (
            "ingrid@handoff.test",
            "Ingrid Berg",
            "agent",
            ["Technical", "Support L1"],
            ["technical", "general"],
            "nb",
        ),
    ]
    agents: dict[str, Agent] = {}
    for email, name, role, team_names, skills, locale in people:
        agents[email] = do_create_agent(
            session=session,
            email=email,
            name=name,
            role=role,
            password=PASSWORD,
            team_ids=[tid(t) for t in team_names],
            skills=skills,
            locale=locale,
        )
    webchat = do_create_inbox(
        session=session,
        name="Website chat",
        channel="webchat",
        config={
            "departments": [tid("Support L1"), tid("Billing"), tid("Technical")],
            "greeting": "Hi! How can we help today?",
        },
        member_ids=[
            agents["dana@handoff.test"].id or 0,
            agents["lukasz@handoff.test"].id or 0,
            agents["ingrid@handoff.test"].id or 0,
        ],
    )
    api_inbox = do_create_inbox(
        session=session, name="Partner API", channel="api", config={}, member_ids=[]
    )
    # Mail sent to this address on HANDOFF_SMTP_PORT arrives here; replies need an outgoing
    # server (its `smtp` config) and show as failed, with the reason, until one is set.
    mail_inbox = do_create_inbox(
        session=session,
        name="Support mail",
        channel="email",
        config={"address": DEMO_MAIL_ADDRESS},
        member_ids=[agents["dana@handoff.test"].id or 0, agents["layla@handoff.test"].id or 0],
    )
    session.commit()
    seed_shortcuts(session)
    _seed_saved_replies(session, agents["admin@handoff.test"], teams)
    session.commit()
    if console is not None:
        with console.status("Replaying four weeks of past conversations…"):
            past = seed_history(session, now)
        console.print(f"{past} past conversations, for the escalation report")
    else:
        seed_history(session, now)
    assert mail_inbox.id is not None
    do_receive_inbound(
        session=session,
        inbound=InboundMessage(
            inbox_id=mail_inbox.id,
            identifier="grace.okafor@example.com",
            name="Grace Okafor",
            email="grace.okafor@example.com",
            subject="Refund for order 88412",
            content="Hello,\n\nI returned order 88412 three weeks ago and the refund has "
            "still not arrived. Could you check where it is?\n\nThanks,\nGrace",
            quoted="> Your return for order 88412 has been received at our warehouse.",
            external_id="<demo-grace-1@example.com>",
            starts_thread=True,
            team_id=tid("Billing"),
            language="en",
        ),
        now=now - timedelta(hours=2),
    )
    dana, lukasz, ivan = (
        agents[e] for e in ("dana@handoff.test", "lukasz@handoff.test", "ivan@handoff.test")
    )
    layla, maria = (agents[e] for e in ("layla@handoff.test", "maria@handoff.test"))
    responders = {
        "Support L1": lukasz,
        "Billing": layla,
        "Technical": ivan,
        "Customer Satisfaction": layla,
        "Management": maria,
    }
    rows = (
        track(CUSTOMERS, description="Seeding demo conversations", console=console, transient=True)
        if console
        else CUSTOMERS
    )
    for i, (name, email, tier, value, language, texts, team, state) in enumerate(rows):
        inbox = webchat if i % 4 else api_inbox
        at = now - timedelta(hours=len(CUSTOMERS) - i, minutes=7 * i)
        received = None
        for j, text in enumerate(texts):
            received = do_receive_inbound(
                session=session,
                inbound=InboundMessage(
                    inbox_id=inbox.id or 0,
                    identifier=email,
                    name=name,
                    email=email,
                    content=text,
                    external_id=f"demo-{i}-{j}" if inbox is api_inbox else None,
                    team_id=tid(team) if team else None,
                    language=language,
                ),
                now=at + timedelta(minutes=3 * j),
            )
        assert received is not None
        contact = session.get(Contact, received.contact.id)
        assert contact is not None
        contact.customer_tier, contact.lifetime_value = tier, value
        session.add(contact)
        session.commit()
        conversation = received.conversation
        responder = responders.get(team)
        if responder is not None and i % 3 != 0:
            do_reply(
                session=session,
                conversation=conversation,
                agent=responder,
                content=_reply_for(language),
                now=at + timedelta(minutes=9),
            )
        if name == "Noah Fischer":
            do_set_priority(
                session=session,
                conversation=conversation,
                priority="urgent",
                actor=ivan,
                now=at + timedelta(minutes=10),
            )
            do_add_note(
                session=session,
                conversation=conversation,
                agent=ivan,
                content="Webhook queue is stuck since the 2.4 deploy. @MariaLopez this is "
                "a VIP account, can you call them?",
                now=at + timedelta(minutes=11),
            )
        if name == "Olivia Bennett":
            do_add_note(
                session=session,
                conversation=conversation,
                agent=dana,
                content="Duplicate charge confirmed in Stripe. @Billing please refund "
                "one of the two.",
                now=at + timedelta(minutes=12),
            )
        if name == "Emily Zhang":
            do_change_team(
                session=session,
                conversation=conversation,
                team=teams["Support L1"],
                actor=maria,
                now=at + timedelta(minutes=5),
            )
            do_change_team(
                session=session,
                conversation=conversation,
                team=teams["Technical"],
                actor=dana,
                now=at + timedelta(minutes=20),
            )
        if name == "Aisha Rahman":
            do_assign(
                session=session,
                conversation=conversation,
                assignee=dana,
                actor=maria,
                now=at + timedelta(minutes=4),
            )
        if state == "pending" or state == "resolved":
            do_set_status(
                session=session,
                conversation=conversation,
                status=state,
                actor=responder,
                now=at + timedelta(minutes=30),
            )
        elif state == "snoozed":
            do_set_status(
                session=session,
                conversation=conversation,
                status="snoozed",
                actor=responder,
                snooze_until=now + timedelta(hours=6),
                now=at + timedelta(minutes=30),
            )
    session.commit()


def _reply_for(language: str) -> str:
    return {
        "pl": "Dziękujemy za wiadomość! Sprawdzamy to i wrócimy z odpowiedzią jeszcze dziś.",
        "bg": "Благодарим ви! Проверяваме и ще се върнем с отговор до края на деня.",
        "ru": "Спасибо за обращение! Мы уже разбираемся и скоро ответим.",
        "ar": "شكرًا لتواصلك معنا! نحن نتحقق من الأمر وسنعود إليك قريبًا.",
        "nb": "Takk for meldingen! Vi ser på det og svarer deg i løpet av dagen.",
    }.get(
        language, "Thanks for reaching out! I'm looking into this now and will update you shortly."
    )


# (shortcut, title, team or None for everyone, text): what the / menu offers in the demo.
SAVED_REPLIES = [
    (
        "hello",
        "Greeting",
        None,
        "Hi {{contact.first_name}},\n\nThanks for getting in touch! I'm {{agent.first_name}} "
        "and I'll take care of this for you.",
    ),
    (
        "refund-policy",
        "Refund policy",
        "Billing",
        "Hi {{contact.first_name}},\n\nYou can return anything within 30 days of delivery for "
        "a full refund. Once we have it back, the money reaches your original payment method "
        "within 5 to 10 business days. Your case number is #{{conversation.id}}.",
    ),
    (
        "send-logs",
        "Please send logs",
        "Technical",
        "To find out what is going wrong, could you send us:\n\n"
        "1. the time it happened (with your time zone),\n"
        "2. the request ID from the error message or the X-Request-Id response header,\n"
        "3. the application log for the five minutes around it.\n\n"
        "Attach them here, or mail them to support@handoff.test with #{{conversation.id}} in "
        "the subject.",
    ),
    (
        "password-reset",
        "Password reset email not arriving",
        "Support L1",
        "The reset email comes from no-reply@handoff.test within a few minutes. Please check "
        "your spam folder, and that you asked with {{contact.email}}. If it still does not "
        "arrive, tell me and I'll send you a link myself.",
    ),
    (
        "closing",
        "Closing",
        None,
        "Is there anything else I can help you with? If not, I'll close this conversation; "
        "just write back here any time and it opens again.\n\nBest regards,\n{{agent.name}}",
    ),
]


def _seed_saved_replies(session: Session, admin: Agent, teams: dict[str, Team]) -> None:
    for shortcut, title, team, content in SAVED_REPLIES:
        do_create_saved_reply(
            session=session,
            actor=admin,
            shortcut=shortcut,
            title=title,
            content=content,
            team_id=teams[team].id if team else None,
        )
