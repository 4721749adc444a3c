"""Agents' replies as emails, sent through the inbox's SMTP server (docs/channels/email.md).

Each reply carries a Message-ID made from the message's id, so a retry sends the same mail
again rather than a second one, and In-Reply-To/References that put it in the customer's
thread; the subject keeps the ticket tag, which brings an answer back even from a client that
drops the headers.
"""

from __future__ import annotations

import hashlib
import re
from email.headerregistry import Address
from email.message import EmailMessage
from email.utils import format_datetime, formataddr

import aiosmtplib

from ..base import OutboundMessage, SendFailed

TIMEOUT = 10.0
_REPLY_PREFIX = re.compile(r"^\s*((re|aw|sv|antw|odp|fwd?)\s*(\[\d+\])?\s*:\s*)+", re.IGNORECASE)
_TAG = re.compile(r"\s*\[#\d+\]")
_MESSAGE_ID = re.compile(r"^<[^<>@\s]+@[^<>@\s]+>$")


def message_id_for(outbound: OutboundMessage) -> str:
    """Stable per message: a retry re-sends the same mail, and nobody can forge our ids."""
    config = outbound.inbox.config
    address = str(config.get("address", ""))
    domain = address.rpartition("@")[2] or "handoff.invalid"
    seed = f"{outbound.inbox.id}:{config.get('webhook_secret', '')}:{address}"
    token = hashlib.sha256(seed.encode()).hexdigest()[:16]
    return f"<handoff.{outbound.message.id}.{token}@{domain}>"


def reply_subject(subject: str, conversation_id: int | None) -> str:
    """`Re: <subject> [#id]`: one "Re:", one tag, whatever the customer's client added."""
    bare = _TAG.sub("", _REPLY_PREFIX.sub("", subject or "")).strip()
    tag = f" [#{conversation_id}]" if conversation_id is not None else ""
    return f"Re: {bare}{tag}" if bare else f"Re: Your message{tag}"


def recipient_of(outbound: OutboundMessage) -> str | None:
    for candidate in (outbound.identifier, outbound.contact.email):
        if candidate and "@" in candidate:
            return candidate.strip()
    return None


def build_reply(outbound: OutboundMessage) -> EmailMessage:
    config = outbound.inbox.config
    address = str(config.get("address") or "")
    recipient = recipient_of(outbound)
    if not address:
        raise SendFailed("the inbox has no address", permanent=True)
    if recipient is None:
        raise SendFailed("the contact has no email address", permanent=True)
    mail = EmailMessage()
    mail["From"] = formataddr((outbound.inbox.name, address))
    mail["To"] = Address(addr_spec=recipient)
    mail["Subject"] = reply_subject(outbound.conversation.subject, outbound.conversation.id)
    mail["Date"] = format_datetime(outbound.message.created_at, usegmt=True)
    mail["Message-ID"] = message_id_for(outbound)
    references = [ref for ref in outbound.thread if _MESSAGE_ID.match(ref)]
    reply_to = (
        outbound.reply_to if outbound.reply_to and _MESSAGE_ID.match(outbound.reply_to) else None
    )
    if reply_to is not None:
        mail["In-Reply-To"] = reply_to
        if reply_to not in references:
            references.append(reply_to)
    if references:
        # RFC 5322 allows folding, but a thousand ids would be a 50 KB header: keep the root
        # and the most recent ones, as mail clients do.
        kept = references if len(references) <= 20 else references[:1] + references[-19:]
        mail["References"] = " ".join(kept)
    if outbound.message.automatic:
        mail["Auto-Submitted"] = "auto-replied"
    mail.set_content(outbound.message.content)
    for file in outbound.files:
        data = file.get("data")
        if not isinstance(data, bytes):
            continue
        maintype, _, subtype = str(file.get("content_type") or "").partition("/")
        if not maintype or not subtype:
            maintype, subtype = "application", "octet-stream"
        mail.add_attachment(
            data, maintype=maintype, subtype=subtype, filename=str(file.get("filename") or "file")
        )
    return mail


async def send_reply(outbound: OutboundMessage) -> str:
    """Send through the inbox's SMTP server; the Message-ID is the provider id."""
    smtp = outbound.inbox.config.get("smtp")
    if not isinstance(smtp, dict) or not smtp.get("host"):
        raise SendFailed("the inbox has no SMTP server configured", permanent=True)
    mail = build_reply(outbound)
    port = int(smtp.get("port") or 587)
    starttls = smtp.get("starttls")
    try:
        await aiosmtplib.send(
            mail,
            hostname=str(smtp["host"]),
            port=port,
            username=smtp.get("username") or None,
            password=smtp.get("password") or None,
            # Port 465 speaks TLS from the first byte; elsewhere STARTTLS when configured, or
            # when the server offers it if the config does not say.
            use_tls=port == 465,
            start_tls=None if starttls is None or port == 465 else bool(starttls),
            timeout=TIMEOUT,
        )
    except aiosmtplib.SMTPRecipientsRefused as exc:
        codes = [refused.code for refused in exc.recipients]
        transient = bool(codes) and all(400 <= code < 500 for code in codes)
        detail = "; ".join(f"{r.code} {r.message}" for r in exc.recipients)
        raise SendFailed(f"SMTP refused the recipient: {detail}", permanent=not transient) from exc
    except aiosmtplib.SMTPResponseException as exc:
        raise SendFailed(
            f"SMTP answered {exc.code}: {exc.message}", permanent=exc.code >= 500
        ) from exc
    except (aiosmtplib.SMTPException, OSError, TimeoutError) as exc:
        raise SendFailed(f"SMTP server unreachable: {type(exc).__name__}: {exc}") from exc
    return str(mail["Message-ID"])
