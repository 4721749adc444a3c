"""Engine and sessions (docs/concepts/data-model.md).

SQLite runs in WAL mode with foreign keys on; PostgreSQL needs nothing special. Events that
domain functions queue with `queue_event` are published only once the commit succeeds.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.orm import Session as OrmSession
from sqlmodel import Session

from .bus import EventBus
from .events import Event
from .wal import SAFETY_NET_PAGES

_PENDING = "handoff_pending_events"
_BUS = "handoff_bus"


def make_engine(url: str, *, checkpoint_in_background: bool = False) -> Engine:
    """`checkpoint_in_background`: a `wal.WalCheckpointer` will copy the write-ahead log into
    the database file, so commits leave that work to it (SQLite only)."""
    if url.startswith("sqlite"):
        engine = create_engine(
            url, connect_args={"check_same_thread": False, "timeout": 30}, pool_pre_ping=False
        )

        @event.listens_for(engine, "connect")
        def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
            cur = dbapi_conn.cursor()
            cur.execute("PRAGMA journal_mode=WAL")
            cur.execute("PRAGMA foreign_keys=ON")
            cur.execute("PRAGMA synchronous=NORMAL")
            if checkpoint_in_background:
                cur.execute(f"PRAGMA wal_autocheckpoint={SAFETY_NET_PAGES}")
            cur.close()

        return engine
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url.removeprefix("postgresql://")
    return create_engine(url, pool_size=10, max_overflow=20, pool_pre_ping=True)


class Database:
    """The engine plus the bus that hears about committed changes."""

    def __init__(self, engine: Engine, bus: EventBus) -> None:
        self.engine = engine
        self.bus = bus

    @contextmanager
    def session(self) -> Iterator[Session]:
        with self.open_session() as session:
            yield session

    def open_session(self) -> Session:
        """A session the caller closes (`with db.open_session() as s:` does)."""
        session = Session(self.engine, expire_on_commit=False)
        session.info[_BUS] = self.bus
        return session

    @property
    def is_sqlite(self) -> bool:
        return self.engine.dialect.name == "sqlite"


def queue_event(session: OrmSession, event_: Event) -> None:
    """Publish `event_` when (and only if) the session's transaction commits."""
    session.info.setdefault(_PENDING, []).append(event_)


@event.listens_for(OrmSession, "after_commit")
def _publish_after_commit(session: OrmSession) -> None:
    pending: list[Event] = session.info.pop(_PENDING, [])
    bus: EventBus | None = session.info.get(_BUS)
    if pending and bus is not None:
        bus.publish(pending)


@event.listens_for(OrmSession, "after_rollback")
def _drop_on_rollback(session: OrmSession) -> None:
    session.info.pop(_PENDING, None)
