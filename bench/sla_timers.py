"""SLA timers under load (docs/performance.md#sla-timers): 100,000 open conversations with
timers, 10,000 of them coming due within one minute, run by the real timer loop.

    .venv/bin/python -m bench.run --only sla            # with the end-to-end latency beside it
    .venv/bin/python -m bench.sla_timers --profile      # where the time of one stage goes

The database (SQLite, cached under bench/.cache/) holds 100,000 open conversations whose SLA
fields are what `inbox.sla` would have stored: the SLA policy the default escalation policy
chooses, due times, the amber moment and `next_timer_at`, computed by `sla.next_timer` itself.
90,000 are a few minutes old, their first timers minutes away. 10,000 come due one after the
other, 6 ms apart, over one minute: half reach the warning of their first-response target
(with the ladder's "SLA warning" stage), half the breach (with "SLA breach"; their warnings
already ran). Each due moment therefore fires two stages: 20,000 stages in the minute.

Times are stored around a fixed ANCHOR; the timer gets a clock that ticks in real time but is
shifted so that ANCHOR comes LEAD seconds after the loop starts. Each stage's lateness is read
twice: `SlaStageRun.fired_at - due_at` as stored (fired_at is the moment the loop's pass
began), and the moment its transaction committed minus `due_at` (what a user would notice).
Alerts stay pending: no alert sender runs (no Slack, SMTP or SMS is configured).

The end-to-end latency benchmark (bench/latency.py) runs beside the firing twice: once with the
timer loop in a thread of this process, which also holds the latency client (the client then
shares its GIL with the firing, and reads its frames late), and once with the timer in a
process of its own, as a separate `handoff timers` process would run.

The floor is a raw sqlite3 loop on a file with the same PRAGMAs, inserting one stage row per
transaction: the cheapest a stage can possibly fire.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import cProfile
import hashlib
import multiprocessing
import pstats
import random
import shutil
import sqlite3
import tempfile
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, TypeVar

from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from sqlalchemy import event, insert, text
from sqlmodel import Session, SQLModel

from inbox.bus import MemoryBus
from inbox.calendar import add_business_time
from inbox.clock import utcnow
from inbox.db import Database, make_engine
from inbox.ladder import run_due
from inbox.migrate import upgrade
from inbox.models import Conversation
from inbox.policy import Policy
from inbox.policy_store import default_policy
from inbox.scheduler import SlaTimer
from inbox.search_index import catch_up
from inbox.sla import TARGETS, calendar_of, choose_sla, minutes, moments, next_timer, warning_at

from . import latency
from .dataset import CACHE, CHUNK, INBOXES, MIGRATIONS, _contact_chunks, _fixed_rows
from .report import Row
from .stats import ms, percentile

GENERATOR_VERSION = 2
ANCHOR = datetime(2026, 11, 24, 10, 0, tzinfo=UTC)  # a Tuesday morning: business hours
LEAD = 20.0  # seconds from the loop's start to the first due moment
WINDOW = 60.0  # the due moments spread over this many seconds
ON_TIME = 1.0
T = TypeVar("T")


@dataclass
class Plan:
    conversations: int = 100_000
    due: int = 10_000
    # The end-to-end latency benchmark beside it: seconds per server, as bench/run.py's.
    latency_seconds: float = 25.0

    @staticmethod
    def for_run(quick: bool) -> Plan:
        return Plan(10_000, 1_000, 8.0) if quick else Plan()


@dataclass
class Firing:
    """What the run measured."""

    expected: int
    stored: list[float] = field(default_factory=list)  # fired_at - due_at, seconds
    committed: list[float] = field(default_factory=list)  # commit moment - due_at, seconds
    duplicates: int = 0
    load_seconds: float = 0.0
    busy_seconds: float = 0.0

    @property
    def fired(self) -> int:
        return len(self.committed)

    @property
    def on_time(self) -> float:
        return sum(1 for s in self.committed if s <= ON_TIME) / self.fired if self.fired else 0.0

    @property
    def per_second(self) -> float:
        """Stages a second while the loop was busy firing: what it could sustain."""
        return self.fired / self.busy_seconds if self.busy_seconds else 0.0


def cache_path(plan: Plan) -> Path:
    digest = hashlib.sha256(f"{plan.conversations}:{plan.due}:{GENERATOR_VERSION}".encode())
    for path in sorted(MIGRATIONS.glob("*.py")):
        digest.update(path.read_bytes())
    return CACHE / f"sla-{plan.conversations}-{digest.hexdigest()[:12]}.db"


# --- the dataset ---


def _conversation(
    policy: Policy,
    cid: int,
    contact: dict[str, Any],
    channel: str,
    priority: str,
    created: datetime,
) -> Conversation:
    """An open, unanswered conversation as `sla.on_change` leaves it when created at `created`."""
    sla = choose_sla(
        policy, priority=priority, channel=channel, customer_tier=contact["customer_tier"]
    )
    assert sla is not None
    calendar = calendar_of(policy, sla)
    conversation = Conversation(
        id=cid,
        inbox_id=contact["inbox_id"],
        contact_id=contact["id"],
        status="open",
        priority=priority,
        created_at=created,
        last_activity_at=created,
        last_customer_message_at=created,
        preview="My order has not arrived, can you check?",
        sla_policy=sla.name,
        sla_started_at=created,
    )
    for target in ("first_response", "resolution"):
        target_minutes = minutes(sla, target)
        if target_minutes:
            at = add_business_time(calendar, created, timedelta(minutes=target_minutes))
            setattr(conversation, f"{target}_due_at", at)
    warnings = [
        warning_at(policy, sla, target, at)
        for target in TARGETS
        if (at := getattr(conversation, f"{target}_due_at")) is not None
    ]
    conversation.sla_warn_at = min(warnings, default=None)
    return conversation


def _rows(
    policy: Policy, plan: Plan, contacts: list[dict[str, Any]]
) -> Iterator[tuple[list[dict[str, Any]], list[dict[str, Any]]]]:
    """Chunks of (conversation rows, stage rows already run)."""
    rng = random.Random(20261124)
    step = timedelta(seconds=WINDOW) / plan.due
    channels = {i: channel for i, (_, channel) in enumerate(INBOXES, start=1)}
    columns = list(SQLModel.metadata.tables["conversation"].columns.keys())
    for start in range(1, plan.conversations + 1, CHUNK):
        conversations: list[dict[str, Any]] = []
        runs: list[dict[str, Any]] = []
        for cid in range(start, min(start + CHUNK, plan.conversations + 1)):
            contact = contacts[rng.randrange(len(contacts))]
            channel = channels[contact["inbox_id"]]
            if cid <= plan.due:
                # Due at ANCHOR + (cid - 1) * step: a 24/7 urgent policy, its first response's
                # warning (odd ids) or breach (even ids) falls exactly then.
                at = ANCHOR + step * (cid - 1)
                sla = choose_sla(
                    policy,
                    priority="urgent",
                    channel=channel,
                    customer_tier=contact["customer_tier"],
                )
                assert sla is not None and sla.calendar is None
                target = timedelta(minutes=minutes(sla, "first_response") or 0)
                lead = target * sla.warn_at if cid % 2 else target
                conversation = _conversation(policy, cid, contact, channel, "urgent", at - lead)
            else:
                priority = rng.choices(["low", "normal", "high", "urgent"], [10, 70, 15, 5])[0]
                created = ANCHOR - timedelta(seconds=rng.randint(0, 300))
                conversation = _conversation(policy, cid, contact, channel, priority, created)
            conversation.team_id = 1 + cid % 8
            conversation.assignee_id = None if cid % 4 == 0 else 3 + cid % 38
            # What already ran: every stage due before ANCHOR (the breaches' warnings).
            fired = set()
            for moment in moments(None, policy, conversation, None):  # type: ignore[arg-type]
                if moment.at < ANCHOR:
                    fired.add(moment.key)
                    runs.append(
                        {
                            "conversation_id": cid,
                            "stage_key": moment.key,
                            "due_at": moment.at,
                            "fired_at": moment.at,
                            "details": {"kind": moment.kind},
                        }
                    )
            conversation.next_timer_at = next_timer(
                None,  # type: ignore[arg-type]  # no escalation and `fired` given: unused
                policy,
                conversation,
                ANCHOR,
                fired=fired,
            )
            assert conversation.next_timer_at is not None
            if cid <= plan.due:
                assert conversation.next_timer_at == ANCHOR + step * (cid - 1)
            else:
                assert conversation.next_timer_at > ANCHOR + timedelta(minutes=5)
            row = {name: getattr(conversation, name) for name in columns}
            conversations.append(row)
        yield conversations, runs


def build(path: Path, plan: Plan, console: Console) -> None:
    engine = make_engine(f"sqlite:///{path}")
    upgrade(engine)
    policy = default_policy()
    tables = SQLModel.metadata.tables
    contacts: list[dict[str, Any]] = []
    with engine.begin() as conn:
        for name, rows in _fixed_rows().items():
            conn.execute(insert(tables[name]), rows)
    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn())
    with Progress(*columns, TimeElapsedColumn(), console=console, transient=True) as progress:
        count = plan.conversations * 6 // 10
        task = progress.add_task("contacts", total=count)
        for chunk in _contact_chunks(random.Random(7), count):
            with engine.begin() as conn:
                for name, rows in chunk.items():
                    conn.execute(insert(tables[name]), rows)
            inbox_of = {i["contact_id"]: i["inbox_id"] for i in chunk["contact_identity"]}
            contacts += [
                {"id": c["id"], "customer_tier": c["customer_tier"], "inbox_id": inbox_of[c["id"]]}
                for c in chunk["contact"]
            ]
            progress.advance(task, len(chunk["contact"]))
        task = progress.add_task("conversations with SLA timers", total=plan.conversations)
        for conversations, runs in _rows(policy, plan, contacts):
            with engine.begin() as conn:
                conn.execute(insert(tables["conversation"]), conversations)
                if runs:
                    conn.execute(insert(tables["sla_stage_run"]), runs)
            progress.advance(task, len(conversations))
    catch_up(engine)  # the contacts' search index, as the app's thread would have kept it
    with engine.begin() as conn:
        conn.execute(text("ANALYZE"))
        conn.execute(text("PRAGMA wal_checkpoint(TRUNCATE)"))
    engine.dispose()


def dataset(plan: Plan, console: Console) -> Path:
    """The cached SQLite file, built on first use."""
    path = cache_path(plan)
    if path.exists():
        console.print(f"[dim]using cached dataset {path.name}[/]")
        return path
    CACHE.mkdir(parents=True, exist_ok=True)
    (CACHE / ".gitignore").write_text("*\n")
    for stale in CACHE.glob(f"sla-{plan.conversations}-*.db*"):
        stale.unlink()
    building = path.with_suffix(".building")
    for leftover in CACHE.glob(building.name + "*"):
        leftover.unlink()
    started = time.perf_counter()
    build(building, plan, console)
    building.rename(path)
    for leftover in CACHE.glob(building.name + "-*"):
        leftover.unlink()
    console.print(
        f"[dim]built {path.name}: {plan.conversations:,} open conversations with timers, "
        f"{plan.due:,} due within {WINDOW:g} s, in {time.perf_counter() - started:.0f} s[/]"
    )
    return path


@contextlib.contextmanager
def working_copy(path: Path) -> Iterator[Path]:
    """A throwaway copy: a run fires stages, and the cache must stay as built."""
    with tempfile.TemporaryDirectory(prefix="handoff-bench-sla-") as tmp:
        copy = Path(tmp) / "sla.db"
        shutil.copyfile(path, copy)
        yield copy


# --- the run ---


class TimedTimer(SlaTimer):
    """The real loop, timed: how long loading took and how long each pass that fired ran."""

    load_seconds = 0.0
    busy_seconds = 0.0

    def load(self) -> None:
        started = time.perf_counter()
        super().load()
        self.load_seconds = time.perf_counter() - started

    async def run_due_in_steps(self, now: datetime) -> list[str]:
        started = time.perf_counter()
        fired = await super().run_due_in_steps(now)
        if fired:
            self.busy_seconds += time.perf_counter() - started
        return fired


class ShiftedClock:
    """Real time, shifted so that `at` is `lead` seconds from now."""

    def __init__(self, at: datetime, lead: float) -> None:
        self.offset = at - timedelta(seconds=lead) - utcnow()

    def now(self) -> datetime:
        return utcnow() + self.offset


def _watch_commits(
    path: Path, clock: ShiftedClock, out: list[tuple[datetime, datetime]]
) -> Callable[[], None]:
    """Record (due_at, commit moment) of every stage row committed, by any session: after
    each commit, the rows added since the last look (the ladder inserts them in bulk, with no
    ORM object to watch). The look comes after the moment is taken, so it costs the timer
    time but cannot make a stage seem earlier."""
    look = sqlite3.connect(path, check_same_thread=False)
    lock = threading.Lock()
    last = [look.execute("SELECT coalesce(max(id), 0) FROM sla_stage_run").fetchone()[0]]

    def after_commit(session: Session) -> None:
        now = clock.now()
        with lock:
            rows = look.execute(
                "SELECT id, due_at FROM sla_stage_run WHERE id > ? ORDER BY id", (last[0],)
            ).fetchall()
            if rows:
                last[0] = rows[-1][0]
                out.extend((_parse(due), now) for _, due in rows)

    event.listen(Session, "after_commit", after_commit)

    def remove() -> None:
        event.remove(Session, "after_commit", after_commit)
        look.close()

    return remove


def fire(
    path: Path,
    plan: Plan,
    *,
    during: Callable[[ShiftedClock], T] | None = None,
    clock: ShiftedClock | None = None,
) -> tuple[Firing, T | None]:
    """Run the real timer loop on `path` until every expected stage fired (or a deadline).
    `during(clock)`, if given, runs meanwhile in this thread (ANCHOR - clock.now() tells it
    how soon the stages start) and its result is returned."""
    db = Database(make_engine(f"sqlite:///{path}"), MemoryBus())
    clock = clock or ShiftedClock(ANCHOR, LEAD)
    commits: list[tuple[datetime, datetime]] = []
    expected = 2 * plan.due
    stop = threading.Event()
    remove = _watch_commits(path, clock, commits)

    timer = TimedTimer(db, clock)

    async def loop() -> None:
        task = asyncio.create_task(timer.run())
        deadline = ANCHOR + timedelta(seconds=WINDOW + 30)
        while len(commits) < expected and clock.now() < deadline and not stop.is_set():
            await asyncio.sleep(0.2)
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    runner = threading.Thread(target=asyncio.run, args=(loop(),), name="sla-timer")
    runner.start()
    result = None
    try:
        if during is not None:
            result = during(clock)
    finally:
        runner.join()
        stop.set()
        remove()
    firing = Firing(
        expected=expected, load_seconds=timer.load_seconds, busy_seconds=timer.busy_seconds
    )
    with db.session() as session:
        rows = session.exec(
            text("SELECT due_at, fired_at FROM sla_stage_run WHERE due_at >= :anchor"),  # type: ignore[call-overload]
            params={"anchor": ANCHOR.strftime("%Y-%m-%d %H:%M:%S.%f")},
        ).all()
        keys = session.exec(
            text(  # type: ignore[call-overload]
                "SELECT count(*) - count(DISTINCT conversation_id || stage_key) FROM sla_stage_run"
            )
        ).one()
    db.engine.dispose()
    firing.duplicates = int(keys[0])
    for due, fired in rows:
        firing.stored.append((_parse(fired) - _parse(due)).total_seconds())
    firing.committed = [(done - due).total_seconds() for due, done in commits]
    return firing, result


def fire_in_own_process(
    path: Path, plan: Plan, *, during: Callable[[ShiftedClock], T]
) -> tuple[Firing, T]:
    """As `fire`, with the timer loop in a process of its own (as `handoff timers` would run
    it): the latency client in this process then shares the cores with it, not the GIL,
    which would delay the client's own reading of the frames it times."""
    clock = ShiftedClock(ANCHOR, LEAD)
    context = multiprocessing.get_context("spawn")
    results: multiprocessing.Queue[Firing] = context.Queue()
    child = context.Process(target=_fire_child, args=(path, plan, clock, results))
    child.start()
    try:
        result = during(clock)
        firing = results.get(timeout=LEAD + WINDOW + 120)
    finally:
        child.join(timeout=30)
        if child.is_alive():
            child.kill()
    return firing, result


