"""Start a coroutine at once, in the caller, and make a task only if it has to wait.

A websocket send almost never waits: the frame goes into the socket's buffer and the call
returns. Sending one event to 50 browsers from 50 tasks costs 50 task switches, about 5 µs
each next to a send's 15 (docs/performance.md). Started here, a send that completes costs no
switch; one that must wait (a browser that reads slowly) goes on as an ordinary task and
holds up nobody. Python 3.12's eager task factory does the same for every task of a loop; this
does it for the one call that needs it, on 3.11 too.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine, Generator
from typing import Any


def start_eagerly(coro: Coroutine[Any, Any, None]) -> asyncio.Task[None] | None:
    """Run `coro` up to its first wait. None when it finished (an exception it raised is
    raised here); otherwise a task that runs the rest, on the running loop."""
    try:
        waiting_on = coro.send(None)
    except StopIteration:
        return None
    return asyncio.ensure_future(_finish(coro, waiting_on))


async def _finish(coro: Coroutine[Any, Any, None], waiting_on: Any) -> None:
    await _Rest(coro, waiting_on)


class _Rest:
    """The rest of a coroutine that was started by hand and yielded `waiting_on` (a future,
    or None for a bare `sleep(0)`): the task waits on that, then resumes the coroutine."""

    def __init__(self, coro: Coroutine[Any, Any, None], waiting_on: Any) -> None:
        self.coro = coro
        self.waiting_on = waiting_on

    def __await__(self) -> Generator[Any, None, None]:
        try:
            yield self.waiting_on
        except BaseException:
            # Cancelled while waiting: the coroutine must not stay suspended half-way.
            self.coro.close()
            raise
        yield from self.coro.__await__()
