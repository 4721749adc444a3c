"""Twilio SMS and a voice menu that books callbacks (docs/channels/twilio.md).

Inbound, Twilio POSTs forms to `/webhooks/twilio/{inbox_id}/sms` (messages and status
callbacks), `/voice` (a call comes in: answer a menu) and `/voice/menu` (the caller pressed a
key: book a callback for that team), each signed with `X-Twilio-Signature`, checked with
twilio's own `RequestValidator`. TwiML answers are built with twilio's `twiml` classes.

Outbound, replies are POSTed to `{api_base}/2010-04-01/Accounts/{sid}/Messages.json` with
plain httpx: twilio's REST client cannot use the shared `httpx.AsyncClient` (its async client
is aiohttp) nor take an arbitrary `api_base`. An agent's files go as MMS: Twilio fetches each
`MediaUrl` itself, so each file is named by a signed, expiring link to Handoff
(channels/media_links.py).
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import httpx
from twilio.request_validator import (  # type: ignore[import-untyped]
    RequestValidator,
    get_signature_algorithm,
)
from twilio.twiml.messaging_response import MessagingResponse  # type: ignore[import-untyped]
from twilio.twiml.voice_response import Gather, VoiceResponse  # type: ignore[import-untyped]

from inbox.conversations import InboundMessage
from inbox.models import Inbox

from .base import (
    BadSignature,
    DeliveryUpdate,
    Malformed,
    OutboundMessage,
    Parsed,
    Reply,
    SendFailed,
    WebhookRequest,
    failure_from_response,
)
from .long_text import send_parts
from .media_links import signed_media_url
from .twilio_mms import MAX_MEDIA, Sms, check_mms_file, check_reachable, mms_messages

log = logging.getLogger("handoff.channels.twilio")

DEFAULT_API_BASE = "https://api.twilio.com"
TIMEOUT = 10.0
TWIML = "text/xml; charset=utf-8"
SIGNATURE_SETTINGS = "x-twilio-webhooks-signature-settings"

# Twilio's status callback words -> Handoff's delivery states; the rest (queued, sending,
# accepted, scheduled) say nothing a sent message does not already say.
_STATES = {
    "sent": "sent",
    "delivered": "delivered",
    "read": "read",
    "undelivered": "failed",
    "failed": "failed",
}
# What Twilio puts in `From` when the caller hides their number (ANONYMOUS, RESTRICTED,
# UNAVAILABLE and UNKNOWN spelled on a keypad), besides the words themselves.
_WITHHELD = {"+266696687", "+7378742833", "+86282452253", "+8656696"}
_PHONE = re.compile(r"^\+?[0-9]{3,15}$")


@dataclass(frozen=True)
class MenuEntry:
    digit: str
    label: str
    team_id: int | None


def menu_of(inbox: Inbox) -> list[MenuEntry]:
    """The inbox's voice menu; entries an admin got wrong are skipped, not fatal to a call."""
    entries: list[MenuEntry] = []
    raw = inbox.config.get("menu") or []
    for item in raw if isinstance(raw, list) else []:
        if not isinstance(item, dict):
            continue
        digit, label, team = str(item.get("digit", "")).strip(), item.get("label"), None
        if len(digit) != 1 or digit not in "0123456789*#" or not isinstance(label, str):
            log.warning("inbox %s: menu entry %r ignored", inbox.id, item)
            continue
        if isinstance(item.get("team_id"), int):
            team = int(item["team_id"])
        entries.append(MenuEntry(digit, label.strip(), team))
    # Without a menu, a caller can still ask to be called back.
    return entries or [MenuEntry("1", "a callback", None)]


def _twiml(response: Any) -> Reply:
    return Reply(body=str(response.to_xml()), content_type=TWIML)


def _config(inbox: Inbox, key: str) -> str:
    value = inbox.config.get(key)
    return str(value) if value else ""


def _withheld(number: str) -> bool:
    return number in _WITHHELD or not _PHONE.match(number)


