"""Agents' files by MMS (docs/channels/twilio.md): each goes as a signed, expiring link that
the Twilio stand-in fetches over HTTP from the app served for the test, as Twilio would."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
import uvicorn
from itsdangerous import TimestampSigner, URLSafeTimedSerializer
from sqlmodel import Session, select
from starlette.testclient import TestClient

from channels import media_links, twilio_channel, twilio_mms
from channels.base import OutboundMessage, SendFailed
from channels.dispatch import load_outbound
from channels.webchat.visitor import sign_visitor
from inbox.attachments import MAX_FILES, store_attachments
from inbox.conversations import InboundMessage, do_receive_inbound, do_reply
from inbox.db import Database
from inbox.links import set_public_base
from inbox.models import Attachment, Inbox
from inbox.settings import Settings
from main import create_app
from tests.channels.test_twilio import CALLER, Fetched, make_inbox, twilio_api
from tests.factories import World, build_world, customer_writes
from tests.standins import Answer, StandIn, standin_server

PHOTO = bytes(range(256)) * 40  # 10 KB; the stand-in checks bytes, not pixels
MB = 1_000_000
Check = Callable[[str, dict[str, str], bytes], Answer]


@pytest.fixture(autouse=True)
def _link_secret(settings: Settings) -> None:
    """The app's secret signs the links, as create_app sets it."""
    media_links.set_link_secret(settings.secret_key)


@pytest.fixture
def served_app(settings: Settings) -> Iterator[str]:
    """The app served over HTTP on a loopback port, and the public base of its links: where
    the Twilio stand-in fetches the files from. No lifespan: its outbox worker would send
    the test's replies too."""
    app = create_app(settings)
    config = uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", lifespan="off")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 15
    while not server.started:
        assert time.monotonic() < deadline, "the app did not start"
        time.sleep(0.02)
    port = server.servers[0].sockets[0].getsockname()[1]
    base = f"http://127.0.0.1:{port}"
    set_public_base(base)
    yield base
    server.should_exit = True
    thread.join(timeout=10)
    app.state.handoff.db.engine.dispose()


class Twilio:
    """The stand-in's record: the messages it accepted and the files it fetched for each."""

    def __init__(self, api: StandIn) -> None:
        self.api = api
        self.sent: list[dict[str, list[str]]] = []
        self.fetched: list[list[Fetched]] = []
        self.accept: Check = twilio_api(self.sent, self.fetched)
        api.check = self.accept


@pytest.fixture
def twilio() -> Iterator[Twilio]:
    with standin_server() as api:
        yield Twilio(api)


def file(name: str, content_type: str, data: bytes = PHOTO) -> dict[str, Any]:
    return {"filename": name, "content_type": content_type, "data": data}


def reply_with_files(
    session: Session,
    db: Database,
    world: World,
    inbox: Inbox,
    content: str,
    files: Sequence[dict[str, Any]],
) -> OutboundMessage:
    """The customer texts, Bob replies with `files`; the reply as the dispatcher hands it to
    the channel, each file with the attachment id its link names."""
    conversation = customer_writes(session, inbox, "Hi", who=CALLER).conversation
    message = do_reply(
        session=session,
        conversation=conversation,
        agent=world.bob,
        content=content,
        files=files[:MAX_FILES],
    )
    if files[MAX_FILES:]:  # more than the reply box takes, as another path might hand over
        store_attachments(session, message, list(files[MAX_FILES:]))
        session.commit()
    assert message.id is not None
    outbound = load_outbound(db, message.id)
    assert outbound is not None
    assert all(isinstance(f["id"], int) for f in outbound.files)
    return outbound


def twilio_inbox(session: Session, world: World, twilio: Twilio) -> Inbox:
    return make_inbox(session, world, twilio.api.url)


async def send(outbound: OutboundMessage) -> str | None:
    async with httpx.AsyncClient() as http:
        return await twilio_channel.TwilioChannel().send(outbound, http)


# -- sending ---------------------------------------------------------------------------------


