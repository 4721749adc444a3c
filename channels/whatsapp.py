"""WhatsApp Cloud API (docs/channels/whatsapp.md).

Inbound: Meta POSTs `whatsapp_business_account` deliveries signed with `X-Hub-Signature-256`;
each change for this inbox's `phone_number_id` carries customers' messages and the statuses
of ours. Outbound: `POST {api_base}/{phone_number_id}/messages`, whose `wamid` is kept so the
statuses find the message later.
"""

from __future__ import annotations

import logging
from datetime import UTC, datetime
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
)
from .graph import (
    GraphWebhook,
    api_base,
    as_dict,
    as_id,
    as_list,
    config_str,
    post_graph,
    readable_location,
    send_in_parts,
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
    sends_files = False

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
        content = outbound.message.content.strip()
        if not content:
            raise SendFailed("WhatsApp replies must have text; files are not sent", permanent=True)
        url = f"{api_base(inbox)}/{config_str(inbox, 'phone_number_id')}/messages"
        headers = {"authorization": f"Bearer {config_str(inbox, 'access_token')}"}

        async def send_one(part: str) -> str:
            payload = {
                "messaging_product": "whatsapp",
                "recipient_type": "individual",
                "to": to,
                "type": "text",
                "text": {"preview_url": False, "body": part},
            }
            answer = await post_graph(
                http, url, payload, what="WhatsApp", timeout=self.timeout, headers=headers
            )
            return _wamid(answer)

        return await send_in_parts(split_text(content, MAX_TEXT), send_one)


def _wamid(answer: dict[str, Any]) -> str:
    messages = answer.get("messages")
    if isinstance(messages, list) and messages and isinstance(messages[0], dict):
        wamid = messages[0].get("id")
        if isinstance(wamid, str) and wamid:
            return wamid
    raise SendFailed(f"WhatsApp answered without a message id: {str(answer)[:200]}", permanent=True)
