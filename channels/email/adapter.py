"""The email adapter (docs/channels/email.md): the raw-message webhook and outbound mail.

A forwarding service (an MTA pipe, a mail provider's "raw MIME" webhook) POSTs the message as
it arrived to `/webhooks/email/{inbox_id}` with HTTP Basic `handoff:{webhook_secret}`. The
SMTP listener and IMAP polling read mail through the same `parse_email`.
"""

from __future__ import annotations

import base64
import binascii
import hmac

import httpx

from inbox.models import Inbox

from ..base import BadSignature, OutboundMessage, Parsed, Reply, WebhookRequest
from .outbound import send_reply
from .parse import parse_email

MAX_EMAIL = 25 * 1024 * 1024
BASIC_USER = "handoff"


def check_basic_auth(authorization: str, secret: str) -> None:
    """Raise BadSignature unless the header is Basic `handoff:{secret}`."""
    if not secret:
        raise BadSignature("the inbox has no webhook_secret")
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() != "basic" or not token:
        raise BadSignature("HTTP Basic credentials missing")
    try:
        decoded = base64.b64decode(token.strip(), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise BadSignature("HTTP Basic credentials unreadable") from exc
    user, _, password = decoded.partition(b":")
    user_ok = hmac.compare_digest(user, BASIC_USER.encode())
    password_ok = hmac.compare_digest(password, secret.encode())
    if not (user_ok and password_ok):
        raise BadSignature("wrong user or webhook secret")


class EmailChannel:
    name = "email"
    sends_files = True  # MIME attachments
    max_body = MAX_EMAIL

    def verify(self, request: WebhookRequest, inbox: Inbox) -> None:
        check_basic_auth(
            request.header("authorization"), str(inbox.config.get("webhook_secret") or "")
        )

    def handshake(self, request: WebhookRequest, inbox: Inbox) -> Reply | None:
        return None

    def parse(self, request: WebhookRequest, inbox: Inbox) -> Parsed:
        assert inbox.id is not None
        return Parsed(messages=[parse_email(request.body, inbox.id)])

    async def send(self, outbound: OutboundMessage, http: httpx.AsyncClient) -> str | None:
        return await send_reply(outbound)
