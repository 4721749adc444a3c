"""The event bus (docs/concepts/real-time.md): one interface, an in-process backend.

Each subscriber has a bounded queue: a browser that falls behind is dropped from live
delivery and told to resync, so it never holds up the others. A ring buffer of recent
events lets a reconnecting browser replay what it missed by sequence number.

List-row events (`conversation.created`, `conversation.updated`) follow their commit by
ROW_DELAY, on the event loop: the message itself reaches every agent first, and a burst of
changes to one conversation reaches them as one row.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
import threading
from collections import deque
from collections.abc import Callable, Iterable
from typing import Protocol

from .events import Event

log = logging.getLogger(__name__)

EventFilter = Callable[[Event], bool]
Enricher = Callable[[Event], None]

# Events that redraw a row of the conversation list: each makes every agent's browser parse
# a frame, so they wait for the message frames a commit also published to go out first.
LIST_ROW_EVENTS = frozenset({"conversation.created", "conversation.updated"})
# Long enough for a commit's message frames to reach 50 sockets (about 2 ms) and for the
# rows of a burst to merge; far below what an agent could notice in the list.
ROW_DELAY = 0.01


class Subscription:
    """One listener's bounded queue. `overflowed` means events were lost: resync.

    A listener that can often take an event on the spot (a websocket with nothing pending)
    sets `take_now`: while the queue is empty, an event goes there first, and only when it
    returns False into the queue. That saves a task switch per listener and event."""

    def __init__(self, accepts: EventFilter, backlog: int) -> None:
        self.accepts = accepts
        self.queue: asyncio.Queue[Event] = asyncio.Queue(maxsize=backlog)
        # Set with `overflowed`: a listener waiting on an empty queue must learn of a loss
        # that put nothing in it (the Redis bus losing its server).
        self.lost = asyncio.Event()
        self.take_now: Callable[[Event], bool] | None = None

    @property
    def overflowed(self) -> bool:
        return self.lost.is_set()

    @overflowed.setter
    def overflowed(self, value: bool) -> None:
        if value:
            self.lost.set()
        else:
            self.lost.clear()

    def offer(self, event: Event) -> None:
        if self.overflowed or not self.accepts(event):
            return
        if self.take_now is not None and self.queue.empty() and self.take_now(event):
            return
        try:
            self.queue.put_nowait(event)
        except asyncio.QueueFull:
            self.overflowed = True
            log.warning("subscriber fell %d events behind; it will resync", self.queue.maxsize)


class EventBus(Protocol):
    def publish(self, events: Iterable[Event]) -> None: ...

    def subscribe(self, accepts: EventFilter) -> Subscription: ...

    def unsubscribe(self, sub: Subscription) -> None: ...

    def replay(self, since: int, accepts: EventFilter) -> list[Event] | None:
        """Events after `since` that `accepts` takes, or None when they are no longer kept."""
        ...

    def add_enricher(self, enricher: Enricher) -> None: ...

    @property
    def last_seq(self) -> int: ...


class MemoryBus:
    """In-process backend: every agent and widget connection lives in this one process."""

    def __init__(self, *, replay_buffer: int = 10_000, backlog: int = 500) -> None:
        self._subs: set[Subscription] = set()
        self._recent: deque[Event] = deque(maxlen=replay_buffer)
        # Published on the loop, not yet delivered (one a turn, see _deliver_in_turns).
        self._waiting: deque[Event] = deque()
        # List rows held back until ROW_DELAY has passed (see _sort), and the timer for them.
        self._held_rows: list[Event] = []
        self._rows_timer: asyncio.TimerHandle | None = None
        self._seq = itertools.count(1)
        self._last = 0
        self._backlog = backlog
        self._enrichers: list[Enricher] = []
        self._loop: asyncio.AbstractEventLoop | None = None
        self._lock = threading.Lock()

    def bind_loop(self, loop: asyncio.AbstractEventLoop) -> None:
        """Publishing from another thread (a CLI, a worker) hops onto this loop."""
        self._loop = loop

    def add_enricher(self, enricher: Enricher) -> None:
        self._enrichers.append(enricher)

    @property
    def last_seq(self) -> int:
        return self._last

    def publish(self, events: Iterable[Event]) -> None:
        batch = list(events)
        if not batch:
            return
        loop = self._loop
        if loop is None or loop.is_closed():
            # No loop to wait on (a command, a test without a server): all at once, in order.
            self._send(batch)
            return
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            running = None
        if running is not loop:
            loop.call_soon_threadsafe(self._sort, batch)
            return
        self._sort(batch)

    def _sort(self, batch: list[Event]) -> None:
        """On the loop: what a commit published goes now, its list rows after ROW_DELAY."""
        now = [event for event in batch if event.type not in LIST_ROW_EVENTS]
        if now:
            self._send(now)
        rows = [event for event in batch if event.type in LIST_ROW_EVENTS]
        if not rows:
            return
        for event in rows:
            self._hold_row(event)
        if self._rows_timer is None:
            self._rows_timer = asyncio.get_running_loop().call_later(ROW_DELAY, self._release_rows)

    def _hold_row(self, event: Event) -> None:
        """A row waiting for its turn replaces an older one that says the same thing: same
        conversation, same kind of change, same audience. The newer row shows the later
        state, and a browser reacts to both alike."""
        for i, held in enumerate(self._held_rows):
            if (
                held.type == event.type == "conversation.updated"
                and held.data.get("conversation_id") == event.data.get("conversation_id")
                and held.data.get("change") == event.data.get("change")
                and held.audience == event.audience
            ):
                del self._held_rows[i]
                break
        self._held_rows.append(event)

    def _release_rows(self) -> None:
        rows, self._held_rows = self._held_rows, []
        self._rows_timer = None
        self._send(rows)

    def _send(self, batch: list[Event]) -> None:
        """Number and fan out, in order. Another backend (Redis) sends to its server here."""
        try:
            on_loop = asyncio.get_running_loop() is self._loop
        except RuntimeError:
            on_loop = False
        if on_loop:
            self._deliver_in_turns(batch)
            return
        for event in batch:
            self._deliver(event)

    def _deliver_in_turns(self, batch: list[Event]) -> None:
        """One event a loop turn, in the order published: the sockets woken by an event send
        it before the next one is rendered. With nothing waiting, the first goes at once."""
        idle = not self._waiting
        self._waiting.extend(batch)
        if idle:
            self._deliver_next()

    def _deliver_next(self) -> None:
        try:
            self._deliver(self._waiting.popleft())
        finally:
            if self._waiting:
                asyncio.get_running_loop().call_soon(self._deliver_next)

    def _enrich(self, event: Event) -> None:
        for enrich in self._enrichers:
            try:
                enrich(event)
            except Exception:  # a broken fragment must not stop delivery
                log.exception("enricher failed for %s", event.type)
        # The rows were for the renderer: the replay buffer must not keep them alive.
        event.loaded = ()

    def _deliver(self, event: Event) -> None:
        self._enrich(event)
        with self._lock:
            event.seq = next(self._seq)
            self._last = event.seq
            self._recent.append(event)
        for sub in list(self._subs):
            sub.offer(event)

    def subscribe(self, accepts: EventFilter) -> Subscription:
        sub = Subscription(accepts, self._backlog)
        self._subs.add(sub)
        return sub

    def unsubscribe(self, sub: Subscription) -> None:
        self._subs.discard(sub)

    def replay(self, since: int, accepts: EventFilter) -> list[Event] | None:
        with self._lock:
            recent = list(self._recent)
        if since > self._last:
            # A number from before a restart: what happened since cannot be known.
            return None
        if since == self._last:
            return []
        if not recent or recent[0].seq > since + 1:
            return None
        return [e for e in recent if e.seq > since and accepts(e)]
