"""Mail read from an IMAP mailbox (docs/channels/email.md), for inboxes with an `imap` config.

Polling goes by UID, not by the \\Seen flag: a mail someone already opened in their mail
client is still taken in, and the cursor (UIDVALIDITY, last UID) saved after each stored mail
means nothing is taken twice. When the server renumbers the folder (a new UIDVALIDITY) the
poller starts again from the first mail; Message-ID de-duplication keeps those stored once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from typing import Any

from aioimaplib import IMAP4, IMAP4_SSL  # type: ignore[import-untyped]
from sqlmodel import select

from inbox.db import Database
from inbox.mail_cursors import read_cursor, save_cursor
from inbox.models import Inbox
from inbox.scheduler import being_cancelled

from ..base import Malformed, Parsed
from ..intake import take_in
from .parse import parse_email

log = logging.getLogger("handoff.email.imap")

TIMEOUT = 30.0
_UIDVALIDITY = re.compile(rb"\[UIDVALIDITY (\d+)\]", re.IGNORECASE)
_UID = re.compile(rb"UID (\d+)", re.IGNORECASE)


class ImapFailed(Exception):
    """The server refused a command or answered something unreadable."""


def _quote(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _ok(response: Any, what: str) -> list[Any]:
    if response.result != "OK":
        detail = b" ".join(line for line in response.lines if isinstance(line, bytes))
        raise ImapFailed(f"{what}: {response.result} {detail.decode(errors='replace')}")
    return list(response.lines)


def uidvalidity_of(lines: list[Any]) -> int:
    for line in lines:
        if isinstance(line, bytes) and (found := _UIDVALIDITY.search(line)):
            return int(found.group(1))
    raise ImapFailed("SELECT did not say the folder's UIDVALIDITY")


def uids_of(lines: list[Any]) -> list[int]:
    """UIDs of a UID SEARCH answer (aioimaplib drops the "SEARCH" word; the last line is
    the server's completion text)."""
    uids: set[int] = set()
    for line in lines[:-1]:
        if isinstance(line, bytes):
            uids.update(int(word) for word in line.split() if word.isdigit())
    return sorted(uids)


def fetched_body(lines: list[Any], uid: int) -> bytes | None:
    """The literal that follows `* n FETCH (UID <uid> BODY[] {size}` in a FETCH answer."""
    for i, line in enumerate(lines[:-1]):
        following = lines[i + 1]
        if isinstance(line, bytes) and isinstance(following, bytearray):
            found = _UID.search(line)
            if found is None and i + 2 < len(lines) and isinstance(lines[i + 2], bytes):
                found = _UID.search(lines[i + 2])  # some servers put UID after the body
            if found is not None and int(found.group(1)) == uid:
                return bytes(following)
    return None


async def poll_inbox(db: Database, inbox: Inbox) -> int:
    """Take in the folder's new mail; returns how many mails were read."""
    config = inbox.config.get("imap")
    if not isinstance(config, dict) or not config.get("host"):
        return 0
    assert inbox.id is not None
    inbox_id = inbox.id
    folder = str(config.get("folder") or "INBOX")
    use_ssl = bool(config.get("ssl", True))
    port = int(config.get("port") or (993 if use_ssl else 143))
    host = str(config["host"])
    client = (
        IMAP4_SSL(host=host, port=port, timeout=TIMEOUT)
        if use_ssl
        else IMAP4(host=host, port=port, timeout=TIMEOUT)
    )
    taken = 0
    try:
        await client.wait_hello_from_server()
        _ok(
            await client.login(
                _quote(str(config.get("username", ""))), str(config.get("password", ""))
            ),
            "LOGIN",
        )
        uidvalidity = uidvalidity_of(_ok(await client.select(_quote(folder)), f"SELECT {folder}"))
        with db.session() as session:
            known_validity, last_uid = read_cursor(session, inbox_id, folder)
        if known_validity != uidvalidity:
            if known_validity:
                log.info("inbox %s: %s was renumbered, reading it again", inbox_id, folder)
            last_uid = 0
        # "n:*" always includes the newest mail, even when its UID is below n: filter.
        found = _ok(await client.uid_search(f"UID {last_uid + 1}:*", charset=None), "SEARCH")
        for uid in (uid for uid in uids_of(found) if uid > last_uid):
            lines = _ok(await client.uid("fetch", str(uid), "(UID BODY.PEEK[])"), "FETCH")
            raw = fetched_body(lines, uid)
            if raw is not None:
                await asyncio.to_thread(_take, db, inbox_id, uid, raw)
                taken += 1
            with db.session() as session:
                save_cursor(session, inbox_id, folder, uidvalidity, uid)
    finally:
        with contextlib.suppress(Exception):
            await client.logout()
    return taken


def _take(db: Database, inbox_id: int, uid: int, raw: bytes) -> None:
    try:
        inbound = parse_email(raw, inbox_id)
    except Malformed as exc:
        # Not a mail anyone can answer; skipping it is better than stopping the mailbox.
        log.warning("inbox %s: IMAP UID %s skipped: %s", inbox_id, uid, exc)
        return
    take_in(db, inbox_id, Parsed(messages=[inbound]))


def imap_inboxes(db: Database) -> list[Inbox]:
    with db.session() as session:
        inboxes = session.exec(select(Inbox).where(Inbox.channel == "email")).all()
        found = [inbox for inbox in inboxes if isinstance(inbox.config.get("imap"), dict)]
        for inbox in found:
            session.expunge(inbox)
        return found


async def poll_all(db: Database) -> int:
    """One round over every inbox with an IMAP config; one failing mailbox stops no other."""
    total = 0
    for inbox in await asyncio.to_thread(imap_inboxes, db):
        try:
            total += await poll_inbox(db, inbox)
        except Exception as exc:
            log.warning("inbox %s: IMAP polling failed: %s: %s", inbox.id, type(exc).__name__, exc)
    return total


async def run_imap_polling(db: Database, interval: float = 30.0) -> None:
    """Poll every `interval` seconds until cancelled."""
    while True:
        try:
            await poll_all(db)
        except Exception:  # the database was away: try again next round
            log.exception("IMAP polling round failed")
        if being_cancelled():
            # aioimaplib waits with asyncio.wait_for, which on 3.11 can swallow the cancel
            # that meets a server's answer: the loop would then never end (a hung shutdown).
            raise asyncio.CancelledError
        await asyncio.sleep(interval)
