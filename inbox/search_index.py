"""SQLite's full-text index brought up to date in batches, not inside every message's commit.

FTS5 writes a new index segment for each transaction that adds to it, and merges segments
as they pile up: indexing one message in its own commit cost about 120 µs on a 2-core
machine, a sixth of a customer message's whole cost; indexing 200 in one transaction costs
6 µs each (docs/performance.md). So a new row waits above a mark, `fts_progress.indexed_to`,
for `catch_up`, which indexes what is above the mark and moves it. Search calls it before it
reads the index, so what was committed is found at once; `SearchIndexer`, a thread in the
app, calls it ten times a second, so search seldom has more than a handful to do.

What the triggers of migration 0011 keep true: every row at or below the mark is in the
index, none above it is. A new row normally takes the next id, above the mark, and waits;
one at or below it (SQLite reuses the highest id once its row is deleted) is indexed at
once; an edit or a deletion touches the index only for a row in it. PostgreSQL's GIN indexes
are kept by PostgreSQL itself; there is nothing to catch up.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import Engine
from sqlmodel import Session

from .periodic import Periodic

# Rows indexed per transaction: enough to cost little a row (10 µs each at 50, 6 at 200),
# few enough that the write lock is held a few milliseconds: a message that meets it waits
# in SQLite's busy handler, which sleeps 1, 2, 5, 10 ms and more between its tries.
BATCH = 500
# Often, so that a tick's batch stays small under a heavy write load (SLA stages firing by
# the thousand); a tick with nothing waiting is two reads and takes no lock.
EVERY_SECONDS = 0.1


@dataclass(frozen=True)
class Indexed:
    table: str
    fts: str
    columns: str  # the indexed columns, in the FTS table's order


INDEXED = (
    Indexed("message", "message_fts", "content"),
    Indexed("contact", "contact_fts", "name, email"),
)


def _batch(cursor: Any, indexed: Indexed, limit: int | None) -> None:
    """Index up to `limit` rows above the mark (all with None) and move it, in the caller's
    write transaction."""
    (mark,) = cursor.execute(
        "SELECT indexed_to FROM fts_progress WHERE name = ?", (indexed.table,)
    ).fetchone()
    (newest,) = cursor.execute(f"SELECT coalesce(max(id), 0) FROM {indexed.table}").fetchone()
    mark, newest = int(mark), int(newest)
    top = newest if limit is None else min(newest, mark + limit)
    if top <= mark:
        return
    cursor.execute(
        f"INSERT INTO {indexed.fts}(rowid, {indexed.columns}) "
        f"SELECT id, {indexed.columns} FROM {indexed.table} WHERE id > ? AND id <= ?",
        (mark, top),
    )
    cursor.execute("UPDATE fts_progress SET indexed_to = ? WHERE name = ?", (top, indexed.table))


def _waiting(cursor: Any) -> bool:
    """Whether any table has rows above its mark: plain reads, no lock taken (the thread asks
    ten times a second, and a write lock held for nothing would make a message wait)."""
    return any(
        cursor.execute(
            f"SELECT (SELECT coalesce(max(id), 0) FROM {indexed.table}) > "
            "(SELECT indexed_to FROM fts_progress WHERE name = ?)",
            (indexed.table,),
        ).fetchone()[0]
        for indexed in INDEXED
    )


def catch_up(engine: Engine) -> None:
    """Index every row above the marks, `BATCH` rows a transaction of its own (SQLite only)."""
    if engine.dialect.name != "sqlite":
        return
    raw = engine.raw_connection()
    try:
        cursor = raw.cursor()
        try:
            while _waiting(cursor):
                # IMMEDIATE: the marks read are the marks moved; no writer comes in between.
                cursor.execute("BEGIN IMMEDIATE")
                try:
                    for indexed in INDEXED:
                        _batch(cursor, indexed, BATCH)
                    raw.commit()
                except BaseException:
                    raw.rollback()
                    raise
        finally:
            cursor.close()
    finally:
        raw.close()


def catch_up_for(session: Session) -> None:
    """Before a search: every committed row, and the session's own, in the index."""
    if session.get_bind().dialect.name != "sqlite":
        return
    # Rows added and not yet flushed get their ids now, so they are indexed below (the
    # search's own query would flush them only after this, past the catch-up).
    session.flush()
    dbapi = session.connection().connection.dbapi_connection
    assert dbapi is not None
    if dbapi.in_transaction:
        # The session has written and holds the write lock: a transaction of its own would
        # wait for this one. Its rows are indexed in it, and go if it rolls back.
        cursor = dbapi.cursor()
        try:
            for indexed in INDEXED:
                _batch(cursor, indexed, None)
        finally:
            cursor.close()
    else:
        catch_up(session.get_bind().engine)


class SearchIndexer(Periodic):
    """The app's thread that keeps the index close behind the tables."""

    name = "search-index"

    def __init__(self, engine: Engine, every: float = EVERY_SECONDS) -> None:
        super().__init__(every)
        self._engine = engine

    def tick(self) -> object:
        catch_up(self._engine)
        return None
