"""Mail POSTed raw to /webhooks/email/{inbox_id} (docs/channels/email.md), one test per kind
of mail, through the real app."""

from __future__ import annotations

import base64
from email.message import EmailMessage
from typing import Any

from sqlmodel import Session, select
from starlette.testclient import TestClient

from inbox.accounts import do_create_inbox
from inbox.conversations import do_reply
from inbox.models import Contact, Conversation, Inbox, Message
from tests.channels.helpers import (
    EMAIL_ADDRESS,
    EMAIL_SECRET,
    NEW_MAIL_ID,
    all_messages,
    email_inbox,
    fixture_bytes,
)
from tests.factories import build_world


def basic(user: str, password: str) -> dict[str, str]:
    token = base64.b64encode(f"{user}:{password}".encode()).decode()
    return {"authorization": f"Basic {token}"}


def post_mail(
    client: TestClient,
    inbox: Inbox,
    raw: bytes,
    auth: tuple[str, str] | None = ("handoff", EMAIL_SECRET),
) -> Any:
    """POST the raw mail as a forwarding service does (the response is TestClient's)."""
    headers = {"content-type": "message/rfc822", **(basic(*auth) if auth else {})}
    return client.post(f"/webhooks/email/{inbox.id}", content=raw, headers=headers)


def stored(session: Session, external_id: str) -> Message:
    session.expire_all()
    message = session.exec(select(Message).where(Message.external_id == external_id)).one()
    return message


def setup(session: Session) -> Inbox:
    build_world(session)
    return email_inbox(session)


def test_a_new_mail_opens_a_conversation_from_the_sender(
    app_client: TestClient, session: Session
) -> None:
    inbox = setup(session)
    response = post_mail(app_client, inbox, fixture_bytes("email", "new_mail.eml"))
    assert response.status_code == 200, response.text
    message = stored(session, NEW_MAIL_ID)
    assert message.content.startswith("Hello,\n\nI ordered a lamp two weeks ago (order 4471)")
    conversation = session.get(Conversation, message.conversation_id)
    assert conversation is not None and conversation.subject == "Where is my order 4471?"
    contact = session.get(Contact, conversation.contact_id)
    assert contact is not None
    assert (contact.name, contact.email) == ("Lena Park", "lena.park@example.org")
    assert message.html is not None and "order 4471" in message.html


def test_a_gmail_reply_joins_the_thread_with_the_quote_folded(
    app_client: TestClient, session: Session
) -> None:
    inbox = setup(session)
    post_mail(app_client, inbox, fixture_bytes("email", "new_mail.eml"))
    assert (
        post_mail(app_client, inbox, fixture_bytes("email", "gmail_reply.eml")).status_code == 200
    )
    first = stored(session, NEW_MAIL_ID)
    reply = stored(session, "<CAK7p2Fx0Qm9@mail.gmail.com>")
    assert reply.conversation_id == first.conversation_id
    assert reply.content == "Still nothing today. Could you check with the courier?"
    assert reply.quoted.startswith("On Mon, 16 Nov 2026 at 10:11, Lena Park")
    assert "> I ordered a lamp" in reply.quoted


def test_an_outlook_reply_joins_the_thread_with_its_header_block_folded(
    app_client: TestClient, session: Session
) -> None:
    inbox = setup(session)
    for name in ("new_mail.eml", "gmail_reply.eml", "outlook_reply.eml"):
        assert post_mail(app_client, inbox, fixture_bytes("email", name)).status_code == 200
    first = stored(session, NEW_MAIL_ID)
    reply = stored(session, "<AM0PR07MB4471A1B2C3D4E5F6@AM0PR07MB4471.eurprd07.prod.outlook.com>")
    assert reply.conversation_id == first.conversation_id
    assert reply.content == "It arrived this morning, thank you!\n\nLena"
    assert "Sent: Tuesday, November 17, 2026 8:02 AM" in reply.quoted


def test_a_reply_whose_parent_never_arrived_threads_by_its_references(
    app_client: TestClient, session: Session
) -> None:
    inbox = setup(session)
    post_mail(app_client, inbox, fixture_bytes("email", "new_mail.eml"))
    post_mail(app_client, inbox, fixture_bytes("email", "missing_parent.eml"))
    first = stored(session, NEW_MAIL_ID)
    assert stored(session, "<CAK7p2Fz77@mail.gmail.com>").conversation_id == first.conversation_id


def test_a_reply_to_our_own_mail_threads_to_its_conversation(
    app_client: TestClient, session: Session
) -> None:
    w = build_world(session)
    inbox = email_inbox(session)
    post_mail(app_client, inbox, fixture_bytes("email", "new_mail.eml"))
    conversation = session.get(Conversation, stored(session, NEW_MAIL_ID).conversation_id)
    assert conversation is not None
    ours = do_reply(session=session, conversation=conversation, agent=w.dana, content="Ships today")
    # What send() returned for it, as the outbox stores it.
    ours.external_id = "<handoff.2.0123456789abcdef@acme.example>"
    session.add(ours)
    session.commit()
    # A client that drops the subject tag still sends In-Reply-To.
    raw = fixture_bytes("email", "reply_to_handoff.eml").replace(b" [#1]", b"")
    assert post_mail(app_client, inbox, raw).status_code == 200
    assert stored(session, "<CAK7p2Gq12@mail.gmail.com>").conversation_id == conversation.id


