"""inbox/rows.py writes past the unit of work; the session must not be able to tell."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import bindparam, event, inspect
from sqlalchemy.exc import IntegrityError, InvalidRequestError
from sqlmodel import Session, col

from inbox.db import Database
from inbox.models import Contact, Conversation, Message
from inbox.rows import (
    OnCursor,
    adopt,
    assign,
    held,
    insert_row,
    load_row,
    lookup,
    select_columns,
    write_changes,
)
from tests.factories import build_world, customer_writes


def test_an_inserted_row_is_persistent_clean_and_defaulted(session: Session) -> None:
    contact = insert_row(session, Contact, name="Ola Nordmann", email="ola@example.no")
    state = inspect(contact)
    assert state.persistent and not state.modified and contact in session
    assert contact.id is not None
    # The model's defaults, factories included, are on the object as in the row.
    assert contact.notes == "" and contact.customer_tier == "standard"
    assert contact.created_at is not None
    assert session.get(Contact, contact.id) is contact  # the identity map holds it
    session.commit()
    session.expire_all()
    again = session.get(Contact, contact.id)
    assert again is not None and again.email == "ola@example.no"
    assert again.created_at == contact.created_at


def test_a_required_field_left_out_is_refused(session: Session) -> None:
    with pytest.raises(TypeError, match=r"Message\.conversation_id is required"):
        insert_row(session, Message, kind="incoming", content="hello")


def test_written_changes_reach_the_database_and_leave_nothing_to_flush(
    session: Session, db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    w = build_world(session)
    conversation = customer_writes(session, w.webchat, "Where is my parcel?").conversation
    conversation.preview = "Changed"
    conversation.version += 1
    statements = _collect_all(db, monkeypatch)
    write_changes(session, conversation)
    assert len(statements) == 1 and statements[0].startswith("UPDATE conversation SET")
    assert "preview" in statements[0] and "subject" not in statements[0]
    assert not session.dirty and not inspect(conversation).modified
    session.commit()
    assert len(statements) == 1  # the commit's flush found nothing left
    with db.session() as other:
        stored = other.get(Conversation, conversation.id)
        assert stored is not None and stored.preview == "Changed"


def test_assigned_values_are_written_and_flushed_as_plain_assignments_are(
    session: Session, db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    w = build_world(session)
    conversation = customer_writes(session, w.webchat, "Where is my parcel?").conversation
    session.commit()
    assign(conversation, preview="Assigned", version=conversation.version + 1)
    assert conversation.preview == "Assigned"
    assert inspect(conversation).modified and conversation in session.dirty
    statements = _collect_all(db, monkeypatch)
    write_changes(session, conversation)
    assert len(statements) == 1 and "preview" in statements[0] and "subject" not in statements[0]
    # And without write_changes, the ORM's own flush sees the assignment.
    assign(conversation, subject="Parcel")
    session.commit()
    with db.session() as other:
        stored = other.get(Conversation, conversation.id)
        assert stored is not None
        assert (stored.preview, stored.subject) == ("Assigned", "Parcel")


def test_a_held_row_is_found_without_sql_and_another_is_read(
    session: Session, db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    w = build_world(session)
    conversation = customer_writes(session, w.webchat, "Hello").conversation
    session.commit()
    statements = _collect_all(db, monkeypatch)
    assert held(session, Conversation, conversation.id) is conversation
    assert held(session, Conversation, None) is None
    assert statements == []
    with db.session() as fresh:
        read = held(fresh, Conversation, conversation.id)
        assert read is not None and read.id == conversation.id and read is not conversation
        assert held(fresh, Conversation, -1) is None
    assert len(statements) == 2, "a row the session does not hold is read from the database"


def test_nothing_changed_sends_nothing(
    session: Session, db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    w = build_world(session)
    conversation = customer_writes(session, w.webchat, "Hi").conversation
    statements = _collect_all(db, monkeypatch)
    write_changes(session, conversation)
    assert statements == []


def _collect_all(db: Database, monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Every statement sent from now: through SQLAlchemy, and on the driver's own cursor."""
    statements: list[str] = []

    def before(_conn: Any, _cursor: Any, statement: str, *_rest: Any) -> None:
        statements.append(statement)

    event.listen(db.engine, "before_cursor_execute", before)
    run = OnCursor._run

    def spy(self: OnCursor, *args: Any, **kwargs: Any) -> Any:
        statements.append(str(self.statement.compile(dialect=db.engine.dialect)))
        return run(self, *args, **kwargs)

    monkeypatch.setattr(OnCursor, "_run", spy)
    return statements


