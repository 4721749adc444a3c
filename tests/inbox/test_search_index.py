"""SQLite's search index, filled in batches: nothing committed is missed or found stale.

The index lags the tables by design (inbox/search_index.py); these tests hold it to its
promise: search finds what was just written, an edit by its new words only, a deleted row
nowhere, a reused id at once, and the index agrees with its table word for word."""

from __future__ import annotations

import threading

import pytest
from sqlalchemy import Engine, text
from sqlmodel import Session

from inbox.access import scope_for
from inbox.db import Database
from inbox.delivery import do_edit_inbound
from inbox.models import Agent, Message
from inbox.queries import ConversationFilter, list_conversations
from inbox.search_index import INDEXED, SearchIndexer, catch_up
from tests.conftest import BACKEND
from tests.factories import build_world, customer_writes

pytestmark = pytest.mark.skipif(BACKEND != "sqlite", reason="SQLite's FTS5 index")


def _found(session: Session, agent: Agent, q: str) -> list[int | None]:
    page = list_conversations(
        session, scope_for(session, agent), ConversationFilter(q=q, status="all")
    )
    return [c.id for c in page.items]


def _mark(engine: Engine, table: str) -> int:
    with engine.connect() as conn:
        return int(
            conn.execute(
                text("SELECT indexed_to FROM fts_progress WHERE name = :t"), {"t": table}
            ).scalar_one()
        )


def _index_agrees(engine: Engine) -> None:
    """The index holds each row's words exactly once, and nothing else: its every word
    instance (fts5vocab reads the index itself) against a fresh index of the table's rows.
    (FTS5's 'integrity-check' does not compare an external-content index with its table.)"""
    raw = engine.raw_connection()
    try:
        cur = raw.cursor()
        for indexed in INDEXED:
            table, fts, columns = indexed.table, indexed.fts, indexed.columns
            cur.execute(
                f"CREATE VIRTUAL TABLE temp.fresh USING fts5({columns}, "
                "tokenize='unicode61 remove_diacritics 2')"
            )
            cur.execute(
                f"INSERT INTO temp.fresh(rowid, {columns}) SELECT id, {columns} FROM {table}"
            )
            cur.execute(f"CREATE VIRTUAL TABLE temp.kept USING fts5vocab(main, {fts}, instance)")
            cur.execute("CREATE VIRTUAL TABLE temp.want USING fts5vocab(temp, fresh, instance)")
            each = "SELECT term, doc, col, offset, count(*) FROM {} GROUP BY 1, 2, 3, 4"
            extra = cur.execute(f"{each.format('kept')} EXCEPT {each.format('want')}").fetchall()
            missing = cur.execute(f"{each.format('want')} EXCEPT {each.format('kept')}").fetchall()
            assert (extra, missing) == ([], []), f"{fts} differs from {table}"
            for name in ("kept", "want", "fresh"):
                cur.execute(f"DROP TABLE temp.{name}")
        raw.commit()
    finally:
        raw.close()


def test_a_stored_message_waits_above_the_mark_and_search_finds_it(
    db: Database, session: Session
) -> None:
    w = build_world(session)
    before = _mark(db.engine, "message")
    written = customer_writes(session, w.api, "The kettle whistles off-key", who="kim")
    assert written.message.id is not None and written.message.id > before
    assert _mark(db.engine, "message") == before, "the message's commit indexed nothing"
    with db.engine.connect() as conn:
        waiting = conn.execute(
            text("SELECT rowid FROM message_fts WHERE message_fts MATCH 'kettle'")
        )
        assert list(waiting) == [], "not in the index before a catch-up"
    assert _found(session, w.admin, "kettle") == [written.conversation.id]
    assert _found(session, w.admin, "kim@example.org") == [written.conversation.id]
    assert _mark(db.engine, "message") >= written.message.id
    _index_agrees(db.engine)


def test_edits_and_deletions_on_both_sides_of_the_mark(db: Database, session: Session) -> None:
    w = build_world(session)
    indexed = customer_writes(session, w.api, "alpha words", who="a", external_id="m-1")
    catch_up(db.engine)
    waiting = customer_writes(session, w.api, "bravo words", who="b", external_id="m-2")
    assert w.api.id is not None
    # One edit below the mark (the trigger moves the words), one above (catch-up reads the new).
    assert do_edit_inbound(session=session, inbox_id=w.api.id, external_id="m-1", content="charlie")
    assert do_edit_inbound(session=session, inbox_id=w.api.id, external_id="m-2", content="delta")
    session.commit()
    assert _found(session, w.admin, "alpha") == []
    assert _found(session, w.admin, "bravo") == []
    assert _found(session, w.admin, "charlie") == [indexed.conversation.id]
    assert _found(session, w.admin, "delta") == [waiting.conversation.id]
    _index_agrees(db.engine)
    # A deletion of an indexed row takes its words out of the index; one of a row still
    # waiting leaves the index alone.
    session.delete(session.get(Message, waiting.message.id))
    unindexed = customer_writes(session, w.api, "lima", who="l")
    session.delete(session.get(Message, unindexed.message.id))
    session.commit()
    assert _found(session, w.admin, "delta") == []
    assert _found(session, w.admin, "lima") == []
    _index_agrees(db.engine)


