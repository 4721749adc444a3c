"""Renders the HTML fragments an event carries, once per event and UI language, before fan-out.

The domain publishes ids; agents' pages swap in a thread message or a list row by element id.
Rendering here (and not per connection) keeps fan-out to many browsers cheap; rendering once
per language in use keeps every agent's page in their own language.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from jinja2_fragments.starlette import Jinja2Blocks
from sqlmodel import Session

from inbox import queries
from inbox.db import Database
from inbox.events import Event
from inbox.models import Agent, Conversation, Message
from inbox.rows import adopt

from .i18n import DEFAULT_LOCALE, current_locale
from .templating import render_block


class FragmentRenderer:
    def __init__(
        self, db: Database, templates: Jinja2Blocks, locales: Callable[[], Iterable[str]]
    ) -> None:
        self.db = db
        self.templates = templates
        self.locales = locales

    def __call__(self, event: Event) -> None:
        if event.type == "message.created":
            block, context = self._message(event)
        elif event.type in ("conversation.created", "conversation.updated"):
            block, context = self._row(event)
        else:
            return
        if block is None:
            return
        for locale in set(self.locales()) | {DEFAULT_LOCALE}:
            token = current_locale.set(locale)
            try:
                event.html[locale] = {
                    block: render_block(self.templates, "inbox.html", block, **context)
                }
            finally:
                current_locale.reset(token)

    def _session(self, event: Event) -> Session:
        """A session that already holds the rows the publishing transaction committed, so
        rendering reads back only what it was not given."""
        session = self.db.open_session()
        # The identity map holds clean rows weakly: keep them for the session's life.
        session.info["given"] = [adopt(session, row) for row in event.loaded]
        return session

    def _message(self, event: Event) -> tuple[str | None, dict[str, Any]]:
        given = next((row for row in event.loaded if isinstance(row, Message)), None)
        if given is not None and given.sender_agent_id is None:
            # A customer's message, as its transaction wrote it, is all the block shows: no
            # session to open and no rows to merge on the path every inbound message takes.
            event.data["delivery"] = given.delivery
            return "message", {"m": given, "senders": {}}
        with self._session(event) as session:
            message = session.get(Message, event.data["message_id"])
            if message is None:
                return None, {}
            sender = (
                session.get(Agent, message.sender_agent_id) if message.sender_agent_id else None
            )
            senders = {sender.id: sender} if sender is not None else {}
            event.data["delivery"] = message.delivery
            return "message", {"m": message, "senders": senders}

    def _row(self, event: Event) -> tuple[str | None, dict[str, Any]]:
        with self._session(event) as session:
            conversation = session.get(Conversation, event.data["conversation_id"])
            if conversation is None:
                return None, {}
            card = queries.cards(session, [conversation])[0]
            event.data.update(
                status=conversation.status,
                version=conversation.version,
                team_id=conversation.team_id,
                assignee_id=conversation.assignee_id,
            )
            return "row", {"card": card}