def test_a_lookup_reads_what_the_orm_reads(session: Session, db: Database) -> None:
    w = build_world(session)
    conversation = customer_writes(session, w.webchat, "Where is my parcel?").conversation
    assert conversation.id is not None
    session.commit()
    reads = lookup(select_columns(Conversation).where(col(Conversation.id) == bindparam("id")))
    with db.session() as fresh:
        row = reads.first(fresh, {"id": conversation.id})
        assert row is not None
        loaded = load_row(fresh, Conversation, row)
        assert loaded is not None and inspect(loaded).persistent and not fresh.dirty
    with db.session() as other:
        through_orm = other.get(Conversation, conversation.id)
        assert through_orm is not None
        for column in Conversation.__table__.columns:  # type: ignore[attr-defined]
            # Same values, same types: datetimes, enums, JSON, as the ORM converts them.
            mine, theirs = getattr(loaded, column.key), getattr(through_orm, column.key)
            assert (mine, type(mine)) == (theirs, type(theirs)), column.key
    with db.session() as fresh:
        assert reads.first(fresh, {"id": -1}) is None


def test_a_loaded_row_the_session_holds_is_that_row(session: Session) -> None:
    w = build_world(session)
    conversation = customer_writes(session, w.webchat, "Hello").conversation
    conversation.preview = "not saved yet"
    reads = lookup(
        select_columns(Conversation, Message)
        .outerjoin(
            Message,
            (col(Message.conversation_id) == col(Conversation.id))
            & (col(Message.external_id) == "none"),
        )
        .where(col(Conversation.id) == bindparam("id"))
    )
    row = reads.first(session, {"id": conversation.id})
    assert row is not None
    assert load_row(session, Conversation, row) is conversation
    assert conversation.preview == "not saved yet", "what the session holds is not overwritten"
    after = len(Conversation.__table__.columns)  # type: ignore[attr-defined]
    assert load_row(session, Message, row, start=after) is None, "the outer join found none"


def test_a_refused_insert_raises_what_sqlalchemy_would(session: Session) -> None:
    # The domain catches IntegrityError to tell a concurrent duplicate from a real failure.
    w = build_world(session)
    message = customer_writes(session, w.webchat, "Hi", external_id="dup-1").message
    with pytest.raises(IntegrityError):
        insert_row(
            session,
            Message,
            conversation_id=message.conversation_id,
            inbox_id=message.inbox_id,
            kind="incoming",
            content="Hi again",
            external_id="dup-1",
        )
    session.rollback()


def test_an_inserted_row_lives_in_the_session_as_a_loaded_one(session: Session) -> None:
    # rows._attach registers the row as SQLAlchemy's loader does; everything the session does
    # with a loaded row works with it.
    contact = insert_row(session, Contact, name="Ivan Petrov")
    assert inspect(contact).session_id == session.hash_key
    contact.name = "Ivan P."
    assert contact in session.dirty
    session.flush()
    session.expire(contact)
    assert contact.name == "Ivan P.", "an expired row reads itself back"
    session.refresh(contact)
    session.delete(contact)
    session.flush()
    assert session.get(Contact, contact.id) is None
    session.rollback()


def test_a_committed_row_is_adopted_without_sql_as_merge_would(
    session: Session, db: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    w = build_world(session)
    conversation = customer_writes(session, w.webchat, "Where is my parcel?").conversation
    session.commit()
    statements = _collect_all(db, monkeypatch)
    with db.session() as other:
        adopted = adopt(other, conversation)
        assert adopted is not conversation and inspect(adopted).persistent
        assert not inspect(adopted).modified and adopted in other
        assert other.get(Conversation, conversation.id) is adopted
        assert adopt(other, conversation) is adopted, "a row the session holds is that row"
        for column in Conversation.__table__.columns:  # type: ignore[attr-defined]
            assert getattr(adopted, column.key) == getattr(conversation, column.key)
    assert statements == []
    conversation.preview = "changed, not saved"
    with db.session() as other, pytest.raises(InvalidRequestError):
        adopt(other, conversation)  # merge(load=False) refuses a dirty row; so does adopt
