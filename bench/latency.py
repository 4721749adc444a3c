"""End-to-end latency: an API-channel POST until its frame reaches 50 agents' websockets.

Two uvicorn subprocesses run side by side: the real app (bench/serve_app.py) on a fresh SQLite
file, and the floor (bench/serve_floor.py), a bare Starlette POST that broadcasts to its
sockets. This process signs 50 agents in, opens their websockets to each server, then sends
POSTs at a steady rate to each, interleaved message by message (the floor's half-way between
two of the app's), so that a noisy neighbour's burst hurts both alike; `interleave=False`
alternates in blocks of seconds instead, as earlier rounds did (docs/performance.md). Each
latency runs from just before a POST is sent to the arrival of its `message.created` frame
on one socket; p50 and p99 are over every (message, socket) pair. Afterwards each server
takes a burst of POSTs with no sockets open: ingest over HTTP.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import json
import os
import tempfile
import time
from collections.abc import Callable, Coroutine, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from websockets.asyncio.client import ClientConnection, connect

from inbox.accounts import (
    do_create_agent,
    do_create_inbox,
    do_create_token,
    hash_password,
)
from inbox.bus import MemoryBus
from inbox.db import Database, make_engine
from inbox.migrate import upgrade

from .servers import free_port, serving
from .stats import percentile
from .trace import TRACE_PATH

PASSWORD = "bench-password-1"
# Untimed messages before the measured ones, numbered apart from them.
WARM_UP = 20
WARM_UP_FIRST = 500_000
SESSION_COOKIE = "handoff_session"


@dataclass
class Target:
    """One server under test and what this process holds open to it."""

    name: str
    base: str
    post_path: str
    headers: dict[str, str]
    body: Callable[[int], dict[str, Any]]
    # The id a frame will carry, read from the POST's answer.
    answer_id: Callable[[dict[str, Any]], int]
    sockets: list[ClientConnection] = field(default_factory=list)
    arrivals: list[list[tuple[float, str]]] = field(default_factory=list)
    sent: dict[int, float] = field(default_factory=dict)
    # message.created frames seen so far, counted as they arrive, to know when a block is over.
    created_frames: int = 0
    post_seconds: list[float] = field(default_factory=list)
    failed_posts: int = 0


@dataclass
class Latency:
    name: str
    samples: list[float]
    messages: int
    sockets: int
    missing: int
    post_seconds: list[float]
    failed_posts: int

    @property
    def p50(self) -> float:
        return percentile(self.samples, 50)

    @property
    def p99(self) -> float:
        return percentile(self.samples, 99)


@dataclass
class Ingest:
    name: str
    count: int
    seconds: float
    failed: int

    @property
    def per_second(self) -> float:
        return self.count / self.seconds if self.seconds else 0.0


@dataclass
class Outcome:
    app: Latency
    floor: Latency
    app_ingest: Ingest
    floor_ingest: Ingest
    # Stage timings inside the app's process (bench/trace.py), seconds per message.
    stages: dict[str, list[float]]
    floor_stages: dict[str, list[float]]


def prepare_app_database(url: str, agents: int) -> tuple[int, str, list[str]]:
    """A migrated database with `agents` agents in one api inbox; (inbox id, token, emails)."""
    engine = make_engine(url)
    upgrade(engine)
    db = Database(engine, MemoryBus())
    password_hash = hash_password(PASSWORD)
    with db.session() as session:
        admin = do_create_agent(
            session=session, email="latency-admin@bench.example", name="Bench Admin", role="admin"
        )
        members = []
        for n in range(agents):
            agent = do_create_agent(
                session=session, email=f"agent{n}@bench.example", name=f"Agent {n}"
            )
            # One Argon2 hash for all: hashing fifty times would only slow the setup down.
            agent.password_hash = password_hash
            members.append(agent)
        inbox = do_create_inbox(
            session=session,
            name="Bench API",
            channel="api",
            member_ids=[a.id for a in members if a.id is not None],
        )
        token = do_create_token(session=session, agent=admin, label="bench")
        session.commit()
        assert inbox.id is not None
        emails = [a.email for a in members]
    engine.dispose()
    return inbox.id, token, emails


async def sign_in(http: httpx.AsyncClient, base: str, email: str) -> str:
    response = await http.post(
        base + "/login", data={"email": email, "password": PASSWORD}, follow_redirects=False
    )
    cookie = response.cookies.get(SESSION_COOKIE)
    if response.status_code != 303 or not cookie:
        raise RuntimeError(f"sign-in for {email} answered {response.status_code}")
    return cookie


async def open_sockets(target: Target, cookies: list[str | None]) -> None:
    ws_base = target.base.replace("http://", "ws://")
    for cookie in cookies:
        headers = {"Origin": target.base}
        if cookie:
            headers["Cookie"] = f"{SESSION_COOKIE}={cookie}"
        ws = await connect(ws_base + "/ws", additional_headers=headers, ping_interval=None)
        hello = json.loads(await ws.recv())
        if hello.get("type") != "hello":
            raise RuntimeError(f"{target.name} websocket said {hello!r} first")
        target.sockets.append(ws)
        target.arrivals.append([])


async def read_frames(target: Target, index: int) -> None:
    # Only the arrival time and the raw text here: parsing waits until the run is over, so
    # this process spends as little as possible between frames.
    sink = target.arrivals[index]
    try:
        async for raw in target.sockets[index]:
            sink.append((time.perf_counter(), str(raw)))
            if '"message.created"' in raw:
                target.created_frames += 1
    except Exception:  # a closed socket ends the reader; the count of frames tells the rest
        return


async def post_one(http: httpx.AsyncClient, target: Target, n: int) -> None:
    start = time.perf_counter()
    try:
        response = await http.post(
            target.base + target.post_path, json=target.body(n), headers=target.headers
        )
    except httpx.HTTPError:
        target.failed_posts += 1
        return
    target.post_seconds.append(time.perf_counter() - start)
    if response.status_code not in (200, 201):
        target.failed_posts += 1
        return
    target.sent[target.answer_id(response.json())] = start


async def steady_block(
    http: httpx.AsyncClient, target: Target, first: int, count: int, rate: float
) -> None:
    """`count` POSTs at `rate` a second, each sent on time whatever the previous ones do."""
    await interleaved_block(http, (target,), first, count, rate)


async def interleaved_block(
    http: httpx.AsyncClient, targets: Sequence[Target], first: int, count: int, rate: float
) -> None:
    """`count` POSTs to each target at `rate` a second, each on time, the targets' turns
    spread evenly: at 20 a second and two targets, one POST every 25 ms, in turn."""
    loop = asyncio.get_running_loop()
    begin = loop.time() + 0.05
    tasks = []
    for i in range(count):
        for j, target in enumerate(targets):
            delay = begin + (i + j / len(targets)) / rate - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            tasks.append(asyncio.create_task(post_one(http, target, first + i)))
    await asyncio.gather(*tasks)


async def alternating_blocks(
    http: httpx.AsyncClient, targets: Sequence[Target], per_block: int, blocks: int, rate: float
) -> None:
    """`blocks` steady blocks of `per_block` POSTs to each target, the targets taking turns."""
    for block in range(blocks):
        for target in targets:
            await steady_block(http, target, block * per_block, per_block, rate)
            # Let the last frames of this block land before the other server starts.
            await wait_for_frames([target], timeout=2.0)


async def warm_up(http: httpx.AsyncClient, target: Target, rate: float) -> None:
    """A second of untimed messages first: the first ones a fresh server handles fill its
    caches (templates compiled, statements prepared) and take ten times as long."""
    await steady_block(http, target, WARM_UP_FIRST, WARM_UP, rate)
    await wait_for_frames([target], timeout=5.0)
    target.sent.clear()
    target.post_seconds.clear()
    target.failed_posts = 0
    target.created_frames = 0
    for arrivals in target.arrivals:
        arrivals.clear()


def frames_for(target: Target) -> list[tuple[int, float]]:
    """(socket index, latency) for every message.created frame of a message this run sent."""
    out = []
    for index, arrivals in enumerate(target.arrivals):
        for at, raw in arrivals:
            frame = json.loads(raw)
            if frame.get("type") != "message.created":
                continue
            sent = target.sent.get(frame.get("data", {}).get("message_id"))
            if sent is not None:
                out.append((index, at - sent))
    return out


async def wait_for_frames(targets: list[Target], timeout: float) -> None:
    deadline = time.perf_counter() + timeout
    while time.perf_counter() < deadline:
        if all(t.created_frames >= len(t.sent) * len(t.sockets) for t in targets):
            return
        await asyncio.sleep(0.1)


async def burst(http: httpx.AsyncClient, target: Target, first: int, count: int) -> Ingest:
    """`count` POSTs, four at a time, as fast as the server answers (bounded to 60 s)."""
    queue = iter(range(first, first + count))
    done = 0
    deadline = time.perf_counter() + 60

    async def worker() -> None:
        nonlocal done
        for n in queue:
            if time.perf_counter() > deadline:
                return
            await post_one(http, target, n)
            done += 1

    failed_before = target.failed_posts
    start = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(4)))
    seconds = time.perf_counter() - start
    return Ingest(target.name, done, seconds, target.failed_posts - failed_before)


def latency_of(target: Target) -> Latency:
    found = frames_for(target)
    expected = len(target.sent) * len(target.sockets)
    return Latency(
        name=target.name,
        samples=[lat for _, lat in found],
        messages=len(target.sent),
        sockets=len(target.sockets),
        missing=expected - len(found),
        post_seconds=list(target.post_seconds),
        failed_posts=target.failed_posts,
    )


async def measure(
    app_base: str,
    floor_base: str,
    inbox_id: int,
    token: str,
    emails: list[str],
    *,
    rate: float,
    seconds: float,
    blocks: int,
    ingest_count: int,
    interleave: bool = True,
) -> Outcome:
    app = Target(
        name="handoff",
        base=app_base,
        post_path=f"/api/v1/inboxes/{inbox_id}/messages",
        headers={"Authorization": f"Bearer {token}"},
        body=lambda n: {
            # Forty customers: the first message of each opens a conversation, later ones
            # land in it, as a live inbox mixes both.
            "contact": {
                "identifier": f"customer-{n % 40}",
                "name": f"Customer {n % 40}",
                "email": f"customer{n % 40}@example.com",
            },
            "content": f"Message {n}: the parcel has not arrived yet, can you check?",
            "external_id": f"bench-{n}",
        },
        answer_id=lambda answer: int(answer["message"]["id"]),
    )
    floor = Target(
        name="floor",
        base=floor_base,
        post_path="/messages",
        headers={},
        body=lambda n: {"id": n, "content": f"Message {n}"},
        answer_id=lambda answer: int(answer["id"]),
    )
    limits = httpx.Limits(max_connections=32, max_keepalive_connections=32)
    async with httpx.AsyncClient(limits=limits, timeout=10.0) as http:
        async with httpx.AsyncClient(timeout=30.0) as signer:
            cookies = []
            for email in emails:
                # One agent per cookie jar: a session cookie on the next sign-in would make
                # it a CSRF-checked request.
                signer.cookies.clear()
                cookies.append(await sign_in(signer, app_base, email))
        await open_sockets(app, list(cookies))
        await open_sockets(floor, [None] * len(emails))
        readers = [
            asyncio.create_task(read_frames(target, index))
            for target in (app, floor)
            for index in range(len(target.sockets))
        ]
        for target in (floor, app):
            await warm_up(http, target, rate)
        per_block = max(1, round(rate * seconds / blocks))
        # This process's own collector would pause its reading of frames at random, a
        # harness's noise (timeit turns it off for the same reason); the servers keep theirs.
        gc.collect()
        gc.disable()
        try:
            if interleave:
                await interleaved_block(http, (floor, app), 0, per_block * blocks, rate)
            else:
                await alternating_blocks(http, (floor, app), per_block, blocks, rate)
            await wait_for_frames([app, floor], timeout=5.0)
        finally:
            gc.enable()
        for target in (app, floor):
            for ws in target.sockets:
                await ws.close()
        await asyncio.gather(*readers)
        app_latency, floor_latency = latency_of(app), latency_of(floor)
        stages = (await http.get(app_base + TRACE_PATH)).json()
        floor_stages = (await http.get(floor_base + TRACE_PATH)).json()
        app_ingest = await burst(http, app, 1_000_000, ingest_count)
        floor_ingest = await burst(http, floor, 1_000_000, ingest_count)
    return Outcome(app_latency, floor_latency, app_ingest, floor_ingest, stages, floor_stages)


def run(
    *,
    agents: int,
    rate: float,
    seconds: float,
    blocks: int,
    ingest_count: int,
    database: Path | None = None,
    app_args: Sequence[str] = (),
    before_stop: Callable[[], None] | None = None,
    interleave: bool = True,
) -> Outcome:
    """`database`: serve the app on this SQLite file (the agents and inbox are added to it)
    instead of a fresh one; `app_args`: more arguments for bench/serve_app.py;
    `before_stop`: called once measured, while both servers still run."""
    with tempfile.TemporaryDirectory(prefix="handoff-bench-") as tmp:
        url = f"sqlite:///{database or Path(tmp) / 'latency.db'}"
        inbox_id, token, emails = prepare_app_database(url, agents)
        app_port, floor_port = free_port(), free_port()
        app_log, floor_log = Path(tmp) / "app.log", Path(tmp) / "floor.log"
        server_cpus, client_cpus = split_cpus()
        with (
            serving(
                "bench.serve_app",
                ["--database-url", url, "--trace-sockets", str(agents), *app_args],
                app_port,
                app_log,
                cpus=server_cpus,
            ) as app_base,
            # Traced like the app: the instrumentation's own cost falls on both sides.
            serving(
                "bench.serve_floor",
                ["--trace-sockets", str(agents)],
                floor_port,
                floor_log,
                cpus=server_cpus,
            ) as floor_base,
            on_cpus(client_cpus),
        ):
            coro = measure(
                app_base,
                floor_base,
                inbox_id,
                token,
                emails,
                rate=rate,
                seconds=seconds,
                blocks=blocks,
                ingest_count=ingest_count,
                interleave=interleave,
            )
            outcome = _run_loop(coro)
            if before_stop is not None:
                before_stop()
            return outcome


def split_cpus() -> tuple[set[int], set[int]]:
    """(the servers' CPU, the client's CPUs): the two servers take turns on one CPU, the client
    keeps the rest. Left to the scheduler, the client and the server under test share a CPU
    in some runs and not in others, and a run's 50 frames then reach the client in 0.5 or in
    1.7 ms, whichever server it is: noise as large as what is measured. (empty, empty) on a
    single CPU."""
    cpus = sorted(os.sched_getaffinity(0))
    if len(cpus) < 2:
        return set(), set()
    return {cpus[-1]}, set(cpus[:-1])


@contextlib.contextmanager
def on_cpus(cpus: set[int]) -> Iterator[None]:
    """This process on `cpus` for the block (all of them when empty)."""
    before = os.sched_getaffinity(0)
    if cpus:
        os.sched_setaffinity(0, cpus)
    try:
        yield
    finally:
        os.sched_setaffinity(0, before)


def _run_loop(coro: Coroutine[Any, Any, Outcome]) -> Outcome:
    try:
        import uvloop
    except ImportError:  # uvicorn[standard] brings it; the plain loop measures the same way
        return asyncio.run(coro)
    # The servers run on uvloop (uvicorn's default when installed); so does this client.
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        return runner.run(coro)