def _fire_child(
    path: Path, plan: Plan, clock: ShiftedClock, results: multiprocessing.Queue[Firing]
) -> None:
    firing, _ = fire(path, plan, clock=clock)
    results.put(firing)


def _parse(value: Any) -> datetime:
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    parsed = datetime.fromisoformat(str(value))
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


def floor_rate(count: int = 10_000) -> float:
    """Rows a second of a raw sqlite3 loop inserting one stage row per transaction."""
    with tempfile.TemporaryDirectory(prefix="handoff-bench-") as tmp:
        conn = sqlite3.connect(Path(tmp) / "raw.db", isolation_level=None)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.execute(
            "CREATE TABLE sla_stage_run (id INTEGER PRIMARY KEY, conversation_id INTEGER, "
            "stage_key TEXT, due_at TEXT, fired_at TEXT, details TEXT, "
            "UNIQUE (conversation_id, stage_key))"
        )
        start = time.perf_counter()
        for n in range(count):
            conn.execute("BEGIN")
            conn.execute(
                "INSERT INTO sla_stage_run (conversation_id, stage_key, due_at, fired_at, details)"
                " VALUES (?, ?, datetime('now'), datetime('now'), '{}')",
                (n, "first_response.0.warning"),
            )
            conn.execute("COMMIT")
        seconds = time.perf_counter() - start
        conn.close()
    return count / seconds


