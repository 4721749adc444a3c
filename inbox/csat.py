"""CSAT after every resolution (docs/concepts/csat.md).

Each time a conversation is resolved, the first time and after every reopen, the customer is
asked for a rating from 1 to 5 and a comment. The question leaves through the conversation's
own channel as an automatic message carrying the link to a small public survey page,
`/csat/{token}`, which any channel can carry; the chat widget also shows it inline. Each
answer belongs to one resolution of one conversation and remembers whether the conversation
had been escalated; a low rating opens a review for the escalation manager (inbox/rules.py).
"""

from __future__ import annotations

import logging
import secrets
from datetime import datetime, timedelta

from sqlmodel import Session, col, select

from .access import audience_of
from .audit import record
from .clock import as_utc, utcnow
from .conversation_writes import _activity
from .customer_updates import render
from .db import queue_event
from .errors import Conflict, InvalidInput, NotFound
from .events import message_created
from .links import public_link
from .models import (
    Agent,
    Contact,
    Conversation,
    CsatResponse,
    CustomerUpdate,
    Delivery,
    Escalation,
    Message,
    MessageKind,
    Status,
    Team,
)
from .outbox import enqueue
from .policy_store import current_policy

log = logging.getLogger("handoff.csat")

RATINGS = range(1, 6)
MAX_COMMENT = 2_000
# A survey takes a first answer this long after it was sent (the time an email customer may
# take to get round to it), and a changed answer this long after the first one.
OPEN_FOR = timedelta(days=28)
CHANGE_WITHIN = timedelta(days=7)
SURVEY_KIND = "csat"
FALLBACK_LANGUAGE = "en"

# The question, when the policy has no `customer_updates.templates.csat` text of its own.
DEFAULT_QUESTION: dict[str, str] = {
    "en": "We have marked your request as resolved. How did we do? "
    "Rate us from 1 to 5 here: {link}",
    "de": "Wir haben Ihr Anliegen als gelöst markiert. Wie zufrieden waren Sie? "
    "Bewerten Sie uns von 1 bis 5: {link}",
    "fr": "Nous avons marqué votre demande comme résolue. Qu'en avez-vous pensé ? "
    "Notez-nous de 1 à 5 ici : {link}",
    "es": "Hemos marcado su consulta como resuelta. ¿Qué tal lo hicimos? "
    "Valórenos del 1 al 5 aquí: {link}",
    "pl": "Oznaczyliśmy Twoją sprawę jako rozwiązaną. Jak nam poszło? "
    "Oceń nas w skali od 1 do 5: {link}",
    "bg": "Отбелязахме запитването ви като решено. Как се справихме? "
    "Оценете ни от 1 до 5 тук: {link}",
    "ru": "Мы отметили ваше обращение как решённое. Как мы справились? "
    "Оцените нас от 1 до 5: {link}",
    "nb": "Vi har markert saken din som løst. Hvordan gjorde vi det? "
    "Gi oss en karakter fra 1 til 5 her: {link}",
    "ar": "لقد وضعنا علامة على طلبك بأنه تم حله. كيف كان أداؤنا؟ قيّمنا من 1 إلى 5 هنا: {link}",
}


def survey_path(token: str) -> str:
    return f"/csat/{token}"


def customer_languages(contact: Contact | None) -> list[str]:
    """Most wanted first: the contact's language, its primary part, then English."""
    wanted: list[str] = []
    if contact and contact.language and contact.language.strip():
        tag = contact.language.strip().replace("-", "_").lower()
        wanted += [tag, tag.split("_")[0]]
    return [*dict.fromkeys(wanted), FALLBACK_LANGUAGE]


def in_language(texts: dict[str, str], languages: list[str]) -> str | None:
    """The text in the first language of `languages` that `texts` has, else its first text."""
    by_code = {code.replace("-", "_").lower(): text for code, text in texts.items() if text}
    for code in languages:
        if code in by_code:
            return by_code[code]
    return next(iter(by_code.values()), None)


def on_change(session: Session, conversation: Conversation, change: str, now: datetime) -> None:
    """The lifecycle hook: every resolution asks for a rating, in the same transaction."""
    if change == "status" and conversation.status == Status.resolved:
        request_rating(session, conversation, now)


def request_rating(session: Session, conversation: Conversation, now: datetime) -> CsatResponse:
    """A new survey for this resolution, and the question sent through the conversation's
    channel. Not throttled like status updates: it answers the resolution itself."""
    assert conversation.id is not None
    escalated = (
        session.exec(
            select(Escalation.id).where(Escalation.conversation_id == conversation.id)
        ).first()
        is not None
    )
    survey = CsatResponse(
        conversation_id=conversation.id,
        token=secrets.token_urlsafe(24),
        escalated=escalated,
        requested_at=now,
    )
    session.add(survey)
    contact = session.get(Contact, conversation.contact_id)
    policy = current_policy(session)
    languages = customer_languages(contact)
    template = in_language(
        policy.customer_updates.templates.get(SURVEY_KIND) or {}, languages
    ) or in_language(DEFAULT_QUESTION, languages)
    assert template is not None
    link = public_link(survey_path(survey.token))
    content = render(template, _placeholders(session, conversation, contact, link)).strip()
    if link not in content:
        # A company text that forgot {link} would ask a question nobody can answer.
        content = f"{content}\n{link}"
    message = Message(
        conversation_id=conversation.id,
        inbox_id=conversation.inbox_id,
        kind=MessageKind.outgoing,
        content=content,
        delivery=Delivery.pending,
        automatic=True,
        created_at=now,
    )
    session.add(message)
    session.flush()
    assert message.id is not None
    enqueue(session, message, now)
    # Recorded like a status update, so the widget knows this message asks for a rating and
    # status updates keep their distance from it.
    session.add(
        CustomerUpdate(
            conversation_id=conversation.id, kind=SURVEY_KIND, message_id=message.id, sent_at=now
        )
    )
    record(
        session,
        "csat.requested",
        actor_kind="system",
        conversation_id=conversation.id,
        details={"message_id": message.id, "escalated": escalated},
    )
    queue_event(
        session,
        message_created(
            message_id=message.id,
            conversation_id=conversation.id,
            kind=message.kind,
            audience=audience_of(conversation, customer=True),
        ),
    )
    return survey


