"""In real Chromium: a customer attaches a screenshot to the pre-chat form's first message,
and the agent downloads it (the composer's 📎 is covered in test_end_to_end.py)."""

from __future__ import annotations

import pytest
from playwright.sync_api import Browser, FilePayload, expect
from sqlmodel import Session

from tests.browser.test_end_to_end import fill_prechat, signed_in, widget_page
from tests.factories import build_world

pytestmark = pytest.mark.browser


def test_the_first_message_carries_a_screenshot_from_the_pre_chat_form(
    browser: Browser, live_server: str, session: Session
) -> None:
    w = build_world(session)
    _, agent = signed_in(browser, live_server, "dana@example.com")
    page = widget_page(browser, live_server, w.webchat.widget_token)
    fill_prechat(page, "The app shows this error", name="Lena Park")

    # The form's own 📎 opens the picker; the file is listed until the form is sent.
    shot = b"\x89PNG the error dialog"
    with page.expect_file_chooser() as chooser:
        page.get_by_role("button", name="Attach files").click()
    chooser.value.set_files(FilePayload(name="error.png", mimeType="image/png", buffer=shot))
    expect(page.locator("#chosen li")).to_contain_text("📎 error.png")
    page.click("#prechat button[type=submit]")

    first = page.locator("#messages .msg.incoming")
    expect(first).to_contain_text("The app shows this error")
    expect(first.locator(".file")).to_contain_text("📎 error.png")
    expect(page.locator("#chosen")).to_be_hidden()
    expect(page.locator("#prechat")).to_be_hidden()

    row = agent.locator("#rows .row", has_text="The app shows this error")
    expect(row).to_be_visible(timeout=5000)
    row.locator("a").click()
    link = agent.locator(".thread a[download]", has_text="error.png")
    expect(link).to_be_visible(timeout=5000)
    href = link.get_attribute("href")
    assert href is not None
    assert agent.request.get(href).body() == shot
