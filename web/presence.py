"""Who is viewing or typing in which conversation: collision detection, kept in memory.

Presence is ephemeral by nature; a later multi-process deployment shares it over the bus.
"""

from __future__ import annotations

from collections import defaultdict


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
