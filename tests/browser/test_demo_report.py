"""The demo's manager opens Reports in real Chromium and reads four weeks of escalations: the
figures filled in, a bar on most days, the log (inbox/demo_history.py)."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
from playwright.sync_api import Browser, expect
from sqlmodel import Session

from inbox.seed import PASSWORD, seed_demo
from tests.browser.test_end_to_end import DOCS_IMG, WIDE

pytestmark = pytest.mark.browser


def test_the_demo_manager_reads_a_month_of_escalations(
    browser: Browser, live_server: str, session: Session, tmp_path: Path
) -> None:
    seed_demo(session)
    page = browser.new_context(viewport=WIDE, base_url=live_server).new_page()
    page.goto("/login")
    page.fill("input[name=email]", "maria@handoff.test")
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(re.compile(r"/inbox"))

    page.get_by_role("link", name="Reports").click()
    page.wait_for_url(re.compile(r"/reports/escalations"))
    # Every figure has a value, not the dash of an empty report.
    for figure in ("escalation-rate", "time-to-accept", "breach-rate", "csat"):
        expect(page.locator(f"#figure-{figure} .value")).not_to_have_text(re.compile(r"^\s*—"))
    days = page.locator("#escalations-per-day rect.bar:not(.zero)")
    assert days.count() >= 8
    expect(page.locator("#escalation-log tbody tr").first).to_be_visible()
    assert page.locator("#escalation-log tbody tr").count() >= 8
    # `make screenshots` puts this one in the README and docs/concepts/reports.md.
    shots = DOCS_IMG if os.environ.get("HANDOFF_SCREENSHOTS") else tmp_path
    page.set_viewport_size({"width": 1280, "height": 1000})
    page.screenshot(path=str(shots / "escalation-report.png"))