class TwilioChannel:
    name = "twilio"
    # As MMS: a MediaUrl per file, a signed link Twilio fetches from Handoff (media_links).
    sends_files = True
    max_body = 1024 * 1024

    # -- inbound ---------------------------------------------------------------------------

    def verify(self, request: WebhookRequest, inbox: Inbox) -> None:
        signature = request.header("x-twilio-signature")
        if not signature:
            raise BadSignature("no X-Twilio-Signature header")
        settings = request.header(SIGNATURE_SETTINGS)
        if settings:
            # Webhooks configured with a SharedKey are signed with that key's secret.
            key_id = _settings_key(settings)
            keys = inbox.config.get("shared_keys") or {}
            secret = str(keys.get(key_id) or "") if isinstance(keys, dict) else ""
            if not secret:
                raise BadSignature(f"signed with shared key {key_id!r}, unknown to this inbox")
            algorithm = get_signature_algorithm(settings)
        else:
            secret, algorithm = _config(inbox, "auth_token"), None
            if not secret:
                raise BadSignature("the inbox has no auth_token")
        params = request.form() if request.method == "POST" else {}
        if not RequestValidator(secret).validate(request.url, params, signature, algorithm):
            raise BadSignature("X-Twilio-Signature does not match")

    def handshake(self, request: WebhookRequest, inbox: Inbox) -> Reply | None:
        return None  # Twilio has no subscription check; webhooks must be set to HTTP POST.

    def parse(self, request: WebhookRequest, inbox: Inbox) -> Parsed:
        form = request.form()
        if request.subpath == "sms":
            return self._sms(form, inbox)
        if request.subpath == "voice":
            return Parsed(reply=_twiml(_menu_response(request.url, inbox)))
        if request.subpath == "voice/menu":
            return self._menu_choice(form, request.url, inbox)
        raise Malformed(f"no Twilio webhook at {request.subpath!r}: use sms, voice or voice/menu")

    def _sms(self, form: dict[str, str], inbox: Inbox) -> Parsed:
        sid = form.get("MessageSid") or form.get("SmsSid")
        if not sid:
            raise Malformed("no MessageSid")
        empty = _twiml(MessagingResponse())
        if "Body" not in form and "NumMedia" not in form:
            status = form.get("MessageStatus") or form.get("SmsStatus")
            if not status:
                raise Malformed("neither a message (Body) nor a status callback (MessageStatus)")
            state = _STATES.get(status)
            if state is None:
                return Parsed(reply=empty)
            error = None
            if state == "failed":
                error = f"Twilio: {status}" + (
                    f", error {form['ErrorCode']}" if form.get("ErrorCode") else ""
                )
            return Parsed(deliveries=[DeliveryUpdate(sid, state, error=error)], reply=empty)
        sender = form.get("From", "")
        if not sender:
            raise Malformed("no From")
        assert inbox.id is not None
        inbound = InboundMessage(
            inbox_id=inbox.id,
            identifier=sender,
            phone=sender if _PHONE.match(sender) else None,
            content=form.get("Body", ""),
            external_id=sid,
            attachments=_media(form),
        )
        return Parsed(messages=[inbound], reply=empty)

    def _menu_choice(self, form: dict[str, str], url: str, inbox: Inbox) -> Parsed:
        call_sid, caller = form.get("CallSid", ""), form.get("From", "")
        if not call_sid:
            raise Malformed("no CallSid")
        digits = form.get("Digits", "").strip()
        entry = next((e for e in menu_of(inbox) if e.digit == digits), None)
        if entry is None:
            heard = f"Sorry, {digits[:5]} is not one of the options." if digits else ""
            return Parsed(reply=_twiml(_menu_response(url, inbox, prefix=heard, greet=False)))
        response = VoiceResponse()
        if _withheld(caller):
            response.say(
                "Sorry, your number is hidden, so we cannot call you back. Please call again "
                "showing your number, or send us a text message. Goodbye."
            )
            response.hangup()
            return Parsed(reply=_twiml(response))
        assert inbox.id is not None
        inbound = InboundMessage(
            inbox_id=inbox.id,
            identifier=caller,
            phone=caller,
            name=form.get("CallerName", ""),
            content=f"Callback requested: {entry.label} (pressed {entry.digit}) from {caller}",
            subject=f"Callback request: {entry.label}",
            external_id=f"{call_sid}:menu",
            team_id=entry.team_id,
            # A callback is a case of its own, routed to the team the caller chose.
            starts_thread=True,
        )
        response.say("Thank you. A teammate will call you back shortly. Goodbye.")
        response.hangup()
        return Parsed(messages=[inbound], reply=_twiml(response))

    # -- outbound --------------------------------------------------------------------------

    async def send(self, outbound: OutboundMessage, http: httpx.AsyncClient) -> str | None:
        inbox = outbound.inbox
        sid, token = _config(inbox, "account_sid"), _config(inbox, "auth_token")
        sender = _config(inbox, "phone_number")
        if not (sid and token and sender):
            raise SendFailed(
                "the inbox needs account_sid, auth_token and phone_number", permanent=True
            )
        if not outbound.identifier:
            raise SendFailed("the contact has no phone number in this inbox", permanent=True)
        base = _config(inbox, "api_base") or DEFAULT_API_BASE
        # Every file is checked before anything goes out: a refused one must not leave the
        # customer with half a reply.
        if outbound.files:
            check_reachable(base)
            for file in outbound.files:
                check_mms_file(file)
        fields = {"To": outbound.identifier, "From": sender}
        if callback := _config(inbox, "status_callback"):
            # A plain number reports delivery only to a URL named with each message.
            fields["StatusCallback"] = callback
        account = Account(
            http,
            f"{base.rstrip('/')}/2010-04-01/Accounts/{quote(sid, safe='')}/Messages.json",
            (sid, token),
            fields,
        )
        messages = mms_messages(outbound.message.content, outbound.files)
        if not messages:
            return None
        sids = await send_parts(outbound, list(messages), lambda name: account.post(messages[name]))
        # The last message's sid: its receipt says the whole reply arrived.
        return sids[-1]