def summary(firing: Firing) -> dict[str, float]:
    return {
        "p50": percentile(firing.committed, 50),
        "p99": percentile(firing.committed, 99),
        "max": max(firing.committed, default=float("nan")),
        "stored_p99": percentile(firing.stored, 99),
        "stored_max": max(firing.stored, default=float("nan")),
    }


# --- where the time goes ---


def profile(path: Path, stages: int = 400, top: int = 25) -> None:
    """cProfile one `run_due` pass over about `stages` stages (half as many conversations)."""
    db = Database(make_engine(f"sqlite:///{path}"), MemoryBus())
    now = ANCHOR + timedelta(seconds=WINDOW) * (stages / 2) / Plan().due
    profiler = cProfile.Profile()
    with db.session() as session:
        started = time.perf_counter()
        profiler.enable()
        fired = run_due(session, now)
        profiler.disable()
        seconds = time.perf_counter() - started
    db.engine.dispose()
    print(
        f"run_due: {len(fired)} stages in {seconds:.2f} s, "
        f"{seconds / max(1, len(fired)) * 1000:.2f} ms a stage"
    )
    pstats.Stats(profiler).sort_stats("cumulative").print_stats(top)
    pstats.Stats(profiler).sort_stats("tottime").print_stats(top)


# --- the figures, for bench/run.py ---


