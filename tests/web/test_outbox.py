"""Frames to one agent's browser: written on the spot when nothing is pending, in order always.

A fake socket stands in for the browser here because what is tested is the order of writes
when a send has to wait, which a real socket only does under memory pressure; the real socket
path is covered by tests/web/test_realtime.py and the browser tests.
"""

from __future__ import annotations

import asyncio

from inbox.bus import MemoryBus
from inbox.events import Audience, Event
from web.eager import start_eagerly
from web.realtime import Outbox


class FakeSocket:
    """Records frames; while `hold` is set, a send waits until it is cleared."""

    def __init__(self) -> None:
        self.frames: list[int] = []
        self.hold: asyncio.Event | None = None

    async def send_text(self, text: str) -> None:
        if self.hold is not None:
            await self.hold.wait()
        self.frames.append(int(text.split('"seq": ')[1].split(",")[0]))


def make(i: int) -> Event:
    return Event("x", {"i": i}, Audience(agent_ids=frozenset({1})))


async def test_a_coroutine_that_never_waits_finishes_in_the_call() -> None:
    done: list[int] = []

    async def work() -> None:
        done.append(1)

    assert start_eagerly(work()) is None and done == [1]


async def test_a_coroutine_that_waits_goes_on_as_a_task() -> None:
    gate = asyncio.Event()
    done: list[str] = []

    async def work() -> None:
        done.append("started")
        await gate.wait()
        await asyncio.sleep(0)
        done.append("finished")

    task = start_eagerly(work())
    assert task is not None and done == ["started"]
    gate.set()
    await task
    assert done == ["started", "finished"]


async def test_cancelling_the_rest_closes_the_coroutine() -> None:
    closed: list[bool] = []

    async def work() -> None:
        try:
            await asyncio.Event().wait()
        finally:
            closed.append(True)

    task = start_eagerly(work())
    assert task is not None
    await asyncio.sleep(0)
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    assert task.cancelled() and closed == [True]


async def _pumping(outboxes: list[Outbox]) -> list[asyncio.Task[None]]:
    tasks = [asyncio.create_task(o.pump()) for o in outboxes]
    await asyncio.sleep(0)
    return tasks


async def test_a_slow_browser_gets_every_frame_in_order_and_holds_up_nobody() -> None:
    bus = MemoryBus(replay_buffer=100, backlog=100)
    bus.bind_loop(asyncio.get_running_loop())
    fast_ws, slow_ws = FakeSocket(), FakeSocket()
    slow_ws.hold = asyncio.Event()
    outboxes = []
    for ws in (fast_ws, slow_ws):
        sub = bus.subscribe(lambda e: True)
        outbox = Outbox(ws, sub, "en")  # type: ignore[arg-type]
        sub.take_now = outbox.take_now
        outboxes.append(outbox)
    tasks = await _pumping(outboxes)

    bus.publish([make(1)])
    assert fast_ws.frames == [1], "written in the publishing call, no task switch"
    for i in (2, 3):
        bus.publish([make(i)])
    for _ in range(5):
        await asyncio.sleep(0)
    assert fast_ws.frames == [1, 2, 3] and slow_ws.frames == []

    slow_ws.hold.set()
    for _ in range(10):
        await asyncio.sleep(0)
    assert slow_ws.frames == [1, 2, 3]
    bus.publish([make(4)])
    assert slow_ws.frames == [1, 2, 3, 4], "nothing pending again: on the spot"
    for task in tasks + [t for o in outboxes for t in o.stop()]:
        task.cancel()


async def test_a_replayed_event_that_also_arrives_live_is_sent_once() -> None:
    bus = MemoryBus(replay_buffer=100, backlog=100)
    bus.bind_loop(asyncio.get_running_loop())
    ws = FakeSocket()
    sub = bus.subscribe(lambda e: True)
    outbox = Outbox(ws, sub, "en")  # type: ignore[arg-type]
    bus.publish([make(1)])  # before take_now is set: queued, as during a replay
    await outbox.send(bus.replay(0, lambda e: True)[0])  # type: ignore[index]
    sub.take_now = outbox.take_now
    tasks = await _pumping([outbox])
    bus.publish([make(2)])
    for _ in range(5):
        await asyncio.sleep(0)
    assert ws.frames == [1, 2]
    for task in tasks:
        task.cancel()


async def test_a_socket_that_fails_on_the_spot_leaves_the_event_to_the_pump() -> None:
    bus = MemoryBus(replay_buffer=100, backlog=100)
    bus.bind_loop(asyncio.get_running_loop())

    class Gone(FakeSocket):
        async def send_text(self, text: str) -> None:
            raise RuntimeError("closed")

    sub = bus.subscribe(lambda e: True)
    outbox = Outbox(Gone(), sub, "en")  # type: ignore[arg-type]
    sub.take_now = outbox.take_now
    bus.publish([make(1)])
    assert sub.queue.qsize() == 1 and outbox.last_sent == 0
    pump = asyncio.create_task(outbox.pump())
    await asyncio.gather(pump, return_exceptions=True)
    assert isinstance(pump.exception(), RuntimeError), "the pump ends the connection"


async def test_events_lost_while_the_pump_waits_make_the_browser_resync() -> None:
    """The Redis bus losing its server marks every subscription without queuing anything:
    a pump waiting on an empty queue must still tell its browser."""
    bus = MemoryBus(replay_buffer=100, backlog=100)
    bus.bind_loop(asyncio.get_running_loop())
    closed: list[int] = []

    class Closing(FakeSocket):
        async def send_text(self, text: str) -> None:
            self.frames.append(-1 if '"resync"' in text else int(text.split('"seq": ')[1][0]))

        async def close(self, code: int, reason: str = "") -> None:
            closed.append(code)

    ws = Closing()
    sub = bus.subscribe(lambda e: True)
    outbox = Outbox(ws, sub, "en")  # type: ignore[arg-type]
    pump = asyncio.create_task(outbox.pump())
    await asyncio.sleep(0)
    sub.overflowed = True
    await asyncio.wait_for(pump, timeout=1)
    assert ws.frames == [-1] and closed == [1013]
