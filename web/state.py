"""What the app hands every route: engine, bus, settings, templates, limits, channels."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import httpx
from jinja2_fragments.starlette import Jinja2Blocks
from limits import RateLimitItem, parse
from limits.storage import MemoryStorage, Storage
from limits.strategies import MovingWindowRateLimiter
from sqlmodel import Session
from starlette.requests import HTTPConnection

from inbox.access import Scope, scope_for
from inbox.db import Database
from inbox.errors import RateLimited, Unauthorized
from inbox.models import Agent
from inbox.settings import Settings
from inbox.token_scopes import TokenScopes

from .presence import Viewers


class Limits:
    """Rate limits (the `limits` package), by a key the caller names."""

    def __init__(self, storage: Storage | None = None) -> None:
        self._limiter = MovingWindowRateLimiter(storage or MemoryStorage())

    def hit(self, rule: str, *key: str, message: str) -> None:
        item: RateLimitItem = parse(rule)
        if not self._limiter.hit(item, *key):
            raise RateLimited(message)


@dataclass
class AppState:
    settings: Settings
    db: Database
    templates: Jinja2Blocks
    limits: Limits
    http: httpx.AsyncClient
    presence: Viewers
    # UI languages of the agents connected right now: live fragments are rendered in each.
    connected_locales: Counter[str] = field(default_factory=Counter)
    token_scopes: TokenScopes = field(default_factory=TokenScopes)


async def let_listeners_run() -> None:
    """One turn of the event loop, taken right after a commit that published: the agents'
    sockets it woke send the news before this request renders its own answer."""
    await asyncio.sleep(0)


def state(conn: HTTPConnection) -> AppState:
    handoff: AppState = conn.app.state.handoff
    return handoff


@dataclass
class AgentContext:
    session: Session
    # The agent, maybe a cached copy outside any session (inbox/token_scopes.py): `agent`
    # merges it into this session the first time a route asks, which most API routes never do.
    held: Agent
    scope: Scope

    @property
    def agent(self) -> Agent:
        if self.held not in self.session:
            self.held = self.session.merge(self.held, load=False)
        return self.held


def session_agent_id(conn: HTTPConnection) -> int | None:
    value = conn.session.get("agent_id")
    return int(value) if isinstance(value, int) else None


def session_epoch(conn: HTTPConnection) -> int:
    value = conn.session.get("epoch", 0)
    return value if isinstance(value, int) else -1


def session_agent(conn: HTTPConnection, session: Session) -> Agent | None:
    """The agent this browser signed in as, unless their sessions were ended since or their
    account was deactivated."""
    agent_id = session_agent_id(conn)
    agent = session.get(Agent, agent_id) if agent_id is not None else None
    if (
        agent is None
        or agent.session_epoch != session_epoch(conn)
        or agent.deactivated_at is not None
    ):
        if agent_id is not None:
            conn.session.clear()  # the answer drops the dead cookie: signing in starts clean
        return None
    return agent


@contextmanager
def signed_in(conn: HTTPConnection) -> Iterator[AgentContext]:
    """A session plus the signed-in agent and what they may see; Unauthorized otherwise."""
    with state(conn).db.session() as session:
        agent = session_agent(conn, session)
        if agent is None:
            raise Unauthorized("Please sign in")
        yield AgentContext(session, agent, scope_for(session, agent))