@dataclass(frozen=True)
class Account:
    """The inbox's Twilio account, posting messages to one customer."""

    http: httpx.AsyncClient
    # {api_base}/2010-04-01/Accounts/{sid}/Messages.json
    url: str
    auth: tuple[str, str]
    fields: dict[str, str]

    async def post(self, sms: Sms) -> str:
        """Post one message; Twilio's sid for it."""
        data: dict[str, str | list[str]] = dict(self.fields)
        if sms.body:
            data["Body"] = sms.body
        if sms.files:
            # Signed now rather than when the reply was written: a retry hours later gets
            # links with a whole day ahead of them.
            data["MediaUrl"] = [signed_media_url(int(file["id"])) for file in sms.files]
        response = await self.http.post(self.url, auth=self.auth, data=data, timeout=TIMEOUT)
        if response.status_code >= 300:
            raise _failure(response)
        try:
            return str(response.json()["sid"])
        except (ValueError, KeyError, TypeError) as exc:
            raise SendFailed("Twilio's answer has no message sid", permanent=True) from exc


def _settings_key(settings: str) -> str:
    for part in settings.split(","):
        name, _, value = part.partition("=")
        if name.strip() == "key":
            return value.strip()
    return ""


def _media(form: dict[str, str]) -> list[dict[str, Any]]:
    try:
        count = int(form.get("NumMedia") or 0)
    except ValueError as exc:
        raise Malformed("NumMedia is not a number") from exc
    files: list[dict[str, Any]] = []
    for i in range(min(max(count, 0), MAX_MEDIA)):
        url = form.get(f"MediaUrl{i}")
        if url:
            content_type = form.get(f"MediaContentType{i}", "")
            files.append({"kind": "media", "url": url, "content_type": content_type})
    return files


def _menu_response(url: str, inbox: Inbox, *, prefix: str = "", greet: bool = True) -> Any:
    """The menu, said twice when the caller presses nothing, then goodbye."""
    action = url.split("?", 1)[0].rstrip("/")
    if not action.endswith("/voice/menu"):
        action += "/menu"
    entries = menu_of(inbox)
    options = " ".join(f"Press {e.digit} for {e.label}." for e in entries)
    greeting = _config(inbox, "greeting") or f"Thank you for calling {inbox.name}."
    first = " ".join(p for p in (prefix, greeting if greet else "", options) if p)
    response = VoiceResponse()
    for text in (first, options):
        gather = Gather(num_digits=1, action=action, method="POST", timeout=5)
        gather.say(text)
        response.append(gather)
    response.say("We did not receive a choice. Goodbye.")
    response.hangup()
    return response


def _failure(response: httpx.Response) -> SendFailed:
    """Twilio's error JSON ({"code", "message", "more_info", "status"}) as a readable reason."""
    failure = failure_from_response(response, "Twilio")
    try:
        error = response.json()
    except ValueError:
        return failure
    if not isinstance(error, dict) or not error.get("message"):
        return failure
    code = f"error {error['code']}: " if error.get("code") else ""
    return SendFailed(
        f"Twilio answered {response.status_code}: {code}{error['message']}",
        permanent=failure.permanent,
        retry_after=failure.retry_after,
    )
