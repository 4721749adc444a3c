"""The L0 bot (docs/concepts/bot.md): canned answers by keyword, then a person."""

from __future__ import annotations

from sqlmodel import Session, col, select
from starlette.testclient import TestClient

from inbox.accounts import do_create_team
from inbox.bot import do_bot_turn, key_for, mentions, normalize, recent_unanswered
from inbox.clock import utcnow
from inbox.conversations import InboundMessage, Received, do_assign, do_receive_inbound
from inbox.models import Conversation, Escalation, Message, MessageKind, PolicyDocument
from inbox.policy import Bot, CannedAnswer
from inbox.policy_store import as_data, default_policy
from tests.factories import World, build_world, customer_writes

ORIGIN = {"origin": "http://testserver"}
REFUND = CannedAnswer(
    keywords=["money back", "refund*", "возврат*", "استرداد", "返金"],
    answer={
        "en": "Refunds reach your card within 5 working days.",
        "ru": "Деньги вернутся на карту в течение 5 рабочих дней.",
        "ar": "يصل المبلغ المسترد إلى بطاقتك خلال 5 أيام عمل.",
        "ja": "返金は5営業日以内にカードに戻ります。",
    },
)
HOURS = CannedAnswer(keywords=["opening hours"], answer={"en": "We are open 9 to 5."})


def enable_bot(session: Session, **changes: object) -> None:
    policy = default_policy()
    policy.bot = Bot.model_validate(
        {
            "enabled": True,
            "answers": [REFUND, HOURS],
            "handoff_phrases": ["human", "a person", "человек*", "إنسان"],
            "misses_before_handoff": 2,
            "handoff_team": "Support L1",
            **changes,
        }
    )
    session.add(PolicyDocument(document=as_data(policy)))
    session.commit()


def writes(
    session: Session, w: World, text: str, *, who: str = "ann", language: str | None = None
) -> Received:
    got = customer_writes(session, w.webchat, text, who=who)
    if language and got.contact.language != language:
        got.contact.language = language
        session.add(got.contact)
        session.commit()
    return got


def turn(session: Session, got: Received) -> str:
    assert got.message.id is not None
    return do_bot_turn(session=session, message_id=got.message.id).outcome


def bot_replies(session: Session, conversation_id: int | None) -> list[str]:
    session.expire_all()
    rows = session.exec(
        select(Message)
        .where(
            Message.conversation_id == conversation_id,
            col(Message.external_id).startswith("bot:"),
        )
        .order_by(col(Message.id))
    ).all()
    assert all(m.automatic and m.sender_agent_id is None and m.kind == "outgoing" for m in rows)
    assert all(m.delivery == "pending" for m in rows), "sent by the dispatcher like a reply"
    return [m.content for m in rows]


def test_keywords_match_whole_words_in_any_script_and_case() -> None:
    text = normalize("Hi! I'd like my MONEY   back, the agenda was wrong. Straße Привет 返金して")
    assert mentions(text, "money back") and mentions(text, "Money Back")
    assert not mentions(text, "agent"), "a whole word: agent is not agenda"
    assert mentions(text, "agend*"), "a trailing * matches the start of a word"
    assert mentions(text, "STRASSE") and mentions(text, "привет")
    assert mentions(text, "返金"), "scripts without spaces match anywhere"
    assert not mentions(text, "*") and not mentions(text, "  ")


def test_the_bot_answers_by_keyword_in_the_customers_language(session: Session) -> None:
    w = build_world(session)
    enable_bot(session)
    english = writes(session, w, "Hello, how do I get my money back?")
    assert turn(session, english) == "answered"
    assert bot_replies(session, english.conversation.id) == [REFUND.answer["en"]]

    russian = writes(session, w, "Где ВОЗВРАТ моих денег?", who="ivan", language="ru")
    assert turn(session, russian) == "answered"
    assert bot_replies(session, russian.conversation.id) == [REFUND.answer["ru"]]

    arabic = writes(session, w, "أريد استرداد المبلغ", who="amal", language="ar")
    assert turn(session, arabic) == "answered"
    assert bot_replies(session, arabic.conversation.id) == [REFUND.answer["ar"]]

    # No answer in the customer's language: English.
    polish = writes(session, w, "Jakie są wasze opening hours?", who="ola", language="pl")
    assert turn(session, polish) == "answered"
    assert bot_replies(session, polish.conversation.id) == ["We are open 9 to 5."]

    conversation = session.get(Conversation, english.conversation.id)
    assert conversation is not None
    assert conversation.assignee_id is None and conversation.first_response_at is None, (
        "the bot is not a person: nobody is assigned and the first-response clock runs on"
    )
    assert conversation.preview == REFUND.answer["en"]


