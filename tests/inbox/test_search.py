"""Search finds what agents type, punctuation included, on SQLite and PostgreSQL alike."""

from __future__ import annotations

from sqlmodel import Session

from inbox.access import scope_for
from inbox.queries import ConversationFilter, list_conversations
from tests.factories import build_world, customer_writes


def test_words_with_punctuation_and_addresses_are_found(session: Session) -> None:
    w = build_world(session)
    wanted = customer_writes(session, w.api, "Where is order-123?", who="ann", team=w.support)
    customer_writes(session, w.api, "Where is order 999?", who="ben", team=w.support)
    scope = scope_for(session, w.admin)

    def found(q: str) -> list[int | None]:
        page = list_conversations(session, scope, ConversationFilter(q=q, status="all"))
        return [c.id for c in page.items]

    assert found("order-123") == [wanted.conversation.id]
    assert found("ann@example.org") == [wanted.conversation.id]
    assert found("order") != [], "a prefix of a word matches"
    assert found("&|!():*") == found(""), "query syntax in the box is inert"
