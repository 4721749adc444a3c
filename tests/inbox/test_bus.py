"""The in-process bus: ordered numbering, filtering, replay and the bounded backlog."""

from __future__ import annotations

import asyncio

from inbox.bus import ROW_DELAY, MemoryBus
from inbox.events import Audience, Event


def make(i: int) -> Event:
    return Event("x", {"i": i}, Audience(agent_ids=frozenset({1})))


def test_events_are_numbered_and_filtered() -> None:
    bus = MemoryBus(replay_buffer=10, backlog=10)
    odd = bus.subscribe(lambda e: e.data["i"] % 2 == 1)
    bus.publish(make(i) for i in range(4))
    got = [odd.queue.get_nowait().data["i"] for _ in range(odd.queue.qsize())]
    assert got == [1, 3] and bus.last_seq == 4


def test_replay_returns_what_was_missed_or_none_when_gone() -> None:
    bus = MemoryBus(replay_buffer=3, backlog=10)
    bus.publish(make(i) for i in range(5))
    replay = bus.replay(3, lambda e: True)
    assert replay is not None and [e.seq for e in replay] == [4, 5]
    assert bus.replay(0, lambda e: True) is None, "seq 1 and 2 are no longer kept"
    assert bus.replay(5, lambda e: True) == []


def test_a_slow_subscriber_overflows_without_holding_up_others() -> None:
    bus = MemoryBus(replay_buffer=100, backlog=2)
    slow = bus.subscribe(lambda e: True)
    fast = bus.subscribe(lambda e: True)
    for i in range(3):
        bus.publish([make(i)])
        fast.queue.get_nowait()
    assert slow.overflowed and not fast.overflowed


def test_a_number_from_before_a_restart_asks_for_a_resync() -> None:
    bus = MemoryBus(replay_buffer=3, backlog=10)
    bus.publish([make(1)])
    assert bus.replay(500, lambda e: True) is None


async def test_on_the_loop_events_go_one_a_turn_in_the_order_published() -> None:
    bus = MemoryBus(replay_buffer=100, backlog=100)
    bus.bind_loop(asyncio.get_running_loop())
    sub = bus.subscribe(lambda e: True)
    seen: list[tuple[int, int]] = []  # (event, how many were delivered when it was read)

    async def reader() -> None:
        while True:
            event = await sub.queue.get()
            seen.append((event.data["i"], bus.last_seq))

    task = asyncio.create_task(reader())
    await asyncio.sleep(0)
    bus.publish([make(1), make(2)])  # a commit's two events
    bus.publish([make(3)])  # a second commit in the same turn
    assert bus.last_seq == 1, "the first goes at once, the rest wait their turn"
    for _ in range(10):
        await asyncio.sleep(0)
    task.cancel()
    assert [i for i, _ in seen] == [1, 2, 3]
    assert seen[0] == (1, 1), "the reader had event 1 before event 2 was delivered"


def row(conversation_id: int, change: str, *, created: bool = False, team: int = 1) -> Event:
    return Event(
        "conversation.created" if created else "conversation.updated",
        {"conversation_id": conversation_id, "change": change},
        Audience(conversation_id=conversation_id, inbox_id=1, team_id=team, tier=1),
    )


def test_without_a_loop_list_rows_go_at_once() -> None:
    # A command or a worker thread with no server: nothing would ever release held rows.
    bus = MemoryBus(replay_buffer=100, backlog=100)
    sub = bus.subscribe(lambda e: True)
    bus.publish([make(1), row(7, "message")])
    assert [sub.queue.get_nowait().type for _ in range(2)] == ["x", "conversation.updated"]


async def test_list_rows_follow_the_message_frames_of_their_commit() -> None:
    bus = MemoryBus(replay_buffer=100, backlog=100)
    bus.bind_loop(asyncio.get_running_loop())
    sub = bus.subscribe(lambda e: True)
    bus.publish([make(1), row(7, "message", created=True)])
    for _ in range(5):
        await asyncio.sleep(0)
    assert [sub.queue.get_nowait().type for _ in range(sub.queue.qsize())] == ["x"]
    await asyncio.sleep(ROW_DELAY * 3)
    later = sub.queue.get_nowait()
    assert (later.type, later.seq) == ("conversation.created", 2)


async def test_a_burst_of_one_conversation_becomes_one_row() -> None:
    bus = MemoryBus(replay_buffer=100, backlog=100)
    bus.bind_loop(asyncio.get_running_loop())
    sub = bus.subscribe(lambda e: True)
    bus.publish([row(7, "message", created=True)])
    for n in range(5):
        bus.publish([make(n), row(7, "message")])
    bus.publish([row(7, "status"), row(8, "message")])
    bus.publish([row(7, "message", team=2)])  # another audience: both teams must hear
    await asyncio.sleep(ROW_DELAY * 3)
    got = [sub.queue.get_nowait() for _ in range(sub.queue.qsize())]
    rows = [(e.type, e.data["conversation_id"], e.data["change"]) for e in got if e.type != "x"]
    assert rows == [
        ("conversation.created", 7, "message"),
        ("conversation.updated", 7, "message"),
        ("conversation.updated", 7, "status"),
        ("conversation.updated", 8, "message"),
        ("conversation.updated", 7, "message"),
    ]
    assert [e.seq for e in got] == list(range(1, len(got) + 1)), "numbered as delivered"
    assert bus.replay(0, lambda e: True) is not None, "nothing held back is missing from replay"


async def test_rows_published_from_another_thread_are_held_too() -> None:
    bus = MemoryBus(replay_buffer=100, backlog=100)
    bus.bind_loop(asyncio.get_running_loop())
    sub = bus.subscribe(lambda e: True)
    await asyncio.to_thread(bus.publish, [make(1), row(7, "message")])
    got = await asyncio.wait_for(sub.queue.get(), 1)
    assert got.type == "x" and sub.queue.empty()
    assert (await asyncio.wait_for(sub.queue.get(), 1)).type == "conversation.updated"
