"""Who is chatting in the widget (docs/channels/webchat.md): the inbox and the signed visitor token.

A visitor is a contact identity `visitor:<random id>` on one webchat inbox. The frame keeps a
token signed with the app's secret key, so the same person finds their conversation again on
the next page load; the token names the inbox, so it is worthless on any other site's widget.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Any

from itsdangerous import BadData, URLSafeTimedSerializer
from sqlmodel import Session, col, select

from inbox.errors import NotFound, Unauthorized
from inbox.models import ContactIdentity, Conversation, Inbox, Team
from web.i18n import gettext

SALT = "handoff-widget"
# A visitor who comes back within this time finds their conversation; each visit renews it.
TOKEN_MAX_AGE = 90 * 24 * 3600


@dataclass(frozen=True)
class Visitor:
    inbox_id: int
    identifier: str
    contact_id: int


def new_identifier() -> str:
    return "visitor:" + secrets.token_urlsafe(18)


def widget_inbox(session: Session, token: str) -> Inbox:
    """The webchat inbox whose widget token this is, or NotFound."""
    inbox = session.exec(
        select(Inbox).where(Inbox.widget_token == token, Inbox.channel == "webchat")
    ).first()
    if inbox is None or inbox.id is None:
        raise NotFound("No such chat widget")
    return inbox


def departments(session: Session, inbox: Inbox) -> list[Team]:
    """The teams offered in the pre-chat question, in the configured order."""
    wanted = [i for i in inbox.config.get("departments") or [] if isinstance(i, int)]
    if not wanted:
        return []
    found = {t.id: t for t in session.exec(select(Team).where(col(Team.id).in_(wanted))).all()}
    return [found[i] for i in wanted if i in found]


def _serializer(secret_key: str) -> URLSafeTimedSerializer:
    return URLSafeTimedSerializer(secret_key, salt=SALT)


def sign_visitor(secret_key: str, inbox_id: int, identifier: str) -> str:
    return _serializer(secret_key).dumps({"inbox_id": inbox_id, "identifier": identifier})


def _expired() -> Unauthorized:
    return Unauthorized(gettext("Your chat session has expired. Please start a new chat."))


def check_visitor(session: Session, secret_key: str, inbox: Inbox, token: str | None) -> Visitor:
    """The visitor a token names, on this inbox; Unauthorized for a forged, old or foreign one."""
    if not token:
        raise _expired()
    try:
        payload: Any = _serializer(secret_key).loads(token, max_age=TOKEN_MAX_AGE)
    except BadData as exc:
        raise _expired() from exc
    if not isinstance(payload, dict) or payload.get("inbox_id") != inbox.id:
        raise _expired()
    identifier = payload.get("identifier")
    if not isinstance(identifier, str) or not identifier.startswith("visitor:"):
        raise _expired()
    identity = session.exec(
        select(ContactIdentity).where(
            ContactIdentity.inbox_id == inbox.id, ContactIdentity.identifier == identifier
        )
    ).first()
    if identity is None or inbox.id is None:
        raise _expired()
    return Visitor(inbox.id, identifier, identity.contact_id)


def current_conversation(session: Session, visitor: Visitor) -> Conversation | None:
    """The visitor's latest conversation here: where their next message goes, too."""
    return session.exec(
        select(Conversation)
        .where(
            Conversation.contact_id == visitor.contact_id,
            Conversation.inbox_id == visitor.inbox_id,
        )
        .order_by(col(Conversation.id).desc())
    ).first()