async def test_a_reply_with_an_image_goes_as_one_mms_whose_file_twilio_fetched_intact(
    session: Session, db: Database, served_app: str, twilio: Twilio
) -> None:
    world = build_world(session)
    inbox = twilio_inbox(session, world, twilio)
    outbound = reply_with_files(
        session, db, world, inbox, "Here is the receipt", [file("receipt.png", "image/png")]
    )

    sid = await send(outbound)

    [message] = twilio.sent
    assert message["Body"] == ["Here is the receipt"]
    [url] = message["MediaUrl"]
    assert url.startswith(f"{served_app}/media/")
    [[fetched]] = twilio.fetched
    assert fetched.data == PHOTO
    assert fetched.content_type == "image/png"
    assert "filename*=UTF-8''receipt.png" in fetched.content_disposition
    assert sid is not None and sid.startswith("SM")


async def test_a_reply_of_files_only_is_one_mms_without_a_body(
    session: Session, db: Database, served_app: str, twilio: Twilio
) -> None:
    world = build_world(session)
    inbox = twilio_inbox(session, world, twilio)
    files = [file("photo.jpg", "image/jpeg"), file("terms.pdf", "application/pdf", b"%PDF-1.7")]
    outbound = reply_with_files(session, db, world, inbox, "", files)

    await send(outbound)

    [message] = twilio.sent
    assert "Body" not in message and len(message["MediaUrl"]) == 2
    assert [f.data for f in twilio.fetched[0]] == [PHOTO, b"%PDF-1.7"]


async def test_a_long_reply_carries_its_files_on_its_last_part(
    session: Session, db: Database, served_app: str, twilio: Twilio
) -> None:
    world = build_world(session)
    inbox = twilio_inbox(session, world, twilio)
    words = " ".join(f"word{i}" for i in range(300))  # about 2,600 characters: two parts
    outbound = reply_with_files(session, db, world, inbox, words, [file("a.gif", "image/gif")])

    await send(outbound)

    assert [("Body" in m, len(m.get("MediaUrl", []))) for m in twilio.sent] == [
        (True, 0),
        (True, 1),
    ]
    assert " ".join(m["Body"][0] for m in twilio.sent) == words


async def test_more_than_ten_files_go_as_several_mms_of_ten_at_most(
    session: Session, db: Database, served_app: str, twilio: Twilio
) -> None:
    world = build_world(session)
    inbox = twilio_inbox(session, world, twilio)
    files = [file(f"page{i}.png", "image/png", PHOTO + bytes([i])) for i in range(12)]
    outbound = reply_with_files(session, db, world, inbox, "The scans", files)

    await send(outbound)

    assert [len(m["MediaUrl"]) for m in twilio.sent] == [10, 2]
    assert twilio.sent[0]["Body"] == ["The scans"] and "Body" not in twilio.sent[1]
    assert [f.data for group in twilio.fetched for f in group] == [f["data"] for f in files]


async def test_files_over_twilios_5_mb_together_go_in_separate_mms(
    session: Session, db: Database, served_app: str, twilio: Twilio
) -> None:
    world = build_world(session)
    inbox = twilio_inbox(session, world, twilio)
    big = [file(f"part{i}.pdf", "application/pdf", bytes([i]) * (3 * MB)) for i in range(2)]
    outbound = reply_with_files(session, db, world, inbox, "Both parts", big)

    await send(outbound)

    assert [len(m["MediaUrl"]) for m in twilio.sent] == [1, 1]
    assert [f.data for group in twilio.fetched for f in group] == [f["data"] for f in big]