@dataclass
class Beside:
    """The end-to-end latency run while the stages fired, and when it ran."""

    outcome: latency.Outcome
    began: float  # seconds from the first due moment (negative: before it)
    ended: float


def _latency(plan: Plan) -> latency.Outcome:
    return latency.run(
        agents=50, rate=20.0, seconds=plan.latency_seconds, blocks=5, ingest_count=100
    )


def _latency_beside(plan: Plan) -> Callable[[ShiftedClock], Beside]:
    def during(clock: ShiftedClock) -> Beside:
        # Starting the servers and signing 50 agents in takes a few seconds: begin so that
        # the messages flow while the stages fire.
        time.sleep(max(0.0, (ANCHOR - clock.now()).total_seconds() - 6))
        began = (clock.now() - ANCHOR).total_seconds()
        outcome = _latency(plan)
        return Beside(outcome, began, (clock.now() - ANCHOR).total_seconds())

    return during


# The served app starts, signs 50 agents in and warms up in about this many seconds: its own
# timer loop then meets the first due moment while the measured messages flow.
APP_LEAD = 9.0
# The quiet run's clock: the same file, the first due moment an hour away.
QUIET_LEAD = 3600.0


def in_app(path: Path, plan: Plan, *, lead: float) -> tuple[latency.Outcome, Firing]:
    """The latency benchmark against the served app on `path`, whose SLA timers run in the
    app's own process as `handoff serve` runs them. The server's wall clock reaches ANCHOR
    `lead` seconds after it starts (time-machine), so the conversations the benchmark opens
    get due times on the same clock as the stored ones. Served this way only the stored
    lateness can be read: the commits happen in the server's process."""
    expected = 2 * plan.due
    started = time.monotonic()

    def until_fired() -> None:
        if lead >= QUIET_LEAD:
            return
        deadline = started + lead + WINDOW + 60
        while _stages_since_anchor(path) < expected and time.monotonic() < deadline:
            time.sleep(0.5)

    outcome = latency.run(
        agents=50,
        rate=20.0,
        seconds=plan.latency_seconds,
        blocks=5,
        ingest_count=100,
        database=path,
        app_args=["--travel-to", ANCHOR.isoformat(), "--lead", str(lead)],
        before_stop=until_fired,
    )
    firing = Firing(expected=expected)
    look = sqlite3.connect(path)
    try:
        rows = look.execute(
            "SELECT due_at, fired_at FROM sla_stage_run WHERE due_at >= ?",
            (ANCHOR.strftime("%Y-%m-%d %H:%M:%S.%f"),),
        ).fetchall()
        firing.duplicates = look.execute(
            "SELECT count(*) - count(DISTINCT conversation_id || stage_key) FROM sla_stage_run"
        ).fetchone()[0]
    finally:
        look.close()
    firing.stored = [(_parse(fired) - _parse(due)).total_seconds() for due, fired in rows]
    # Read from the rows: each stage counts as committed at the moment its pass began.
    firing.committed = list(firing.stored)
    return outcome, firing


