"""The L0 bot (docs/concepts/bot.md): canned answers by keyword, then a person.

While nobody has taken a conversation, the bot reads each customer message once it is
committed and answers from the policy's canned answers, in the customer's language. When the
customer asks for a person, or the bot has missed `misses_before_handoff` times, it hands
over: a hierarchical escalation (trigger "bot") whose brief carries the whole exchange, so
the customer never repeats themselves.

Each message gets at most one turn: the bot's reply carries `external_id` "bot:<message id>",
unique per inbox, so a replayed event, a restart or a second worker never answers twice.
"""

from __future__ import annotations

import asyncio
import logging
import re
import unicodedata
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy.exc import IntegrityError
from sqlmodel import Session, col, select

from .access import audience_of
from .audit import record
from .clock import utcnow
from .conversation_writes import _activity
from .csat import customer_languages, in_language
from .db import Database, queue_event
from .errors import HandoffError
from .escalation import do_escalate
from .events import Event, conversation_changed, message_created
from .models import (
    AuditEntry,
    Contact,
    Conversation,
    Delivery,
    Escalation,
    Message,
    MessageKind,
    Status,
    Team,
)
from .outbox import enqueue
from .policy import Bot, CannedAnswer, Policy
from .policy_store import current_policy

log = logging.getLogger("handoff.bot")

KEY_PREFIX = "bot:"
# After a restart, messages younger than this that the bot never saw still get their turn.
CATCH_UP = timedelta(minutes=10)
# The brief's transcript: the latest lines of the exchange, each cut to a readable length.
TRANSCRIPT_LINES = 30
LINE_CHARS = 500
# Scripts written without spaces between words: a keyword matches anywhere in the text.
_UNSPACED = ("CJK", "HIRAGANA", "KATAKANA", "HANGUL", "THAI", "LAO", "KHMER", "MYANMAR")

# What the bot says itself, when the policy's customer_updates.templates has no
# `bot_missed` / `bot_handoff` text of its own.
DEFAULT_TEXTS: dict[str, dict[str, str]] = {
    "bot_missed": {
        "en": "Sorry, I don't have an answer to that. Could you put it another way? "
        "You can also ask for a person at any time.",
        "de": "Darauf habe ich leider keine Antwort. Können Sie es anders formulieren? "
        "Sie können auch jederzeit nach einem Menschen fragen.",
        "fr": "Désolé, je n'ai pas de réponse à cela. Pouvez-vous reformuler ? "
        "Vous pouvez aussi demander à parler à une personne à tout moment.",
        "es": "Lo siento, no tengo respuesta para eso. ¿Puede decirlo de otra manera? "
        "También puede pedir hablar con una persona en cualquier momento.",
        "pl": "Niestety nie znam odpowiedzi. Czy możesz to ująć inaczej? "
        "W każdej chwili możesz też poprosić o rozmowę z człowiekiem.",
        "bg": "Съжалявам, нямам отговор на това. Можете ли да го кажете по друг начин? "
        "Можете също по всяко време да поискате да говорите с човек.",
        "ru": "К сожалению, у меня нет ответа на этот вопрос. Можете сформулировать иначе? "
        "Вы также можете в любой момент попросить соединить вас с человеком.",
        "nb": "Beklager, det har jeg ikke noe svar på. Kan du si det på en annen måte? "
        "Du kan også når som helst be om å få snakke med et menneske.",
        "ar": "عذرًا، ليس لدي إجابة على ذلك. هل يمكنك صياغته بطريقة أخرى؟ "
        "يمكنك أيضًا طلب التحدث إلى شخص في أي وقت.",
    },
    "bot_handoff": {
        "en": "I'm passing you to a colleague. Please stay here: a person will reply shortly.",
        "de": "Ich verbinde Sie mit einem Kollegen. Bleiben Sie bitte hier: "
        "Ein Mensch antwortet Ihnen in Kürze.",
        "fr": "Je vous transfère à un collègue. Restez ici : une personne vous répondra sous peu.",
        "es": "Le paso con un compañero. Quédese aquí: una persona le responderá en breve.",
        "pl": "Przekazuję Cię koledze z zespołu. Zostań tutaj: wkrótce odpowie Ci człowiek.",
        "bg": "Прехвърлям ви на колега. Моля, останете тук: човек ще ви отговори скоро.",
        "ru": "Передаю вас коллеге. Пожалуйста, оставайтесь здесь: скоро вам ответит человек.",
        "nb": "Jeg setter deg over til en kollega. Bli her, så svarer et menneske deg snart.",
        "ar": "سأحوّلك إلى أحد زملائي. يُرجى البقاء هنا: سيرد عليك شخص قريبًا.",
    },
}


