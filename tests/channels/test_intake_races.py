"""A provider that delivers the same webhook several times at once (a retry racing the
original): one message is stored and one event is pushed, whichever request wins."""

from __future__ import annotations

import threading

from sqlmodel import Session, func, select

from channels.base import WebhookRequest
from channels.intake import take_in
from channels.telegram import TelegramChannel
from inbox.accounts import do_create_inbox
from inbox.db import Database
from inbox.events import Event
from inbox.models import Message
from tests.channels.helpers import fixture_bytes


def test_the_same_update_delivered_six_times_at_once_is_one_message(
    session: Session, db: Database, events: list[Event]
) -> None:
    inbox = do_create_inbox(
        session=session,
        name="tg",
        channel="telegram",
        config={"bot_token": "1:A", "secret_token": "s"},
    )
    session.commit()
    assert inbox.id is not None
    inbox_id = inbox.id
    body = fixture_bytes("telegram", "text.json")
    request = WebhookRequest("POST", "http://t/", "", {}, {}, body)
    start = threading.Barrier(6)
    errors: list[BaseException] = []

    def deliver() -> None:
        try:
            parsed = TelegramChannel().parse(request, inbox)
            start.wait()
            take_in(db, inbox_id, parsed)
        except BaseException as exc:  # reported below, with the thread's own error
            errors.append(exc)

    threads = [threading.Thread(target=deliver) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert errors == []
    with db.session() as fresh:
        stored = fresh.exec(select(func.count()).select_from(Message)).one()
    created = [e for e in events if e.type == "message.created"]
    assert stored == 1
    assert len(created) == 1, [e.data for e in created]
