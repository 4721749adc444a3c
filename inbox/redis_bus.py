"""The Redis backend of the event bus: several worker processes, one stream of events.

Every event goes through Redis, this process's own included: a MULTI of INCR (the global
sequence number) and PUBLISH gives every process the same events in the same order with the
same numbers, so a browser that reconnects to another worker resumes where it stopped. Each
process keeps its own replay buffer and renders fragments for the languages its own browsers
use, exactly as the in-process backend does (it is that backend, fed from Redis).

If the connection to Redis drops, events published meanwhile cannot be known: every
connected browser is told to resync, and the listener reconnects with backoff.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from typing import Any

import redis
import redis.asyncio as aioredis

from .bus import MemoryBus
from .events import Audience, Event

log = logging.getLogger(__name__)


# Numbering and publishing in one atomic step: Redis runs a script alone, so the order
# events are published in is the order of their numbers, across every process.
_NUMBER_AND_PUBLISH = """
local seq = redis.call('INCR', KEYS[1])
redis.call('PUBLISH', ARGV[1], seq .. '|' .. ARGV[2])
return seq
"""


def to_wire(event: Event) -> str:
    audience = event.audience
    return json.dumps(
        {
            "type": event.type,
            "data": event.data,
            "audience": {
                "conversation_id": audience.conversation_id,
                "inbox_id": audience.inbox_id,
                "team_id": audience.team_id,
                "tier": audience.tier,
                "agent_ids": sorted(audience.agent_ids) if audience.agent_ids is not None else None,
                "customer": audience.customer,
            },
        }
    )


def from_wire(raw: str | bytes) -> Event:
    text = raw.decode() if isinstance(raw, bytes) else raw
    seq, _, body = text.partition("|")
    payload: dict[str, Any] = json.loads(body)
    a = payload["audience"]
    audience = Audience(
        conversation_id=a["conversation_id"],
        inbox_id=a["inbox_id"],
        team_id=a["team_id"],
        tier=a["tier"],
        agent_ids=frozenset(a["agent_ids"]) if a["agent_ids"] is not None else None,
        customer=bool(a["customer"]),
    )
    return Event(payload["type"], payload["data"], audience, seq=int(seq))


class RedisBus(MemoryBus):
    def __init__(
        self,
        url: str,
        *,
        replay_buffer: int = 10_000,
        backlog: int = 500,
        namespace: str = "handoff",
    ) -> None:
        super().__init__(replay_buffer=replay_buffer, backlog=backlog)
        self._url = url
        # Processes of one installation share a namespace; pub/sub channels ignore Redis's
        # database number, so two installations on one Redis need different ones.
        self.channel = f"{namespace}:events"
        self._sequence_key = f"{namespace}:events:seq"
        # Publishing is synchronous (the domain publishes right after its commit, from the
        # event loop or a worker thread); a local round trip is a fraction of a millisecond.
        self._sync = redis.Redis.from_url(url)
        self._number_and_publish = self._sync.register_script(_NUMBER_AND_PUBLISH)
        self._listener: asyncio.Task[None] | None = None
        self._ready = asyncio.Event()

    def _send(self, batch: list[Event]) -> None:
        # Numbered by Redis, delivered by every process's listener (this one's included).
        pipe = self._sync.pipeline(transaction=False)
        for event in batch:
            self._number_and_publish(
                keys=[self._sequence_key], args=[self.channel, to_wire(event)], client=pipe
            )
        pipe.execute()

    async def start(self) -> None:
        """Listen from now on; returns once subscribed, so nothing published after is missed."""
        self.bind_loop(asyncio.get_running_loop())
        self._listener = asyncio.create_task(self._listen(), name="redis-bus")
        await self._ready.wait()

    async def stop(self) -> None:
        if self._rows_timer is not None:
            # Rows still held back go out before the connection closes.
            self._rows_timer.cancel()
            self._release_rows()
        if self._listener is not None:
            self._listener.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._listener
        self._sync.close()

    async def _listen(self) -> None:
        delay = 0.5
        while True:
            client = aioredis.Redis.from_url(self._url)
            pubsub = client.pubsub(ignore_subscribe_messages=True)
            try:
                await pubsub.subscribe(self.channel)
                self._ready.set()
                delay = 0.5
                async for message in pubsub.listen():
                    if message.get("type") != "message":
                        continue
                    try:
                        event = from_wire(message["data"])
                    except (ValueError, KeyError, TypeError):
                        log.exception("unreadable event on %s", self.channel)
                        continue
                    self._deliver_numbered(event)
            except asyncio.CancelledError:
                raise
            except (redis.RedisError, OSError) as exc:
                log.warning("redis bus lost its connection (%s); reconnecting", exc)
                self._lost_events()
                self._ready.set()  # start() must not wait forever on a Redis that is down
                await asyncio.sleep(delay)
                delay = min(delay * 2, 10.0)
            finally:
                await pubsub.aclose()  # type: ignore[no-untyped-call]
                await client.aclose()

    def _deliver_numbered(self, event: Event) -> None:
        self._enrich(event)
        with self._lock:
            if event.seq <= self._last:
                return  # seen already (a reconnect overlapping)
            self._last = event.seq
            self._recent.append(event)
        for sub in list(self._subs):
            sub.offer(event)

    def _lost_events(self) -> None:
        with self._lock:
            self._recent.clear()
        for sub in list(self._subs):
            sub.overflowed = True
