"""Mail handed straight to Handoff over SMTP (docs/channels/email.md), in the app's process.

The recipient picks the inbox (its config `address`, any case); an unknown one is refused at
RCPT time. The message is stored before the `250`: a failure while storing answers `451`,
so the sending server keeps the mail and tries again rather than losing it.
"""

from __future__ import annotations

import asyncio
import logging
import socket
from dataclasses import dataclass
from typing import Any

from aiosmtpd.smtp import SMTP, Envelope, Session
from sqlmodel import select

from inbox.db import Database
from inbox.models import Inbox
from inbox.settings import Settings

from ..base import Malformed, Parsed
from ..intake import take_in
from .adapter import MAX_EMAIL
from .parse import parse_email

log = logging.getLogger("handoff.email.smtp")


def inbox_for_address(db: Database, address: str) -> int | None:
    """The email inbox whose config `address` is this one, compared without case."""
    wanted = address.strip().lower()
    with db.session() as session:
        for inbox in session.exec(select(Inbox).where(Inbox.channel == "email")).all():
            if str(inbox.config.get("address") or "").strip().lower() == wanted:
                return inbox.id
    return None


class IntakeHandler:
    """aiosmtpd's handler: RCPT checks the mailbox, DATA stores the mail."""

    def __init__(self, db: Database) -> None:
        self.db = db

    async def handle_RCPT(
        self,
        server: SMTP,
        session: Session,
        envelope: Envelope,
        address: str,
        rcpt_options: list[str],
    ) -> str:
        if await asyncio.to_thread(inbox_for_address, self.db, address) is None:
            return "550 5.1.1 no such mailbox"
        envelope.rcpt_tos.append(address)
        return "250 2.1.5 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        raw = envelope.original_content or b""
        try:
            return await asyncio.to_thread(self._store, raw, envelope.rcpt_tos)
        except Exception:  # anything but a stored mail: the sender must keep it and retry
            log.exception("mail from %s could not be stored", envelope.mail_from)
            return "451 4.3.0 could not store the message, try again later"

    def _store(self, raw: bytes, recipients: list[str]) -> str:
        inbox_ids: list[int] = []
        for address in recipients:
            inbox_id = inbox_for_address(self.db, address)
            if inbox_id is not None and inbox_id not in inbox_ids:
                inbox_ids.append(inbox_id)
        for inbox_id in inbox_ids:
            try:
                inbound = parse_email(raw, inbox_id)
            except Malformed as exc:
                return f"554 5.6.0 {exc}"
            take_in(self.db, inbox_id, Parsed(messages=[inbound]))
        return "250 2.0.0 OK stored"


@dataclass
class SmtpListener:
    server: asyncio.Server

    @property
    def port(self) -> int:
        sockname: Any = self.server.sockets[0].getsockname()
        return int(sockname[1])

    def close(self) -> None:
        self.server.close()

    async def wait_closed(self) -> None:
        await self.server.wait_closed()


async def listen_smtp(db: Database, host: str, port: int) -> SmtpListener:
    """Serve SMTP on the running loop; port 0 takes a free port (`listener.port` says which)."""
    loop = asyncio.get_running_loop()
    handler = IntakeHandler(db)
    hostname = socket.gethostname()

    def protocol() -> SMTP:
        return SMTP(
            handler,
            data_size_limit=MAX_EMAIL,
            enable_SMTPUTF8=True,
            hostname=hostname,
            ident="Handoff ESMTP",
            loop=loop,
        )

    server = await loop.create_server(protocol, host=host, port=port)
    listener = SmtpListener(server)
    log.info("SMTP listener on %s:%s", host, listener.port)
    return listener


async def start_smtp_listener(db: Database, settings: Settings) -> SmtpListener | None:
    """The app's listener on HANDOFF_HOST:HANDOFF_SMTP_PORT; None when the port is 0 (off)."""
    if settings.smtp_port == 0:
        return None
    return await listen_smtp(db, settings.host, settings.smtp_port)
