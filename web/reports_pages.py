"""The escalation report (docs/concepts/reports.md): a page for managers and admins at
/reports/escalations, and `GET /api/v1/reports/escalations` as JSON or CSV.

Both read `?from=YYYY-MM-DD&to=YYYY-MM-DD` (whole UTC days, default the last 30), call
`inbox.reports.escalation_report` once and render it; `?format=csv` downloads the log.
"""

from __future__ import annotations

import csv
import io
import re
from dataclasses import asdict, dataclass
from datetime import date, timedelta
from typing import Any

from babel.numbers import format_decimal, format_percent
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import BaseRoute, Route

from inbox.clock import utcnow
from inbox.errors import Forbidden, InvalidInput
from inbox.reports import (
    TIERS,
    DayCount,
    EscalationRow,
    Report,
    check_can_read_reports,
    check_window,
    escalation_report,
    is_breach,
)

from .api_input import api_agent
from .api_views import Json, iso
from .i18n import current_locale, gettext
from .state import signed_in, state

DEFAULT_DAYS = 30
# The page lists at most this many rows (a long window can hold thousands); the CSV has all.
PAGE_ROWS = 1000
ISO_DAY = re.compile(r"\d{4}-\d{2}-\d{2}")
# A cell starting with one of these is a formula to a spreadsheet (CSV injection): a customer
# could otherwise make a manager's Excel run `=HYPERLINK(...)`. A leading ' disarms it.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")
CSV_COLUMNS = [
    "id",
    "conversation_id",
    "created_at",
    "kind",
    "trigger",
    "reason",
    "from_tier",
    "from_team",
    "to_tier",
    "to_team",
    "agent",
    "channel",
    "brief",
    "accepted_by",
    "accepted_at",
    "seconds_to_accept",
    *(f"seconds_in_l{tier}" for tier in TIERS),
    "sla_stages",
    "transfers",
    "reopens",
    "outcome",
    "closed_at",
    "csat_after",
]

# --- Reading the request


def _day(request: Request, key: str, default: date) -> date:
    raw = request.query_params.get(key, "").strip()
    if not raw:
        return default
    try:
        if not ISO_DAY.fullmatch(raw):
            raise ValueError(raw)
        return date.fromisoformat(raw)
    except ValueError as exc:
        raise InvalidInput(f"{key} must be a date like 2025-01-31", {"field": key}) from exc


def window(request: Request) -> tuple[date, date]:
    """`from` and `to`, inclusive; by default the 30 days ending today (UTC)."""
    end = _day(request, "to", utcnow().date())
    start = _day(request, "from", end - timedelta(days=DEFAULT_DAYS - 1))
    check_window(start, end)
    return start, end


def wants_csv(request: Request) -> bool:
    fmt = request.query_params.get("format", "json")
    if fmt not in ("json", "csv"):
        raise InvalidInput("format must be json or csv", {"field": "format"})
    return fmt == "csv"


# --- JSON and CSV


def row_json(row: EscalationRow) -> Json:
    body = asdict(row)
    body.update(
        created_at=iso(row.created_at),
        accepted_at=iso(row.accepted_at),
        closed_at=iso(row.closed_at),
        seconds_in_tier={str(tier): s for tier, s in row.seconds_in_tier.items()},
    )
    return body


def report_json(report: Report) -> Json:
    return {
        "from": report.start.isoformat(),
        "to": report.end.isoformat(),
        "figures": asdict(report.figures),
        "per_day": [{"date": d.day.isoformat(), "count": d.count} for d in report.per_day],
        "totals": {name: [asdict(t) for t in group] for name, group in report.totals.items()},
        "escalations": [row_json(row) for row in report.rows],
    }


def _cell(value: str | None) -> str:
    text = value or ""
    return "'" + text if text.startswith(FORMULA_STARTS) else text


def _seconds(value: float | None) -> str:
    return "" if value is None else str(round(value))


def csv_row(row: EscalationRow) -> list[str | int]:
    return [
        row.id,
        row.conversation_id,
        iso(row.created_at) or "",
        row.kind,
        row.trigger,
        _cell(row.reason),
        row.from_tier,
        _cell(row.from_team),
        row.to_tier,
        _cell(row.to_team),
        _cell(row.agent),
        row.channel,
        _cell(row.brief_text),
        _cell(row.accepted_by),
        iso(row.accepted_at) or "",
        _seconds(row.seconds_to_accept),
        *(_seconds(row.seconds_in_tier.get(tier)) for tier in TIERS),
        _cell("; ".join(row.sla_stages)),
        row.transfers,
        row.reopens,
        row.outcome,
        iso(row.closed_at) or "",
        "" if row.csat_after is None else row.csat_after,
    ]


