"""Alert emails through the policy's SMTP server (aiosmtplib): a subject and a plain body."""

from __future__ import annotations

from email.message import EmailMessage
from email.utils import make_msgid

import aiosmtplib

from ..policy import Notifiers
from . import NotifierError, NotSetUp

TIMEOUT = 10.0


async def send_email(notifiers: Notifiers, *, to: str, subject: str, body: str) -> str:
    """Send and return the Message-ID, which the alert keeps as its external reference."""
    if not notifiers.smtp_host:
        raise NotSetUp("Email is not set up: the policy needs notifiers.smtp_host")
    message = EmailMessage()
    message["From"] = notifiers.email_from
    message["To"] = to
    message["Subject"] = subject
    message["Message-ID"] = make_msgid(domain=notifiers.email_from.rpartition("@")[2] or None)
    message.set_content(body)
    try:
        await aiosmtplib.send(
            message, hostname=notifiers.smtp_host, port=notifiers.smtp_port, timeout=TIMEOUT
        )
    except (aiosmtplib.SMTPException, OSError) as exc:
        raise NotifierError(f"SMTP {notifiers.smtp_host}:{notifiers.smtp_port}: {exc}") from exc
    return str(message["Message-ID"])