@dataclass
class Turn:
    """What the bot did with one message: answered, missed, handed over, or nothing."""

    outcome: str  # "answered" | "missed" | "handoff" | "skipped"
    reply: Message | None = None
    escalation: Escalation | None = None


def key_for(message_id: int) -> str:
    return f"{KEY_PREFIX}{message_id}"


def is_bot_message(message: Message) -> bool:
    return message.automatic and (message.external_id or "").startswith(KEY_PREFIX)


# Reading the customer's message


def normalize(text: str) -> str:
    """Compatibility forms folded, case folded (ß → ss, Σ → σ), runs of spaces as one."""
    return " ".join(unicodedata.normalize("NFKC", text).casefold().split())


def _unspaced(text: str) -> bool:
    return any(unicodedata.name(ch, "").startswith(_UNSPACED) for ch in text)


def mentions(text: str, keyword: str) -> bool:
    """Whether normalized `text` contains `keyword` as whole words. A keyword ending in `*`
    also matches words that start with it (refund* finds "refunded"); in scripts written
    without spaces (Chinese, Japanese, Thai...) it matches anywhere."""
    word = normalize(keyword)
    prefix = word.endswith("*")
    word = word.rstrip("*").strip()
    if not word:
        return False
    if _unspaced(word):
        return word in text
    pattern = r"(?<!\w)" + re.escape(word) + ("" if prefix else r"(?!\w)")
    return re.search(pattern, text) is not None


def best_answer(answers: list[CannedAnswer], text: str) -> CannedAnswer | None:
    """The canned answer with the most keywords in the text; the first listed on a tie."""
    seen = normalize(text)
    best, score = None, 0
    for answer in answers:
        hits = sum(1 for keyword in answer.keywords if mentions(seen, keyword))
        if hits > score:
            best, score = answer, hits
    return best


def asks_for_person(bot: Bot, text: str) -> bool:
    seen = normalize(text)
    return any(mentions(seen, phrase) for phrase in bot.handoff_phrases)


# Whose turn it is


def bots_turn(session: Session, conversation: Conversation) -> bool:
    """The bot answers while nobody has taken the conversation: no assignee, no agent reply,
    never escalated, and at tier 0 or without a team."""
    if conversation.assignee_id is not None or conversation.escalation_id is not None:
        return False
    if conversation.last_agent_message_at is not None or conversation.status == Status.resolved:
        return False
    if conversation.tier != 0 and conversation.team_id is not None:
        return False
    escalated = session.exec(
        select(Escalation.id).where(Escalation.conversation_id == conversation.id)
    ).first()
    return escalated is None


def _misses(session: Session, conversation_id: int) -> int:
    return len(
        session.exec(
            select(AuditEntry.id).where(
                AuditEntry.conversation_id == conversation_id, AuditEntry.action == "bot.missed"
            )
        ).all()
    )


def transcript(session: Session, conversation_id: int) -> str:
    """The exchange so far, as the receiving agent reads it in the brief."""
    messages = session.exec(
        select(Message)
        .where(
            Message.conversation_id == conversation_id,
            col(Message.kind).in_((MessageKind.incoming, MessageKind.outgoing)),
        )
        .order_by(col(Message.id))
    ).all()
    lines = []
    for m in messages:
        who = "Customer" if m.kind == MessageKind.incoming else "Bot" if is_bot_message(m) else ""
        if who:
            text = " ".join(m.content.split())
            cut = text if len(text) <= LINE_CHARS else text[: LINE_CHARS - 1] + "…"
            lines.append(f"{who}: {cut}")
    return "\n".join(lines[-TRANSCRIPT_LINES:])


# The turn


