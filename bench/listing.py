"""The conversation list's first page and keyword search with many conversations stored.

Each case times `inbox.queries.list_conversations` as a request would call it (a fresh
session, the access rules of a real scope), then replays the exact SQL it sent straight
through the database driver: the difference is what the ORM costs. EXPLAIN shows whether
the conversation table is reached through an index.
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Engine, event
from sqlmodel import select

from inbox.access import Scope, scope_for
from inbox.bus import MemoryBus
from inbox.db import Database
from inbox.models import Agent
from inbox.queries import ConversationFilter, list_conversations

from .dataset import ADMIN_EMAIL, AGENT_EMAIL, SEARCH_WORDS
from .stats import percentile, time_pairs

# A real table read row by row from the start: "SCAN conversation" (SQLite), "Seq Scan on".
_SQLITE_FULL_SCAN = re.compile(r"^SCAN (\w+)$")
_PG_FULL_SCAN = re.compile(r"Seq Scan on (\w+)")


@dataclass
class Case:
    name: str
    scope: str  # "admin" or "agent"
    filter: ConversationFilter
    kind: str  # "list" or "search"


@dataclass
class Measured:
    case: Case
    samples: list[float]
    raw_samples: list[float]
    plan: list[str]
    full_scans: list[str]
    rows: int
    sql: str = ""
    notes: list[str] = field(default_factory=list)

    @property
    def p95(self) -> float:
        return percentile(self.samples, 95)

    @property
    def raw_p95(self) -> float:
        return percentile(self.raw_samples, 95)


def cases() -> list[Case]:
    out = [
        Case("first page, admin", "admin", ConversationFilter(), "list"),
        Case("first page, agent (1 team + 1 inbox)", "agent", ConversationFilter(), "list"),
    ]
    for word in SEARCH_WORDS:
        out.append(Case(f"search {word!r}, admin", "admin", ConversationFilter(q=word), "search"))
    out.append(
        Case(
            f"search {SEARCH_WORDS[0]!r}, agent, all statuses",
            "agent",
            ConversationFilter(q=SEARCH_WORDS[0], status="all"),
            "search",
        )
    )
    return out


def scopes(db: Database) -> dict[str, Scope]:
    with db.session() as session:
        found = {}
        for key, email in (("admin", ADMIN_EMAIL), ("agent", AGENT_EMAIL)):
            agent = session.exec(select(Agent).where(Agent.email == email)).one()
            found[key] = scope_for(session, agent)
        return found


@contextmanager
def captured_sql(engine: Engine) -> Iterator[list[tuple[str, Any]]]:
    """Every statement (and its driver-ready parameters) the engine sends meanwhile."""
    seen: list[tuple[str, Any]] = []

    def listen(_conn: Any, _cursor: Any, statement: str, params: Any, *_: Any) -> None:
        seen.append((statement, params))

    event.listen(engine, "before_cursor_execute", listen)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", listen)


def sqlite_plan(conn: sqlite3.Connection, sql: str, params: Any) -> tuple[list[str], list[str]]:
    details = [str(r[3]) for r in conn.execute("EXPLAIN QUERY PLAN " + sql, params).fetchall()]
    full = [m.group(1) for d in details if (m := _SQLITE_FULL_SCAN.match(d))]
    return details, full


def measure(
    db: Database,
    case: Case,
    scope: Scope,
    *,
    count: int,
    max_seconds: float,
    raw_call: Callable[[str, Any], Callable[[], object]],
    plan: Callable[[str, Any], tuple[list[str], list[str]]],
) -> Measured:
    def call() -> int:
        with db.session() as session:
            return len(list_conversations(session, scope, case.filter).items)

    with captured_sql(db.engine) as seen:
        rows = call()
    statement, params = next((s, p) for s, p in reversed(seen) if "FROM conversation" in s)
    samples, raw_samples = time_pairs(
        call, raw_call(statement, params), count=count, max_seconds=max_seconds
    )
    details, full = plan(statement, params)
    return Measured(case, samples, raw_samples, details, full, rows, sql=statement)


def run_sqlite(path: str, *, count: int, max_seconds: float) -> list[Measured]:
    from inbox.db import make_engine

    db = Database(make_engine(f"sqlite:///{path}"), MemoryBus())
    raw = sqlite3.connect(path)
    raw.execute("PRAGMA journal_mode=WAL")
    raw.execute("PRAGMA synchronous=NORMAL")
    raw.execute("PRAGMA foreign_keys=ON")

    def raw_call(sql: str, params: Any) -> Callable[[], object]:
        return lambda: raw.execute(sql, params).fetchall()

    try:
        found = scopes(db)
        return [
            measure(
                db,
                case,
                found[case.scope],
                count=count,
                max_seconds=max_seconds,
                raw_call=raw_call,
                plan=lambda sql, params: sqlite_plan(raw, sql, params),
            )
            for case in cases()
        ]
    finally:
        raw.close()
        db.engine.dispose()


def run_postgres(url: str, *, count: int, max_seconds: float) -> list[Measured]:
    import psycopg

    from inbox.db import make_engine

    db = Database(make_engine(url), MemoryBus())
    raw = psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://"), autocommit=True)

    def raw_call(sql: str, params: Any) -> Callable[[], object]:
        return lambda: raw.execute(sql, params).fetchall()

    def plan(sql: str, params: Any) -> tuple[list[str], list[str]]:
        lines = [str(r[0]) for r in raw.execute("EXPLAIN " + sql, params).fetchall()]
        full = [m.group(1) for line in lines if (m := _PG_FULL_SCAN.search(line))]
        return lines, full

    try:
        found = scopes(db)
        return [
            measure(
                db,
                case,
                found[case.scope],
                count=count,
                max_seconds=max_seconds,
                raw_call=raw_call,
                plan=plan,
            )
            for case in cases()
        ]
    finally:
        raw.close()
        db.engine.dispose()
