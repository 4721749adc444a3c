"""Who is viewing which conversation: collision detection.

In memory for one process; with several workers (REDIS_URL), in Redis, so that agents on
different workers see each other. Presence is ephemeral: Redis forgets a conversation's
viewers after a quiet spell, in case a worker died without saying who left.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Protocol

import redis

# Forgotten after this long without anyone opening the conversation (a worker that died).
FORGET_SECONDS = 4 * 3600


class Viewers(Protocol):
    def view(self, conversation_id: int, agent_id: int, name: str) -> None: ...

    def leave(self, conversation_id: int, agent_id: int) -> None: ...

    def viewers(self, conversation_id: int) -> list[dict[str, object]]: ...


class Presence:
    def __init__(self) -> None:
        # conversation id -> agent id -> (name, number of open tabs)
        self._viewers: dict[int, dict[int, tuple[str, int]]] = defaultdict(dict)

    def view(self, conversation_id: int, agent_id: int, name: str) -> None:
        _, tabs = self._viewers[conversation_id].get(agent_id, (name, 0))
        self._viewers[conversation_id][agent_id] = (name, tabs + 1)

    def leave(self, conversation_id: int, agent_id: int) -> None:
        viewers = self._viewers.get(conversation_id)
        if not viewers or agent_id not in viewers:
            return
        name, tabs = viewers[agent_id]
        if tabs <= 1:
            del viewers[agent_id]
        else:
            viewers[agent_id] = (name, tabs - 1)
        if not viewers:
            del self._viewers[conversation_id]

    def viewers(self, conversation_id: int) -> list[dict[str, object]]:
        return [
            {"agent_id": agent_id, "name": name}
            for agent_id, (name, _) in sorted(self._viewers.get(conversation_id, {}).items())
        ]


class RedisPresence:
    """The same, shared by every worker: a hash of names and one of open tabs, per
    conversation, changed atomically (HINCRBY), so two workers never lose a tab."""

    def __init__(self, url: str, namespace: str = "handoff") -> None:
        self._redis = redis.Redis.from_url(url, decode_responses=True)
        self._prefix = f"{namespace}:presence"

    def _keys(self, conversation_id: int) -> tuple[str, str]:
        return f"{self._prefix}:{conversation_id}:names", f"{self._prefix}:{conversation_id}:tabs"

    def view(self, conversation_id: int, agent_id: int, name: str) -> None:
        names, tabs = self._keys(conversation_id)
        pipe = self._redis.pipeline(transaction=True)
        pipe.hset(names, str(agent_id), name)
        pipe.hincrby(tabs, str(agent_id), 1)
        pipe.expire(names, FORGET_SECONDS)
        pipe.expire(tabs, FORGET_SECONDS)
        pipe.execute()

    def leave(self, conversation_id: int, agent_id: int) -> None:
        names, tabs = self._keys(conversation_id)
        left = int(self._redis.hincrby(tabs, str(agent_id), -1))
        if left <= 0:
            pipe = self._redis.pipeline(transaction=True)
            pipe.hdel(tabs, str(agent_id))
            pipe.hdel(names, str(agent_id))
            pipe.execute()

    def viewers(self, conversation_id: int) -> list[dict[str, object]]:
        names, _ = self._keys(conversation_id)
        stored: dict[str, str] = self._redis.hgetall(names)  # type: ignore[assignment]
        return [
            {"agent_id": int(agent_id), "name": name}
            for agent_id, name in sorted(stored.items(), key=lambda item: int(item[0]))
        ]
