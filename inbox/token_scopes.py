"""Who an API token is and what they may see, remembered for a few seconds.

Every API request needs its agent and that agent's scope (docs/concepts/access.md): three
queries, a third of what storing a customer's message costs. They change rarely, so they are
kept per token for `ttl` seconds. A commit in this process that changes an agent, a team, a
membership or a token forgets them all at once; another worker's change (several processes
behind Redis) is seen when the entry expires.

A token in use is read again before its entry expires: once an entry is half its `ttl` old,
`stale()` lists the token, and the web layer refreshes it off the request path
(`refresh`). A busy integration then never waits for the three queries, which a request
after a quiet moment pays 1.5 ms for, while an entry still never outlives `ttl`.
"""

from __future__ import annotations

import hashlib
import itertools
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from datetime import datetime
from typing import Any

from sqlalchemy import event
from sqlalchemy.orm import ORMExecuteState, make_transient_to_detached
from sqlalchemy.orm import Session as OrmSession
from sqlmodel import Session

from .access import Scope, scope_for
from .accounts import token_holder
from .clock import utcnow
from .errors import Unauthorized
from .models import Agent, ApiToken, InboxMember, Membership, Team

# The tables a scope is read from: a change to any of them may change what someone sees.
ACCESS_MODELS = (Agent, Team, Membership, InboxMember, ApiToken)
_CHANGED = "handoff_access_changed"

_generations = itertools.count(1)
_generation = 0


def access_generation() -> int:
    """Goes up after every commit that changed an agent, team, membership or token."""
    return _generation


class TokenScopes:
    def __init__(
        self, ttl: float = 5.0, size: int = 1024, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.ttl = ttl
        self.size = size
        self.clock = clock
        self._entries: OrderedDict[str, tuple[float, int, Agent, Scope]] = OrderedDict()
        self._lock = threading.Lock()
        # Tokens whose entries are past half their life, by key; a refresh is under way for
        # those in `_refreshing`.
        self._stale: dict[str, str] = {}
        self._refreshing: set[str] = set()

    def resolve(self, session: Session, token: str, *, attach: bool = True) -> tuple[Agent, Scope]:
        """The token's agent (attached to `session`, or with `attach=False` maybe the cached
        copy, which the caller must merge before use) and scope; Unauthorized when unknown."""
        key = _key(token)
        now = self.clock()
        generation = access_generation()
        with self._lock:
            entry = self._entries.get(key)
        if entry is not None and entry[0] > now and entry[1] == generation:
            expires, _, agent, scope = entry
            if expires - now < self.ttl / 2 and key not in self._refreshing:
                with self._lock:
                    self._stale[key] = token
            return (session.merge(agent, load=False) if attach else agent), scope
        agent, expires_at = token_holder(session, token)
        scope = scope_for(session, agent)
        self._store(key, now, generation, agent, scope, expires_at)
        return agent, scope

    def stale(self) -> list[str]:
        """Tokens to read again soon (each listed once until refreshed)."""
        with self._lock:
            tokens = list(self._stale.values())
            self._refreshing.update(self._stale)
            self._stale.clear()
        return tokens

    def refresh(self, session: Session, token: str) -> None:
        """Read a token's agent and scope again (from `stale()`); a token revoked meanwhile
        is forgotten, and its next request is refused."""
        key = _key(token)
        now = self.clock()
        generation = access_generation()  # before reading: a change meanwhile voids the entry
        try:
            agent, expires_at = token_holder(session, token)
            scope = scope_for(session, agent)
        except Unauthorized:
            with self._lock:
                self._entries.pop(key, None)
            return
        finally:
            with self._lock:
                self._refreshing.discard(key)
        self._store(key, now, generation, agent, scope, expires_at)

    def _store(
        self,
        key: str,
        now: float,
        generation: int,
        agent: Agent,
        scope: Scope,
        token_expires_at: datetime | None,
    ) -> None:
        lifetime = self.ttl
        if token_expires_at is not None:
            # Never remembered past the token's own expiry.
            lifetime = min(lifetime, (token_expires_at - utcnow()).total_seconds())
        with self._lock:
            self._refreshing.discard(key)
            # A copy outside any session: requests merge it into their own.
            self._entries[key] = (now + lifetime, generation, _detached_copy(agent), scope)
            self._entries.move_to_end(key)
            while len(self._entries) > self.size:
                self._entries.popitem(last=False)


def _key(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def _detached_copy(agent: Agent) -> Agent:
    columns = Agent.__table__.columns  # type: ignore[attr-defined]
    copy = Agent(**{c.key: getattr(agent, c.key) for c in columns})
    make_transient_to_detached(copy)
    return copy


@event.listens_for(OrmSession, "after_flush")
def _note_flushed_changes(session: OrmSession, _context: Any) -> None:
    if any(
        isinstance(obj, ACCESS_MODELS)
        for obj in itertools.chain(session.new, session.dirty, session.deleted)
    ):
        session.info[_CHANGED] = True


@event.listens_for(OrmSession, "do_orm_execute")
def _note_bulk_changes(state: ORMExecuteState) -> None:
    if (state.is_update or state.is_delete or state.is_insert) and any(
        m.class_ in ACCESS_MODELS for m in state.all_mappers
    ):
        state.session.info[_CHANGED] = True


@event.listens_for(OrmSession, "after_commit")
def _bump_generation(session: OrmSession) -> None:
    global _generation
    if session.info.pop(_CHANGED, False):
        _generation = next(_generations)


@event.listens_for(OrmSession, "after_rollback")
def _forget_uncommitted(session: OrmSession) -> None:
    session.info.pop(_CHANGED, None)