def test_a_reused_id_is_indexed_at_once(db: Database, session: Session) -> None:
    """SQLite hands the highest id out again once its row is gone: that row lands at or below
    the mark, where catch-up no longer looks, so its insert indexes it."""
    w = build_world(session)
    first = customer_writes(session, w.api, "echo", who="e")
    newest = customer_writes(session, w.api, "foxtrot", who="f")
    catch_up(db.engine)
    session.delete(session.get(Message, newest.message.id))
    session.commit()
    again = customer_writes(session, w.api, "golf", who="g")
    assert again.message.id == newest.message.id, "the id was reused"
    assert again.message.id is not None and again.message.id <= _mark(db.engine, "message")
    assert _found(session, w.admin, "golf") == [again.conversation.id]
    assert _found(session, w.admin, "foxtrot") == []
    assert _found(session, w.admin, "echo") == [first.conversation.id]
    _index_agrees(db.engine)


def test_a_session_that_has_written_finds_its_own_rows(db: Database, session: Session) -> None:
    """It holds the write lock: the catch-up runs in its transaction, not waiting on it."""
    w = build_world(session)
    customer_writes(session, w.api, "hotel", who="h")
    conversation_id = customer_writes(session, w.api, "x", who="i").conversation.id
    assert conversation_id is not None and w.api.id is not None
    session.add(
        Message(
            conversation_id=conversation_id,
            inbox_id=w.api.id,
            kind="note",
            content="india uncommitted",
        )
    )  # not flushed: the search flushes it before it indexes
    assert len(_found(session, w.admin, "india")) == 1
    session.rollback()  # the index's additions go with the rows
    assert _found(session, w.admin, "india") == []
    _index_agrees(db.engine)


def test_the_app_thread_keeps_the_index_up_without_a_search(db: Database, session: Session) -> None:
    w = build_world(session)
    written = customer_writes(session, w.api, "juliet", who="j")
    assert written.message.id is not None
    indexer = SearchIndexer(db.engine, every=0.01)
    caught_up = threading.Event()
    indexer.start()
    try:
        for _ in range(500):
            if _mark(db.engine, "message") >= written.message.id:
                caught_up.set()
                break
            threading.Event().wait(0.01)
    finally:
        indexer.stop()
    assert caught_up.is_set()
    assert not any(t.name == "search-index" for t in threading.enumerate())
    _index_agrees(db.engine)


def test_catch_up_works_in_batches(
    db: Database, session: Session, monkeypatch: pytest.MonkeyPatch
) -> None:
    import inbox.search_index as search_index

    monkeypatch.setattr(search_index, "BATCH", 2)
    batch = search_index._batch
    limits: list[int | None] = []

    def counted(cursor: object, indexed: search_index.Indexed, limit: int | None) -> None:
        if indexed.table == "message":
            limits.append(limit)
        batch(cursor, indexed, limit)

    monkeypatch.setattr(search_index, "_batch", counted)
    w = build_world(session)
    written = [customer_writes(session, w.api, f"kilo {n}", who=f"k{n}") for n in range(5)]
    catch_up(db.engine)
    assert len(limits) >= 3 and set(limits) == {2}, "five messages, two a transaction"
    assert _mark(db.engine, "message") == written[-1].message.id
    assert len(_found(session, w.admin, "kilo")) == 5
    _index_agrees(db.engine)


def test_migration_0011_goes_down_and_up_with_rows_waiting(db: Database, session: Session) -> None:
    from alembic import command

    from inbox.migrate import alembic_config

    w = build_world(session)
    waiting = customer_writes(session, w.api, "mike", who="m")
    session.close()
    config = alembic_config()
    with db.engine.begin() as connection:
        config.attributes["connection"] = connection
        command.downgrade(config, "0010")  # indexes what waits, brings back the old triggers
    with db.engine.connect() as conn:
        ids = conn.execute(text("SELECT rowid FROM message_fts WHERE message_fts MATCH 'mike'"))
        assert list(ids.scalars()) == [waiting.message.id]
    with db.engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "head")
    assert _mark(db.engine, "message") == waiting.message.id
    _index_agrees(db.engine)
