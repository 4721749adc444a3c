"""`make bench`: every figure of docs/performance.md in one run, each next to its floor.

    .venv/bin/python -m bench.run            # the full run (a few minutes; the first builds
                                             # the 100,000-conversation dataset)
    .venv/bin/python -m bench.run --quick    # smaller counts, to check that it all works
    .venv/bin/python -m bench.run --only list --no-postgres
    .venv/bin/python -m bench.run --only sla    # SLA timers (bench/sla_timers.py)

Everything listens on 127.0.0.1; every loop is bounded in count and in time.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import sqlite3
import time
from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime

from rich.console import Console

from . import dataset, email_ingest, ingest, latency, listing, sla_timers
from .report import Row, render
from .stats import ms, percentile

LIST_GOAL = 0.025
SEARCH_GOAL = 0.100
INGEST_GOAL = 1_000.0
# Ingest on a database of this many conversations against an empty one: at most this slower.
INGEST_PREFILLED = 100_000
INGEST_RATIO_GOAL = 1.2
LATENCY_RATIO_GOAL = 2.0
EMAIL_GOAL = 550.0
PG_SERVER = "postgres@127.0.0.1:" + os.environ.get("HANDOFF_TEST_PG_PORT", "54329")
PARTS = ("latency", "ingest", "email", "list", "sla")
# The last run's rows as JSON (bench/.cache is git-ignored).
LAST_RUN = dataset.CACHE / "last-run.json"
LEGEND = (
    "Floors: POST → websockets: a bare Starlette POST that broadcasts to 50 sockets (same "
    "client, same uvicorn, interleaved); HTTP ingest: that bare POST with no sockets; SQLite "
    "ingest: a raw sqlite3 single-row INSERT + commit per row, same PRAGMAs, on an empty "
    "table; list and search: the exact SQL the ORM sent, run through the raw driver. Indexed: "
    "EXPLAIN shows no full table scan. See docs/performance.md."
)


@dataclass(frozen=True)
class Plan:
    """How much each part measures: the full run, or `--quick`."""

    agents: int
    rate: float
    seconds: float
    blocks: int
    http_ingest: int
    ingest: int
    conversations: int
    samples: int
    # POSTs to the app and the floor interleaved one by one; False: in blocks of seconds.
    interleave: bool = True

    @staticmethod
    def for_run(quick: bool) -> Plan:
        if quick:
            return Plan(50, 20.0, 4.0, 2, 300, 1_000, 10_000, 40)
        return Plan(50, 20.0, 15.0, 5, 2_000, 5_000, 100_000, 200)


def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def machine() -> str:
    load = ", ".join(f"{x:.2f}" for x in os.getloadavg())
    return (
        f"{os.cpu_count()} cores ({cpu_model()}), Python {platform.python_version()}, "
        f"SQLite {sqlite3.sqlite_version}, load average {load}"
    )


def ratio(value: float, floor: float) -> float:
    return value / floor if floor else math.inf


def slower(rate: float, floor: float) -> str:
    """A rate next to its floor's, as the fraction of it that it reaches."""
    return f"1/{floor / rate:,.0f}" if rate else "0"


def latency_rows(plan: Plan, console: Console) -> list[Row]:
    with console.status(
        f"End-to-end latency: {plan.agents} websockets per server, {plan.rate:g} POSTs/s, "
        f"{plan.seconds:g} s per server…"
    ):
        outcome = latency.run(
            agents=plan.agents,
            rate=plan.rate,
            seconds=plan.seconds,
            blocks=plan.blocks,
            ingest_count=plan.http_ingest,
            interleave=plan.interleave,
        )
    app, floor = outcome.app, outcome.floor
    section = f"POST → {app.sockets} websockets, {plan.rate:g} msg/s × {app.messages} msgs"
    p99_ratio = ratio(app.p99, floor.p99)
    app_post, floor_post = percentile(app.post_seconds, 50), percentile(floor.post_seconds, 50)
    rows = [
        Row(section, "p50", ms(app.p50), ms(floor.p50), f"{ratio(app.p50, floor.p50):.1f}×"),
        Row(
            section,
            "p99",
            ms(app.p99),
            ms(floor.p99),
            f"{p99_ratio:.1f}×",
            f"≤ {LATENCY_RATIO_GOAL:g}× floor",
            p99_ratio <= LATENCY_RATIO_GOAL and app.missing == 0,
        ),
        Row(
            section,
            "POST answered, p50",
            ms(app_post),
            ms(floor_post),
            f"{ratio(app_post, floor_post):.1f}×",
        ),
    ]
    if app.missing or floor.missing or app.failed_posts or floor.failed_posts:
        rows.append(
            Row(
                section,
                "frames missing / POSTs failed",
                f"{app.missing} / {app.failed_posts}",
                f"{floor.missing} / {floor.failed_posts}",
                "",
                "none",
                False,
            )
        )
    rows += stage_rows(outcome.stages, outcome.floor_stages, app.sockets)
    app_ingest, floor_ingest = outcome.app_ingest, outcome.floor_ingest
    rows.append(
        Row(
            "Ingest over HTTP",
            f"API channel POSTs, 4 in flight, {app_ingest.count:,} msgs",
            f"{app_ingest.per_second:,.0f} msg/s",
            f"{floor_ingest.per_second:,.0f} /s",
            slower(app_ingest.per_second, floor_ingest.per_second),
            "",
            False if app_ingest.failed else None,
        )
    )
    return rows