def test_a_subject_tag_from_the_conversations_contact_threads(
    app_client: TestClient, session: Session
) -> None:
    inbox = setup(session)
    post_mail(app_client, inbox, fixture_bytes("email", "new_mail.eml"))
    conversation_id = stored(session, NEW_MAIL_ID).conversation_id
    raw = fixture_bytes("email", "tagged_subject.eml").replace(
        b"[#1]", f"[#{conversation_id}]".encode()
    )
    post_mail(app_client, inbox, raw)
    tagged = stored(session, "<9f2a1c@lena-laptop.example.org>")
    assert tagged.conversation_id == conversation_id


def test_a_subject_tag_from_a_stranger_opens_a_conversation_of_their_own(
    app_client: TestClient, session: Session
) -> None:
    inbox = setup(session)
    post_mail(app_client, inbox, fixture_bytes("email", "new_mail.eml"))
    conversation_id = stored(session, NEW_MAIL_ID).conversation_id
    raw = fixture_bytes("email", "tagged_stranger.eml").replace(
        b"[#1]", f"[#{conversation_id}]".encode()
    )
    post_mail(app_client, inbox, raw)
    guess = stored(session, "<guess-1@evil.example>")
    assert guess.conversation_id != conversation_id


def test_a_new_mail_from_a_known_sender_starts_a_new_conversation(
    app_client: TestClient, session: Session
) -> None:
    inbox = setup(session)
    post_mail(app_client, inbox, fixture_bytes("email", "new_mail.eml"))
    post_mail(app_client, inbox, fixture_bytes("email", "attachment.eml"))
    first = stored(session, NEW_MAIL_ID)
    assert (
        stored(session, "<CAK7p2Hattach@mail.gmail.com>").conversation_id != first.conversation_id
    )


def test_an_html_only_mail_is_read_as_text_and_its_html_sanitized(
    app_client: TestClient, session: Session
) -> None:
    inbox = setup(session)
    post_mail(app_client, inbox, fixture_bytes("email", "html_only.eml"))
    message = stored(session, "<20261116140000.1234@example.net>")
    assert message.content == "Hi, my invoice shows the wrong VAT number.\n\nSee this & that."
    assert message.html is not None
    assert "<b>invoice</b>" in message.html
    for gone in ("<script", "alert", "onclick", "javascript:", "<style", "<img"):
        assert gone not in message.html
    assert 'href="https://example.net/vat"' in message.html


def test_iso_8859_2_quoted_printable_is_decoded(app_client: TestClient, session: Session) -> None:
    inbox = setup(session)
    post_mail(app_client, inbox, fixture_bytes("email", "iso_8859_2.eml"))
    message = stored(session, "<a1b2c3.iso@example.pl>")
    assert "Zażółć gęślą jaźń" in message.content
    conversation = session.get(Conversation, message.conversation_id)
    assert conversation is not None and conversation.subject == "Zamówienie 4471 nie dotarło"
    contact = session.get(Contact, conversation.contact_id)
    assert contact is not None and contact.name == "Zofia Łódźka"


def test_shift_jis_base64_is_decoded(app_client: TestClient, session: Session) -> None:
    inbox = setup(session)
    post_mail(app_client, inbox, fixture_bytes("email", "shift_jis.eml"))
    message = stored(session, "<sjis-0001@example.jp>")
    assert "注文した商品がまだ届きません。" in message.content
    conversation = session.get(Conversation, message.conversation_id)
    assert conversation is not None and conversation.subject == "注文について"


def test_an_unknown_charset_is_read_as_utf8(app_client: TestClient, session: Session) -> None:
    inbox = setup(session)
    assert (
        post_mail(app_client, inbox, fixture_bytes("email", "unknown_charset.eml")).status_code
        == 200
    )
    assert stored(session, "<weird-charset-1@example.com>").content == "Café opening hours, please?"


def test_an_attachment_is_stored_with_the_message(app_client: TestClient, session: Session) -> None:
    inbox = setup(session)
    post_mail(app_client, inbox, fixture_bytes("email", "attachment.eml"))
    message = stored(session, "<CAK7p2Hattach@mail.gmail.com>")
    assert message.content == "Here is the receipt you asked for."
    [listed] = message.attachments
    assert listed["filename"] == "receipt-4471.pdf"
    assert listed["content_type"] == "application/pdf"
    assert listed["size"] == 77 and "id" in listed