def _stages_since_anchor(path: Path) -> int:
    look = sqlite3.connect(path)
    try:
        count: int = look.execute(
            "SELECT count(*) FROM sla_stage_run WHERE due_at >= ?",
            (ANCHOR.strftime("%Y-%m-%d %H:%M:%S.%f"),),
        ).fetchone()[0]
        return count
    finally:
        look.close()


def rows(quick: bool, console: Console) -> list[Row]:
    """Fired alone, then fired again (on a fresh copy) with the latency benchmark beside."""
    plan = Plan.for_run(quick)
    path = dataset(plan, console)
    with console.status("SLA timers: the raw sqlite3 floor…"):
        floor = floor_rate()
    firing = f"SLA timers: {2 * plan.due:,} stages due over {WINDOW:g} s"
    with console.status(firing + "…"), working_copy(path) as copy:
        alone, _ = fire(copy, plan)
    with console.status("SLA timers: end-to-end latency with no timer running…"):
        quiet = _latency(plan)
    with console.status(firing + ", latency measured beside…"), working_copy(path) as copy:
        loaded, beside = fire(copy, plan, during=_latency_beside(plan))
    assert beside is not None
    own = firing + ", in a process of its own, latency measured beside…"
    with console.status(own), working_copy(path) as copy:
        apart, beside_apart = fire_in_own_process(copy, plan, during=_latency_beside(plan))
    served = "SLA timers in the served app's process"
    with console.status(served + ", none due: latency…"), working_copy(path) as copy:
        quiet_app, _ = in_app(copy, plan, lead=QUIET_LEAD)
    with (
        console.status(served + f", {2 * plan.due:,} stages due: latency…"),
        working_copy(path) as copy,
    ):
        busy_app, firing_app = in_app(copy, plan, lead=APP_LEAD)
    return (
        firing_rows(plan, alone, floor, "alone")
        + firing_rows(plan, loaded, floor, "latency beside")
        + beside_rows(quiet, beside, "timer in client's process")
        + firing_rows(plan, apart, floor, "own process, latency beside")
        + beside_rows(quiet, beside_apart, "timer in own process")
        + firing_rows(plan, firing_app, floor, "served app, as stored")
        + latency_rows(
            quiet_app,
            busy_app,
            f"POST → 50 websockets, p99, timer in the served app, due from +{APP_LEAD:g} s",
        )
    )


