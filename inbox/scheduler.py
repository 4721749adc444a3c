"""The SLA timer loop (docs/concepts/sla.md#the-timer): sleeps until the next due moment, then
runs what is due. No periodic sweep.

A heap of (next_timer_at, conversation id), loaded from the database on start (so timers
survive restarts), tells the loop how long to sleep. A change that moves a timer earlier
publishes `conversation.timer` after its commit, which wakes the loop at once. Every few
seconds the loop also asks the database for its earliest timer, to notice timers set by
another process. The heap is only a hint: `ladder.run_due` reads the database and runs each
stage exactly once, so a stale or doubled heap entry costs one empty look.

In a busy minute (docs/performance.md#sla-timers) the loop lets due moments gather for up to
GATHER before a pass: a pass has a fixed cost, and one every few milliseconds would spend more
on that than on the stages. A pass runs a group of conversations at a time in a worker thread,
back on the event loop between groups, so that the loop's other work (websockets, in the app)
never waits for a whole pass.
"""

from __future__ import annotations

import asyncio
import contextlib
import heapq
import logging
import time
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any, TypeVar

import httpx
from sqlmodel import Session, col, func, select

from .clock import Clock, SystemClock
from .db import Database
from .events import Event
from .ladder import DuePass, run_due
from .models import Conversation
from .notifiers.sender import run_alert_sender
from .sla import TIMER_EVENT

T = TypeVar("T")
log = logging.getLogger("handoff.sla")

# Longest sleep: how late a timer set by another process can be noticed.
MAX_WAIT = timedelta(seconds=3)
# Shortest time between the starts of two passes: what a stage may wait for others to come
# due with it, well inside the promise of a second.
GATHER = timedelta(milliseconds=200)


def _is_timer(event: Event) -> bool:
    return event.type == TIMER_EVENT