def stage_rows(
    stages: dict[str, list[float]], floor: dict[str, list[float]], sockets: int
) -> list[Row]:
    """Where a message's time goes inside each server's process (p50 per message)."""
    section = "  inside the server's process, p50 per message"
    names = [
        ("http", "API POST handled (ASGI, all middleware)"),
        ("receive", "of which do_receive_inbound, publish included"),
        ("deliver", "of which message.created rendered"),
        ("fanout_first", f"message.created rendered → {sockets}th frame written"),
        ("sends_in_post", f"a POST's own {sockets} frames, first to last written"),
    ]

    def p50(samples: dict[str, list[float]], key: str) -> str:
        return ms(percentile(samples[key], 50)) if samples.get(key) else ""

    return [
        Row(section, label, p50(stages, key), p50(floor, key), "")
        for key, label in names
        if stages.get(key)
    ]


def ingest_rows(plan: Plan, console: Console) -> list[Row]:
    # Built (once, then cached) before the clock starts; the full run's list part shares it.
    prefilled = dataset.sqlite_dataset(INGEST_PREFILLED, console)
    with console.status(f"Ingest: {plan.ingest:,} messages through do_receive_inbound…"):
        domain, full = ingest.domain_rates(plan.ingest, max_seconds=60, prefilled=prefilled)
        raw = ingest.raw_rate(plan.ingest, max_seconds=30)
    section = "Sustained ingest, SQLite"
    growth = ratio(domain.per_second, full.per_second)
    return [
        Row(
            section,
            f"do_receive_inbound, empty database, {domain.count:,} msgs",
            f"{domain.per_second:,.0f} msg/s",
            f"{raw.per_second:,.0f} /s",
            slower(domain.per_second, raw.per_second),
            f"≥ {INGEST_GOAL:,.0f} msg/s",
            domain.per_second >= INGEST_GOAL,
        ),
        Row(
            section,
            f"the same, {INGEST_PREFILLED:,} conversations stored, {full.count:,} msgs",
            f"{full.per_second:,.0f} msg/s",
            f"{raw.per_second:,.0f} /s",
            slower(full.per_second, raw.per_second),
        ),
        Row(
            section,
            f"slowdown: empty database's rate ÷ {INGEST_PREFILLED:,} conversations' rate",
            f"{growth:.2f}×",
            "",
            "",
            f"≤ {INGEST_RATIO_GOAL:g}×",
            growth <= INGEST_RATIO_GOAL,
        ),
    ]


def email_rows(plan: Plan, console: Console) -> list[Row]:
    prefilled = dataset.sqlite_dataset(INGEST_PREFILLED, console)
    mails = [email_ingest.mail(n) for n in range(plan.ingest)]
    with console.status(f"Email: {len(mails):,} raw mails parsed, threaded and stored…"):
        empty, full = email_ingest.ingest_rates(mails, max_seconds=60, prefilled=prefilled)
        raw = ingest.raw_rate(plan.ingest, max_seconds=30)
    section = "Raw email ingest, SQLite (parse, de-duplicate, thread, store, push)"
    growth = ratio(empty.per_second, full.per_second)
    return [
        Row(
            section,
            f"empty database, {empty.count:,} mails",
            f"{empty.per_second:,.0f} mails/s",
            f"{raw.per_second:,.0f} /s",
            slower(empty.per_second, raw.per_second),
        ),
        Row(
            section,
            f"{INGEST_PREFILLED:,} conversations stored, {full.count:,} mails",
            f"{full.per_second:,.0f} mails/s",
            f"{raw.per_second:,.0f} /s",
            slower(full.per_second, raw.per_second),
            f"≥ {EMAIL_GOAL:,.0f} /s",
            full.per_second >= EMAIL_GOAL,
        ),
        Row(
            section,
            f"slowdown: empty database's rate ÷ {INGEST_PREFILLED:,} conversations' rate",
            f"{growth:.2f}×",
            "",
            "",
            f"≤ {INGEST_RATIO_GOAL:g}×",
            growth <= INGEST_RATIO_GOAL,
        ),
    ]


