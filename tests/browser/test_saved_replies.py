"""Saved replies in real Chromium: an agent types /ref in the reply box, picks the refund
policy from the menu with Enter, and the box holds it with the customer's name filled in
(docs/concepts/saved-replies.md)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from playwright.sync_api import Browser, expect
from sqlmodel import Session

from inbox.conversations import InboundMessage, do_receive_inbound
from inbox.saved_replies import do_create_saved_reply
from tests.browser.test_end_to_end import DOCS_IMG, signed_in
from tests.factories import build_world

pytestmark = pytest.mark.browser


def test_an_agent_inserts_a_saved_reply_by_typing_its_shortcut(
    browser: Browser, live_server: str, session: Session, tmp_path: Path
) -> None:
    w = build_world(session)
    for shortcut, title, team_id, content in [
        (
            "refund-policy",
            "Refund policy",
            w.support.id,
            "Hi {{contact.first_name}}, refunds reach you within 5 days. {{agent.first_name}}",
        ),
        ("hello", "Greeting", None, "Hello {{contact.name}}!"),
        ("refund-billing", "Billing's own", w.billing.id, "Not for Support L1"),
    ]:
        do_create_saved_reply(
            session=session,
            actor=w.admin,
            shortcut=shortcut,
            title=title,
            content=content,
            team_id=team_id,
        )
    session.commit()
    assert w.webchat.id is not None
    received = do_receive_inbound(
        session=session,
        inbound=InboundMessage(
            inbox_id=w.webchat.id,
            identifier="olivia",
            name="Olivia Bennett",
            email="olivia@example.org",
            content="Can I get my money back?",
            team_id=w.support.id,
        ),
    )

    _, page = signed_in(browser, live_server, "dana@example.com")
    page.goto(f"/conversations/{received.conversation.id}")
    box = page.locator("#reply-form textarea")
    menu = page.locator("#reply-form .mention-menu")
    expect(box).to_have_attribute("placeholder", "Reply to the customer… Type / for saved replies.")

    box.press_sequentially("/ref")
    expect(menu).to_be_visible()
    expect(menu.locator("li")).to_have_count(1)  # Billing's refund is not Dana's to use
    expect(menu.locator("li.selected")).to_have_text("/refund-policy — Refund policy")
    # `make screenshots` puts this one in docs/concepts/saved-replies.md.
    shots = DOCS_IMG if os.environ.get("HANDOFF_SCREENSHOTS") else tmp_path
    page.screenshot(path=str(shots / "saved-replies-menu.png"))
    box.press("Enter")
    expect(box).to_have_value("Hi Olivia, refunds reach you within 5 days. Dana")
    expect(menu).to_be_hidden()

    # Escape closes the menu and leaves the text as typed.
    box.press_sequentially(" /hel")
    expect(menu.locator("li.selected")).to_have_text("/hello — Greeting")
    box.press("Escape")
    expect(menu).to_be_hidden()
    expect(box).to_have_value("Hi Olivia, refunds reach you within 5 days. Dana /hel")


def test_the_note_boxs_mention_menu_shares_the_keys_and_offers_no_saved_replies(
    browser: Browser, live_server: str, session: Session
) -> None:
    w = build_world(session)
    do_create_saved_reply(
        session=session, actor=w.admin, shortcut="hello", title="Greeting", content="Hello!"
    )
    session.commit()
    assert w.webchat.id is not None
    received = do_receive_inbound(
        session=session,
        inbound=InboundMessage(
            inbox_id=w.webchat.id, identifier="ann", name="Ann", content="Hi", team_id=w.support.id
        ),
    )
    _, page = signed_in(browser, live_server, "dana@example.com")
    page.goto(f"/conversations/{received.conversation.id}")
    page.locator(".composer .tab[data-tab=note]").click()
    box = page.locator("#note-form textarea")
    menu = page.locator("#note-form .mention-menu")

    box.press_sequentially("/hel ")  # a / in a note is just a slash
    expect(menu).to_be_hidden()
    box.press_sequentially("ask @Ma")
    expect(menu.locator("li").first).to_have_text("@MariaLopez — Maria Lopez")
    box.press("Tab")
    expect(box).to_have_value("/hel ask @MariaLopez ")
    expect(menu).to_be_hidden()