def test_an_oversized_attachment_is_listed_as_skipped(
    app_client: TestClient, session: Session
) -> None:
    inbox = setup(session)
    # Built here: 11 MiB of base64 does not belong in the repository.
    mail = EmailMessage()
    mail["From"] = "Lena Park <lena.park@example.org>"
    mail["To"] = EMAIL_ADDRESS
    mail["Subject"] = "The video of the broken lamp"
    mail["Message-ID"] = "<big-video-1@example.org>"
    mail.set_content("The video is attached.")
    mail.add_attachment(
        b"\0" * (11 * 1024 * 1024), maintype="video", subtype="mp4", filename="lamp.mp4"
    )
    assert post_mail(app_client, inbox, mail.as_bytes()).status_code == 200
    message = stored(session, "<big-video-1@example.org>")
    [listed] = message.attachments
    assert listed["filename"] == "lamp.mp4" and listed["skipped"] == "larger than 10 MiB"
    assert message.content == "The video is attached."


def test_an_out_of_office_is_stored_flagged_in_its_thread(
    app_client: TestClient, session: Session
) -> None:
    w = build_world(session)
    inbox = email_inbox(session)
    post_mail(app_client, inbox, fixture_bytes("email", "new_mail.eml"))
    conversation = session.get(Conversation, stored(session, NEW_MAIL_ID).conversation_id)
    assert conversation is not None
    ours = do_reply(session=session, conversation=conversation, agent=w.dana, content="Ships today")
    ours.external_id = "<handoff.2.0123456789abcdef@acme.example>"
    session.add(ours)
    session.commit()
    post_mail(app_client, inbox, fixture_bytes("email", "out_of_office.eml"))
    auto = stored(session, "<ooo-20261120@example.org>")
    assert auto.auto_submitted and auto.conversation_id == conversation.id


def test_a_bounce_is_stored_flagged(app_client: TestClient, session: Session) -> None:
    inbox = setup(session)
    assert post_mail(app_client, inbox, fixture_bytes("email", "dsn_bounce.eml")).status_code == 200
    bounce = stored(session, "<20261120090009.5B1C2@mx.acme.example>")
    assert bounce.auto_submitted
    assert "550 5.1.1 User unknown" in bounce.content


def test_a_mail_without_message_id_sent_twice_is_one_message(
    app_client: TestClient, session: Session
) -> None:
    inbox = setup(session)
    raw = fixture_bytes("email", "no_message_id.eml")
    assert post_mail(app_client, inbox, raw).status_code == 200
    # A relay handing it in again adds its own Received line: still the same mail.
    again = b"Received: from relay.example by mx.acme.example; Mon, 16 Nov 2026\n" + raw
    assert post_mail(app_client, inbox, again).status_code == 200
    [message] = all_messages(session)
    assert message.external_id is not None and message.external_id.startswith("sha256:")


def test_a_repeated_delivery_stores_one_message(app_client: TestClient, session: Session) -> None:
    inbox = setup(session)
    for _ in range(2):
        assert (
            post_mail(app_client, inbox, fixture_bytes("email", "new_mail.eml")).status_code == 200
        )
    assert [m.external_id for m in all_messages(session)] == [NEW_MAIL_ID]


def test_an_empty_mail_is_kept_as_no_text(app_client: TestClient, session: Session) -> None:
    inbox = setup(session)
    post_mail(app_client, inbox, fixture_bytes("email", "empty_body.eml"))
    assert stored(session, "<empty-1@example.org>").content == "(no text)"


def test_a_wrong_or_missing_secret_is_refused(app_client: TestClient, session: Session) -> None:
    inbox = setup(session)
    raw = fixture_bytes("email", "new_mail.eml")
    assert post_mail(app_client, inbox, raw, auth=("handoff", "guess")).status_code == 401
    assert post_mail(app_client, inbox, raw, auth=("admin", EMAIL_SECRET)).status_code == 401
    assert post_mail(app_client, inbox, raw, auth=None).status_code == 401
    bearer = {"authorization": "Basic " + base64.b64encode(b"no-colon").decode()}
    assert (
        app_client.post(f"/webhooks/email/{inbox.id}", content=raw, headers=bearer).status_code
        == 401
    )
    assert all_messages(session) == []


def test_an_inbox_without_a_webhook_secret_takes_no_posts(
    app_client: TestClient, session: Session
) -> None:
    build_world(session)
    inbox = do_create_inbox(
        session=session, name="Acme", channel="email", config={"address": EMAIL_ADDRESS}
    )
    session.commit()
    assert (
        post_mail(
            app_client, inbox, fixture_bytes("email", "new_mail.eml"), auth=("handoff", "")
        ).status_code
        == 401
    )


def test_a_body_that_is_not_an_email_is_malformed(app_client: TestClient, session: Session) -> None:
    inbox = setup(session)
    response = post_mail(app_client, inbox, b'{"text": "hello"}')
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "malformed"
    assert post_mail(app_client, inbox, b"").status_code == 400


def test_a_mail_over_25_mib_is_refused(app_client: TestClient, session: Session) -> None:
    inbox = setup(session)
    raw = fixture_bytes("email", "new_mail.eml") + b"x" * (25 * 1024 * 1024)
    assert post_mail(app_client, inbox, raw).status_code == 413
    assert all_messages(session) == []


def test_a_get_is_not_allowed(app_client: TestClient, session: Session) -> None:
    inbox = setup(session)
    assert app_client.get(f"/webhooks/email/{inbox.id}").status_code == 405
