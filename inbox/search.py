"""Full-text search over messages and contacts (docs/concepts/search.md).

SQLite uses FTS5 tables, filled in batches (search_index.py) and brought up to date before
each search; PostgreSQL uses GIN indexes on `to_tsvector('simple', ...)`. Both are created
by the migrations; both answer from an index.
"""

from __future__ import annotations

import re

from sqlalchemy import ColumnElement, Integer, column, or_, text
from sqlmodel import Session, col

from .models import Conversation
from .search_index import catch_up_for

_WORD = re.compile(r"[\w@.+\-]+", re.UNICODE)


def terms(query: str) -> list[str]:
    return [w for w in _WORD.findall(query) if w.strip(".-+@")][:8]


def _fts5_query(words: list[str]) -> str:
    # Each word quoted (so FTS syntax in user input is inert) and prefix-matched.
    return " ".join('"' + w.replace('"', '""') + '"*' for w in words)


def matching(session: Session, query: str) -> ColumnElement[bool] | None:
    """A WHERE clause on Conversation for conversations whose messages or contact match.

    For a query on the `conversation` table itself (the SQLite clause refers to it by name).
    """
    words = terms(query)
    if not words:
        return None
    ids = column("id", Integer)
    if session.get_bind().dialect.name == "sqlite":
        catch_up_for(session)  # what was just written is found, as it would be at once on PG
        q = _fts5_query(words)
        # Checked per conversation, newest first, against the matches collected once: a common
        # word fills the page after a few dozen conversations, where mapping every match to
        # its conversation first costs 1 µs a match (40 ms for "refund" in 300,000 messages).
        # `+m.id` keeps SQLite from looping over all the matches for every conversation.
        by_message = text(
            "EXISTS (SELECT 1 FROM message m WHERE m.conversation_id = conversation.id "
            "AND +m.id IN (SELECT rowid FROM message_fts WHERE message_fts MATCH :q))"
        ).bindparams(q=q)
        by_contact = text("SELECT rowid FROM contact_fts WHERE contact_fts MATCH :cq").bindparams(
            cq=q
        )
        return or_(by_message, col(Conversation.contact_id).in_(by_contact.columns(ids)))
    # Each word goes to PostgreSQL's own parser (so `order-123` and `ann@example.org` are
    # read as the documents were), with tsquery's operators taken out of user input.
    safe = [re.sub(r"[&|!():*<>'\\\s]", "", w) for w in words]
    q = " & ".join(w + ":*" for w in safe if re.search(r"\w", w))
    if not q:
        return None
    by_message = text(
        "SELECT m.conversation_id FROM message m WHERE "
        "to_tsvector('simple', m.content) @@ to_tsquery('simple', :q)"
    ).bindparams(q=q)
    by_contact = text(
        "SELECT c.id FROM contact c WHERE to_tsvector('simple', "
        "coalesce(c.name, '') || ' ' || coalesce(c.email, '')) @@ to_tsquery('simple', :cq)"
    ).bindparams(cq=q)
    return col(Conversation.id).in_(by_message.columns(ids)) | col(Conversation.contact_id).in_(
        by_contact.columns(ids)
    )
