"""The mail reader's rules where the fixtures leave room (docs/channels/email.md)."""

from __future__ import annotations

from email.message import EmailMessage

import pytest

from channels.base import Malformed
from channels.email.parse import fold_quoted, html_to_text, parse_email
from tests.channels.helpers import fixture_bytes


def test_an_inline_answer_between_quotes_is_kept_whole() -> None:
    text = "> Which colour?\nBlue, please.\n> And the size?\nLarge."
    assert fold_quoted(text) == (text, "")


def test_a_trailing_block_of_quotes_is_folded() -> None:
    assert fold_quoted("Thanks!\n\n> Your refund is on its way.\n>\n> Dana") == (
        "Thanks!",
        "> Your refund is on its way.\n>\n> Dana",
    )


def test_an_original_message_separator_is_folded() -> None:
    text = "See below.\n\n-----Original Message-----\nFrom: Acme\nSent: Monday\n\nOld words"
    new, quoted = fold_quoted(text)
    assert new == "See below." and quoted.startswith("-----Original Message-----")


def test_a_mail_that_is_all_quote_keeps_its_words() -> None:
    assert fold_quoted("> only a quote") == ("> only a quote", "")


def test_html_text_drops_scripts_and_keeps_paragraphs() -> None:
    html = "<p>One&nbsp;&amp; two</p><script>x()</script><div>Three\n  four</div>"
    assert html_to_text(html) == "One & two\n\nThree four"


def test_thread_refs_are_nearest_first_without_repeats() -> None:
    inbound = parse_email(fixture_bytes("email", "outlook_reply.eml"), 1)
    assert inbound.thread_refs == [
        "<CAK7p2Fx0Qm9@mail.gmail.com>",
        "<CAK7p2Fw8z3+Vq1@mail.gmail.com>",
    ]
    assert inbound.starts_thread and inbound.ticket_conversation_id is None


@pytest.mark.parametrize(
    ("header", "value"),
    [
        ("Auto-Submitted", "auto-generated"),
        ("Precedence", "bulk"),
        ("Precedence", "auto_reply"),
        ("X-Autoreply", "yes"),
        ("X-Autorespond", "Out of office"),
    ],
)
def test_robot_headers_mark_the_mail_automatic(header: str, value: str) -> None:
    mail = EmailMessage()
    mail["From"] = "Lena <lena@example.org>"
    mail[header] = value
    mail.set_content("Away until Monday")
    assert parse_email(mail.as_bytes(), 1).auto_submitted


def test_auto_submitted_no_is_a_person() -> None:
    mail = EmailMessage()
    mail["From"] = "Lena <lena@example.org>"
    mail["Auto-Submitted"] = "no"
    mail.set_content("Hello")
    assert not parse_email(mail.as_bytes(), 1).auto_submitted


def test_a_body_without_a_sender_is_not_an_email() -> None:
    with pytest.raises(Malformed):
        parse_email(b"Subject: hi\r\n\r\nhello\r\n", 1)
    with pytest.raises(Malformed):
        parse_email(b"From: nobody-at-all\r\n\r\nhello\r\n", 1)
