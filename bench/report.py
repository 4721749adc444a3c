"""The results table `make bench` prints: each figure next to its floor and its goal."""

from __future__ import annotations

from dataclasses import dataclass

from rich.console import Console
from rich.table import Table


@dataclass
class Row:
    """One line of the table. `ok` is None for figures that carry no goal."""

    section: str
    figure: str
    value: str
    floor: str
    ratio: str
    goal: str = ""
    ok: bool | None = None


def verdict(ok: bool | None) -> str:
    if ok is None:
        return ""
    return "[bold green]pass[/]" if ok else "[bold red]FAIL[/]"


def render(console: Console, rows: list[Row], title: str) -> None:
    table = Table(title=title, header_style="bold", title_style="bold")
    table.add_column("figure", no_wrap=True)
    table.add_column("Handoff", justify="right", no_wrap=True)
    table.add_column("floor, same run", justify="right", no_wrap=True)
    table.add_column("ratio", justify="right", no_wrap=True)
    table.add_column("goal", no_wrap=True)
    table.add_column("", justify="center", no_wrap=True)
    section = None
    for row in rows:
        if row.section != section:
            if section is not None:
                table.add_section()
            table.add_row(f"[bold cyan]{row.section}[/]", "", "", "", "", "")
            section = row.section
        table.add_row("  " + row.figure, row.value, row.floor, row.ratio, row.goal, verdict(row.ok))
    console.print(table)
