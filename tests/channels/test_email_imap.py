"""IMAP polling against a real Dovecot started for each test on a loopback port, with a
throwaway configuration and maildir (docs/channels/email.md). CI installs Dovecot through
scripts/system-deps.sh."""

from __future__ import annotations

import asyncio
import grp
import imaplib
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from sqlmodel import Session

from channels.email.imap_poller import ImapFailed, poll_all, poll_inbox, run_imap_polling
from inbox.db import Database
from inbox.mail_cursors import read_cursor
from inbox.models import Inbox
from tests.channels.helpers import NEW_MAIL_ID, all_messages, email_inbox, fixture_bytes
from tests.factories import build_world

USER, PASSWORD = "support@acme.example", "imap-pw-1"


def dovecot_binary() -> str | None:
    found = shutil.which("dovecot")
    if found is None and os.path.exists("/usr/sbin/dovecot"):
        found = "/usr/sbin/dovecot"
    return found


@dataclass
class Dovecot:
    port: int
    log: Path

    def client(self) -> imaplib.IMAP4:
        imap = imaplib.IMAP4("127.0.0.1", self.port, timeout=10)
        imap.login(USER, PASSWORD)
        return imap

    def append(self, raw: bytes, *, folder: str = "INBOX", seen: bool = False) -> None:
        """Deliver a mail as a mail server would, optionally already read in a mail client."""
        imap = self.client()
        try:
            typ, detail = imap.append(folder, "(\\Seen)" if seen else "", None, raw)
            assert typ == "OK", detail
        finally:
            imap.logout()

    def recreate(self, folder: str) -> None:
        """Delete and create the folder again: the server gives it a new UIDVALIDITY."""
        imap = self.client()
        try:
            assert imap.delete(folder)[0] == "OK"
            assert imap.create(folder)[0] == "OK"
        finally:
            imap.logout()


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def dovecot_config(base: Path, port: int) -> str:
    if os.getuid() == 0:
        # Dovecot refuses to read mail as root and to run its login process as root.
        internal, login = "dovecot", "dovenull"
        internal_group = "dovecot"
        mail_user = pwd.getpwnam("nobody")
        uid, gid = mail_user.pw_uid, mail_user.pw_gid
    else:
        internal = login = pwd.getpwuid(os.getuid()).pw_name
        internal_group = grp.getgrgid(os.getgid()).gr_name
        uid, gid = os.getuid(), os.getgid()
    return f"""
base_dir = {base}/run
state_dir = {base}/state
log_path = {base}/dovecot.log
protocols = imap
listen = 127.0.0.1
ssl = no
disable_plaintext_auth = no
auth_mechanisms = plain login
# A wrong password is answered at once, not after the usual 2 s.
auth_failure_delay = 0
default_internal_user = {internal}
default_internal_group = {internal_group}
default_login_user = {login}
first_valid_uid = 1
passdb {{
  driver = passwd-file
  args = scheme=PLAIN username_format=%u {base}/users
}}
userdb {{
  driver = static
  args = uid={uid} gid={gid} home={base}/home/%u
}}
mail_location = maildir:{base}/mail/%u
service imap-login {{
  chroot =
  inet_listener imap {{
    address = 127.0.0.1
    port = {port}
  }}
  inet_listener imaps {{
    port = 0
  }}
}}
service anvil {{
  chroot =
}}
"""


@pytest.fixture
def dovecot() -> Iterator[Dovecot]:
    binary = dovecot_binary()
    if binary is None:
        pytest.skip("Dovecot is not installed: apt-get install dovecot-imapd (system-deps.sh)")
    # Not pytest's tmp_path: its parents are private to us, and as root the mail processes
    # run as nobody, who must reach the maildir.
    base = Path(tempfile.mkdtemp(prefix="handoff-dovecot-"))
    base.chmod(0o755)
    for sub in ("mail", "home"):
        (base / sub).mkdir()
        if os.getuid() == 0:
            nobody = pwd.getpwnam("nobody")
            os.chown(base / sub, nobody.pw_uid, nobody.pw_gid)
    (base / "users").write_text(f"{USER}:{{PLAIN}}{PASSWORD}::::::\n")
    port = _free_port()
    (base / "dovecot.conf").write_text(dovecot_config(base, port))
    with open(base / "stdout.log", "wb") as out:
        process = subprocess.Popen(
            [binary, "-F", "-c", str(base / "dovecot.conf")], stdout=out, stderr=subprocess.STDOUT
        )
    server = Dovecot(port, base / "dovecot.log")
    try:
        deadline = time.monotonic() + 15
        while True:
            try:
                server.client().logout()
                break
            except (OSError, imaplib.IMAP4.error) as exc:
                if process.poll() is not None or time.monotonic() > deadline:
                    logs = "".join(
                        p.read_text() for p in (base / "stdout.log", server.log) if p.exists()
                    )
                    raise RuntimeError(f"dovecot did not start: {exc}\n{logs}") from exc
                time.sleep(0.05)
        yield server
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        shutil.rmtree(base, ignore_errors=True)


