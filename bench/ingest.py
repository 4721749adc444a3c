"""Sustained ingest: customer messages a second through `do_receive_inbound` on SQLite.

The floor is a raw sqlite3 loop on the same kind of file with the same PRAGMAs (WAL,
synchronous=NORMAL): one single-row INSERT and one commit per message, as the domain commits
once per message. The mix is realistic: a third of the messages come from new customers (a
contact, an identity and a conversation are created), the rest land in existing
conversations; every message carries an external id, so the duplicate check runs too. The
database is set up as the app sets it up: the write-ahead log is checkpointed and the search
index brought up to date by threads of their own (inbox/wal.py, inbox/search_index.py), not
inside the commits.

The same stream runs twice, the two runs taking turns: on an empty database, and on a copy
of bench/dataset.py's database of 100,000 conversations, into its busiest inbox (a third of
them), so lookups that grow with the tables (an index the planner misses, a scan) show as the
ratio between the two. Each first takes `WARM_UP` messages of its own, untimed, as the email
benchmark does: a long-running app pays its one-time work once, not per message.
"""

from __future__ import annotations

import shutil
import sqlite3
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

from sqlalchemy import func
from sqlmodel import col, select

from inbox.accounts import do_create_inbox
from inbox.bus import MemoryBus
from inbox.conversations import InboundMessage, do_receive_inbound
from inbox.db import Database, make_engine
from inbox.migrate import upgrade
from inbox.models import Conversation
from inbox.periodic import Periodic
from inbox.search_index import SearchIndexer
from inbox.wal import WalCheckpointer


@dataclass
class Rate:
    count: int
    seconds: float

    @property
    def per_second(self) -> float:
        return self.count / self.seconds if self.seconds else 0.0


# Untimed messages into each database before the clock starts: the process's one-time work
# (statements compiled, the policy read, calendars built, the first pages read) would
# otherwise land in the first timed block, of whichever database goes first.
WARM_UP = 100


def inbound(inbox_id: int, n: int, stream: str = "") -> InboundMessage:
    # Every third message is a new customer; the others are one of the customers so far.
    customer = n // 3 if n % 3 == 0 else (n * 7919) % max(1, n // 3 + 1)
    return InboundMessage(
        inbox_id=inbox_id,
        identifier=f"{stream}customer-{customer}",
        name=f"Customer {customer}",
        email=f"{stream}customer{customer}@example.com",
        content=f"Message {n}: my order {100_000 + n} has not arrived, can you check?",
        external_id=f"{stream}ingest-{n}",
    )


def busiest_inbox(db: Database) -> int:
    """The inbox holding the most conversations."""
    with db.session() as session:
        inbox_id = session.exec(
            select(Conversation.inbox_id)
            .group_by(col(Conversation.inbox_id))
            .order_by(func.count().desc())
            .limit(1)
        ).one()
    return inbox_id


@dataclass
class Target:
    """One database the stream goes into, and the time spent storing into it."""

    db: Database
    upkeep: list[Periodic]
    messages: list[InboundMessage]
    warm_up: list[InboundMessage]
    seconds: float = 0.0
    done: int = 0


def open_target(tmp: Path, name: str, prefilled: Path | None, count: int) -> Target:
    path = tmp / f"{name}.db"
    if prefilled is not None:
        shutil.copyfile(prefilled, path)
    # Configured as the app is (main.py): the write-ahead log copied back and the search
    # index kept up by threads.
    db = Database(make_engine(f"sqlite:///{path}", checkpoint_in_background=True), MemoryBus())
    upgrade(db.engine)  # a cached dataset may predate the newest migration
    upkeep: list[Periodic] = [SearchIndexer(db.engine), WalCheckpointer(db.engine)]
    for thread in upkeep:
        thread.start()
    if prefilled is not None:
        inbox_id = busiest_inbox(db)
    else:
        with db.session() as session:
            inbox = do_create_inbox(session=session, name="Ingest", channel="api")
            session.commit()
            assert inbox.id is not None
            inbox_id = inbox.id
    return Target(
        db,
        upkeep,
        [inbound(inbox_id, n) for n in range(count)],
        # Customers of their own, so the timed stream's mix stays as it is.
        [inbound(inbox_id, n, stream="warm-up-") for n in range(WARM_UP)],
    )


def domain_rates(
    count: int, max_seconds: float, prefilled: Path | None = None, block: int = 250
) -> list[Rate]:
    """Messages a second through `do_receive_inbound` on an empty database and, with
    `prefilled` (a dataset.py file), on a copy of it, into its busiest inbox.

    The two take turns, `block` messages at a time, so a shared machine's load falls on both
    alike and their ratio means something; `max_seconds` bounds each."""
    with tempfile.TemporaryDirectory(prefix="handoff-bench-") as tmp:
        targets = [open_target(Path(tmp), "ingest", None, count)]
        if prefilled is not None:
            targets.append(open_target(Path(tmp), "prefilled", prefilled, count))
        for target in targets:
            for message in target.warm_up:
                with target.db.session() as session:
                    do_receive_inbound(session=session, inbound=message)
        while any(t.done < count and t.seconds < max_seconds for t in targets):
            for target in targets:
                if target.done >= count or target.seconds >= max_seconds:
                    continue
                start = time.perf_counter()
                for message in target.messages[target.done : target.done + block]:
                    with target.db.session() as session:
                        do_receive_inbound(session=session, inbound=message)
                    target.done += 1
                target.seconds += time.perf_counter() - start
        for target in targets:
            for thread in target.upkeep:
                thread.stop()
            target.db.engine.dispose()
    return [Rate(t.done, t.seconds) for t in targets]


def domain_rate(count: int, max_seconds: float) -> Rate:
    """Messages a second through `do_receive_inbound` on an empty database."""
    return domain_rates(count, max_seconds)[0]


def raw_rate(count: int, max_seconds: float) -> Rate:
    with tempfile.TemporaryDirectory(prefix="handoff-bench-") as tmp:
        conn = sqlite3.connect(Path(tmp) / "raw.db", isolation_level=None)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.execute("PRAGMA foreign_keys=ON")
        conn.execute(
            "CREATE TABLE message (id INTEGER PRIMARY KEY, conversation_id INTEGER NOT NULL, "
            "content TEXT NOT NULL, external_id TEXT, created_at TEXT NOT NULL)"
        )
        done = 0
        start = time.perf_counter()
        deadline = start + max_seconds
        for n in range(count):
            conn.execute("BEGIN")
            conn.execute(
                "INSERT INTO message (conversation_id, content, external_id, created_at) "
                "VALUES (?, ?, ?, datetime('now'))",
                (n % 1000, f"Message {n}: my order has not arrived", f"ingest-{n}"),
            )
            conn.execute("COMMIT")
            done += 1
            if time.perf_counter() > deadline:
                break
        seconds = time.perf_counter() - start
        conn.close()
    return Rate(done, seconds)