def firing_rows(plan: Plan, firing: Firing, floor: float, how: str) -> list[Row]:
    got = summary(firing)
    section = (
        f"SLA timers, {plan.conversations // 1000}k open, {plan.due // 1000}k due in {WINDOW:g} s, "
        f"{how}"
    )
    all_once = firing.fired == firing.expected and firing.duplicates == 0
    return [
        Row(
            section,
            f"stages fired, of {firing.expected:,} (2 per due moment)",
            f"{firing.fired:,}",
            "",
            "",
            "all, once",
            all_once,
        ),
        Row(section, "lateness (committed − due), p50", ms(got["p50"]), "", ""),
        Row(section, "lateness (committed − due), p99", ms(got["p99"]), "", ""),
        Row(
            section,
            "lateness (committed − due), max",
            ms(got["max"]),
            "",
            "",
            f"≤ {ON_TIME:g} s",
            got["max"] <= ON_TIME,
        ),
        Row(
            section,
            "share within 1 s",
            f"{firing.on_time:.2%}",
            "",
            "",
            "100%",
            firing.on_time == 1.0,
        ),
        Row(
            section,
            "as stored (fired_at − due_at), max",
            ms(got["stored_max"]),
            "",
            "",
        ),
    ] + ([] if not firing.busy_seconds else _throughput_rows(plan, firing, floor, section))