@pytest.mark.parametrize(
    ("files", "reason"),
    [
        (
            [file("ok.png", "image/png"), file("page.html", "text/html", b"<p>hi</p>")],
            "Twilio does not send text/html files by MMS (page.html)",
        ),
        (
            [file("notes.txt", "text/plain; charset=utf-8", b"notes")],
            "text/plain files by MMS (notes.txt)",
        ),
        (
            [file("ok.png", "image/png"), file("scan.jpg", "image/jpeg", b"\xff" * (6 * MB))],
            "at most 5 MB of media in an MMS; scan.jpg is 6.0 MB",
        ),
    ],
)
async def test_files_twilio_would_refuse_are_refused_before_anything_is_sent(
    session: Session,
    db: Database,
    twilio: Twilio,
    files: list[dict[str, Any]],
    reason: str,
) -> None:
    world = build_world(session)
    inbox = twilio_inbox(session, world, twilio)
    outbound = reply_with_files(session, db, world, inbox, "Here you go", files)

    with pytest.raises(SendFailed) as failure:
        await send(outbound)

    assert failure.value.permanent
    assert reason in str(failure.value)
    assert twilio.api.received == []


async def test_without_a_public_address_twilio_could_not_fetch_the_files(
    session: Session, db: Database
) -> None:
    # The conftest's base, 127.0.0.1:8000, is what an app without HANDOFF_PUBLIC_URL links
    # to; the inbox talks to Twilio's real API, whose cloud cannot reach it.
    world = build_world(session)
    inbox = make_inbox(session, world)
    outbound = reply_with_files(session, db, world, inbox, "Hi", [file("a.png", "image/png")])

    with pytest.raises(SendFailed) as failure:
        await send(outbound)

    assert failure.value.permanent
    assert "set HANDOFF_PUBLIC_URL" in str(failure.value)


@pytest.mark.parametrize(
    ("public_base", "api_base", "reachable"),
    [
        ("http://127.0.0.1:8000", "https://api.twilio.com", False),
        ("http://localhost:8000", "https://api.twilio.com", False),
        ("http://0.0.0.0:8000", "https://api.twilio.com", False),
        ("http://192.168.1.20", "https://api.twilio.com", False),
        ("https://help.example.com", "https://api.twilio.com", True),
        ("https://93.184.215.14", "https://api.twilio.com", True),
        # A stand-in on this machine fetches from beside Handoff.
        ("http://127.0.0.1:8000", "http://127.0.0.1:9000", True),
    ],
)
def test_twilio_reaches_the_links_unless_they_are_local_and_twilio_is_not(
    public_base: str, api_base: str, reachable: bool
) -> None:
    set_public_base(public_base)
    if reachable:
        twilio_mms.check_reachable(api_base)
    else:
        with pytest.raises(SendFailed, match="HANDOFF_PUBLIC_URL"):
            twilio_mms.check_reachable(api_base)


async def test_a_retry_after_a_failure_in_the_middle_does_not_resend_what_went_out(
    session: Session, db: Database, served_app: str, twilio: Twilio
) -> None:
    world = build_world(session)
    inbox = twilio_inbox(session, world, twilio)
    words = " ".join(f"word{i}" for i in range(500))  # three parts
    outbound = reply_with_files(session, db, world, inbox, words, [file("a.png", "image/png")])
    posts: list[bytes] = []

    def busy_on_the_second(path: str, headers: dict[str, str], body: bytes) -> Answer:
        posts.append(body)
        if len(posts) == 2:
            return 429, b'{"code": 20429, "message": "Too Many Requests"}', {"retry-after": "1"}
        return twilio.accept(path, headers, body)

    twilio.api.check = busy_on_the_second
    with pytest.raises(SendFailed) as failure:
        await send(outbound)
    assert not failure.value.permanent and len(twilio.sent) == 1
    assert failure.value.parts_sent is not None

    # The outbox keeps what went out with the entry and hands it to the next attempt.
    outbound.parts_sent = failure.value.parts_sent
    sid = await send(outbound)

    assert [len(m.get("MediaUrl", [])) for m in twilio.sent] == [0, 0, 1]
    assert " ".join(m["Body"][0] for m in twilio.sent) == words
    assert twilio.fetched[-1][0].data == PHOTO
    assert len(posts) == 4  # the first part once, the refused second, then the rest
    assert sid is not None and sid.startswith("SM")