def do_bot_turn(*, session: Session, message_id: int, now: datetime | None = None) -> Turn:
    """Give the bot its turn on one committed customer message, and commit what it did.
    Idempotent: a message the bot already took a turn on gets nothing more."""
    now = now or utcnow()
    policy = current_policy(session)  # cached: a disabled bot costs no query at all
    if not policy.bot.enabled:
        return Turn("skipped")
    message = session.get(Message, message_id)
    if message is None or message.kind != MessageKind.incoming or message.auto_submitted:
        return Turn("skipped")  # an out-of-office or a bounce is never answered by a robot
    conversation = session.get(Conversation, message.conversation_id)
    if (
        conversation is None
        or conversation.id is None
        or _taken(session, message)
        or not bots_turn(session, conversation)
    ):
        return Turn("skipped")
    languages = customer_languages(session.get(Contact, conversation.contact_id))
    try:
        if asks_for_person(policy.bot, message.content):
            return _hand_over(session, policy, conversation, message, languages, now, asked=True)
        answer = best_answer(policy.bot.answers, message.content)
        if answer is not None:
            text = in_language(answer.answer, languages) or ""
            reply = _reply(session, conversation, message, text, now)
            record(
                session,
                "bot.answered",
                actor_kind="bot",
                conversation_id=conversation.id,
                details={"message_id": message_id, "keywords": answer.keywords},
            )
            session.commit()
            return Turn("answered", reply)
        if _misses(session, conversation.id) + 1 >= policy.bot.misses_before_handoff:
            return _hand_over(session, policy, conversation, message, languages, now, asked=False)
        reply = _reply(session, conversation, message, _text(policy, "bot_missed", languages), now)
        record(
            session,
            "bot.missed",
            actor_kind="bot",
            conversation_id=conversation.id,
            details={"message_id": message_id},
        )
        session.commit()
        return Turn("missed", reply)
    except IntegrityError:
        # Another worker took this turn between our check and our write.
        session.rollback()
        return Turn("skipped")


def _taken(session: Session, message: Message) -> bool:
    return (
        session.exec(
            select(Message.id).where(
                Message.inbox_id == message.inbox_id,
                Message.external_id == key_for(message.id or 0),
            )
        ).first()
        is not None
    )


def _text(policy: Policy, key: str, languages: list[str]) -> str:
    own = policy.customer_updates.templates.get(key) or {}
    text = in_language(own, languages) or in_language(DEFAULT_TEXTS[key], languages)
    assert text is not None
    return text


def _reply(
    session: Session, conversation: Conversation, message: Message, text: str, now: datetime
) -> Message:
    """The bot's answer, sent through the conversation's channel like an agent's reply (the
    dispatcher delivers it after the commit). It is not a human response: SLA clocks run on."""
    assert conversation.id is not None and message.id is not None
    reply = Message(
        conversation_id=conversation.id,
        inbox_id=conversation.inbox_id,
        kind=MessageKind.outgoing,
        content=text,
        external_id=key_for(message.id),
        delivery=Delivery.pending,
        automatic=True,
        created_at=now,
    )
    session.add(reply)
    # Flushed at once: the unique key refuses a second turn here, before anything else.
    session.flush()
    assert reply.id is not None
    enqueue(session, reply, now)
    conversation.preview = text[:300]
    conversation.last_activity_at = now
    conversation.version += 1
    session.add(conversation)
    queue_event(
        session,
        message_created(
            message_id=reply.id,
            conversation_id=conversation.id,
            kind=reply.kind,
            audience=audience_of(conversation, customer=True),
        ),
    )
    queue_event(
        session,
        conversation_changed(
            conversation_id=conversation.id, audience=audience_of(conversation), change="message"
        ),
    )
    return reply


def handoff_target(session: Session, policy: Policy, conversation: Conversation) -> Team | None:
    """Where a person takes over: the bot's `handoff_team`, else the policy's first L1 team.
    None means one tier up from where the conversation is (tier 0 to tier 1)."""
    names = [policy.bot.handoff_team] if policy.bot.handoff_team else []
    names += [team for tier in policy.tiers if tier.level == 1 for team in tier.teams]
    for name in names:
        team = session.exec(select(Team).where(Team.name == name)).first()
        if team is not None:
            return team
    return None


