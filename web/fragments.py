"""Renders the HTML fragment an event carries, once per event, before fan-out.

The domain publishes ids; agents' pages swap in a thread message or a list row by element id.
Rendering here (and not per connection) keeps fan-out to many browsers cheap.
"""

from __future__ import annotations

from jinja2_fragments.starlette import Jinja2Blocks
from sqlmodel import select

from inbox import queries
from inbox.db import Database
from inbox.events import Event
from inbox.models import Agent, Conversation, Message

from .templating import render_block


class FragmentRenderer:
    def __init__(self, db: Database, templates: Jinja2Blocks) -> None:
        self.db = db
        self.templates = templates

    def __call__(self, event: Event) -> None:
        if event.type == "message.created":
            self._message(event)
        elif event.type in ("conversation.created", "conversation.updated"):
            self._row(event)

    def _message(self, event: Event) -> None:
        with self.db.session() as session:
            message = session.get(Message, event.data["message_id"])
            if message is None:
                return
            senders = {}
            if message.sender_agent_id:
                senders = {
                    a.id: a
                    for a in session.exec(
                        select(Agent).where(Agent.id == message.sender_agent_id)
                    ).all()
                }
            event.html["message"] = render_block(
                self.templates, "inbox.html", "message", m=message, senders=senders
            )
            event.data["delivery"] = message.delivery

    def _row(self, event: Event) -> None:
        with self.db.session() as session:
            conversation = session.get(Conversation, event.data["conversation_id"])
            if conversation is None:
                return
            card = queries.cards(session, [conversation])[0]
            event.data.update(
                status=conversation.status,
                version=conversation.version,
                team_id=conversation.team_id,
                assignee_id=conversation.assignee_id,
            )
            event.html["row"] = render_block(self.templates, "inbox.html", "row", card=card)