def imap_inbox(session: Session, server: Dovecot, **imap: object) -> Inbox:
    config = {
        "host": "127.0.0.1",
        "port": server.port,
        "username": USER,
        "password": PASSWORD,
        "ssl": False,
        **imap,
    }
    return email_inbox(session, imap=config)


async def test_polling_takes_new_mail_read_or_not_once(
    dovecot: Dovecot, session: Session, db: Database
) -> None:
    build_world(session)
    inbox = imap_inbox(session, dovecot)
    # Someone already opened the first mail in their mail client: it is taken all the same.
    dovecot.append(fixture_bytes("email", "new_mail.eml"), seen=True)
    dovecot.append(fixture_bytes("email", "gmail_reply.eml"))
    assert await poll_inbox(db, inbox) == 2
    first, reply = all_messages(session)
    assert first.external_id == NEW_MAIL_ID
    assert reply.conversation_id == first.conversation_id
    assert reply.content == "Still nothing today. Could you check with the courier?"
    assert await poll_inbox(db, inbox) == 0
    dovecot.append(fixture_bytes("email", "attachment.eml"))
    assert await poll_inbox(db, inbox) == 1
    assert len(all_messages(session)) == 3
    assert inbox.id is not None
    assert read_cursor(session, inbox.id, "INBOX")[1] == 3


async def test_a_new_uidvalidity_reads_the_folder_again_without_duplicates(
    dovecot: Dovecot, session: Session, db: Database
) -> None:
    build_world(session)
    inbox = imap_inbox(session, dovecot, folder="Support Mail")
    client = dovecot.client()
    assert client.create('"Support Mail"')[0] == "OK"
    client.logout()
    dovecot.append(fixture_bytes("email", "new_mail.eml"), folder='"Support Mail"')
    dovecot.append(fixture_bytes("email", "gmail_reply.eml"), folder='"Support Mail"')
    assert await poll_inbox(db, inbox) == 2
    assert inbox.id is not None
    before = read_cursor(session, inbox.id, "Support Mail")
    # The server renumbers the folder (restored from a backup, say); the same mails are
    # back, with one new one.
    dovecot.recreate('"Support Mail"')
    for name in ("new_mail.eml", "gmail_reply.eml", "outlook_reply.eml"):
        dovecot.append(fixture_bytes("email", name), folder='"Support Mail"')
    assert await poll_inbox(db, inbox) == 3
    session.expire_all()
    after = read_cursor(session, inbox.id, "Support Mail")
    assert after[0] != before[0] and after[1] == 3
    assert [m.external_id for m in all_messages(session)] == [
        NEW_MAIL_ID,
        "<CAK7p2Fx0Qm9@mail.gmail.com>",
        "<AM0PR07MB4471A1B2C3D4E5F6@AM0PR07MB4471.eurprd07.prod.outlook.com>",
    ]


async def test_a_wrong_password_is_an_error(
    dovecot: Dovecot, session: Session, db: Database
) -> None:
    build_world(session)
    inbox = imap_inbox(session, dovecot, password="wrong")
    with pytest.raises(ImapFailed, match="LOGIN"):
        await poll_inbox(db, inbox)


async def test_one_broken_mailbox_stops_no_other(
    dovecot: Dovecot, session: Session, db: Database, caplog: pytest.LogCaptureFixture
) -> None:
    build_world(session)
    # (A wrong password would do as well, but Dovecot then slows down every login from the
    # same address for a while.)
    imap_inbox(session, dovecot, folder="Deleted Long Ago")
    good = imap_inbox(session, dovecot)
    dovecot.append(fixture_bytes("email", "new_mail.eml"))
    assert await poll_all(db) == 1
    assert [m.inbox_id for m in all_messages(session)] == [good.id]
    assert "IMAP polling failed" in caplog.text


async def test_the_polling_loop_takes_mail_in_until_cancelled(
    dovecot: Dovecot, session: Session, db: Database
) -> None:
    build_world(session)
    imap_inbox(session, dovecot)
    dovecot.append(fixture_bytes("email", "new_mail.eml"))
    task = asyncio.create_task(run_imap_polling(db, interval=0.05))
    try:
        deadline = time.monotonic() + 10
        while not all_messages(session):
            assert time.monotonic() < deadline, "the poller took nothing in"
            await asyncio.sleep(0.02)
        dovecot.append(fixture_bytes("email", "gmail_reply.eml"))
        while len(all_messages(session)) < 2:
            assert time.monotonic() < deadline, "the poller stopped after one round"
            await asyncio.sleep(0.02)
    finally:
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
