"""Messenger and Instagram direct messages (docs/channels/messenger.md).

Inbound: Meta POSTs `page` or `instagram` deliveries signed with `X-Hub-Signature-256`; each
entry's `messaging` list holds messages, postbacks (button taps), edits and receipts. Our own
messages come back as echoes and are ignored. Outbound: `POST {api_base}/me/messages` with the
page access token, one request per 2,000 characters, then one per file of the agent's (the
file uploaded with the message as `filedata`).
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from typing import Any

import httpx

from inbox.conversations import InboundMessage
from inbox.models import Inbox

from .base import (
    DeliveredUpTo,
    DeliveryUpdate,
    Edit,
    Malformed,
    OutboundMessage,
    Parsed,
    SendFailed,
    WebhookRequest,
    file_type,
)
from .graph import (
    GraphWebhook,
    Steps,
    api_base,
    as_dict,
    as_id,
    as_list,
    config_str,
    post_graph,
    readable_location,
    send_steps,
)
from .long_text import split_text

log = logging.getLogger("handoff.messenger")

OBJECTS = ("page", "instagram")
# Messenger refuses a text longer than this (Instagram allows 1,000 bytes; see the docs).
MAX_TEXT = 2000
# The Send API takes uploaded attachments of up to 25 MB.
MAX_FILE = 25 * 1024 * 1024
# Shown inline; any other type goes as a file to download.
IMAGES = {"image/jpeg", "image/png", "image/gif"}


def _text(value: object) -> str:
    return value.strip() if isinstance(value, str) else ""


def _attachment(item: object, text: str) -> tuple[str, dict[str, Any] | None]:
    """One attachment as words, and a reference an agent can open (None when only words)."""
    attachment = as_dict(item, "attachment")
    kind = str(attachment.get("type") or "file")
    payload = attachment.get("payload")
    payload = payload if isinstance(payload, dict) else {}
    if kind == "location":
        spot = payload.get("coordinates")
        if isinstance(spot, dict):
            return readable_location(spot.get("lat"), spot.get("long")), None
    url = str(payload.get("url") or attachment.get("url") or "")
    title = _text(attachment.get("title")) or _text(payload.get("title"))
    if kind == "fallback":
        # A shared link: its title, and its address unless the text already has it.
        return " ".join(w for w in (title, "" if url in text else url) if w), None
    reference: dict[str, Any] = {"kind": "sticker" if payload.get("sticker_id") else kind}
    if url:
        reference["url"] = url
    if payload.get("sticker_id"):
        reference["sticker_id"] = str(payload["sticker_id"])
    return f"[{reference['kind']}]", reference


def _message(event: dict[str, Any], sender: str, inbox_id: int) -> InboundMessage | None:
    message = as_dict(event.get("message"), "message")
    mid = as_id(message.get("mid"), "message mid")
    if message.get("is_deleted"):
        log.info("inbox %s: message %s was unsent by the customer", inbox_id, mid)
        return None
    text = _text(message.get("text"))
    words = [text]
    references: list[dict[str, Any]] = []
    for item in as_list(message.get("attachments"), "attachments"):
        said, reference = _attachment(item, text)
        if reference is not None:
            references.append(reference)
        if reference is None or not text:
            words.append(said)
    if message.get("is_unsupported"):
        words.append("[a message Instagram does not pass on to apps]")
    content = "\n".join(w for w in words if w)
    if not content:
        log.info("inbox %s: message %s has nothing to show", inbox_id, mid)
        return None
    return InboundMessage(
        inbox_id=inbox_id,
        identifier=sender,
        content=content,
        external_id=mid,
        attachments=references,
    )


def _postback(event: dict[str, Any], sender: str, inbox_id: int) -> InboundMessage | None:
    """A tap on a button we sent: the customer 'said' the button's title."""
    postback = as_dict(event.get("postback"), "postback")
    content = _text(postback.get("title")) or _text(postback.get("payload"))
    if not content:
        return None
    # Older postbacks have no mid; sender and timestamp are stable across Meta's retries.
    mid = postback.get("mid") or f"postback:{sender}:{event.get('timestamp')}"
    return InboundMessage(
        inbox_id=inbox_id, identifier=sender, content=content, external_id=str(mid)
    )


def _up_to(parsed: Parsed, sender: str, state: str, watermark: Any) -> None:
    """A watermark (milliseconds since the epoch) covering everything sent before it."""
    if not sender:
        raise Malformed(f"a {state} receipt without a sender")
    if not isinstance(watermark, int) or isinstance(watermark, bool) or watermark <= 0:
        raise Malformed(f"a {state} receipt without a watermark time")
    until = datetime.fromtimestamp(watermark / 1000, UTC)
    parsed.up_to.append(DeliveredUpTo(identifier=sender, state=state, until=until))


