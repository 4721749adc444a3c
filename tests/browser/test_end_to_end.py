"""The whole loop in real Chromium: a customer writes in the widget on their shop's page, agent
A sees it arrive live, answers, the customer sees the answer; A's note mentions agent B, who
is told live. Screenshots of each step go to docs/img/."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest
from playwright.sync_api import (
    Browser,
    BrowserContext,
    FilePayload,
    Frame,
    Page,
    ViewportSize,
    expect,
)
from sqlmodel import Session

from tests.factories import PASSWORD, build_world

pytestmark = pytest.mark.browser
# `make screenshots` refreshes the README's pictures; otherwise they stay in the test's folder.
DOCS_IMG = Path(__file__).resolve().parents[2] / "docs" / "img"
WIDE: ViewportSize = {"width": 1440, "height": 900}


def signed_in(browser: Browser, base: str, email: str) -> tuple[BrowserContext, Page]:
    context = browser.new_context(viewport=WIDE, base_url=base)
    page = context.new_page()
    page.goto("/login")
    page.fill("input[name=email]", email)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(re.compile(r"/inbox"))
    return context, page


def widget_frame(page: Page) -> Frame:
    page.wait_for_function("() => window.HandoffWidget !== undefined")
    for _ in range(100):
        for frame in page.frames:
            if "/frame" in frame.url and "/widget/" in frame.url:
                return frame
        page.wait_for_timeout(50)
    raise AssertionError("the widget's frame never loaded")


def widget_page(browser: Browser, base: str, widget_token: str | None) -> Page:
    """The widget's frame on its own, as a customer's browser opens it."""
    assert widget_token is not None, "a web chat inbox has its widget token"
    page = browser.new_context(base_url=base).new_page()
    page.goto(f"/widget/{widget_token}/frame")
    return page


def fill_prechat(page: Page, content: str, name: str = "Olivia Bennett") -> None:
    """The pre-chat form filled in as a customer would, to Support L1; not yet sent."""
    page.fill("#prechat input[name=name]", name)
    page.fill("#prechat input[name=email]", name.split()[0].lower() + "@example.org")
    page.select_option("#prechat select[name=department]", label="Support L1")
    page.fill("#prechat textarea[name=content]", content)


def open_bubble(page: Page) -> None:
    # The bubble lives in a closed shadow root (host pages cannot restyle it), so click it
    # where a customer would: the bottom corner of the window.
    size = page.viewport_size
    assert size is not None
    page.mouse.click(size["width"] - 50, size["height"] - 50)


def test_customer_and_agents_in_real_time(
    browser: Browser, live_server: str, customer_site: type, session: Session, tmp_path: Path
) -> None:
    w = build_world(session)
    customer_site.serve(  # type: ignore[attr-defined]
        "<!doctype html><html><head><title>Acme shop</title></head><body>"
        "<h1>Acme shop</h1><p>Spring sale on all lamps.</p>"
        f'<script src="{live_server}/widget/{w.webchat.widget_token}.js" async></script>'
        "</body></html>"
    )
    _, agent_a = signed_in(browser, live_server, "dana@example.com")
    _, agent_b = signed_in(browser, live_server, "maria@example.com")
    agent_a.evaluate("window.notReloaded = true")
    expect(agent_a.locator("#live")).to_be_visible()

    shop_size: ViewportSize = {"width": 1280, "height": 800}
    shop = browser.new_context(viewport=shop_size).new_page()
    shop.goto(customer_site.url)  # type: ignore[attr-defined]
    frame = widget_frame(shop)
    open_bubble(shop)
    expect(frame.locator("#prechat")).to_be_visible()
    frame.fill("#prechat input[name=name]", "Olivia Bennett")
    frame.fill("#prechat input[name=email]", "olivia@example.org")
    frame.select_option("#prechat select[name=department]", label="Support L1")
    frame.fill("#prechat textarea[name=content]", "My lamp arrived broken <b>twice</b>")
    frame.click("#prechat button[type=submit]")
    expect(frame.locator("#messages")).to_contain_text("My lamp arrived broken <b>twice</b>")

    # Agent A: the conversation appears in the list without a reload.
    row = agent_a.locator("#rows .row", has_text="My lamp arrived broken")
    expect(row).to_be_visible(timeout=5000)
    assert agent_a.evaluate("window.notReloaded") is True
    row.locator("a").click()
    expect(agent_a.locator(".thread")).to_contain_text("My lamp arrived broken <b>twice</b>")

    agent_a.fill("#reply-form textarea", "So sorry, Olivia! A new lamp ships today.")
    agent_a.click("#reply-form button.primary")
    expect(frame.locator("#messages")).to_contain_text(
        "So sorry, Olivia! A new lamp ships today.", timeout=5000
    )
    # Replying took the conversation: the controls say so without a reload.
    expect(agent_a.locator("select[name=assignee_id]")).to_have_value(str(w.dana.id))

    # A note mentioning B: B is told live; the customer never sees it.
    agent_a.keyboard.press("Escape")
    agent_a.locator(".composer .tab[data-tab=note]").click()
    agent_a.fill("#note-form textarea", "@MariaLopez VIP customer, please approve a refund")
    agent_a.click("#note-form button")
    expect(agent_a.locator(".thread")).to_contain_text("VIP customer, please approve a refund")
    expect(agent_b.locator("#bell-count")).to_have_text("1", timeout=5000)
    expect(agent_b.locator("#toasts")).to_contain_text("Dana Kowalski mentioned you")
    agent_a.wait_for_timeout(300)
    expect(frame.locator("#messages")).not_to_contain_text("VIP customer")

    shots = DOCS_IMG if os.environ.get("HANDOFF_SCREENSHOTS") else tmp_path
    shots.mkdir(parents=True, exist_ok=True)
    agent_a.screenshot(path=str(shots / "inbox.png"))
    shop.screenshot(path=str(shots / "widget-on-site.png"))
    agent_b.screenshot(path=str(shots / "mention-notification.png"))


def test_an_agent_attaches_a_file_and_the_customer_downloads_it(
    browser: Browser, live_server: str, session: Session
) -> None:
    w = build_world(session)
    _, agent = signed_in(browser, live_server, "dana@example.com")
    page = widget_page(browser, live_server, w.webchat.widget_token)
    fill_prechat(page, "Can I have the invoice?")
    page.click("#prechat button[type=submit]")
    expect(page.locator("#messages")).to_contain_text("Can I have the invoice?")

    # The agent picks a file in the reply box (multipart through htmx, CSRF header and all).
    row = agent.locator("#rows .row", has_text="Can I have the invoice?")
    expect(row).to_be_visible(timeout=5000)
    row.locator("a").click()
    invoice = b"%PDF-1.4 invoice"
    agent.set_input_files(
        "#reply-form input[name=files]",
        files=FilePayload(name="invoice.pdf", mimeType="application/pdf", buffer=invoice),
    )
    expect(agent.locator("#reply-form .chosen-files")).to_contain_text("invoice.pdf")
    agent.fill("#reply-form textarea", "Here is your invoice")
    agent.click("#reply-form button.primary")
    expect(agent.locator(".thread a[download]", has_text="invoice.pdf")).to_be_visible()
    expect(agent.locator("#reply-form .chosen-files")).to_be_empty()

    # The customer gets it live, and downloads it with their visitor token.
    link = page.locator("#messages .file", has_text="invoice.pdf")
    expect(link).to_contain_text("📎 invoice.pdf (16 byte", timeout=5000)
    expect(page.locator("#messages")).to_contain_text("Here is your invoice")
    with page.expect_download() as caught:
        link.click()
    download = caught.value
    assert download.suggested_filename == "invoice.pdf"
    assert Path(download.path()).read_bytes() == invoice
    expect(page.locator("#notice")).to_be_hidden()


def test_a_customer_sends_a_file_from_the_widget_and_the_agent_sees_it_live(
    browser: Browser, live_server: str, session: Session
) -> None:
    w = build_world(session)
    _, agent = signed_in(browser, live_server, "dana@example.com")
    page = widget_page(browser, live_server, w.webchat.widget_token)
    fill_prechat(page, "My lamp arrived broken")
    page.click("#prechat button[type=submit]")
    row = agent.locator("#rows .row", has_text="My lamp arrived broken")
    expect(row).to_be_visible(timeout=5000)
    row.locator("a").click()
    expect(agent.locator(".thread")).to_contain_text("My lamp arrived broken")

    # Over the limit: told at once in the notice line, and never listed or uploaded.
    picker = page.locator("#attach-input")
    big = b"x" * (10 * 1024 * 1024 + 1)
    picker.set_input_files(FilePayload(name="video.mov", mimeType="video/quicktime", buffer=big))
    expect(page.locator("#notice")).to_have_text("video.mov is larger than 10 MiB.")
    expect(page.locator("#chosen")).to_be_hidden()

    # The 📎 button is a real, named button; the picked file is listed until it is sent.
    expect(page.get_by_role("button", name="Attach files")).to_be_enabled()
    photo = b"\x89PNG the broken lamp"
    picker.set_input_files(FilePayload(name="lamp.png", mimeType="image/png", buffer=photo))
    expect(page.locator("#chosen li")).to_contain_text("📎 lamp.png (20 byte")
    expect(page.get_by_role("button", name="Remove lamp.png")).to_be_visible()
    expect(page.locator("#notice")).to_be_hidden()
    page.click("#composer button.send")
    expect(page.locator("#messages .msg.incoming .file")).to_contain_text("📎 lamp.png")
    expect(page.locator("#chosen")).to_be_hidden()

    link = agent.locator(".thread a[download]", has_text="lamp.png")
    expect(link).to_be_visible(timeout=5000)
    href = link.get_attribute("href")
    assert href is not None
    assert agent.request.get(href).body() == photo