def test_the_bot_never_answers_an_auto_reply_or_a_bounce(session: Session) -> None:
    w = build_world(session)
    enable_bot(session)
    assert w.webchat.id is not None
    got = do_receive_inbound(
        session=session,
        inbound=InboundMessage(
            inbox_id=w.webchat.id,
            identifier="mailer-daemon",
            content="Out of office until Monday; for refunds and money back write to ...",
            auto_submitted=True,
        ),
    )
    assert turn(session, got) == "skipped"
    assert bot_replies(session, got.conversation.id) == []


def test_the_bot_never_answers_a_message_twice(session: Session) -> None:
    w = build_world(session)
    enable_bot(session)
    got = writes(session, w, "refund please")
    assert turn(session, got) == "answered"
    assert turn(session, got) == "skipped"
    assert len(bot_replies(session, got.conversation.id)) == 1
    # Nor one that another worker answered first (its reply carries the same key).
    other = writes(session, w, "refund, again")
    assert other.message.id is not None
    session.add(
        Message(
            conversation_id=other.conversation.id or 0,
            inbox_id=w.webchat.id or 0,
            kind=MessageKind.outgoing,
            content="answered elsewhere",
            external_id=key_for(other.message.id),
            automatic=True,
            delivery="pending",
        )
    )
    session.commit()
    assert turn(session, other) == "skipped"
    assert bot_replies(session, got.conversation.id) == [REFUND.answer["en"], "answered elsewhere"]


def test_asking_for_a_person_hands_over_with_the_exchange_as_the_brief(session: Session) -> None:
    w = build_world(session)
    enable_bot(session)
    first = writes(session, w, "I want a refund")
    assert turn(session, first) == "answered"
    ask = writes(session, w, "That does not help. Can I talk to a HUMAN?")
    assert turn(session, ask) == "handoff"

    session.expire_all()
    escalation = session.exec(select(Escalation)).one()
    assert escalation.trigger == "bot" and escalation.to_team_id == w.support.id
    assert escalation.kind == "hierarchical", "a bot handing over is hierarchical"
    assert escalation.brief["summary"] == "The customer asked for a person."
    assert escalation.brief["exchange"] == (
        "Customer: I want a refund\n"
        f"Bot: {REFUND.answer['en']}\n"
        "Customer: That does not help. Can I talk to a HUMAN?"
    )
    conversation = session.get(Conversation, first.conversation.id)
    assert conversation is not None
    assert conversation.team_id == w.support.id and conversation.escalation_id == escalation.id
    replies = bot_replies(session, first.conversation.id)
    assert replies[-1].startswith("I'm passing you to a colleague")
    # A person has it now: the bot keeps quiet, whatever the customer writes.
    later = writes(session, w, "refund refund refund")
    assert turn(session, later) == "skipped"
    assert len(bot_replies(session, first.conversation.id)) == 2


def test_a_person_is_asked_for_in_the_customers_own_words(session: Session) -> None:
    w = build_world(session)
    enable_bot(session)
    got = writes(session, w, "Соедините меня с человеком, пожалуйста", who="ivan", language="ru")
    assert turn(session, got) == "handoff"
    assert bot_replies(session, got.conversation.id) == [
        "Передаю вас коллеге. Пожалуйста, оставайтесь здесь: скоро вам ответит человек."
    ]
    assert session.exec(select(Escalation)).one().trigger == "bot"


