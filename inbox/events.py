"""Typed events (docs/concepts/real-time.md): what changed, and who may hear of it.

Domain functions queue events on the session; they are published only after the commit
succeeds (see db.py), so nobody hears of a change that was rolled back.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True)
class Audience:
    """Who may receive an event.

    With `agent_ids` set, only those agents. Otherwise the agents whose access rules let them
    see a conversation in this inbox, team and tier. `customer` marks events the customer's own
    widget may show (never notes, presence or agent-only changes).
    """

    conversation_id: int | None = None
    inbox_id: int | None = None
    team_id: int | None = None
    tier: int | None = None
    agent_ids: frozenset[int] | None = None
    customer: bool = False


@dataclass
class Event:
    type: str
    data: dict[str, Any]
    audience: Audience
    # Filled by the bus: a global, increasing number a reconnecting browser resumes from.
    seq: int = 0
    # HTML fragments for agents' pages by UI language, added once per language by the web
    # layer's renderer before fan-out.
    html: dict[str, dict[str, str]] = field(default_factory=dict)

    # Serialised frames by language: fan-out to many sockets encodes each once.
    _texts: dict[str, str] = field(default_factory=dict, repr=False, compare=False)
    # Rows the publishing transaction committed, as it holds them: the renderer starts from
    # these instead of reading them back. Never leaves the process (a Redis bus sends the
    # rest; its subscribers read the rows themselves).
    loaded: tuple[Any, ...] = field(default=(), repr=False, compare=False)

    def frame_text(self, locale: str = "en") -> str:
        key = locale if locale in self.html else ""
        text = self._texts.get(key)
        if text is None:
            text = self._texts[key] = json.dumps(self.frame(locale))
        return text

    def frame(self, locale: str = "en") -> dict[str, Any]:
        out: dict[str, Any] = {"seq": self.seq, "type": self.type, "data": self.data}
        fragments = self.html.get(locale) or next(iter(self.html.values()), None)
        if fragments:
            out["html"] = fragments
        return out


def message_created(
    *,
    message_id: int,
    conversation_id: int,
    kind: str,
    audience: Audience,
    loaded: tuple[Any, ...] = (),
) -> Event:
    return Event(
        "message.created",
        {"message_id": message_id, "conversation_id": conversation_id, "kind": kind},
        audience,
        loaded=loaded,
    )


def conversation_changed(
    *,
    conversation_id: int,
    audience: Audience,
    change: str,
    created: bool = False,
    loaded: tuple[Any, ...] = (),
) -> Event:
    return Event(
        "conversation.created" if created else "conversation.updated",
        {"conversation_id": conversation_id, "change": change},
        audience,
        loaded=loaded,
    )


def notification_created(*, notification_id: int, agent_id: int, kind: str, text: str) -> Event:
    return Event(
        "notification.created",
        {"notification_id": notification_id, "kind": kind, "text": text},
        Audience(agent_ids=frozenset({agent_id})),
    )