def _throughput_rows(plan: Plan, firing: Firing, floor: float, section: str) -> list[Row]:
    """Only where the loop ran in this process: how fast it fired, how long it loaded."""
    return [
        Row(
            section,
            "stages/s while the loop is busy",
            f"{firing.per_second:,.0f} /s",
            f"{floor:,.0f} /s",
            f"1/{floor / firing.per_second:,.0f}" if firing.per_second else "0",
        ),
        Row(
            section,
            f"{plan.conversations:,} timers loaded on start",
            f"{firing.load_seconds:.2f} s",
            "",
            "",
        ),
    ]


def beside_rows(quiet: latency.Outcome, beside: Beside, where: str) -> list[Row]:
    when = f"{beside.began:+.0f} s to {beside.ended:+.0f} s"
    return latency_rows(quiet, beside.outcome, f"POST → 50 websockets, p99, {when}, {where}")


def latency_rows(quiet: latency.Outcome, busy: latency.Outcome, section: str) -> list[Row]:
    growth = busy.app.p99 / quiet.app.p99 - 1 if quiet.app.p99 else float("nan")
    missing = busy.app.missing + busy.app.failed_posts
    return [
        Row(
            section,
            "no timer running",
            ms(quiet.app.p99),
            ms(quiet.floor.p99),
            f"{quiet.app.p99 / quiet.floor.p99:.1f}×",
        ),
        Row(
            section,
            "while the stages fire",
            ms(busy.app.p99),
            ms(busy.floor.p99),
            f"{busy.app.p99 / busy.floor.p99:.1f}×",
        ),
        Row(
            section,
            "p99 growth (floor's beside)"
            + (f" ({missing} frames missing / POSTs failed)" if missing else ""),
            f"{growth:+.0%}",
            f"{busy.floor.p99 / quiet.floor.p99 - 1:+.0%}" if quiet.floor.p99 else "",
            "",
            "≤ +20%",
            growth <= 0.20 and missing == 0,
        ),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.sla_timers", description=__doc__)
    parser.add_argument("--profile", action="store_true", help="cProfile one run_due pass")
    args = parser.parse_args()
    console = Console()
    plan = Plan()
    path = dataset(plan, console)
    with working_copy(path) as copy:
        if args.profile:
            profile(copy)
            return
        firing, _ = fire(copy, plan)
    print(firing.fired, summary(firing), f"{firing.on_time:.1%}", f"{firing.per_second:.0f}/s")


if __name__ == "__main__":
    main()