def _hand_over(
    session: Session,
    policy: Policy,
    conversation: Conversation,
    message: Message,
    languages: list[str],
    now: datetime,
    *,
    asked: bool,
) -> Turn:
    assert conversation.id is not None
    exchange = transcript(session, conversation.id)
    summary = (
        "The customer asked for a person."
        if asked
        else f"The bot could not answer {policy.bot.misses_before_handoff} times."
    )
    reply = _reply(session, conversation, message, _text(policy, "bot_handoff", languages), now)
    record(
        session,
        "bot.handoff",
        actor_kind="bot",
        conversation_id=conversation.id,
        details={"message_id": message.id, "asked": asked},
    )
    team = handoff_target(session, policy, conversation)
    try:
        escalation = do_escalate(
            session=session,
            conversation=conversation,
            actor=None,
            trigger="bot",
            brief={"summary": summary, "exchange": exchange},
            to_team=team,
            tier_up=0 if team is not None else 1,
            reason="Bot handoff: " + ("customer asked for a person" if asked else "no answer"),
            now=now,
        )
    except HandoffError as exc:
        # Nobody to escalate to: the customer still hears from us, and the conversation stays
        # in the Unassigned view, with a line saying why, for any agent to take.
        session.rollback()
        log.warning("bot handoff of conversation %s failed: %s", conversation.id, exc.message)
        conversation = session.get(Conversation, conversation.id) or conversation
        reply = _reply(session, conversation, message, _text(policy, "bot_handoff", languages), now)
        _note_failure(session, conversation, exc.message, now)
        session.commit()
        return Turn("handoff", reply)
    return Turn("handoff", reply, escalation)


def _note_failure(
    session: Session, conversation: Conversation, problem: str, now: datetime
) -> None:
    _activity(
        session,
        conversation,
        f"The bot could not hand over ({problem}): please take this conversation",
        now,
    )


# The runner, started with the app


def _is_incoming(event: Event) -> bool:
    return event.type == "message.created" and event.data.get("kind") == MessageKind.incoming


def recent_unanswered(session: Session, now: datetime) -> list[int]:
    """Customer messages of the last CATCH_UP the bot has taken no turn on (the process was
    down, or fell behind a burst)."""
    replied = select(Message.external_id).where(
        col(Message.external_id).startswith(KEY_PREFIX), Message.created_at >= now - CATCH_UP
    )
    rows = session.exec(
        select(Message.id)
        .join(Conversation, col(Conversation.id) == col(Message.conversation_id))
        .where(
            Message.kind == MessageKind.incoming,
            Message.created_at >= now - CATCH_UP,
            col(Conversation.assignee_id).is_(None),
            col(Conversation.escalation_id).is_(None),
        )
        .order_by(col(Message.id))
    ).all()
    taken = set(session.exec(replied).all())
    return [i for i in rows if i is not None and key_for(i) not in taken]


def _turns(db: Database, message_ids: list[int]) -> None:
    for message_id in message_ids:
        try:
            with db.session() as session:
                do_bot_turn(session=session, message_id=message_id)
        except Exception:  # one bad turn must not stop the bot
            log.exception("bot turn on message %s failed", message_id)


def _catch_up(db: Database) -> None:
    with db.session() as session:
        if not current_policy(session).bot.enabled:
            return
        ids = recent_unanswered(session, utcnow())
    _turns(db, ids)


async def run_bot(db: Database) -> None:
    """Take a turn on every committed customer message, as the bus announces them."""
    sub = db.bus.subscribe(_is_incoming)
    try:
        # Subscribed first, so nothing committed meanwhile is missed; turns are idempotent.
        _catch_up(db)
        while True:
            if sub.overflowed:
                while not sub.queue.empty():
                    sub.queue.get_nowait()
                sub.overflowed = False
                _catch_up(db)
                continue
            event = await sub.queue.get()
            # Agents' sockets woken by the same message send it before the bot thinks.
            await asyncio.sleep(0)
            _turns(db, [int(event.data["message_id"])])
            # Let the loop breathe between turns in a burst.
            await asyncio.sleep(0)
    finally:
        db.bus.unsubscribe(sub)