class MessengerChannel(GraphWebhook):
    name = "messenger"
    sends_files = True  # uploaded with each message as `filedata`

    def parse(self, request: WebhookRequest, inbox: Inbox) -> Parsed:
        assert inbox.id is not None
        data = request.json_object()
        kind = data.get("object")
        if not isinstance(kind, str) or not isinstance(data.get("entry"), list):
            raise Malformed("a Graph delivery has an object and an entry list")
        parsed = Parsed()
        if kind not in OBJECTS:
            log.info("inbox %s: %s delivery ignored", inbox.id, kind)
            return parsed
        page_id = config_str(inbox, "page_id")
        for entry in as_list(data.get("entry"), "entry"):
            entry = as_dict(entry, "entry")
            entry_id = str(entry.get("id") or "")
            if kind == "page" and page_id and entry_id != page_id:
                # One app's webhook may serve several pages; each has its own inbox.
                log.info("inbox %s: entry for page %s ignored", inbox.id, entry_id)
                continue
            own = {entry_id, page_id} - {""}
            for event in as_list(entry.get("messaging"), "messaging"):
                self._read_event(as_dict(event, "messaging event"), inbox.id, parsed, own)
        return parsed

    def _read_event(
        self, event: dict[str, Any], inbox_id: int, parsed: Parsed, own: set[str]
    ) -> None:
        """One messaging event; `own` holds the ids we send as (the page, the IG account)."""
        sender_of = event.get("sender")
        sender = str(sender_of.get("id") or "") if isinstance(sender_of, dict) else ""
        if "message" in event:
            message = as_dict(event["message"], "message")
            if message.get("is_echo") or sender in own:
                return  # our own message coming back
            inbound = _message(event, as_id(sender, "sender id"), inbox_id)
            if inbound is not None:
                parsed.messages.append(inbound)
        elif "postback" in event:
            if sender in own:
                return
            inbound = _postback(event, as_id(sender, "sender id"), inbox_id)
            if inbound is not None:
                parsed.messages.append(inbound)
        elif "message_edit" in event:
            edit = as_dict(event["message_edit"], "message_edit")
            text = _text(edit.get("text"))
            if text and sender not in own:
                parsed.edits.append(Edit(external_id=as_id(edit.get("mid"), "mid"), content=text))
        elif "delivery" in event:
            delivery = as_dict(event["delivery"], "delivery")
            mids = as_list(delivery.get("mids"), "mids")
            for mid in mids:
                parsed.deliveries.append(DeliveryUpdate(external_id=str(mid), state="delivered"))
            if not mids:  # "mids" may be left out: then only the watermark says which
                _up_to(parsed, sender, "delivered", delivery.get("watermark"))
        elif "read" in event:
            read = as_dict(event["read"], "read")
            # Instagram names the message seen; Messenger gives a watermark time: everything
            # we sent the customer before it was read.
            if read.get("mid"):
                parsed.deliveries.append(DeliveryUpdate(external_id=str(read["mid"]), state="read"))
            else:
                _up_to(parsed, sender, "read", read.get("watermark"))
        else:
            log.info("inbox %s: messaging event %s ignored", inbox_id, sorted(event))

    async def send(self, outbound: OutboundMessage, http: httpx.AsyncClient) -> str | None:
        inbox = outbound.inbox
        recipient = outbound.identifier
        if not recipient:
            raise SendFailed("the contact has no Messenger id (PSID)", permanent=True)
        # Checked before anything goes out: a refused file must not leave half a reply.
        for file in outbound.files:
            _check_size(file)
        chat = PageChat(
            http,
            f"{api_base(inbox)}/me/messages",
            {"access_token": config_str(inbox, "page_access_token")},
            recipient,
            self.timeout,
        )
        steps = _steps(chat, outbound.message.content, outbound.files)
        if not steps:
            raise SendFailed("the reply is empty", permanent=True)
        return await send_steps(outbound, steps)


def _check_size(file: dict[str, Any]) -> None:
    size = len(file["data"])
    if size > MAX_FILE:
        raise SendFailed(
            f"Messenger takes files of at most 25 MB; {file['filename']} is "
            f"{size / (1024 * 1024):.1f} MB",
            permanent=True,
        )


def _steps(chat: PageChat, text: str, files: list[dict[str, Any]]) -> Steps:
    """The requests a reply takes, in order, each named for send_parts: the text's parts
    (Messenger has no captions), then a message per file."""
    steps: Steps = {}
    for number, part in enumerate(split_text(text, MAX_TEXT), 1):
        steps[f"text {number}"] = partial(chat.send_text, part)
    for number, file in enumerate(files, 1):
        steps[f"file {number}"] = partial(chat.send_file, file)
    return steps


@dataclass
class PageChat:
    """The page's (or Instagram account's) chat with one customer; each send answers the
    message's `mid`."""

    http: httpx.AsyncClient
    url: str
    # The page access token: a query parameter, so it never goes into an error.
    params: dict[str, str]
    recipient: str
    timeout: float

    async def send_text(self, part: str) -> str:
        payload = {
            "recipient": {"id": self.recipient},
            "messaging_type": "RESPONSE",
            "message": {"text": part},
        }
        return await self._send(payload)

    async def send_file(self, file: dict[str, Any]) -> str:
        mime = file_type(file)
        kind = "image" if mime in IMAGES else "file"
        # Not reusable: each reply's file is the customer's alone, and Meta keeps it in the
        # thread anyway.
        message = {"attachment": {"type": kind, "payload": {"is_reusable": False}}}
        form = {
            "recipient": json.dumps({"id": self.recipient}),
            "messaging_type": "RESPONSE",
            "message": json.dumps(message),
        }
        return await self._send(form, {"filedata": (file["filename"], file["data"], mime)})

    async def _send(
        self, payload: dict[str, Any], files: dict[str, tuple[str, bytes, str]] | None = None
    ) -> str:
        answer = await post_graph(
            self.http,
            self.url,
            payload,
            what="Messenger",
            timeout=self.timeout,
            params=self.params,
            files=files,
        )
        mid = answer.get("message_id")
        if not isinstance(mid, str) or not mid:
            raise SendFailed(
                f"Messenger answered without a message_id: {str(answer)[:200]}", permanent=True
            )
        return mid
