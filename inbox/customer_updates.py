"""Keeping the customer informed (docs/concepts/escalation.md#what-the-customer-is-told).

Automatic status updates leave through the conversation's own channel exactly like an agent's
reply: an outgoing message, sent by the dispatcher after the commit (channels/dispatch.py), so
every channel added later carries them without changes here. The text comes only from the
policy's templates and a few whitelisted placeholders, never from notes or the brief, and the
customer is never sent two updates closer together than `customer_updates.min_gap_minutes`.
"""

from __future__ import annotations

import string
from datetime import UTC, datetime, timedelta

from babel.core import UnknownLocaleError
from babel.dates import format_date, format_time
from sqlmodel import Session, col, select

from .calendar import in_business_hours
from .clock import as_utc, utcnow
from .conversations import add_message
from .models import (
    Contact,
    Conversation,
    CustomerUpdate,
    Delivery,
    Escalation,
    Inbox,
    Message,
    MessageKind,
    Status,
    Team,
)
from .policy import Policy
from .policy_store import current_policy, default_policy

FALLBACK_LANGUAGE = "en"


def _languages(contact: Contact | None, inbox: Inbox | None) -> list[str]:
    """Most wanted first: the contact's language (pt_br, then pt), the inbox's, then en."""
    wanted: list[str] = []
    inbox_language = (inbox.config if inbox else {}).get("language")
    for code in (contact.language if contact else None, inbox_language):
        if isinstance(code, str) and code.strip():
            tag = code.strip().replace("-", "_").lower()
            wanted += [tag, tag.split("_")[0]]
    return [*dict.fromkeys(wanted), FALLBACK_LANGUAGE]


def template_for(policy: Policy, kind: str, languages: list[str]) -> tuple[str, str] | None:
    """(language, text) of the policy's template, the built-in one when the policy has none
    for this kind; in the first language it is written in."""
    written = policy.customer_updates.templates.get(kind) or (
        default_policy().customer_updates.templates.get(kind) or {}
    )
    texts = {code.replace("-", "_").lower(): text for code, text in written.items()}
    for code in languages:
        if texts.get(code):
            return code, texts[code]
    return next(iter(texts.items()), None)


def render(template: str, values: dict[str, str]) -> str:
    """Placeholders filled from `values` only (the policy allows nothing but plain names),
    `{{` and `}}` read as braces: never str.format, which could reach attributes."""
    out: list[str] = []
    for literal, name, _spec, _conversion in string.Formatter().parse(template):
        out.append(literal)
        if name is not None:
            out.append(values.get(name, ""))
    return "".join(out)


def eta(conversation: Conversation, policy: Policy, language: str, now: datetime) -> str:
    """When the customer will hear from us at the latest: the resolution target when the SLA
    set one, else the next periodic update."""
    due = conversation.resolution_due_at
    if due is None or as_utc(due) <= now:
        due = now + timedelta(minutes=policy.customer_updates.cadence_minutes)
    return _when(as_utc(due).astimezone(UTC), language)


def _when(at: datetime, language: str) -> str:
    """A date and time in the customer's language, in UTC: we do not know their time zone."""
    try:
        day = format_date(at, "medium", locale=language)
        clock = format_time(at, "short", tzinfo=UTC, locale=language)
    except (ValueError, UnknownLocaleError):
        return _when(at, FALLBACK_LANGUAGE) if language != FALLBACK_LANGUAGE else at.isoformat()
    return f"{day}, {clock} UTC"


def last_update_at(session: Session, conversation_id: int) -> datetime | None:
    return session.exec(
        select(CustomerUpdate.sent_at)
        .where(CustomerUpdate.conversation_id == conversation_id)
        .order_by(col(CustomerUpdate.sent_at).desc())
    ).first()


def send_customer_update(
    session: Session,
    conversation: Conversation,
    kind: str,
    now: datetime,
    **placeholders: str,
) -> Message | None:
    """Within the caller's transaction: the update as an outgoing message, or None when it is
    throttled or the policy has no text for it (then nothing at all is recorded)."""
    assert conversation.id is not None
    policy = current_policy(session)
    last = last_update_at(session, conversation.id)
    gap = timedelta(minutes=policy.customer_updates.min_gap_minutes)
    if last is not None and now - as_utc(last) < gap:
        return None
    contact = session.get(Contact, conversation.contact_id)
    inbox = session.get(Inbox, conversation.inbox_id)
    found = template_for(policy, kind, _languages(contact, inbox))
    if found is None:
        return None
    language, template = found
    values = {
        "contact": contact.name if contact else "",
        "conversation_id": str(conversation.id),
        "eta": eta(conversation, policy, language, now),
        **placeholders,
    }
    content = render(template, values).strip()
    if not content:
        return None
    # Like a reply: the dispatcher sends it, the widget shows it.
    message = add_message(
        session,
        conversation,
        kind=MessageKind.outgoing,
        content=content,
        now=now,
        delivery=Delivery.pending,
        automatic=True,
    )
    assert message.id is not None
    session.add(
        CustomerUpdate(
            conversation_id=conversation.id, kind=kind, message_id=message.id, sent_at=now
        )
    )
    return message


def do_send_customer_update(
    *,
    session: Session,
    conversation: Conversation,
    kind: str,
    now: datetime | None = None,
    **placeholders: str,
) -> Message | None:
    """Send one status update (throttled) and commit."""
    message = send_customer_update(session, conversation, kind, now or utcnow(), **placeholders)
    session.commit()
    return message


def do_periodic_updates(*, session: Session, now: datetime | None = None) -> list[int]:
    """Tell every customer whose conversation is still escalated that work goes on, once per
    `cadence_minutes` since their last update, and (when the policy says so) only in business
    hours. Returns the ids of the messages sent; commits."""
    now = now or utcnow()
    policy = current_policy(session)
    settings = policy.customer_updates
    if settings.business_hours_only:
        calendar = policy.calendar(settings.calendar) or next(iter(policy.calendars), None)
        if calendar is not None and not in_business_hours(calendar, now):
            return []
    cadence = timedelta(minutes=settings.cadence_minutes)
    rows = session.exec(
        select(Conversation, Escalation)
        .join(Escalation, col(Escalation.id) == col(Conversation.escalation_id))
        .where(col(Conversation.status).in_((Status.open, Status.pending)))
        .order_by(col(Conversation.id))
    ).all()
    sent: list[int] = []
    for conversation, escalation in rows:
        assert conversation.id is not None
        since = last_update_at(session, conversation.id) or escalation.created_at
        if now - as_utc(since) < cadence:
            continue
        team = session.get(Team, escalation.to_team_id) if escalation.to_team_id else None
        message = send_customer_update(
            session, conversation, "periodic", now, team=team.name if team else ""
        )
        if message is not None and message.id is not None:
            sent.append(message.id)
    session.commit()
    return sent