class SlaTimer:
    def __init__(
        self,
        db: Database,
        clock: Clock | None = None,
        max_wait: timedelta = MAX_WAIT,
        gather: timedelta = GATHER,
    ) -> None:
        self.db = db
        self.clock = clock or SystemClock()
        self.max_wait = max_wait
        self.gather = gather
        self.heap: list[tuple[datetime, int]] = []
        self._queued: set[tuple[datetime, int]] = set()

    def load(self) -> None:
        """Every pending timer, from the database."""
        with self.db.session() as session:
            rows = session.exec(
                select(Conversation.next_timer_at, Conversation.id).where(
                    col(Conversation.next_timer_at).is_not(None)
                )
            ).all()
        self._queued = {(at, i) for at, i in rows if at is not None and i is not None}
        self.heap = list(self._queued)
        heapq.heapify(self.heap)

    def push(self, at: datetime, conversation_id: int) -> None:
        if (at, conversation_id) not in self._queued:
            self._queued.add((at, conversation_id))
            heapq.heappush(self.heap, (at, conversation_id))

    def earliest_in_database(self) -> None:
        """Catch timers another process set: push the database's earliest."""
        with self.db.session() as session:
            row = session.exec(select(func.min(Conversation.next_timer_at))).first()
        if row is not None:
            self.push(row, 0)

    def next_at(self) -> datetime | None:
        return self.heap[0][0] if self.heap else None

    def run_due_now(self, now: datetime) -> list[str]:
        """Pop what is due and run it; returns the stage keys that fired."""
        if not self._pop_due(now):
            return []
        with self.db.session() as session:
            fired = run_due(session, now)
            self._push_upcoming(session)
        return fired

    async def run_due_in_steps(self, now: datetime) -> list[str]:
        """As `run_due_now`, a group of conversations a step in a worker thread, handing the
        event loop back between steps."""
        if not self._pop_due(now):
            return []
        with self.db.session() as session:  # used by one thread at a time
            due_pass = await _in_thread(DuePass, session, now)
            while await _in_thread(due_pass.step, session):
                await asyncio.sleep(0)
            await _in_thread(self._push_upcoming, session)
        return due_pass.fired

    def _pop_due(self, now: datetime) -> bool:
        if not self.heap or self.heap[0][0] > now:
            return False
        while self.heap and self.heap[0][0] <= now:
            self._queued.discard(heapq.heappop(self.heap))
        return True

    def _push_upcoming(self, session: Session) -> None:
        """What the pass scheduled next (retries included) goes back on the heap."""
        upcoming = session.exec(select(func.min(Conversation.next_timer_at))).first()
        if upcoming is not None:
            self.push(upcoming, 0)

    async def run(self) -> None:
        sub = self.db.bus.subscribe(_is_timer)
        last_pass = -float("inf")
        try:
            await asyncio.to_thread(self.load)
            while True:
                # Real time, not the clock's: this spaces work out, it decides nothing.
                await asyncio.sleep(last_pass + self.gather.total_seconds() - time.monotonic())
                now = self.clock.now()
                try:
                    if self.heap and self.heap[0][0] <= now:
                        last_pass = time.monotonic()
                    fired = await self.run_due_in_steps(now)
                    if fired:
                        log.info("SLA stages fired: %s", ", ".join(fired))
                except Exception:
                    if being_cancelled():
                        raise  # an error met on the way out must not keep the loop alive
                    log.exception("SLA timer run failed; retrying")
                    self.push(now + timedelta(seconds=5), 0)
                await self._sleep(sub.queue)
                if sub.overflowed:  # missed wake-ups: the database knows every timer
                    while not sub.queue.empty():
                        sub.queue.get_nowait()
                    sub.overflowed = False
                    await asyncio.to_thread(self.load)
        finally:
            self.db.bus.unsubscribe(sub)

    async def _sleep(self, wakes: asyncio.Queue[Event]) -> None:
        """Until the next timer, a wake-up event, or the bounded wait, whichever comes first."""
        now = self.clock.now()
        at = self.next_at()
        wait = self.max_wait if at is None else min(self.max_wait, max(at - now, timedelta(0)))
        if wait <= timedelta(0):
            return
        try:
            # Not asyncio.wait_for: on 3.11 it can swallow a cancel that meets an arriving
            # event, and the loop then never ends (a shutdown that hangs).
            async with asyncio.timeout(wait.total_seconds()):
                event = await wakes.get()
        except TimeoutError:
            await asyncio.to_thread(self.earliest_in_database)
            return
        self.push(datetime.fromisoformat(event.data["at"]), int(event.data["conversation_id"]))
        while not wakes.empty():
            more = wakes.get_nowait()
            self.push(datetime.fromisoformat(more.data["at"]), int(more.data["conversation_id"]))


async def _in_thread(func: Callable[..., T], *args: Any) -> T:
    """`func` in a worker thread. Cancelled meanwhile, it waits for the thread to finish
    before the cancel goes on: the caller then closes the session the thread was using, and
    closing it under the thread failed with an error that replaced the cancel (the loop ran
    on, and shutdown waited for it forever)."""
    future = asyncio.ensure_future(asyncio.to_thread(func, *args))
    try:
        return await asyncio.shield(future)
    except asyncio.CancelledError:
        await _wait_out(future)
        raise


async def _wait_out(future: asyncio.Future[Any]) -> None:
    """Until the thread behind `future` is done, whatever it ended with; a second cancel
    meanwhile does not cut the wait short (the thread would still hold the session)."""
    while not future.done():
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await asyncio.shield(future)
    if not future.cancelled():
        future.exception()  # retrieved: its error was the step's, and the cancel wins


def being_cancelled() -> bool:
    """Whether the running task has been asked to stop, even if a library swallowed the
    CancelledError on its way out (asyncio.wait_for can, on Python 3.11)."""
    task = asyncio.current_task()
    return task is not None and task.cancelling() > 0


async def run_sla_timers(db: Database, http: httpx.AsyncClient, *, base_url: str) -> None:
    """The timer loop and the alert sender, for the app's lifespan."""
    timer = asyncio.create_task(SlaTimer(db).run(), name="sla-timer")
    sender = asyncio.create_task(run_alert_sender(db, http, base_url=base_url), name="alerts")
    try:
        await asyncio.gather(timer, sender)
    finally:
        for task in (timer, sender):
            task.cancel()
        for task in (timer, sender):
            with contextlib.suppress(asyncio.CancelledError):
                await task