def test_after_two_misses_the_bot_hands_over(session: Session) -> None:
    w = build_world(session)
    enable_bot(session)
    first = writes(session, w, "My parcel arrived broken")
    assert turn(session, first) == "missed"
    assert session.exec(select(Escalation)).first() is None
    second = writes(session, w, "The box was crushed, what now?")
    assert turn(session, second) == "handoff"

    escalation = session.exec(select(Escalation)).one()
    assert escalation.brief["summary"] == "The bot could not answer 2 times."
    exchange = escalation.brief["exchange"].splitlines()
    assert exchange[0] == "Customer: My parcel arrived broken"
    assert exchange[1].startswith("Bot: Sorry, I don't have an answer to that.")
    assert exchange[2] == "Customer: The box was crushed, what now?"
    assert len(exchange) == 3


def test_the_bot_keeps_out_of_conversations_a_person_has(session: Session) -> None:
    w = build_world(session)
    enable_bot(session)
    in_team = customer_writes(session, w.webchat, "refund", who="teamed", team=w.support)
    assert turn(session, in_team) == "skipped", "a tier 1 team has it"
    taken = writes(session, w, "hello", who="taken")
    do_assign(session=session, conversation=taken.conversation, assignee=w.admin, actor=w.admin)
    assert turn(session, writes(session, w, "refund", who="taken")) == "skipped"
    # A tier 0 team is the bot's own.
    self_service = do_create_team(session=session, name="Self-service", tier=0)
    session.commit()
    at_l0 = customer_writes(session, w.webchat, "refund", who="l0", team=self_service)
    assert turn(session, at_l0) == "answered"
    assert bot_replies(session, in_team.conversation.id) == []


def test_the_bot_is_off_unless_the_policy_turns_it_on(session: Session) -> None:
    w = build_world(session)
    got = writes(session, w, "refund please")
    assert turn(session, got) == "skipped"
    enable_bot(session, enabled=False)
    assert turn(session, got) == "skipped"
    assert bot_replies(session, got.conversation.id) == []


def test_messages_it_never_saw_are_found_again_after_a_restart(session: Session) -> None:
    w = build_world(session)
    enable_bot(session)
    got = writes(session, w, "refund please")
    assert recent_unanswered(session, utcnow()) == [got.message.id]
    turn(session, got)
    assert recent_unanswered(session, utcnow()) == []


def test_the_running_app_answers_in_the_widget_as_the_bot(
    app_client: TestClient, session: Session
) -> None:
    w = build_world(session)
    enable_bot(session)
    started = app_client.post(
        f"/widget/{w.webchat.widget_token}/conversations",
        json={"name": "Lena", "email": "lena@example.org", "content": "Hi there"},
    )
    assert started.status_code == 201, started.text
    visitor = started.json()["visitor_token"]
    url = f"/widget/ws?token={w.webchat.widget_token}&visitor={visitor}"
    with app_client.websocket_connect(url, headers=ORIGIN) as widget:
        assert widget.receive_json()["type"] == "hello"
        sent = app_client.post(
            f"/widget/{w.webchat.widget_token}/messages",
            json={"content": "How do I get a refund?"},
            headers={"x-visitor-token": visitor},
        )
        assert sent.status_code == 201
        # Frames until the refund answer; the greeting's turn may come before or after
        # the socket opened, so it is checked in the thread below.
        while True:
            frame = widget.receive_json()
            if frame["type"] == "message" and frame["data"]["content"] == REFUND.answer["en"]:
                break
    assert frame["data"]["author"] == "Bot" and frame["data"]["automatic"] is True
    messages = app_client.get(
        f"/widget/{w.webchat.widget_token}/messages", headers={"x-visitor-token": visitor}
    ).json()["messages"]
    # Each message got one turn, in order: a miss for the greeting, then the answer.
    assert [(m["author"], m["content"][:30]) for m in messages] == [
        ("You", "Hi there"),
        ("Bot", "Sorry, I don't have an answer "),
        ("You", "How do I get a refund?"),
        ("Bot", REFUND.answer["en"][:30]),
    ]
