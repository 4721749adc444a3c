"""An agent's reply with files (docs/concepts/attachments.md): stored once, listed on the
message, refused whole when a limit would drop one."""

from __future__ import annotations

import pytest
from sqlmodel import Session, col, select

from channels import dispatch
from inbox.attachments import MAX_FILE, MAX_FILES
from inbox.conversations import do_reply
from inbox.db import Database
from inbox.errors import InvalidInput
from inbox.models import Attachment, Conversation, Message
from tests.factories import build_world, customer_writes

PDF = {"filename": "invoice.pdf", "content_type": "application/pdf", "data": b"%PDF-1.4 x"}


def test_a_reply_keeps_its_files_and_may_have_no_text(session: Session, db: Database) -> None:
    w = build_world(session)
    conversation = customer_writes(session, w.webchat).conversation

    reply = do_reply(
        session=session, conversation=conversation, agent=w.dana, content="  ", files=[PDF]
    )

    [stored] = session.exec(select(Attachment).where(Attachment.message_id == reply.id)).all()
    assert (stored.filename, stored.size, stored.data) == ("invoice.pdf", 10, PDF["data"])
    assert reply.content == ""
    assert reply.attachments == [
        {"id": stored.id, "filename": "invoice.pdf", "content_type": "application/pdf", "size": 10}
    ]
    fresh = session.get(Conversation, conversation.id)
    assert fresh is not None and fresh.preview == "📎 invoice.pdf"
    assert reply.id is not None
    outbound = dispatch.load_outbound(db, reply.id)
    assert outbound is not None
    assert [(f["filename"], f["data"]) for f in outbound.files] == [("invoice.pdf", PDF["data"])]


@pytest.mark.parametrize(
    ("files", "why"),
    [
        ([{**PDF, "data": b"x" * (MAX_FILE + 1)}], "invoice.pdf is larger than 10 MiB"),
        ([PDF] * (MAX_FILES + 1), f"at most {MAX_FILES} files per reply"),
        ([{**PDF, "data": b"x" * MAX_FILE}] * 3, "the files together are larger than 25 MiB"),
        ([{**PDF, "data": b""}], "invoice.pdf is empty"),
    ],
)
def test_files_over_a_limit_refuse_the_whole_reply(
    session: Session, files: list[dict[str, object]], why: str
) -> None:
    w = build_world(session)
    conversation = customer_writes(session, w.webchat).conversation
    with pytest.raises(InvalidInput) as refused:
        do_reply(
            session=session, conversation=conversation, agent=w.dana, content="Hi", files=files
        )
    assert refused.value.message == why
    session.rollback()
    assert session.exec(select(Attachment)).all() == []
    kinds = session.exec(select(Message.kind).order_by(col(Message.id))).all()
    assert "outgoing" not in kinds


def test_without_files_a_reply_still_needs_text(session: Session) -> None:
    w = build_world(session)
    conversation = customer_writes(session, w.webchat).conversation
    with pytest.raises(InvalidInput):
        do_reply(session=session, conversation=conversation, agent=w.dana, content=" ")