def report_csv(report: Report) -> Response:
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(CSV_COLUMNS)
    writer.writerows(csv_row(row) for row in report.rows)
    name = f"escalations-{report.start.isoformat()}-to-{report.end.isoformat()}.csv"
    return Response(
        out.getvalue(),
        media_type="text/csv; charset=utf-8",
        headers={"content-disposition": f'attachment; filename="{name}"'},
    )


# --- The page: formatting and the chart


def duration(seconds: float | None) -> str:
    if seconds is None:
        return "—"
    s = round(seconds)
    if s < 60:
        return gettext("%(n)d s") % {"n": s}
    minutes = s // 60
    if minutes < 60:
        return gettext("%(n)d min") % {"n": minutes}
    hours, minutes = divmod(minutes, 60)
    if hours < 24 and minutes:
        return gettext("%(h)d h %(m)d min") % {"h": hours, "m": minutes}
    if hours < 24:
        return gettext("%(n)d h") % {"n": hours}
    days, hours = divmod(hours, 24)
    if hours:
        return gettext("%(d)d d %(h)d h") % {"d": days, "h": hours}
    return gettext("%(n)d d") % {"n": days}


def percent(value: float | None) -> str:
    return "—" if value is None else str(format_percent(value, locale=current_locale.get()))


def decimal(value: float | None) -> str:
    if value is None:
        return "—"
    return str(format_decimal(round(value, 1), format="0.0", locale=current_locale.get()))


@dataclass(frozen=True)
class Bar:
    day: DayCount
    x: float
    y: float
    height: float


@dataclass(frozen=True)
class Chart:
    """Bars in a viewBox `width` x HEIGHT; the SVG stretches to the card's width."""

    bars: list[Bar]
    width: int
    peak: int

    HEIGHT = 100
    SLOT = 10
    BAR = 8


def chart(per_day: list[DayCount]) -> Chart:
    peak = max((d.count for d in per_day), default=0)
    bars = []
    for i, d in enumerate(per_day):
        # A day without escalations keeps a one-unit stub, so it still shows and has a tooltip.
        height = max(1.0, Chart.HEIGHT * d.count / peak) if peak else 1.0
        bars.append(Bar(d, i * Chart.SLOT + 1, Chart.HEIGHT - height, height))
    return Chart(bars, len(per_day) * Chart.SLOT, peak)


def page_context(report: Report | None, start: str, end: str) -> dict[str, Any]:
    return {
        "report": report,
        "from_value": start,
        "to_value": end,
        "chart": chart(report.per_day) if report else None,
        "tiers": TIERS,
        "page_rows": PAGE_ROWS,
        "is_breach": is_breach,
        "duration": duration,
        "percent": percent,
        "decimal": decimal,
    }


async def report_page(request: Request) -> Response:
    templates = state(request).templates
    with signed_in(request) as ctx:
        try:
            check_can_read_reports(ctx.scope)
        except Forbidden:
            return templates.TemplateResponse(
                request, "reports/forbidden.html", {"me": ctx.agent}, status_code=403
            )
        params = request.query_params
        try:
            csv_wanted = wants_csv(request)
            start, end = window(request)
        except InvalidInput as exc:
            context = page_context(None, params.get("from", ""), params.get("to", ""))
            context.update(me=ctx.agent, error=exc.message)
            return templates.TemplateResponse(
                request, "reports/escalations.html", context, status_code=422
            )
        report = escalation_report(ctx.session, ctx.scope, start, end)
        if csv_wanted:
            return report_csv(report)
        context = page_context(report, start.isoformat(), end.isoformat())
        context["me"] = ctx.agent
        return templates.TemplateResponse(request, "reports/escalations.html", context)


async def api_report(request: Request) -> Response:
    with api_agent(request) as ctx:
        check_can_read_reports(ctx.scope)
        csv_wanted = wants_csv(request)
        start, end = window(request)
        report = escalation_report(ctx.session, ctx.scope, start, end)
        return report_csv(report) if csv_wanted else JSONResponse(report_json(report))


routes: list[BaseRoute] = [Route("/reports/escalations", report_page)]
# Mounted under /api/v1 by main.py.
api_routes: list[BaseRoute] = [Route("/reports/escalations", api_report)]