def _placeholders(
    session: Session, conversation: Conversation, contact: Contact | None, link: str
) -> dict[str, str]:
    team = session.get(Team, conversation.team_id) if conversation.team_id else None
    agent = session.get(Agent, conversation.assignee_id) if conversation.assignee_id else None
    return {
        "link": link,
        "conversation_id": str(conversation.id),
        "contact": contact.name if contact else "",
        "team": team.name if team else "",
        # First names only, as the widget signs replies.
        "agent": agent.name.split()[0] if agent and agent.name.split() else "",
    }


def survey_by_token(session: Session, token: str) -> CsatResponse:
    found = (
        session.exec(select(CsatResponse).where(CsatResponse.token == token)).first()
        if 0 < len(token) <= 64
        else None
    )
    if found is None:
        raise NotFound("No such survey")
    return found


def latest_survey(session: Session, conversation_id: int) -> CsatResponse | None:
    return session.exec(
        select(CsatResponse)
        .where(CsatResponse.conversation_id == conversation_id)
        .order_by(col(CsatResponse.id).desc())
    ).first()


def survey_message_ids(session: Session, message_ids: list[int]) -> set[int]:
    """Which of these messages are the rating question."""
    if not message_ids:
        return set()
    rows = session.exec(
        select(CustomerUpdate.message_id).where(
            CustomerUpdate.kind == SURVEY_KIND, col(CustomerUpdate.message_id).in_(message_ids)
        )
    ).all()
    return {i for i in rows if i is not None}


def can_answer(survey: CsatResponse, now: datetime) -> bool:
    if survey.answered_at is None:
        return now - as_utc(survey.requested_at) <= OPEN_FOR
    return now - as_utc(survey.answered_at) <= CHANGE_WITHIN


def check_rating(raw: object) -> int:
    text = str(raw).strip() if isinstance(raw, str | int) and not isinstance(raw, bool) else ""
    if not text.isdigit() or int(text) not in RATINGS:
        raise InvalidInput("Please choose a rating from 1 to 5.", {"field": "rating"})
    return int(text)


def check_comment(raw: object) -> str:
    comment = raw.strip() if isinstance(raw, str) else ""
    if len(comment) > MAX_COMMENT:
        raise InvalidInput(
            f"Your comment is too long: {MAX_COMMENT:,} characters at most.",
            {"field": "comment"},
        )
    return comment


def do_answer_survey(
    *,
    session: Session,
    survey: CsatResponse,
    rating: object,
    comment: object = "",
    now: datetime | None = None,
) -> CsatResponse:
    """Store the customer's rating and comment, and commit. A second answer within
    CHANGE_WITHIN of the first replaces it; later, or once the survey closed, Conflict."""
    now = now or utcnow()
    score, text = check_rating(rating), check_comment(comment)
    if not can_answer(survey, now):
        raise Conflict(
            "This survey has closed. Thank you for your time."
            if survey.answered_at is None
            else "Thank you, we already have your answer.",
            {"rating": survey.rating},
        )
    conversation = session.get(Conversation, survey.conversation_id)
    assert conversation is not None and conversation.id is not None
    previous = survey.rating
    survey.rating, survey.comment = score, text
    survey.answered_at = survey.answered_at or now
    session.add(survey)
    _rating_line(session, conversation, score, text, changed=previous is not None, now=now)
    record(
        session,
        "csat.answered",
        actor_kind="customer",
        conversation_id=conversation.id,
        details={"csat_id": survey.id, "rating": score, "previous": previous},
    )
    session.commit()
    if score < current_policy(session).rules.csat_review_below:
        # Once per survey: the rules module ignores a survey it already opened a review for.
        _open_review(session, survey, now)
    return survey


def _rating_line(
    session: Session,
    conversation: Conversation,
    rating: int,
    comment: str,
    *,
    changed: bool,
    now: datetime,
) -> None:
    """A line in the thread for agents; the customer's own words stay quoted, never markup."""
    assert conversation.id is not None
    verb = "changed their rating to" if changed else "rated this conversation"
    text = f"The customer {verb} {rating}/5" + (f': "{comment}"' if comment else "")
    _activity(session, conversation, text, now)


def _open_review(session: Session, survey: CsatResponse, now: datetime) -> None:
    """A low rating: the counter rules open a review for the escalation manager."""
    from . import rules

    rules.do_csat_review(session=session, csat_response=survey, now=now)