def list_rows(
    results: list[listing.Measured], backend: str, conversations: int
) -> tuple[list[Row], list[str]]:
    rows, plans = [], []
    section = f"{backend}, {conversations:,} conversations, p95"
    for m in results:
        goal = LIST_GOAL if m.case.kind == "list" else SEARCH_GOAL
        indexed = not m.full_scans
        rows.append(
            Row(
                section,
                f"{m.case.name} ({m.rows} rows)"
                + ("" if indexed else " FULL SCAN: " + ", ".join(m.full_scans)),
                ms(m.p95),
                ms(m.raw_p95),
                f"{ratio(m.p95, m.raw_p95):.1f}×",
                f"< {goal * 1000:g} ms, indexed",
                m.p95 < goal and indexed,
            )
        )
        plans.append(f"[bold]{backend}: {m.case.name}[/]")
        plans.extend(f"  {line}" for line in m.plan)
    searches = [s for m in results if m.case.kind == "search" for s in m.samples]
    raw_searches = [s for m in results if m.case.kind == "search" for s in m.raw_samples]
    if searches:
        p95, raw_p95 = percentile(searches, 95), percentile(raw_searches, 95)
        rows.append(
            Row(
                section,
                "all keyword searches above",
                ms(p95),
                ms(raw_p95),
                f"{ratio(p95, raw_p95):.1f}×",
                f"< {SEARCH_GOAL * 1000:g} ms",
                p95 < SEARCH_GOAL,
            )
        )
    return rows, plans


def sqlite_list_rows(plan: Plan, console: Console) -> tuple[list[Row], list[str]]:
    path = dataset.sqlite_dataset(plan.conversations, console)
    with console.status("List and search on SQLite…"):
        results = listing.run_sqlite(str(path), count=plan.samples, max_seconds=20)
    return list_rows(results, "SQLite", plan.conversations)


def postgres_list_rows(plan: Plan, console: Console) -> tuple[list[Row], list[str]]:
    try:
        url = dataset.postgres_dataset(plan.conversations, PG_SERVER, console)
    except Exception as exc:  # no server: say so and carry on with the rest
        console.print(f"[yellow]PostgreSQL skipped:[/] {type(exc).__name__}: {exc}")
        return [], []
    with console.status("List and search on PostgreSQL…"):
        results = listing.run_postgres(url, count=plan.samples, max_seconds=20)
    return list_rows(results, "PostgreSQL", plan.conversations)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.run", description=__doc__)
    parser.add_argument("--quick", action="store_true", help="smaller counts, a shorter run")
    parser.add_argument("--only", choices=PARTS, action="append", help="run only these parts")
    parser.add_argument("--no-postgres", action="store_true", help="skip the PostgreSQL part")
    parser.add_argument("--plans", action="store_true", help="print every query plan")
    parser.add_argument(
        "--in-blocks",
        action="store_true",
        help="latency: send to the app and the floor in alternating blocks of seconds (the "
        "method before the ninth round) instead of interleaved message by message",
    )
    args = parser.parse_args()
    parts = set(args.only or PARTS)
    plan = replace(Plan.for_run(args.quick), interleave=not args.in_blocks)
    console = Console()
    if not console.is_terminal:
        # Piped into a file or a log: wide enough that the table keeps one line per figure.
        console = Console(width=132)
    started = time.perf_counter()
    console.print(f"[bold]Handoff benchmarks[/] {'(quick)' if args.quick else ''}")
    console.print(f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC, {machine()}")
    rows: list[Row] = []
    plans: list[str] = []
    if "latency" in parts:
        rows += latency_rows(plan, console)
    if "ingest" in parts:
        rows += ingest_rows(plan, console)
    if "email" in parts:
        rows += email_rows(plan, console)
    if "list" in parts:
        found, found_plans = sqlite_list_rows(plan, console)
        rows += found
        plans += found_plans
        if not args.no_postgres:
            found, found_plans = postgres_list_rows(plan, console)
            rows += found
            plans += found_plans
    if "sla" in parts:
        rows += sla_timers.rows(args.quick, console)
    render(console, rows, title="Handoff performance, each figure next to its floor")
    # The same figures as data, kept after the terminal scrolls away.
    LAST_RUN.parent.mkdir(parents=True, exist_ok=True)
    LAST_RUN.write_text(json.dumps([asdict(r) for r in rows], indent=1, ensure_ascii=False))
    console.print(LEGEND, highlight=False)
    if args.plans:
        for line in plans:
            console.print(line, highlight=False)
    failed = sum(1 for r in rows if r.ok is False)
    console.print(
        f"{len(rows)} figures, {failed} below their goal, "
        f"in {time.perf_counter() - started:.0f} s; "
        f"load average now {', '.join(f'{x:.2f}' for x in os.getloadavg())}"
    )


if __name__ == "__main__":
    main()
