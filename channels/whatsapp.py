"""WhatsApp Cloud API (docs/channels/whatsapp.md).

Inbound: Meta POSTs `whatsapp_business_account` deliveries signed with `X-Hub-Signature-256`;
each change for this inbox's `phone_number_id` carries customers' messages and the statuses
of ours. Outbound: `POST {api_base}/{phone_number_id}/messages`, whose `wamid` is kept so the
statuses find the message later; each of the agent's files is uploaded to `/media` first and
sent as its own message after the text, a short text riding as the first file's caption.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from typing import Any

import httpx

from inbox.conversations import InboundMessage
from inbox.models import Inbox

from .base import (
    DeliveryUpdate,
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

log = logging.getLogger("handoff.whatsapp")

MEDIA = ("image", "video", "audio", "document", "sticker")
STATES = {"sent", "delivered", "read", "failed"}
# Not words from the customer: a reaction (it would reopen a resolved conversation for a
# thumbs-up), a number change notice, the "chat opened" ping.
SKIPPED = {"reaction", "system", "request_welcome"}
# WhatsApp refuses a text body longer than this.
MAX_TEXT = 4096
# Captions of images, videos and documents take at most this many characters.
MAX_CAPTION = 1024
MB = 1024 * 1024
# What WhatsApp takes from a business, by MIME type: the message type it goes as and the
# largest size (Meta's "Supported media types"). The upload refuses any other type.
SENDABLE: dict[str, tuple[str, int]] = {
    "image/jpeg": ("image", 5 * MB),
    "image/png": ("image", 5 * MB),
    "video/mp4": ("video", 16 * MB),
    "video/3gpp": ("video", 16 * MB),
    "audio/aac": ("audio", 16 * MB),
    "audio/amr": ("audio", 16 * MB),
    "audio/mpeg": ("audio", 16 * MB),
    "audio/mp4": ("audio", 16 * MB),
    "audio/ogg": ("audio", 16 * MB),
    "text/plain": ("document", 100 * MB),
    "application/pdf": ("document", 100 * MB),
    "application/msword": ("document", 100 * MB),
    "application/vnd.ms-excel": ("document", 100 * MB),
    "application/vnd.ms-powerpoint": ("document", 100 * MB),
    "application/vnd.openxmlformats-officedocument.wordprocessingml.document": (
        "document",
        100 * MB,
    ),
    "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": ("document", 100 * MB),
    "application/vnd.openxmlformats-officedocument.presentationml.presentation": (
        "document",
        100 * MB,
    ),
}
# Audio messages have no caption.
CAPTIONED = {"image", "video", "document"}


def _text(value: object) -> str:
    return value.strip() if isinstance(value, str) else ""


def _media(kind: str, message: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    media = as_dict(message.get(kind), f"{kind} of message {message.get('id')}")
    reference: dict[str, Any] = {"kind": kind, "media_id": as_id(media.get("id"), "media id")}
    if media.get("mime_type"):
        reference["content_type"] = str(media["mime_type"])
    if media.get("filename"):
        reference["filename"] = str(media["filename"])
    if media.get("voice"):
        reference["voice"] = True
    caption = _text(media.get("caption"))
    if caption:
        return caption, reference
    label = reference.get("filename")
    return (f"[{kind}: {label}]" if label else f"[{kind}]"), reference


def _error_title(item: dict[str, Any]) -> str:
    """`errors[0]` of a message or a status, as words: title, then the details."""
    errors = item.get("errors")
    if not isinstance(errors, list) or not errors or not isinstance(errors[0], dict):
        return ""
    error = errors[0]
    title = _text(error.get("title")) or _text(error.get("message"))
    data = error.get("error_data")
    details = _text(data.get("details")) if isinstance(data, dict) else ""
    words = title
    if details and details != title:
        words = f"{title}: {details}" if title else details
    code = error.get("code")
    return f"{words} (code {code})" if code is not None else words


def _content(kind: str, message: dict[str, Any]) -> tuple[str, list[dict[str, Any]]] | None:
    """What the customer sent as text (and media references); None for what is skipped."""
    if kind == "text":
        body = as_dict(message.get("text"), "text")
        return _text(body.get("body")), []
    if kind in MEDIA:
        content, reference = _media(kind, message)
        return content, [reference]
    if kind == "location":
        place = as_dict(message.get("location"), "location")
        text = readable_location(
            place.get("latitude"),
            place.get("longitude"),
            name=place.get("name"),
            address=place.get("address"),
        )
        return text, []
    if kind == "interactive":
        interactive = as_dict(message.get("interactive"), "interactive")
        reply = interactive.get(str(interactive.get("type")))
        if isinstance(reply, dict) and reply.get("title"):
            title = _text(reply.get("title"))
            return title + (f" (reply id: {reply['id']})" if reply.get("id") else ""), []
        return f"[interactive reply: {interactive.get('type')}]", []
    if kind == "button":
        button = as_dict(message.get("button"), "button")
        return _text(button.get("text")) or _text(button.get("payload")), []
    if kind == "contacts":
        cards = [c for c in as_list(message.get("contacts"), "contacts") if isinstance(c, dict)]
        return "Shared contact: " + "; ".join(_card(c) for c in cards), []
    if kind in SKIPPED:
        return None
    # Unsupported types (and any Meta adds later) stay visible instead of vanishing.
    reason = _error_title(message)
    return f"[{kind} message WhatsApp did not pass on" + (f": {reason}]" if reason else "]"), []


def _card(card: dict[str, Any]) -> str:
    name = card.get("name")
    words = [_text(name.get("formatted_name")) if isinstance(name, dict) else ""]
    for key, field in (("phones", "phone"), ("emails", "email")):
        items = card.get(key)
        for item in items if isinstance(items, list) else []:
            if isinstance(item, dict) and item.get(field):
                words.append(str(item[field]))
    return ", ".join(w for w in words if w) or "(empty card)"


def _at(value: object) -> datetime | None:
    try:
        return datetime.fromtimestamp(int(str(value)), tz=UTC)
    except (TypeError, ValueError, OverflowError, OSError):
        return None


class WhatsAppChannel(GraphWebhook):
    name = "whatsapp"
    sends_files = True  # uploaded to /media, then one message per file

    def parse(self, request: WebhookRequest, inbox: Inbox) -> Parsed:
        data = request.json_object()
        kind = data.get("object")
        if not isinstance(kind, str) or not isinstance(data.get("entry"), list):
            raise Malformed("a Graph delivery has an object and an entry list")
        entries = as_list(data.get("entry"), "entry")
        parsed = Parsed()
        if kind != "whatsapp_business_account":
            log.info("inbox %s: %s delivery ignored", inbox.id, kind)
            return parsed
        ours = config_str(inbox, "phone_number_id")
        for entry in entries:
            for change in as_list(as_dict(entry, "entry").get("changes"), "changes"):
                change = as_dict(change, "change")
                if change.get("field") != "messages":
                    continue
                value = as_dict(change.get("value"), "value")
                metadata = value.get("metadata")
                number = metadata.get("phone_number_id") if isinstance(metadata, dict) else None
                if str(number) != ours:
                    # One app's webhook may serve several numbers; each has its own inbox.
                    log.info("inbox %s: change for phone number %s ignored", inbox.id, number)
                    continue
                self._read_value(value, inbox, parsed)
        return parsed

    def _read_value(self, value: dict[str, Any], inbox: Inbox, parsed: Parsed) -> None:
        assert inbox.id is not None
        names: dict[str, str] = {}
        for contact in as_list(value.get("contacts"), "contacts"):
            if isinstance(contact, dict) and isinstance(contact.get("profile"), dict):
                names[str(contact.get("wa_id"))] = _text(contact["profile"].get("name"))
        for message in as_list(value.get("messages"), "messages"):
            message = as_dict(message, "message")
            wamid = as_id(message.get("id"), "message id")
            sender = as_id(message.get("from"), "message sender")
            kind = str(message.get("type") or "unknown")
            read = _content(kind, message)
            if read is None:
                log.info("inbox %s: WhatsApp %s %s skipped", inbox.id, kind, wamid)
                continue
            content, attachments = read
            parsed.messages.append(
                InboundMessage(
                    inbox_id=inbox.id,
                    identifier=sender,
                    content=content,
                    name=names.get(sender)
                    or (next(iter(names.values())) if len(names) == 1 else ""),
                    phone="+" + sender.lstrip("+"),
                    external_id=wamid,
                    attachments=attachments,
                )
            )
        for status in as_list(value.get("statuses"), "statuses"):
            status = as_dict(status, "status")
            state = status.get("status")
            if state not in STATES:
                continue
            parsed.deliveries.append(
                DeliveryUpdate(
                    external_id=as_id(status.get("id"), "status id"),
                    state=str(state),
                    error=(_error_title(status) or "failed") if state == "failed" else None,
                    at=_at(status.get("timestamp")),
                )
            )

    async def send(self, outbound: OutboundMessage, http: httpx.AsyncClient) -> str | None:
        inbox = outbound.inbox
        to = (outbound.identifier or outbound.contact.phone or "").lstrip("+")
        if not to:
            raise SendFailed("the contact has no WhatsApp number (wa_id)", permanent=True)
        # Every file is checked before anything goes out: a refused one must not leave the
        # customer with half a reply.
        files = [(file, _kind_of(file)) for file in outbound.files]
        chat = NumberChat(
            http,
            f"{api_base(inbox)}/{config_str(inbox, 'phone_number_id')}",
            {"authorization": f"Bearer {config_str(inbox, 'access_token')}"},
            to,
            self.timeout,
        )
        steps = _steps(chat, outbound.message.content, files)
        if not steps:
            raise SendFailed("the reply is empty", permanent=True)
        return await send_steps(outbound, steps)


def _kind_of(file: dict[str, Any]) -> str:
    """The message type a file goes as; a permanent SendFailed for one WhatsApp refuses."""
    mime = file_type(file)
    name = file["filename"]
    if mime not in SENDABLE:
        raise SendFailed(
            f"WhatsApp does not take {mime} files ({name}): send a PDF, an Office document, "
            "plain text, a JPEG or PNG image, MP4 video or audio instead",
            permanent=True,
        )
    kind, limit = SENDABLE[mime]
    size = len(file["data"])
    if size > limit:
        raise SendFailed(
            f"WhatsApp takes {kind} files of at most {limit // MB} MB; {name} is "
            f"{size / MB:.1f} MB",
            permanent=True,
        )
    return kind


def _steps(chat: NumberChat, text: str, files: list[tuple[dict[str, Any], str]]) -> Steps:
    """The requests a reply takes, in order, each named for send_parts: the text's parts,
    then a message per file, the first one captioned with the text when it can be."""
    text = text.strip()
    fits = bool(files) and files[0][1] in CAPTIONED and len(text) <= MAX_CAPTION
    caption = text if fits else ""
    parts = [] if caption else split_text(text, MAX_TEXT)
    steps: Steps = {}
    for number, part in enumerate(parts, 1):
        steps[f"text {number}"] = partial(chat.send_text, part)
    for number, (file, kind) in enumerate(files, 1):
        said = caption if number == 1 else ""
        steps[f"file {number}"] = partial(chat.send_file, file, kind, said)
    return steps


@dataclass
class NumberChat:
    """The business number's chat with one customer; each send answers the `wamid`."""

    http: httpx.AsyncClient
    # {api_base}/{phone_number_id}
    number: str
    headers: dict[str, str]
    to: str
    timeout: float

    async def send_text(self, part: str) -> str:
        return await self._message("text", {"preview_url": False, "body": part})

    async def send_file(self, file: dict[str, Any], kind: str, caption: str) -> str:
        # A retry uploads again rather than trust an earlier media id: they are cheap, and
        # an id from an attempt that failed may not have been kept.
        media: dict[str, Any] = {"id": await self._upload(file)}
        if kind == "document":
            media["filename"] = file["filename"]
        if caption:
            media["caption"] = caption
        return await self._message(kind, media)

    async def _upload(self, file: dict[str, Any]) -> str:
        mime = file_type(file)
        answer = await post_graph(
            self.http,
            f"{self.number}/media",
            {"messaging_product": "whatsapp", "type": mime},
            files={"file": (file["filename"], file["data"], mime)},
            what="WhatsApp's media upload",
            timeout=self.timeout,
            headers=self.headers,
        )
        media_id = answer.get("id")
        if not isinstance(media_id, str) or not media_id:
            raise SendFailed(f"WhatsApp's media upload answered without an id: {answer}"[:300])
        return media_id

    async def _message(self, kind: str, content: dict[str, Any]) -> str:
        payload = {
            "messaging_product": "whatsapp",
            "recipient_type": "individual",
            "to": self.to,
            "type": kind,
            kind: content,
        }
        answer = await post_graph(
            self.http,
            f"{self.number}/messages",
            payload,
            what="WhatsApp",
            timeout=self.timeout,
            headers=self.headers,
        )
        return _wamid(answer)


def _wamid(answer: dict[str, Any]) -> str:
    messages = answer.get("messages")
    if isinstance(messages, list) and messages and isinstance(messages[0], dict):
        wamid = messages[0].get("id")
        if isinstance(wamid, str) and wamid:
            return wamid
    raise SendFailed(f"WhatsApp answered without a message id: {str(answer)[:200]}", permanent=True)