async def test_a_link_twilio_cannot_fetch_fails_with_twilios_reason(
    session: Session, db: Database, twilio: Twilio
) -> None:
    with socket.socket() as closed:  # a port nothing answers on once this closes
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    set_public_base(f"http://127.0.0.1:{port}")
    world = build_world(session)
    inbox = twilio_inbox(session, world, twilio)
    outbound = reply_with_files(session, db, world, inbox, "Hi", [file("a.png", "image/png")])

    with pytest.raises(SendFailed) as failure:
        await send(outbound)

    assert failure.value.permanent
    assert "error 11200: HTTP retrieval failure" in str(failure.value)
    assert twilio.sent == []


# -- the links -------------------------------------------------------------------------------


def link_path(attachment_id: int | None) -> str:
    assert attachment_id is not None
    return urlsplit(media_links.signed_media_url(attachment_id)).path


def agents_file(session: Session, db: Database, world: World) -> Attachment:
    inbox = make_inbox(session, world)
    outbound = reply_with_files(
        session, db, world, inbox, "", [file("Квитанция 1.png", "image/png")]
    )
    return session.get_one(Attachment, outbound.files[0]["id"])


def test_a_link_answers_the_file_as_a_private_download(
    app_client: TestClient, session: Session, db: Database
) -> None:
    attachment = agents_file(session, db, build_world(session))

    response = app_client.get(link_path(attachment.id))

    assert response.status_code == 200
    assert response.content == PHOTO
    assert response.headers["content-type"] == "image/png"
    disposition = response.headers["content-disposition"]
    assert disposition.startswith("attachment;")
    assert "filename*=UTF-8''%D0%9A%D0%B2%D0%B8%D1%82%D0%B0%D0%BD%D1%86%D0%B8%D1%8F%201.png" in (
        disposition
    )
    assert response.headers["cache-control"] == "private, no-store"
    assert app_client.head(link_path(attachment.id)).status_code == 200


def test_a_forged_or_foreign_token_is_404(
    app_client: TestClient, session: Session, db: Database, settings: Settings
) -> None:
    attachment = agents_file(session, db, build_world(session))
    genuine = link_path(attachment.id)
    assert attachment.id is not None
    other_key = URLSafeTimedSerializer("not-our-secret", salt=media_links.SALT)
    forged = [
        genuine[:-2] + ("AA" if not genuine.endswith("AA") else "BB"),
        "/media/" + other_key.dumps(attachment.id),
        # Signed with our key for the widget: its own salt keeps it out.
        "/media/" + sign_visitor(settings.secret_key, 1, "visitor:x"),
        "/media/" + URLSafeTimedSerializer(settings.secret_key, salt=media_links.SALT).dumps("1"),
        "/media/not-a-token",
    ]
    for path in forged:
        response = app_client.get(path, headers={"accept": "application/json"})
        assert response.status_code == 404, path
        assert response.json()["error"] == "No file at this media link"


def test_an_expired_link_is_410(
    app_client: TestClient, session: Session, db: Database, settings: Settings
) -> None:
    attachment = agents_file(session, db, build_world(session))

    class TwoDaysAgo(TimestampSigner):
        def get_timestamp(self) -> int:
            return int(time.time()) - 2 * media_links.MAX_AGE

    old = URLSafeTimedSerializer(settings.secret_key, salt=media_links.SALT, signer=TwoDaysAgo)

    response = app_client.get(
        f"/media/{old.dumps(attachment.id)}", headers={"accept": "application/json"}
    )

    assert response.status_code == 410
    assert response.json()["error"] == "This media link has expired"


def test_a_link_to_a_customers_file_is_404(app_client: TestClient, session: Session) -> None:
    world = build_world(session)
    inbox = make_inbox(session, world)
    assert inbox.id is not None
    received = do_receive_inbound(
        session=session,
        inbound=InboundMessage(
            inbox_id=inbox.id,
            identifier=CALLER,
            content="My ID card",
            attachments=[file("id-card.png", "image/png")],
        ),
    )
    [attachment] = session.exec(
        select(Attachment).where(Attachment.message_id == received.message.id)
    ).all()

    response = app_client.get(link_path(attachment.id))

    assert response.status_code == 404
    assert PHOTO not in response.content
